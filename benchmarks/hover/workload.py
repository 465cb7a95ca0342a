"""The benchmark's workload: a large real package from PyPI, every function instrumented, and where to hover.

networkx is pure Python, has about 2,000 module-level functions and methods in ~290 modules (117k lines
without its tests), and leans on re-exports (`nx.shortest_path`) and decorators of its own — a fair test of
following imports and of decorating code that is already decorated. Its tests are left out: nobody
instruments a test suite.
"""

from __future__ import annotations

import ast
import random
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hover.rewrite import RewriteError, decorate_module, top_level_functions
from hover.sites import Site, call_sites, definition_sites

PACKAGE = "networkx"
PACKAGE_VERSION = "3.6.1"
# A module of our own beside the package, for the code-lens figures of issue 5: one file, many functions.
LENS_MODULE = "hover_bench_lenses"


@dataclass(frozen=True)
class ModuleFile:
    path: Path
    module: str
    functions: tuple[str, ...]  # qualnames of the instrumented top-level functions and methods
    definitions: tuple[Site, ...]
    calls: tuple[Site, ...]  # calls of the workload's own functions


@dataclass(frozen=True)
class Workload:
    root: Path
    files: tuple[ModuleFile, ...]
    lines: int

    @property
    def lens_file(self) -> ModuleFile:
        return next(file for file in self.files if file.module == LENS_MODULE)

    def functions(self) -> list[tuple[str, str]]:
        """(module, qualname) of every instrumented function: the label values its series carry."""
        return [(file.module, qualname) for file in self.files for qualname in file.functions]


@dataclass(frozen=True)
class HoverPosition:
    file: ModuleFile
    site: Site


def download_package(cache_dir: Path) -> Path:
    """The package's wheel, fetched once into the (gitignored) cache."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    pattern = f"{PACKAGE}-{PACKAGE_VERSION}-*.whl"
    if not list(cache_dir.glob(pattern)):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", str(cache_dir), f"{PACKAGE}=={PACKAGE_VERSION}"],
            check=True,
        )
    return next(iter(sorted(cache_dir.glob(pattern))))


def build_workspace(wheel: Path, root: Path, lens_functions: int = 200) -> Workload:
    """Unpack the package's modules (tests left out) into `root`, instrumenting every one.

    The lens module with `lens_functions` functions is written beside the package.
    """
    sources: dict[PurePosixPath, str] = {PurePosixPath(f"{LENS_MODULE}.py"): lens_module_source(lens_functions)}
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            relative = PurePosixPath(member)
            if _is_workload_module(relative):
                sources[relative] = archive.read(member).decode("utf-8")
    instrumented: dict[PurePosixPath, str] = {}
    for relative, source in sources.items():
        try:
            instrumented[relative] = decorate_module(source).source
        except RewriteError as error:
            print(f"left as it is: {relative}: {error}", file=sys.stderr)
            instrumented[relative] = source
    callee_names = _module_level_function_names(instrumented.values())
    files = []
    for relative, source in sorted(instrumented.items()):
        path = root.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
        files.append(_module_file(path, module_name(relative), source, callee_names))
    lines = sum(source.count("\n") for source in instrumented.values())
    return Workload(root=root, files=tuple(files), lines=lines)


def lens_module_source(functions: int) -> str:
    """Small functions that each call a networkx function and the function before them."""
    parts = ['"""Many small functions in one file: what the code-lens benchmark opens."""\n\nimport networkx as nx\n']
    for index in range(functions):
        previous = f" + step_{index - 1:03d}(graph)" if index else ""
        parts.append(f"\n\ndef step_{index:03d}(graph):\n    return nx.number_of_nodes(graph){previous}\n")
    return "".join(parts)


def module_name(relative: PurePosixPath) -> str:
    """The `__name__` a module file gets when its top-level package sits at the workspace root."""
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def choose_positions(workload: Workload, count: int, seed: int) -> list[HoverPosition]:
    """`count` positions, half on definitions and half on call sites, a few per file over many files.

    Spreading over files makes every file's first hover a cold one; a few positions per file leave the rest
    of the first pass to show what one open file costs after that.
    """
    rng = random.Random(seed)
    candidates = [
        file for file in workload.files if file.definitions and file.calls and file.module != LENS_MODULE
    ]
    rng.shuffle(candidates)
    per_kind_per_file = 3
    wanted_definitions = count // 2
    wanted_calls = count - wanted_definitions
    positions: list[HoverPosition] = []
    for file in candidates:
        if wanted_definitions <= 0 and wanted_calls <= 0:
            break
        definitions = rng.sample(file.definitions, min(per_kind_per_file, len(file.definitions), wanted_definitions))
        one_call_per_callee = list({site.name: site for site in file.calls}.values())
        calls = rng.sample(one_call_per_callee, min(per_kind_per_file, len(one_call_per_callee), wanted_calls))
        wanted_definitions -= len(definitions)
        wanted_calls -= len(calls)
        chosen = sorted(definitions + calls, key=lambda site: (site.line, site.character))
        positions.extend(HoverPosition(file, site) for site in chosen)
    return positions


def _is_workload_module(relative: PurePosixPath) -> bool:
    return (
        relative.parts[0] == PACKAGE
        and relative.suffix == ".py"
        and "tests" not in relative.parts
        and relative.name != "conftest.py"
    )


def _module_level_function_names(sources: Iterable[str]) -> frozenset[str]:
    return frozenset(
        statement.name
        for source in sources
        for statement in ast.parse(source).body
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef))
    )


def _module_file(path: Path, module: str, source: str, callee_names: frozenset[str]) -> ModuleFile:
    functions = tuple(qualname for qualname, _ in top_level_functions(ast.parse(source).body, prefix=""))
    method_names = frozenset(qualname.rpartition(".")[2] for qualname in functions if "." in qualname)
    return ModuleFile(
        path=path,
        module=module,
        functions=functions,
        definitions=tuple(definition_sites(source)),
        calls=tuple(call_sites(source, callee_names, method_names)),
    )
