"""Live call hierarchy: who calls an instrumented function, whom it calls, and how busy and failing each edge is.

Two sources are merged edge by edge, an edge being named by the function at its other end (module, `__qualname__`):
- production: the `caller_function` / `caller_module` labels, in ONE backend query per request (every caller, or
  every callee), giving each edge its call rate and error ratio over the settings' window;
- the code: the calls jedi finds (`Symbols.references_to` for callers, `Symbols.calls_in` for callees), whose call
  sites become the edge's ranges.

Marks: an edge only in the code is "not seen in production (last <window>)", or "not instrumented" when the function
at the other end has no metrics of its own. An edge only in production is "not found in code": dynamic dispatch, a
function handed over as a value (`run_in_executor(pool, f)`), or calls through uninstrumented helpers (the runtime
records the nearest instrumented caller up the stack; the code shows the direct one).

Where a function seen only in production points: its definition, when its module is a file of the workspace and
defines it; the top of that file when the module is there but the function is not (renamed since the deploy, say);
nowhere (`place` None) when the module is not in the workspace (another service, a library). A front end shows the
last kind at the function it was reached from, marked "not in this workspace": the edge and its figures stay
visible, and expanding it still walks production's graph.

Nothing here knows LSP; `merge_calls` and `describe_call` are pure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from autometrics_lsp.engine import Engine, SourceReader
from autometrics_lsp.figures import Backend, Edge, LiveEdges, collect_callees, collect_callers
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.instrumentation import FunctionDefinition, Range, analyze_file, module_name_for_path
from autometrics_lsp.rendering import format_rate, format_ratio
from autometrics_lsp.symbols import DefinitionSite

FILE_START: Range = (0, 0, 0, 0)
MODULE_LEVEL = ""
"""The `function` of a module's top-level code, which calls functions but is none."""


@dataclass(frozen=True)
class Place:
    """Where an item points: the whole definition, and the name an editor selects."""

    path: Path
    range: Range
    selection_range: Range


@dataclass(frozen=True)
class HierarchyFunction:
    """One node of the hierarchy: a function as the runtime labels it, and where it is written, if anywhere."""

    module: str
    function: str
    """`__qualname__`, or MODULE_LEVEL for a module's top-level code."""
    instrumented: bool
    place: Place | None

    @property
    def identity(self) -> FunctionIdentity:
        return FunctionIdentity(self.module, self.function)

    @property
    def key(self) -> tuple[str, str]:
        return (self.module, self.function)


@dataclass(frozen=True)
class CodeCalls:
    """The calls the code makes along one edge: `other` is the function at the far end."""

    other: HierarchyFunction
    call_ranges: tuple[Range, ...]
    """Where the calls are written, in the calling function's file."""


@dataclass(frozen=True)
class HierarchyCall:
    """One edge of the hierarchy, from both sources."""

    other: HierarchyFunction
    call_ranges: tuple[Range, ...]
    live: Edge | None
    """The edge's traffic over the window; None when production shows none or could not be asked."""
    in_code: bool
    code_known: bool
    """Whether the code was searched (it cannot be when the examined function is not in the workspace)."""
    live_known: bool
    """Whether production was asked and answered."""


Locate = Callable[[str, str], HierarchyFunction]
EdgeCollector = Callable[[Backend, FunctionIdentity, str], Awaitable[LiveEdges]]


def merge_calls(
    code: Sequence[CodeCalls] | None, live: Sequence[Edge] | None, locate: Locate
) -> list[HierarchyCall]:
    """One call per function at the other end, busiest first, then the edges without traffic by name.

    `code` or `live` is None when that source is unknown (not searched, or the backend failed). A live edge
    recorded under the older `caller` label has no module; it joins the one code edge of that function name, if
    exactly one exists. `locate(module, function)` places a function that only production knows.
    """
    calls: dict[tuple[str, str], HierarchyCall] = {}
    for found in code or ():
        calls[found.other.key] = HierarchyCall(
            other=found.other,
            call_ranges=found.call_ranges,
            live=None,
            in_code=True,
            code_known=True,
            live_known=live is not None,
        )
    for edge in live or ():
        key = _code_key_of(edge, calls)
        if key in calls:
            calls[key] = HierarchyCall(
                other=calls[key].other,
                call_ranges=calls[key].call_ranges,
                live=edge,
                in_code=True,
                code_known=True,
                live_known=True,
            )
        else:
            calls[key] = HierarchyCall(
                other=locate(edge.module, edge.function),
                call_ranges=(),
                live=edge,
                in_code=False,
                code_known=code is not None,
                live_known=True,
            )
    return sorted(calls.values(), key=_busiest_first)


def _code_key_of(edge: Edge, calls: dict[tuple[str, str], HierarchyCall]) -> tuple[str, str]:
    if edge.module:
        return (edge.module, edge.function)
    same_name = [key for key, call in calls.items() if call.in_code and key[1] == edge.function]
    return same_name[0] if len(same_name) == 1 else (edge.module, edge.function)


def _busiest_first(call: HierarchyCall) -> tuple[float, str, str]:
    return (-call.live.rate if call.live else 0.0, call.other.module, call.other.function)


def describe_call(call: HierarchyCall, window: str) -> str:
    """The item detail of an edge: its traffic or why it has none, then the module of the function at its end.

    `12.3/s · 0.4% errors · shop.api`, `3/s · 0% errors · not found in code · shop.mail`,
    `not seen in production (last 5m) · shop.jobs`, `not instrumented · shop.helpers`.
    """
    parts = []
    if call.live is not None:
        parts.append(f"{format_rate(call.live.rate)} · {format_ratio(call.live.error_ratio)} errors")
        if call.code_known and not call.in_code:
            parts.append("not found in code")
    elif not call.other.instrumented:
        parts.append("not instrumented")
    elif call.live_known:
        parts.append(f"not seen in production (last {window})")
    if call.other.place is None:
        parts.append("not in this workspace")
    parts.append(call.other.module)
    return " · ".join(parts)


def module_file(module: str, roots: Sequence[Path]) -> Path | None:
    """The workspace file Python would load as `module` (`<root>/src` counts as a root), if there is one."""
    parts = module.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    for root in roots:
        for base in (Path(root) / "src", Path(root)):
            package = base.joinpath(*parts)
            for candidate in (package.with_name(f"{parts[-1]}.py"), package / "__init__.py"):
                if candidate.is_file() and module_name_for_path(candidate, roots) == module:
                    return candidate
    return None



class CallHierarchy:
    """The three call-hierarchy requests over one Engine. `read_source` gives the editor's text of a file."""

    def __init__(self, engine: Engine, read_source: SourceReader) -> None:
        self._engine = engine
        self._read_source = read_source

    @property
    def window(self) -> str:
        return self._engine.settings.window

    async def prepare(self, path: Path, source: str, line: int, column: int) -> HierarchyFunction | None:
        """The instrumented function defined or called at a position; None anywhere else."""
        site = await self._engine.symbols.definition_at(path, source, line, column)
        if site is None:
            return None
        definition = self._engine.function_defined_at(site)
        if definition is None or not definition.instrumented:
            return None
        return _node(site.path, definition)

    async def incoming(self, function: HierarchyFunction) -> list[HierarchyCall]:
        if function.function == MODULE_LEVEL:
            return []
        live, code = await asyncio.gather(self._live(collect_callers, function), self._code_callers(function))
        return merge_calls(code, live, self.locate)

    async def outgoing(self, function: HierarchyFunction) -> list[HierarchyCall]:
        if function.function == MODULE_LEVEL:
            return []
        live, code = await asyncio.gather(self._live(collect_callees, function), self._code_callees(function))
        return merge_calls(code, live, self.locate)

    def locate(self, module: str, function: str) -> HierarchyFunction:
        """A function production knows, placed in the workspace as well as it can be (see the module's doc)."""
        path = module_file(module, self._engine.symbols.roots)
        if path is None:
            return HierarchyFunction(module, function, instrumented=True, place=None)
        definitions = [item for item in self._definitions(path, module) if item.identity.function == function]
        if not definitions:
            return HierarchyFunction(module, function, instrumented=True, place=Place(path, FILE_START, FILE_START))
        # Production's traffic shows it instrumented where it runs, whatever the copy in the workspace says.
        return replace(_node(path, definitions[-1]), instrumented=True)

    # -- production

    async def _live(self, collect: EdgeCollector, function: HierarchyFunction) -> tuple[Edge, ...] | None:
        """The live edges of an instrumented function; None when uninstrumented (nothing to ask) or on failure."""
        if not function.instrumented:
            return None
        edges = await collect(self._engine.backend, function.identity, self.window)
        return None if edges.problem is not None else edges.edges

    # -- code

    def _definitions(self, path: Path, module: str) -> list[FunctionDefinition]:
        try:
            source = self._read_source(path)
        except OSError:
            return []
        return analyze_file(path, source, module)

    def _definition_of(self, function: HierarchyFunction) -> FunctionDefinition | None:
        """The definition behind a node: the one at its place, else the last one of that name in its file."""
        if function.place is None:
            return None
        candidates = [
            item
            for item in self._definitions(function.place.path, function.module)
            if item.identity.function == function.function
        ]
        at_place = [item for item in candidates if item.name_range == function.place.selection_range]
        chosen = at_place or candidates
        return chosen[-1] if chosen else None

    async def _code_callers(self, function: HierarchyFunction) -> list[CodeCalls] | None:
        definition = self._definition_of(function)
        if definition is None or function.place is None:
            return None
        site = DefinitionSite(
            function.place.path, function.module, definition.name_range[0], definition.name_range[1]
        )
        grouped = _Grouped()
        for reference in await self._engine.symbols.references_to(site):
            if reference.caller is None:
                module_code = HierarchyFunction(
                    reference.module_name, MODULE_LEVEL, False, Place(reference.path, FILE_START, FILE_START)
                )
                grouped.add(module_code, reference.name_range)
                continue
            caller = self._engine.function_defined_at(reference.caller)
            if caller is not None:
                grouped.add(_node(reference.caller.path, caller), reference.name_range)
        return grouped.calls()

    async def _code_callees(self, function: HierarchyFunction) -> list[CodeCalls] | None:
        definition = self._definition_of(function)
        if definition is None or function.place is None:
            return None
        path = function.place.path
        try:
            source = self._read_source(path)
        except OSError:
            return None
        roots = self._engine.symbols.roots
        grouped = _Grouped()
        for call in await self._engine.symbols.calls_in(path, source, definition.def_range):
            callee = self._engine.function_defined_at(call.target)
            # Uninstrumented library code has no figures and is not the user's to read: it would only be noise.
            if callee is None or not (callee.instrumented or _within(call.target.path, roots)):
                continue
            grouped.add(_node(call.target.path, callee), call.name_range)
        return grouped.calls()


class _Grouped:
    """Call sites gathered per function at the other end, in the order first seen."""

    def __init__(self) -> None:
        self._others: dict[tuple[str, str], HierarchyFunction] = {}
        self._ranges: dict[tuple[str, str], list[Range]] = {}

    def add(self, other: HierarchyFunction, call_range: Range) -> None:
        self._others.setdefault(other.key, other)
        self._ranges.setdefault(other.key, []).append(call_range)

    def calls(self) -> list[CodeCalls]:
        return [CodeCalls(other, tuple(sorted(set(self._ranges[key])))) for key, other in self._others.items()]


def _node(path: Path, definition: FunctionDefinition) -> HierarchyFunction:
    identity = definition.identity
    return HierarchyFunction(
        identity.module,
        identity.function,
        definition.instrumented,
        Place(path, definition.def_range, definition.name_range),
    )


def _within(path: Path, roots: Iterable[Path]) -> bool:
    return any(path.is_relative_to(root) for root in roots)
