"""The use cases behind every front end: the LSP server and the command line both drive one Engine.

A request flows one way: position -> definition (symbols, jedi) -> function identity (instrumentation, ast)
-> figures (queries + backend) -> markdown (rendering). The Engine owns the long-lived parts (settings,
the pooled backend client, the jedi projects) and wires those steps together; it knows nothing of LSP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from autometrics_lsp.backend import BackendError, PrometheusBackend
from autometrics_lsp.figures import FunctionFigures, ModuleFigures, collect_figures, collect_module_figures
from autometrics_lsp.instrumentation import FunctionDefinition, analyze_file, definition_at, module_name_for_path
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.links import chart_url
from autometrics_lsp.listing import FunctionRow
from autometrics_lsp.queries import Figure, hover_queries
from autometrics_lsp.rendering import render_hover, render_not_instrumented
from autometrics_lsp.settings import Settings
from autometrics_lsp.slo import SloStatus, collect_function_slo, collect_slo_statuses
from autometrics_lsp.symbols import DefinitionSite, Symbols
from autometrics_lsp.versions import VersionFigures, collect_versions
from autometrics_lsp.workspace_scan import WorkspaceScan

log = logging.getLogger(__name__)

SourceReader = Callable[[Path], str]

MODULE_FIGURES_TTL = 5.0


def read_file_source(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


class Engine:
    def __init__(
        self,
        settings: Settings,
        roots: Sequence[Path],
        *,
        read_source: SourceReader = read_file_source,
        on_backend_error: Callable[[BackendError], None] | None = None,
    ) -> None:
        self.settings = settings
        self._read_source = read_source
        self._on_backend_error = on_backend_error
        self.symbols = Symbols(roots)
        self.backend = self._make_backend(settings)
        self._scan = WorkspaceScan()
        # A file's lenses are resolved one request each, all at once: they share one computation per module.
        self._module_figures: dict[tuple[str, str], tuple[float, asyncio.Task[ModuleFigures]]] = {}

    def _make_backend(self, settings: Settings) -> PrometheusBackend:
        return PrometheusBackend(settings, on_error=self._on_backend_error)

    async def update_settings(self, settings: Settings) -> None:
        """Swap in new settings; a new backend client only when something it uses changed."""
        old_backend, old_settings = self.backend, self.settings
        self.settings = settings
        if _backend_fields(old_settings) != _backend_fields(settings):
            self.backend = self._make_backend(settings)
            self._module_figures.clear()
            await old_backend.aclose()

    def set_roots(self, roots: Sequence[Path]) -> None:
        self.symbols.set_roots(roots)

    async def aclose(self) -> None:
        await self.backend.aclose()
        await self.symbols.close()

    async def function_at(
        self, path: Path, source: str, line: int, column: int
    ) -> FunctionDefinition | None:
        """The function defined or called at a 0-based position, as the runtime would label it."""
        # A definition's own header (decorators included) needs no jedi; jedi would resolve `@autometrics`
        # itself to the runtime's decorator function.
        own = definition_at(self.definitions_in(path, source), line, column)
        if own is not None:
            return own
        site = await self.symbols.definition_at(path, source, line, column)
        if site is None:
            return None
        return self.function_defined_at(site)

    def function_defined_at(self, site: DefinitionSite) -> FunctionDefinition | None:
        try:
            target_source = self._read_source(site.path)
        except OSError as error:
            log.info("cannot read %s: %s", site.path, error)
            return None
        definitions = analyze_file(site.path, target_source, site.module_name)
        return definition_at(definitions, site.line, site.column)

    def module_name_of(self, path: Path) -> str:
        return module_name_for_path(path, self.symbols.roots)

    def definitions_in(self, path: Path, source: str) -> list[FunctionDefinition]:
        """Every function defined in one file (the fast static scan: no jedi, no backend)."""
        return analyze_file(path, source, self.module_name_of(path))

    async def module_figures(self, module: str) -> ModuleFigures:
        """Rate, error ratio and p99 of every function of a module, in one bounded round of queries,
        computed once per module for MODULE_FIGURES_TTL whatever the number of callers."""
        now = time.monotonic()
        for key, (created, task) in list(self._module_figures.items()):
            if now - created >= MODULE_FIGURES_TTL or _failed(task):
                del self._module_figures[key]
        key = (module, self.settings.window)
        if key not in self._module_figures:
            task = asyncio.ensure_future(collect_module_figures(self.backend, module, self.settings.window))
            self._module_figures[key] = (now, task)
        # shield: one cancelled lens request must not cancel the others' shared answer
        return await asyncio.shield(self._module_figures[key][1])

    def forget_answers(self) -> None:
        """Fresh figures from the next request on (the user asked for a refresh)."""
        self.backend.forget_answers()
        self._module_figures.clear()

    async def function_rows(self) -> list[FunctionRow]:
        """Every instrumented function of the workspace with its lens figures; one query round per module."""
        located = self._scan.instrumented(self.symbols.roots, self.module_name_of)
        modules = sorted({function.definition.identity.module for function in located})
        figures = dict(zip(modules, await asyncio.gather(*(self.module_figures(module) for module in modules))))
        return [
            FunctionRow(
                identity=function.definition.identity,
                path=function.path,
                line=function.definition.name_range[0],
                figures=figures[function.definition.identity.module].of(function.definition.identity.function),
            )
            for function in located
        ]

    async def figures_of(self, definition: FunctionDefinition) -> FunctionFigures:
        return await collect_figures(self.backend, definition.identity, self.settings.window)

    def link(self, expr: str) -> str:
        return chart_url(self.settings, expr)

    def query_of(self, identity: FunctionIdentity, figure: Figure) -> str:
        """The PromQL behind one figure of a function's hover."""
        return hover_queries(identity, self.settings.window)[figure].expr

    async def hover_markdown(self, path: Path, source: str, line: int, column: int) -> str | None:
        """The hover of a position: live metrics, a hint for plain functions, None off functions."""
        definition = await self.function_at(path, source, line, column)
        if definition is None:
            return None
        if not definition.instrumented:
            return render_not_instrumented(definition.identity.function)
        figures, slo, versions = await asyncio.gather(
            self.figures_of(definition), self.slo_of(definition), self.versions_of(definition)
        )
        return render_hover(definition.identity, figures, self.link, slo=slo, versions=versions)

    async def slo_of(self, definition: FunctionDefinition) -> SloStatus | None:
        """The live state of the function's objective; asked only when its source names one."""
        if definition.identity.objective is None:
            return None
        return await collect_function_slo(self.backend, definition.identity, self.settings.window)

    async def versions_of(self, definition: FunctionDefinition) -> list[VersionFigures]:
        return await collect_versions(self.backend, definition.identity, self.settings.window)

    async def objective_statuses(
        self, path: Path, source: str
    ) -> tuple[list[FunctionDefinition], dict[str, SloStatus], BackendError | None]:
        """A file's definitions and the objective state of its functions whose source names an objective, in one
        round of two queries whatever the number of functions; no query when the file names none."""
        definitions = self.definitions_in(path, source)
        static = {
            definition.identity.function: definition.identity.objective
            for definition in definitions
            if definition.instrumented and definition.identity.objective is not None
        }
        if not static:
            return definitions, {}, None
        statuses, problem = await collect_slo_statuses(
            self.backend, self.module_name_of(path), static, self.settings.window
        )
        return definitions, statuses, problem


def _failed(task: asyncio.Task[ModuleFigures]) -> bool:
    """Done without figures to share: failures are asked again at once, as the backend does with its answers."""
    return task.done() and (task.cancelled() or task.exception() is not None or task.result().problem is not None)


def _backend_fields(settings: Settings) -> tuple:
    return (
        settings.prometheus_url,
        settings.timeout,
        settings.bearer_token,
        settings.basic_auth,
        tuple(sorted(settings.headers.items())),
        settings.tls_verify,
    )
