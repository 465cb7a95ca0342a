"""textDocument/inlayHint: the live rate of each call edge, after the call (only with the `inlayHints` setting on).

The server asks clients to re-request hints when the settings change (`refresh_client_views` in language_server.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

from lsprotocol import types

from autometrics_lsp.inlay_hints import CallHint, call_hints
from autometrics_lsp.language_server import AutometricsLanguageServer

log = logging.getLogger(__name__)


def register(server: AutometricsLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
    async def on_inlay_hint(
        ls: AutometricsLanguageServer, params: types.InlayHintParams
    ) -> list[types.InlayHint] | None:
        await ls.settings_ready()
        document = ls.workspace.get_text_document(params.text_document.uri)
        requested = params.range
        try:
            hints = await call_hints(
                ls.engine,
                Path(document.path),
                document.source,
                (requested.start.line, requested.start.character, requested.end.line, requested.end.character),
            )
        except Exception:  # a bug of ours must cost one request, never the session
            log.exception("inlay hints failed for %s", params.text_document.uri)
            return None
        return [_inlay_hint(hint) for hint in hints]


def _inlay_hint(hint: CallHint) -> types.InlayHint:
    return types.InlayHint(
        position=types.Position(line=hint.line, character=hint.character),
        label=hint.label,
        tooltip=types.MarkupContent(kind=types.MarkupKind.Markdown, value=hint.tooltip),
        padding_left=True,
    )
