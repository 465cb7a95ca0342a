"""Decorate every top-level function and method of a module with `@autometrics`, as a source rewrite.

The rewrite inserts lines only (the decorator right above each `def`, the import after the docstring and
`from __future__` imports), so everything else in the file keeps its text and its comments. The decorator
goes innermost, under any decorators already there: `@classmethod`, `@property` and friends then wrap the
instrumented function, which is how the runtime is meant to be combined with them. Standard library only.
"""

from __future__ import annotations

import ast
import io
from collections.abc import Iterator
from dataclasses import dataclass

DECORATOR = "autometrics"
IMPORT_STATEMENT = "from autometrics_lsp.runtime import autometrics"

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Rewrite:
    source: str
    decorated: tuple[str, ...]  # qualnames, in source order


class RewriteError(ValueError):
    """The module cannot be decorated without changing its meaning (or is not valid Python to begin with)."""


def decorate_module(source: str) -> Rewrite:
    """`source` with `@autometrics` on each undecorated top-level function and method, and its import."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise RewriteError(f"not valid Python: {error}") from error
    lines = physical_lines(source)
    newline = _newline_of(lines)
    insertions: dict[int, str] = {}  # 0-based line index -> text inserted before it
    decorated: list[str] = []
    for qualname, function in top_level_functions(tree.body, prefix=""):
        if any(_is_autometrics(decorator) for decorator in function.decorator_list):
            continue
        def_line = lines[function.lineno - 1]
        indent = def_line[: function.col_offset]
        if indent.strip():
            raise RewriteError(f"line {function.lineno}: `def` does not start its line")
        insertions[function.lineno - 1] = f"{indent}@{DECORATOR}{newline}"
        decorated.append(qualname)
    if not decorated:
        return Rewrite(source, ())
    import_line = _import_insertion_line(tree)
    insertions[import_line] = IMPORT_STATEMENT + newline + insertions.get(import_line, "")
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline  # an insertion at the very end must start on a line of its own
    rewritten = "".join(insertions.get(index, "") + line for index, line in enumerate(lines))
    rewritten += insertions.get(len(lines), "")
    try:
        ast.parse(rewritten)
    except SyntaxError as error:
        raise RewriteError(f"the rewrite would not parse: {error}") from error
    return Rewrite(rewritten, tuple(decorated))


def top_level_functions(body: list[ast.stmt], prefix: str) -> Iterator[tuple[str, FunctionNode]]:
    """Functions of the module body and methods of its classes (nested classes too), with their qualnames."""
    for statement in body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + statement.name, statement
        elif isinstance(statement, ast.ClassDef):
            yield from top_level_functions(statement.body, prefix=f"{prefix}{statement.name}.")


def _is_autometrics(decorator: ast.expr) -> bool:
    """`@autometrics`, `@autometrics(...)`, `@x.autometrics` or `@x.autometrics(...)`."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Name):
        return target.id == DECORATOR
    return isinstance(target, ast.Attribute) and target.attr == DECORATOR


def _import_insertion_line(tree: ast.Module) -> int:
    """0-based line before which the import goes: after the docstring and `from __future__` imports.

    Without those it goes before the first statement, so a shebang or encoding comment stays on top.
    """
    after = 0
    for index, statement in enumerate(tree.body):
        is_docstring = (
            index == 0
            and isinstance(statement, ast.Expr)
            and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str)
        )
        is_future = isinstance(statement, ast.ImportFrom) and statement.module == "__future__"
        if not (is_docstring or is_future):
            break
        after = statement.end_lineno or statement.lineno
    if after:
        return after
    if not tree.body:
        return 0
    first = tree.body[0]
    decorators: list[ast.expr] = getattr(first, "decorator_list", [])
    return min([first.lineno, *(decorator.lineno for decorator in decorators)]) - 1


def physical_lines(source: str) -> list[str]:
    """Lines as the tokenizer counts them (str.splitlines would also split at form feeds and U+2028)."""
    return io.StringIO(source, newline="").readlines()


def _newline_of(lines: list[str]) -> str:
    for line in lines:
        if line.endswith("\r\n"):
            return "\r\n"
        if line.endswith("\n"):
            return "\n"
    return "\n"
