"""Call hierarchy: `textDocument/prepareCallHierarchy`, `callHierarchy/incomingCalls`, `callHierarchy/outgoingCalls`.

An item's `data` names its function as the runtime labels it (`module`, `function`), says whether it is
`instrumented`, and whether its uri and range are the function's own (`located`): a function outside the workspace
borrows those of the item it was reached from (see autometrics_lsp/call_hierarchy.py). When a client sends an item
back without its `data`, the function is looked up again at the item's selection range.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from autometrics_lsp.call_hierarchy import (
    MODULE_LEVEL,
    CallHierarchy,
    HierarchyCall,
    HierarchyFunction,
    Place,
    describe_call,
)
from autometrics_lsp.instrumentation import Range
from autometrics_lsp.language_server import AutometricsLanguageServer

log = logging.getLogger(__name__)

_LOCALS = "<locals>"


def register(server: AutometricsLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_PREPARE_CALL_HIERARCHY)
    async def on_prepare(
        ls: AutometricsLanguageServer, params: types.CallHierarchyPrepareParams
    ) -> list[types.CallHierarchyItem] | None:
        await ls.settings_ready()
        document = ls.workspace.get_text_document(params.text_document.uri)
        try:
            function = await _hierarchy(ls).prepare(
                Path(document.path), document.source, params.position.line, params.position.character
            )
        except Exception:  # a bug of ours must cost one request, never the session
            log.exception("prepareCallHierarchy failed at %s:%s", params.text_document.uri, params.position)
            return None
        if function is None:
            return None
        return [hierarchy_item(function, function.module)]

    @server.feature(types.CALL_HIERARCHY_INCOMING_CALLS)
    async def on_incoming_calls(
        ls: AutometricsLanguageServer, params: types.CallHierarchyIncomingCallsParams
    ) -> list[types.CallHierarchyIncomingCall] | None:
        await ls.settings_ready()
        hierarchy = _hierarchy(ls)
        try:
            function = await _function_of(hierarchy, ls, params.item)
            calls = await hierarchy.incoming(function) if function is not None else []
        except Exception:
            log.exception("incomingCalls failed for %s", params.item.name)
            return None
        return [
            types.CallHierarchyIncomingCall(
                from_=_other_end(call, hierarchy.window, params.item), from_ranges=_ranges(call.call_ranges)
            )
            for call in calls
        ]

    @server.feature(types.CALL_HIERARCHY_OUTGOING_CALLS)
    async def on_outgoing_calls(
        ls: AutometricsLanguageServer, params: types.CallHierarchyOutgoingCallsParams
    ) -> list[types.CallHierarchyOutgoingCall] | None:
        await ls.settings_ready()
        hierarchy = _hierarchy(ls)
        try:
            function = await _function_of(hierarchy, ls, params.item)
            calls = await hierarchy.outgoing(function) if function is not None else []
        except Exception:
            log.exception("outgoingCalls failed for %s", params.item.name)
            return None
        return [
            types.CallHierarchyOutgoingCall(
                to=_other_end(call, hierarchy.window, params.item), from_ranges=_ranges(call.call_ranges)
            )
            for call in calls
        ]


def _hierarchy(ls: AutometricsLanguageServer) -> CallHierarchy:
    return CallHierarchy(ls.engine, ls.read_source)


def hierarchy_item(
    function: HierarchyFunction, detail: str, reached_from: types.CallHierarchyItem | None = None
) -> types.CallHierarchyItem:
    """The item of a function; one without a place takes the uri and ranges of the item it was reached from."""
    data = {
        "module": function.module,
        "function": function.function,
        "instrumented": function.instrumented,
        "located": function.place is not None,
    }
    common: dict[str, Any] = {
        "name": function.function or function.module,
        "kind": _kind(function.function),
        "detail": detail,
        "data": data,
    }
    if function.place is not None:
        return types.CallHierarchyItem(
            uri=from_fs_path(str(function.place.path)) or function.place.path.as_uri(),
            range=_range(function.place.range),
            selection_range=_range(function.place.selection_range),
            **common,
        )
    if reached_from is None:
        raise ValueError(f"{function.module}.{function.function} has no place and no item to borrow one from")
    return types.CallHierarchyItem(
        uri=reached_from.uri, range=reached_from.range, selection_range=reached_from.selection_range, **common
    )


def function_of_item(item: types.CallHierarchyItem) -> HierarchyFunction | None:
    """The function an item of ours names, from its `data`; None when the data is missing or malformed."""
    data = item.data
    if not isinstance(data, dict):
        return None
    module, function = data.get("module"), data.get("function")
    instrumented, located = data.get("instrumented"), data.get("located")
    if not (isinstance(module, str) and isinstance(function, str)):
        return None
    if not (isinstance(instrumented, bool) and isinstance(located, bool)):
        return None
    place = None
    if located:
        path = to_fs_path(item.uri)
        if path is None:
            return None
        place = Place(Path(path), _tuple(item.range), _tuple(item.selection_range))
    return HierarchyFunction(module, function, instrumented, place)


async def _function_of(
    hierarchy: CallHierarchy, ls: AutometricsLanguageServer, item: types.CallHierarchyItem
) -> HierarchyFunction | None:
    function = function_of_item(item)
    if function is not None:
        return function
    document = ls.workspace.get_text_document(item.uri)
    try:
        source = document.source
    except OSError as error:  # an item of a file that is gone: nothing to expand, and nothing to report
        log.info("call hierarchy item %s: %s", item.uri, error)
        return None
    start = item.selection_range.start
    return await hierarchy.prepare(Path(document.path), source, start.line, start.character)


def _other_end(call: HierarchyCall, window: str, reached_from: types.CallHierarchyItem) -> types.CallHierarchyItem:
    return hierarchy_item(call.other, describe_call(call, window), reached_from)


def _kind(qualname: str) -> types.SymbolKind:
    if qualname == MODULE_LEVEL:
        return types.SymbolKind.Module
    enclosing = qualname.split(".")[-2:-1]
    # In a `__qualname__` a function nested in a function comes after `<locals>`; any other prefix is a class.
    return types.SymbolKind.Method if enclosing and enclosing[0] != _LOCALS else types.SymbolKind.Function


def _range(value: Range) -> types.Range:
    start_line, start_column, end_line, end_column = value
    return types.Range(
        start=types.Position(line=start_line, character=start_column),
        end=types.Position(line=end_line, character=end_column),
    )


def _ranges(values: tuple[Range, ...]) -> list[types.Range]:
    return [_range(value) for value in values]


def _tuple(value: types.Range) -> Range:
    return (value.start.line, value.start.character, value.end.line, value.end.character)
