"""Where a name in the code leads: definitions, the calls a function makes, and the calls made to it. Uses jedi.

The only module that imports jedi. jedi is not thread-safe and can take a second on a cold project, so every
request runs on ONE worker thread, off the event loop, under one lock, one at a time. A request cancelled while it
waits in the queue never starts jedi. jedi's failures are logged and answered with None or [], never raised.

jedi infers in-process (`InterpreterEnvironment`): no helper subprocess to manage, and the server runs in the
project's interpreter anyway (editors start it with the project's Python), so imports resolve as the project's do.

Positions are LSP positions: 0-based lines, UTF-16 columns. jedi counts lines from 1 and columns in code points,
which differ on lines with non-ASCII text; the conversion happens here and nowhere else.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jedi
import parso
import parso.cache

from autometrics_lsp.instrumentation import Range, codepoint_column, module_name_for_path, split_lines, utf16_column

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class DefinitionSite:
    """A function definition: where its name is written."""

    path: Path
    module_name: str
    line: int
    column: int


@dataclass(frozen=True)
class CallPosition:
    """A call found in the source, not yet resolved."""

    name_range: Range
    """The called name: `record` in `ledger.record(1)`."""
    call_range: Range
    """The whole call, `ledger.record(1)`: hints about the call go after its end."""


@dataclass(frozen=True)
class CallSite:
    """A call inside a function body, resolved to the function it calls."""

    target: DefinitionSite
    name_range: Range
    call_range: Range


@dataclass(frozen=True)
class Reference:
    """A call of a function somewhere in the workspace."""

    path: Path
    module_name: str
    name_range: Range
    caller: DefinitionSite | None
    """The function whose code makes the call (class bodies count as their enclosing function); None at module level."""


def find_calls(source: str, def_range: Range) -> list[CallPosition]:
    """The calls that run when the function defined at `def_range` runs, in source order.

    Calls inside nested functions and lambdas run only when those are called, so they are left out; their
    decorators and default values run now and are kept, and so are class bodies.
    """
    module = parso.parse(source)
    function = _function_starting_on(module, def_range[0] + 1)
    if function is None:
        return []
    calls: list[CallPosition] = []
    _collect_calls(function.children[-1], split_lines(source), calls)
    return sorted(calls, key=lambda call: call.name_range)


def _function_starting_on(module: Any, line: int) -> Any:
    """The funcdef whose definition (decorators included) starts on the 1-based `line`."""
    pending = [module]
    while pending:
        node = pending.pop()
        if node.start_pos[0] == line and (node.type == "funcdef" or node.type in _DEFINITION_WRAPPERS):
            while node.type in _DEFINITION_WRAPPERS:
                node = node.children[-1]
            if node.type == "funcdef":
                return node
        elif node.start_pos[0] <= line <= node.end_pos[0]:
            pending.extend(getattr(node, "children", ()))
    return None


# What parso wraps a definition in: decorators (`decorated`) and `async`; the definition is always the last child.
_DEFINITION_WRAPPERS = frozenset({"decorated", "async_funcdef", "async_stmt"})


def _collect_calls(node: Any, lines: list[str], calls: list[CallPosition]) -> None:
    if node.type in ("funcdef", "lambdef"):
        children = node.children[:-1]  # the body runs later
    else:
        children = getattr(node, "children", ())
        if node.type in ("atom_expr", "power"):
            _calls_of_trailers(node, lines, calls)
        elif node.type == "error_node":
            _unclosed_calls(node, lines, calls)
    for child in children:
        _collect_calls(child, lines, calls)


def _calls_of_trailers(node: Any, lines: list[str], calls: list[CallPosition]) -> None:
    """`a.b(1).c(2)` holds two calls, named `b` and `c`; `f()()` and `x[0]()` call nothing with a name."""
    children = node.children
    first = 1 if children[0].type == "keyword" and children[0].value == "await" else 0
    for index in range(first + 1, len(children)):
        trailer = children[index]
        if trailer.type != "trailer" or trailer.children[0].value != "(":
            continue
        previous = children[index - 1]
        if index - 1 == first and previous.type == "name":
            name = previous
        elif previous.type == "trailer" and previous.children[0].value == ".":
            name = previous.children[1]
        else:
            continue
        calls.append(
            CallPosition(
                name_range=_range(name.start_pos, name.end_pos, lines),
                call_range=_range(children[first].start_pos, trailer.end_pos, lines),
            )
        )


def _unclosed_calls(node: Any, lines: list[str], calls: list[CallPosition]) -> None:
    """`name(` with the parenthesis still open (being typed): parso leaves it as a name and an operator."""
    children = node.children
    for name, after in zip(children, children[1:], strict=False):
        if name.type == "name" and after.type == "operator" and after.value == "(":
            calls.append(CallPosition(_range(name.start_pos, name.end_pos, lines),
                                      _range(name.start_pos, node.end_pos, lines)))


def _range(start: tuple[int, int], end: tuple[int, int], lines: list[str]) -> Range:
    return (
        start[0] - 1,
        utf16_column(lines[start[0] - 1], start[1]),
        end[0] - 1,
        utf16_column(lines[end[0] - 1], end[1]),
    )


# parso keeps the tree of every module jedi ever parsed (dropping old ones only past 600 modules): on a large
# workspace that is most of the server's memory, and it kept rising over 1,000 hovers of networkx. The most
# recently used trees are kept; a dropped one is read again from parso's disk cache when jedi needs it.
# On networkx (120k lines) 200 kept even the peak RSS under 300 MB but re-parsing pushed the p99 hover to
# 0.6-0.7 s; 400 gave a 96 ms p99 but 320+ MB after 1,000 hovers; 300 gave 98 ms and 230-240 MB
# (benchmarks/hover_latency.py and memory_report.py).
PARSED_MODULES_KEPT = 300
# Each jedi request frees a lot of short-lived memory on the worker thread; glibc keeps it unless asked.
_TRIM_MEMORY_EVERY_JOBS = 50


def trim_parser_cache(limit: int) -> int:
    """Drop all but the `limit` most recently used parsed modules from parso's cache; how many were dropped."""
    items = [
        (item.last_used or 0.0, grammar, path)
        for grammar, by_path in parso.cache.parser_cache.items()
        for path, item in by_path.items()
    ]
    if len(items) <= limit:
        return 0
    items.sort(key=lambda entry: entry[0])
    dropped = items[: len(items) - limit]
    for _, grammar, path in dropped:
        del parso.cache.parser_cache[grammar][path]
    return len(dropped)


def _release_freed_memory() -> Callable[[], None]:
    """glibc's malloc_trim, which hands freed heap pages back to the system; elsewhere nothing."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return lambda: None
    return lambda: trim(0)


# `from m import f as g`, `import m.f as g`: where the alias is written after the imported name.
_ALIAS_AFTER_NAME = re.compile(r"[ \t]+as[ \t]+(\w+)")
_MAX_ALIAS_HOPS = 16


class Symbols:
    """jedi behind an async API: one jedi Project per workspace folder, one worker thread, one lock."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autometrics-jedi")
        self._lock = threading.Lock()
        self._environment = jedi.InterpreterEnvironment()
        self._projects: dict[Path, jedi.Project] = {}
        self._closed = False
        self._jobs_run = 0
        self._release_freed_memory = _release_freed_memory()
        self.set_roots(roots)

    @property
    def roots(self) -> tuple[Path, ...]:
        return tuple(self._projects)

    def set_roots(self, roots: Sequence[Path]) -> None:
        """The workspace folders changed: keep the projects of folders still open, make new ones for new folders."""
        current = self._projects
        wanted = dict.fromkeys(Path(root).absolute() for root in roots)
        # One assignment: the worker thread reads either the old mapping or the new one, never a half-built one.
        self._projects = {root: current.get(root) or jedi.Project(root) for root in wanted}

    async def close(self) -> None:
        """Stops the worker after the request it is running; queued requests answer None / []."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    async def definition_at(self, path: Path, source: str, line: int, column: int) -> DefinitionSite | None:
        """The function the name at a position refers to, following imports; a definition's name gives itself."""
        return await self._run(
            lambda: self._definition_at(Path(path), source, line, column), None, f"goto {path}:{line}:{column}"
        )

    async def calls_in(self, path: Path, source: str, def_range: Range) -> list[CallSite]:
        """The calls the function at `def_range` makes, each resolved to the function it calls."""
        return await self._run(
            lambda: self._calls_in(Path(path), source, def_range), [], f"calls in {path}:{def_range}"
        )

    async def references_to(self, site: DefinitionSite) -> list[Reference]:
        """The calls of a function across its workspace folder, through aliases and re-exports."""
        return await self._run(
            lambda: self._references_to(site), [], f"references to {site.path}:{site.line}:{site.column}"
        )

    async def _run(self, work: Callable[[], T], default: T, description: str) -> T:
        if self._closed:
            return default
        cancelled = threading.Event()

        def job() -> T:
            if cancelled.is_set() or self._closed:
                return default
            with self._lock:
                logger.debug("jedi: %s", description)
                try:
                    return work()
                except Exception:  # jedi has many failure modes on half-written code; none may reach the client
                    logger.exception("jedi failed: %s", description)
                    return default
                finally:
                    self._bound_memory()

        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor, job)
        except RuntimeError:  # closed between the check above and now
            return default
        try:
            return await future
        except asyncio.CancelledError:
            cancelled.set()
            task = asyncio.current_task()
            if self._closed and task is not None and not task.cancelling():
                return default  # close() dropped the queued job; nobody cancelled this request
            raise

    # -- on the worker thread

    def _bound_memory(self) -> None:
        trim_parser_cache(PARSED_MODULES_KEPT)
        self._jobs_run += 1
        if self._jobs_run % _TRIM_MEMORY_EVERY_JOBS == 0:
            self._release_freed_memory()

    def _project_for(self, path: Path) -> jedi.Project:
        holding = [root for root in self._projects if path.is_relative_to(root)]
        if holding:
            return self._projects[max(holding, key=lambda root: len(root.parts))]
        return jedi.get_default_project(path)

    def _script(self, path: Path, source: str | None) -> jedi.Script:
        return jedi.Script(code=source, path=path, project=self._project_for(path), environment=self._environment)

    def _definition_at(self, path: Path, source: str, line: int, column: int) -> DefinitionSite | None:
        lines = split_lines(source)
        if not 0 <= line < len(lines):
            return None
        names = self._script(path, source).goto(
            line + 1, codepoint_column(lines[line], column), follow_imports=True, follow_builtin_imports=False
        )
        return next((site for site in map(self._site, names) if site is not None), None)

    def _calls_in(self, path: Path, source: str, def_range: Range) -> list[CallSite]:
        script = self._script(path, source)
        lines = split_lines(source)
        calls = []
        for call in find_calls(source, def_range):
            line, column = call.name_range[:2]
            names = script.goto(line + 1, codepoint_column(lines[line], column), follow_imports=True)
            target = next((site for site in map(self._site, names) if site is not None), None)
            if target is not None:
                calls.append(CallSite(target, call.name_range, call.call_range))
        return calls

    def _references_to(self, site: DefinitionSite) -> list[Reference]:
        lines = split_lines(site.path.read_text(encoding="utf-8", errors="replace"))
        if not 0 <= site.line < len(lines):
            return []
        # jedi's references stop at `import f as g`; each alias is searched for in turn.
        searches = [(site.path, site.line + 1, codepoint_column(lines[site.line], site.column))]
        seen: set[tuple[str, int, int]] = set()
        references = []
        hops = 0
        while searches and hops < _MAX_ALIAS_HOPS:
            hops += 1
            path, line, column = searches.pop()
            for name in self._script(path, None).get_references(line, column, scope="project"):
                key = (str(name.module_path), name.line, name.column)
                if key in seen or name.module_path is None:
                    continue
                seen.add(key)
                line_code = name.get_line_code()
                name_end = name.column + len(name.name)
                alias = _ALIAS_AFTER_NAME.match(line_code, name_end)
                if alias is not None:
                    searches.append((Path(name.module_path), name.line, alias.start(1)))
                elif not name.is_definition() and line_code[name_end:].lstrip().startswith("("):
                    references.append(self._reference(name, line_code, name_end))
        return sorted(references, key=lambda reference: (str(reference.path), reference.name_range))

    def _reference(self, name: Any, line_code: str, name_end: int) -> Reference:
        path = Path(name.module_path)
        line = name.line - 1
        return Reference(
            path=path,
            module_name=self._module_name(path, name),
            name_range=(line, utf16_column(line_code, name.column), line, utf16_column(line_code, name_end)),
            caller=self._site(_enclosing_function(name)),
        )

    def _site(self, name: Any) -> DefinitionSite | None:
        if name is None or name.type != "function" or name.module_path is None or name.line is None:
            return None
        path = Path(name.module_path)
        if path.suffix != ".py" or name.in_builtin_module():  # stubs and compiled code carry no runtime labels
            return None
        return DefinitionSite(
            path=path,
            module_name=self._module_name(path, name),
            line=name.line - 1,
            column=utf16_column(name.get_line_code(), name.column),
        )

    def _module_name(self, path: Path, name: Any) -> str:
        if any(path.is_relative_to(root) for root in self._projects):
            return module_name_for_path(path, tuple(self._projects))
        return name.module_name  # a library: jedi knows it from sys.path


def _enclosing_function(name: Any) -> Any:
    scope = name.parent()
    while scope is not None and scope.type == "class":
        scope = scope.parent()
    return scope if scope is not None and scope.type == "function" else None
