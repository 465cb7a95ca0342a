"""Every instrumented function of a workspace, found by the fast static scan (no jedi), cached by file stamp."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from autometrics_lsp.instrumentation import FunctionDefinition, analyze_file

log = logging.getLogger(__name__)

# Directories that hold other people's code or build output, never the project's own functions.
SKIPPED_DIRECTORIES = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", "env", ".tox", ".nox", "node_modules", "__pycache__", ".mypy_cache",
     ".pytest_cache", ".ruff_cache", "site-packages", "build", "dist", ".cache", ".eggs"}
)
MAX_FILES = 20_000
MAX_FILE_BYTES = 2_000_000


@dataclass(frozen=True)
class LocatedFunction:
    path: Path
    definition: FunctionDefinition


def python_files(roots: Sequence[Path]) -> Iterator[Path]:
    """The workspace's .py files, skipping virtual environments, caches and build output; at most MAX_FILES."""
    seen = 0
    for root in roots:
        for directory, subdirectories, files in os.walk(root):
            subdirectories[:] = sorted(
                name for name in subdirectories if name not in SKIPPED_DIRECTORIES and not name.endswith(".egg-info")
            )
            for name in sorted(files):
                if name.endswith(".py"):
                    seen += 1
                    if seen > MAX_FILES:
                        log.warning("more than %d Python files under %s: the rest are not scanned", MAX_FILES, roots)
                        return
                    yield Path(directory) / name


class WorkspaceScan:
    def __init__(self) -> None:
        self._by_path: dict[Path, tuple[tuple[int, int], str, list[FunctionDefinition]]] = {}

    def instrumented(
        self, roots: Sequence[Path], module_name_of: Callable[[Path], str]
    ) -> list[LocatedFunction]:
        found: list[LocatedFunction] = []
        live_paths = set()
        for path in python_files(roots):
            live_paths.add(path)
            found.extend(
                LocatedFunction(path, definition)
                for definition in self._definitions(path, module_name_of)
                if definition.instrumented
            )
        for gone in self._by_path.keys() - live_paths:
            del self._by_path[gone]
        return found

    def _definitions(self, path: Path, module_name_of: Callable[[Path], str]) -> list[FunctionDefinition]:
        try:
            status = path.stat()
        except OSError:
            return []
        stamp = (status.st_mtime_ns, status.st_size)
        module = module_name_of(path)
        cached = self._by_path.get(path)
        if cached is not None and cached[0] == stamp and cached[1] == module:
            return cached[2]
        if status.st_size > MAX_FILE_BYTES:
            definitions: list[FunctionDefinition] = []
        else:
            try:
                source = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                return []
            definitions = analyze_file(path, source, module)
        self._by_path[path] = (stamp, module, definitions)
        return definitions
