"""textDocument/codeLens: a live title over every instrumented definition; a click opens its chart.

Lenses are listed from the fast static scan, and their titles filled in by codeLens/resolve from one batched
round of queries per module, so a file costs the same few backend requests however many functions it has.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lsprotocol import types

from autometrics_lsp import commands
from autometrics_lsp.features.positions import lsp_range
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.language_server import AutometricsLanguageServer
from autometrics_lsp.rendering import lens_title

log = logging.getLogger(__name__)


def register(server: AutometricsLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=True))
    async def on_code_lens(ls: AutometricsLanguageServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        await ls.settings_ready()
        if not ls.engine.settings.code_lens:
            return []
        document = ls.workspace.get_text_document(params.text_document.uri)
        definitions = ls.engine.definitions_in(Path(document.path), document.source)
        return [
            types.CodeLens(range=lsp_range(definition.name_range), data=_lens_data(definition.identity))
            for definition in definitions
            if definition.instrumented
        ]

    @server.feature(types.CODE_LENS_RESOLVE)
    async def on_code_lens_resolve(ls: AutometricsLanguageServer, lens: types.CodeLens) -> types.CodeLens:
        data = lens.data if isinstance(lens.data, dict) else {}
        module, function = data.get("module"), data.get("function")
        if not isinstance(module, str) or not isinstance(function, str):
            return lens
        await ls.settings_ready()
        try:
            figures = (await ls.engine.module_figures(module)).of(function)
            title = lens_title(figures)
        except Exception:  # one broken lens must not break the others or the session
            log.exception("code lens of %s.%s failed", module, function)
            title = "metrics unavailable"
        lens.command = types.Command(
            title=title, command=commands.OPEN_CHART, arguments=[{**data, "figure": commands.LENS_FIGURE.value}]
        )
        return lens


def _lens_data(identity: FunctionIdentity) -> dict[str, Any]:
    return {"module": identity.module, "function": identity.function}

