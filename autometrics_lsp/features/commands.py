"""workspace/executeCommand: open a function's chart, copy its PromQL, refresh, backend status, list functions.

A function is named by `{"module": ..., "function": ...}` (what lenses carry) or by `{"uri": ..., "position":
{"line": ..., "character": ...}}` (what an editor command sends for the cursor).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from autometrics_lsp import commands
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.language_server import AutometricsLanguageServer
from autometrics_lsp.listing import SortKey, row_cells, sort_rows
from autometrics_lsp.queries import Figure
from autometrics_lsp.rendering import lens_title


def register(server: AutometricsLanguageServer) -> None:
    @server.command(commands.OPEN_CHART)
    async def open_chart(ls: AutometricsLanguageServer, *arguments: Any) -> dict[str, str]:
        identity, figure = await _function_and_figure(ls, arguments)
        url = ls.engine.link(ls.engine.query_of(identity, figure))
        window = ls.client_capabilities.window
        if window and window.show_document:
            await ls.window_show_document_async(types.ShowDocumentParams(uri=url, external=True))
        return {"url": url}

    @server.command(commands.COPY_QUERY)
    async def copy_query(ls: AutometricsLanguageServer, *arguments: Any) -> dict[str, str]:
        identity, figure = await _function_and_figure(ls, arguments)
        return {"query": ls.engine.query_of(identity, figure)}

    @server.command(commands.REFRESH)
    def refresh(ls: AutometricsLanguageServer, *arguments: Any) -> None:
        ls.engine.forget_answers()
        ls.refresh_client_views()

    @server.command(commands.STATUS)
    async def status(ls: AutometricsLanguageServer, *arguments: Any) -> dict[str, Any]:
        await ls.settings_ready()
        problem = await ls.engine.backend.ping()
        return {
            "prometheusUrl": ls.engine.backend.url,
            "reachable": problem is None,
            "problem": None if problem is None else problem.message(),
        }

    @server.command(commands.LIST_FUNCTIONS)
    async def list_functions(ls: AutometricsLanguageServer, *arguments: Any) -> list[dict[str, Any]]:
        await ls.settings_ready()
        options = arguments[0] if arguments and isinstance(arguments[0], dict) else {}
        try:
            sort = SortKey(options.get("sort", SortKey.RATE.value))
        except ValueError:
            raise JsonRpcInvalidParams(f"sort must be one of {[key.value for key in SortKey]}") from None
        rows = sort_rows(await ls.engine.function_rows(), sort)
        return [
            {
                **row_cells(row),
                "uri": row.path.as_uri(),
                "line": row.line,
                "rate": row.figures.rate,
                "errorRatio": row.figures.error_ratio,
                "p99": row.figures.p99,
                "title": lens_title(row.figures),
            }
            for row in rows
        ]


async def _function_and_figure(
    ls: AutometricsLanguageServer, arguments: tuple[Any, ...]
) -> tuple[FunctionIdentity, Figure]:
    await ls.settings_ready()
    target = arguments[0] if arguments and isinstance(arguments[0], dict) else {}
    try:
        figure = Figure(target.get("figure", Figure.RATE.value))
    except ValueError:
        figure = None
    if figure not in commands.CHARTABLE_FIGURES:
        names = [figure.value for figure in commands.CHARTABLE_FIGURES]
        raise JsonRpcInvalidParams(f"figure must be one of {names}")
    identity = await _function(ls, target)
    if identity is None:
        raise JsonRpcInvalidParams(
            'expected {"module", "function"} or {"uri", "position"} of an instrumented function'
        )
    return identity, figure


async def _function(ls: AutometricsLanguageServer, target: dict[str, Any]) -> FunctionIdentity | None:
    module, function = target.get("module"), target.get("function")
    if isinstance(module, str) and isinstance(function, str):
        return FunctionIdentity(module, function)
    uri, position = target.get("uri"), target.get("position")
    if not isinstance(uri, str) or not isinstance(position, dict):
        return None
    line, character = position.get("line"), position.get("character")
    if not isinstance(line, int) or not isinstance(character, int):
        return None
    document = ls.workspace.get_text_document(uri)
    definition = await ls.engine.function_at(Path(document.path), document.source, line, character)
    return definition.identity if definition is not None and definition.instrumented else None
