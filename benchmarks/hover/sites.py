"""Where to hover in a module: the names of its function definitions and of its calls, as LSP positions.

LSP counts columns in UTF-16 code units, `ast` in UTF-8 bytes; every position here is converted. The
cursor goes to the middle of the name, as a mouse resting on a word would. Standard library only.
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from dataclasses import dataclass

from hover.rewrite import physical_lines, top_level_functions


@dataclass(frozen=True)
class Site:
    """A 0-based LSP position on a name: at a definition, `qualname` says which function."""

    line: int
    character: int
    name: str
    qualname: str | None = None

    @property
    def is_definition(self) -> bool:
        return self.qualname is not None


def definition_sites(source: str) -> list[Site]:
    """The name of every top-level function and method definition (nested classes included)."""
    tree = ast.parse(source)
    lines = physical_lines(source)
    sites = []
    for qualname, function in top_level_functions(tree.body, prefix=""):
        line_bytes = lines[function.lineno - 1].encode("utf-8")
        after_def = line_bytes.index(b"def", function.col_offset) + len(b"def")
        name_column = line_bytes.find(function.name.encode("utf-8"), after_def)
        if name_column < 0:  # `def` and its name on different lines: no mouse rests there in practice
            continue
        sites.append(_site(lines, function.lineno, name_column, function.name, qualname))
    return sites


def call_sites(source: str, callee_names: Collection[str], method_names: Collection[str] = ()) -> list[Site]:
    """Calls of known functions: `f(...)`, `m.f(...)` on an imported name `m`, and `self.g(...)`.

    `f` must be one of `callee_names`, `g` one of `method_names`. Calls on other receivers (`graph.edges()`)
    are left out: which function they reach depends on a runtime type no static resolver sees.
    """
    tree = ast.parse(source)
    lines = physical_lines(source)
    imported = _imported_names(tree)
    sites = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = node.func
        if isinstance(called, ast.Name) and called.id in callee_names:
            sites.append(_site(lines, called.lineno, called.col_offset, called.id))
        elif isinstance(called, ast.Attribute) and isinstance(called.value, ast.Name) and called.end_lineno:
            receiver = called.value.id
            known = (receiver in imported and called.attr in callee_names) or (
                receiver == "self" and called.attr in method_names
            )
            if known:
                # The attribute's name is the last token of the expression: count back from its end.
                start = (called.end_col_offset or 0) - len(called.attr.encode("utf-8"))
                sites.append(_site(lines, called.end_lineno, start, called.attr))
    return sorted(sites, key=lambda site: (site.line, site.character))


def _imported_names(tree: ast.Module) -> set[str]:
    """Names an import statement binds anywhere in the module (`import a.b` binds `a`)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound.update(alias.asname or alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            bound.update(alias.asname or alias.name for alias in node.names)
    return bound


def utf16_column(line: str, byte_offset: int) -> int:
    """The UTF-16 column of a UTF-8 byte offset into `line`."""
    prefix = line.encode("utf-8")[:byte_offset].decode("utf-8")
    return len(prefix.encode("utf-16-le")) // 2


def _site(lines: list[str], lineno: int, byte_offset: int, name: str, qualname: str | None = None) -> Site:
    line = lines[lineno - 1]
    start = utf16_column(line, byte_offset)
    middle = start + len(name.encode("utf-16-le")) // 4
    return Site(line=lineno - 1, character=middle, name=name, qualname=qualname)
