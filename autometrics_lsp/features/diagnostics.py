"""textDocument/publishDiagnostics: Warnings on definitions whose objective is violated now (live) or misconfigured
(static, from the source).

Published on didOpen and didSave, again every refresh period (`refreshInterval`, else `DEFAULT_REFRESH_SECONDS`)
and as soon as the settings change. A file whose source names an objective costs one round of two backend queries
per publication, however many functions it has; other files cost none. A backend failure leaves the static
warnings in place (the server reports the outage itself).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from lsprotocol import types

from autometrics_lsp.features.positions import lsp_range
from autometrics_lsp.instrumentation import FunctionDefinition
from autometrics_lsp.language_server import AutometricsLanguageServer
from autometrics_lsp.rendering import format_burn_rate, format_duration, format_ratio
from autometrics_lsp.settings import Settings
from autometrics_lsp.slo import SloStatus

log = logging.getLogger(__name__)

DIAGNOSTIC_SOURCE = "autometrics"
DEFAULT_REFRESH_SECONDS = 60.0
# How often the refresher looks for changed settings: a cheap comparison, no backend request.
SETTINGS_CHECK_SECONDS = 0.5


def misconfiguration_diagnostics(definitions: Sequence[FunctionDefinition]) -> list[types.Diagnostic]:
    """One Warning per problem the source shows, on the function's name."""
    return [
        types.Diagnostic(
            range=lsp_range(definition.name_range),
            message=problem,
            severity=types.DiagnosticSeverity.Warning,
            source=DIAGNOSTIC_SOURCE,
        )
        for definition in definitions
        for problem in definition.problems
    ]


def violation_message(status: SloStatus) -> str | None:
    """Why the objective is violated now, in one sentence; None when it is met or unmeasured."""
    reasons = []
    objective = status.objective
    if status.success_violated and objective.success_rate is not None:
        reasons.append(
            f"success rate {format_ratio(status.success_rate)} is below {format_ratio(objective.success_rate.ratio)}"
            f" (error budget burning {format_burn_rate(status.success_burn_rate)})"
        )
    if status.latency_violated and objective.latency is not None:
        threshold, percentile = objective.latency
        reasons.append(
            f"{format_ratio(status.within_latency)} of calls finish within {format_duration(threshold.seconds)},"
            f" below {format_ratio(percentile.ratio)}"
            f" (error budget burning {format_burn_rate(status.latency_burn_rate)})"
        )
    if not reasons:
        return None
    return f"objective {objective.name!r} is violated over the last {status.window}: " + "; ".join(reasons)


def violation_diagnostics(
    definitions: Sequence[FunctionDefinition], statuses: Mapping[str, SloStatus]
) -> list[types.Diagnostic]:
    diagnostics = []
    for definition in definitions:
        status = statuses.get(definition.identity.function) if definition.instrumented else None
        message = violation_message(status) if status is not None else None
        if message is not None:
            diagnostics.append(
                types.Diagnostic(
                    range=lsp_range(definition.name_range),
                    message=message,
                    severity=types.DiagnosticSeverity.Warning,
                    source=DIAGNOSTIC_SOURCE,
                )
            )
    return diagnostics


class DiagnosticsPublisher:
    """Keeps the diagnostics of the open files current."""

    def __init__(self) -> None:
        self.open_uris: set[str] = set()
        self._refresher: asyncio.Task[None] | None = None

    async def publish(self, ls: AutometricsLanguageServer, uri: str) -> None:
        document = ls.workspace.get_text_document(uri)
        if not document.path.endswith((".py", ".pyi")):
            return
        try:
            definitions, statuses, _problem = await ls.engine.objective_statuses(Path(document.path), document.source)
            diagnostics = misconfiguration_diagnostics(definitions) + violation_diagnostics(definitions, statuses)
        except Exception:  # a bug of ours must cost one publication, never the session
            log.exception("diagnostics of %s failed", uri)
            return
        if uri in self.open_uris:
            ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=document.version)
            )

    async def publish_all(self, ls: AutometricsLanguageServer) -> None:
        await asyncio.gather(*(self.publish(ls, uri) for uri in sorted(self.open_uris)))

    def ensure_refresher(self, ls: AutometricsLanguageServer) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.ensure_future(self._refresh(ls))

    async def _refresh(self, ls: AutometricsLanguageServer) -> None:
        published_with: Settings = ls.engine.settings
        since_publication = 0.0
        while self.open_uris:
            await asyncio.sleep(SETTINGS_CHECK_SECONDS)
            since_publication += SETTINGS_CHECK_SECONDS
            settings = ls.engine.settings
            period = settings.refresh_interval if settings.refresh_interval > 0 else DEFAULT_REFRESH_SECONDS
            if settings is not published_with or since_publication >= period:
                published_with, since_publication = settings, 0.0
                await self.publish_all(ls)


def register(server: AutometricsLanguageServer) -> None:
    publisher = DiagnosticsPublisher()

    async def publish_opened(ls: AutometricsLanguageServer, uri: str) -> None:
        publisher.open_uris.add(uri)
        publisher.ensure_refresher(ls)
        await ls.settings_ready()
        await publisher.publish(ls, uri)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def on_did_open(ls: AutometricsLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        await publish_opened(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    async def on_did_save(ls: AutometricsLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        await publish_opened(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def on_did_close(ls: AutometricsLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        publisher.open_uris.discard(params.text_document.uri)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
        )
