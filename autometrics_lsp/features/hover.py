"""textDocument/hover: live metrics of the function at the cursor, at its definition or any call site."""

from __future__ import annotations

import logging
from pathlib import Path

from lsprotocol import types

from autometrics_lsp.language_server import AutometricsLanguageServer

log = logging.getLogger(__name__)


def register(server: AutometricsLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls: AutometricsLanguageServer, params: types.HoverParams) -> types.Hover | None:
        await ls.settings_ready()
        document = ls.workspace.get_text_document(params.text_document.uri)
        try:
            markdown = await ls.engine.hover_markdown(
                Path(document.path), document.source, params.position.line, params.position.character
            )
        except Exception:  # a bug of ours must cost one hover, never the session or a traceback in the editor
            log.exception("hover failed at %s:%s", params.text_document.uri, params.position)
            return None
        if markdown is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown))
