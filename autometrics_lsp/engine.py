"""The use cases behind every front end: the LSP server and the command line both drive one Engine.

A request flows one way: position -> definition (symbols, jedi) -> function identity (instrumentation, ast)
-> figures (queries + backend) -> markdown (rendering). The Engine owns the long-lived parts (settings,
the pooled backend client, the jedi projects) and wires those steps together; it knows nothing of LSP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from autometrics_lsp.backend import BackendError, PrometheusBackend
from autometrics_lsp.figures import FunctionFigures, collect_figures
from autometrics_lsp.instrumentation import FunctionDefinition, analyze_module, definition_at
from autometrics_lsp.links import chart_url
from autometrics_lsp.rendering import render_hover, render_not_instrumented
from autometrics_lsp.settings import Settings
from autometrics_lsp.symbols import DefinitionSite, Symbols

log = logging.getLogger(__name__)

SourceReader = Callable[[Path], str]


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

    def _make_backend(self, settings: Settings) -> PrometheusBackend:
        return PrometheusBackend(settings, on_error=self._on_backend_error)

    async def update_settings(self, settings: Settings) -> None:
        """Swap in new settings; a new backend client only when something it uses changed."""
        old_backend, old_settings = self.backend, self.settings
        self.settings = settings
        if _backend_fields(old_settings) != _backend_fields(settings):
            self.backend = self._make_backend(settings)
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
        definitions = analyze_module(target_source, site.module_name)
        return definition_at(definitions, site.line, site.column)

    async def figures_of(self, definition: FunctionDefinition) -> FunctionFigures:
        return await collect_figures(self.backend, definition.identity, self.settings.window)

    def link(self, expr: str) -> str:
        return chart_url(self.settings, expr)

    async def hover_markdown(self, path: Path, source: str, line: int, column: int) -> str | None:
        """The hover of a position: live metrics, a hint for plain functions, None off functions."""
        definition = await self.function_at(path, source, line, column)
        if definition is None:
            return None
        if not definition.instrumented:
            return render_not_instrumented(definition.identity.function)
        figures = await self.figures_of(definition)
        return render_hover(definition.identity, figures, self.link)


def _backend_fields(settings: Settings) -> tuple:
    return (
        settings.prometheus_url,
        settings.timeout,
        settings.bearer_token,
        settings.basic_auth,
        tuple(sorted(settings.headers.items())),
        settings.tls_verify,
    )
