"""Inlay hints: after each call of an instrumented function made by an instrumented function, THAT edge's live rate.

Cost of one request, whatever the size of the document: ONE backend query (every edge out of the document's
module, `module_call_edges_query`) and one jedi pass per instrumented function overlapping the requested range.

Only calls written directly in an instrumented function's body get a hint: there the runtime records that function
as the caller. A call inside a nested uninstrumented function is recorded under whichever instrumented function is
up the stack when it runs, which the code does not tell.

An edge without calls in the window shows `0/s` (a call that production never makes, or makes from a thread the
caller was not carried into). When the backend fails there are no hints at all: the failure is reported once by the
backend, and `0/s` everywhere would mislead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from autometrics_lsp.engine import Engine
from autometrics_lsp.figures import Edge, ModuleCallEdges, collect_module_call_edges
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.instrumentation import FunctionDefinition, Range
from autometrics_lsp.queries import Figure, edge_exprs
from autometrics_lsp.rendering import code, escape_markdown, format_rate, format_ratio, markdown_link
from autometrics_lsp.symbols import DefinitionSite


@dataclass(frozen=True)
class InstrumentedCall:
    """A call written in an instrumented function's body, of an instrumented function."""

    caller: FunctionIdentity
    callee: FunctionIdentity
    call_range: Range
    """The whole call, `ledger.record(order)`: the hint goes right after it."""


@dataclass(frozen=True)
class CallHint:
    line: int
    character: int
    label: str
    tooltip: str
    """Markdown."""


def place_hints(
    calls: Iterable[InstrumentedCall],
    edges: ModuleCallEdges,
    window: str,
    requested: Range,
    link: Callable[[str], str],
) -> list[CallHint]:
    """One hint at the end of each call that ends inside `requested`, in document order; none without live data."""
    if edges.problem is not None:
        return []
    hints = []
    for call in calls:
        line, character = call.call_range[2], call.call_range[3]
        if not _contains(requested, line, character):
            continue
        edge = edges.edge(call.caller.function, call.callee)
        hints.append(
            CallHint(
                line=line,
                character=character,
                label=format_rate(edge.rate if edge is not None else 0.0),
                tooltip=_tooltip(call, edge, window, link),
            )
        )
    return sorted(hints, key=lambda hint: (hint.line, hint.character))


def _tooltip(call: InstrumentedCall, edge: Edge | None, window: str, link: Callable[[str], str]) -> str:
    title = f"**{code(call.caller.function)}** → **{code(call.callee.display_name)}**"
    if edge is None:
        figures = f"No calls along this edge in the last {escape_markdown(window)}."
    else:
        figures = (
            f"{format_rate(edge.rate)} · {format_ratio(edge.error_ratio)} errors"
            f" over the last {escape_markdown(window)}"
        )
    exprs = edge_exprs(call.caller, call.callee, window)
    charts = " · ".join(markdown_link(label, link(exprs[figure])) for figure, label in _CHARTS)
    return "\n\n".join((title, figures, f"Charts: {charts}"))


_CHARTS = ((Figure.RATE, "calls"), (Figure.ERROR_RATIO, "errors"))


def _contains(area: Range, line: int, character: int) -> bool:
    return (area[0], area[1]) <= (line, character) <= (area[2], area[3])


def _overlaps(first: Range, second: Range) -> bool:
    return (first[0], first[1]) <= (second[2], second[3]) and (second[0], second[1]) <= (first[2], first[3])


async def call_hints(engine: Engine, path: Path, source: str, requested: Range) -> list[CallHint]:
    """The hints of the calls in `requested` of a document; none while the `inlayHints` setting is off."""
    if not engine.settings.inlay_hints:
        return []
    callers = [
        definition
        for definition in engine.definitions_in(path, source)
        if definition.instrumented and _overlaps(definition.def_range, requested)
    ]
    if not callers:
        return []
    window = engine.settings.window
    edges, calls = await asyncio.gather(
        collect_module_call_edges(engine.backend, engine.module_name_of(path), window),
        _instrumented_calls(engine, path, source, callers),
    )
    return place_hints(calls, edges, window, requested, engine.link)


async def _instrumented_calls(
    engine: Engine, path: Path, source: str, callers: Sequence[FunctionDefinition]
) -> list[InstrumentedCall]:
    callees: dict[DefinitionSite, FunctionDefinition | None] = {}
    calls = []
    for caller in callers:
        for call in await engine.symbols.calls_in(path, source, caller.def_range):
            if call.target not in callees:
                callees[call.target] = engine.function_defined_at(call.target)
            callee = callees[call.target]
            if callee is not None and callee.instrumented:
                calls.append(InstrumentedCall(caller.identity, callee.identity, call.call_range))
    return calls
