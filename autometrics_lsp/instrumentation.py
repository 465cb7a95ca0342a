"""Which functions of a module are instrumented, and the labels the runtime will give them, from the source alone.

Pure and fast: a scanner finds the definitions and `ast` reads only the snippets that matter (see "The source model"
below), so a file that does not compile (a file being edited rarely does) still gives every definition whose header
is intact. Nothing here imports or runs user code, and nothing raises on bad input.

Positions are LSP positions: 0-based lines and columns counted in UTF-16 code units.

Recognised decorators:
- ours: `autometrics` from `autometrics_lsp.runtime` (or a submodule), bare or called, under any alias, or reached as an
  attribute (`rt.autometrics`, `autometrics_lsp.runtime.autometrics`); a name called `autometrics` imported from any
  other module is taken to be a re-export of ours;
- the older `autometrics` package's (`from autometrics import autometrics`, `autometrics.autometrics`), which labels
  functions exactly like ours (`function` = `__qualname__`, `module` = `__name__`, the file's stem for `__main__`);
- ours on a class, mirroring the runtime's rule (autometrics_lsp/runtime/decorator.py): the functions the class's
  `__dict__` ends up holding that were written as `def` directly in its body (the last definition of a name; not
  turned into a property, cache or other non-function by another decorator; no `global` declaration), except dunder
  attributes other than `__call__` (private `__x` names are mangled, so they count), `@skip_autometrics` methods and
  names listed in `exclude=(...)`; a method with its own decorator keeps its own options. The older package has no
  class rule: on a class it wraps the constructor only, which is reported as a problem on the methods.
"""

from __future__ import annotations

import ast
import bisect
import functools
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.runtime.objectives import (
    Objective,
    ObjectiveLatency,
    ObjectivePercentile,
    is_recommended_objective_name,
)

logger = logging.getLogger(__name__)

Range = tuple[int, int, int, int]
"""(start_line, start_column, end_line, end_column), 0-based, columns in UTF-16 code units."""

DecoratorKind = Literal["autometrics_lsp", "autometrics"]
OURS: DecoratorKind = "autometrics_lsp"
OLDER_PACKAGE: DecoratorKind = "autometrics"

_OUR_RUNTIME = "autometrics_lsp.runtime"
_DECORATOR_NAME = "autometrics"
_SKIP_DECORATOR_NAME = "skip_autometrics"
_OLDER_PACKAGE_DECORATORS = frozenset({"autometrics.autometrics", "autometrics.decorator.autometrics"})
# What `from <module> import *` binds, for the modules whose exports matter here.
_STAR_EXPORTS = {
    _OUR_RUNTIME: ("autometrics", "skip_autometrics", "Objective", "ObjectiveLatency", "ObjectivePercentile"),
    f"{_OUR_RUNTIME}.objectives": ("Objective", "ObjectiveLatency", "ObjectivePercentile"),
    "autometrics": ("autometrics", "Objective"),
    "autometrics.objectives": ("Objective", "ObjectiveLatency", "ObjectivePercentile"),
}
# Decorators after which a class attribute is no longer a function written in the class body, so the runtime's class
# rule leaves it alone: descriptors, caches, and typing.overload's placeholder (its __qualname__ is not the method's).
_NON_FUNCTION_DECORATORS = frozenset(
    {"property", "cached_property", "lru_cache", "cache", "singledispatchmethod", "overload", "abstractproperty"}
)
_OPTIONS: dict[DecoratorKind, frozenset[str]] = {
    OURS: frozenset(
        {"objective", "track_concurrency", "record_error_if", "record_success_if", "record_error_type", "exclude"}
    ),
    OLDER_PACKAGE: frozenset({"objective", "track_concurrency", "record_error_if", "record_success_if"}),
}


@dataclass(frozen=True)
class FunctionDefinition:
    """One `def` of a module, instrumented or not."""

    identity: FunctionIdentity
    instrumented: bool
    name_range: Range
    """The function's name token."""
    def_range: Range
    """The whole definition, decorators included."""
    decorator: DecoratorKind | None
    """Whose decorator instruments it: ours, the older package's, or nobody's."""
    problems: tuple[str, ...] = ()
    """Misconfigurations visible in the source, one sentence each."""


def analyze_module(source: str, module: str, *, is_package: bool = False) -> list[FunctionDefinition]:
    """Every function definition of `source`, in source order, with its identity under the dotted name `module`.

    `is_package` says the source is a package's `__init__.py`, which changes what relative imports refer to.
    """
    return list(_analyze_cached(source, module, is_package))


def analyze_file(path: Path, source: str, module: str) -> list[FunctionDefinition]:
    """`analyze_module` of the file at `path`, which is a package when it is an `__init__.py`."""
    return analyze_module(source, module, is_package=path.name == "__init__.py")


def definition_at(definitions: Sequence[FunctionDefinition], line: int, column: int) -> FunctionDefinition | None:
    """The definition whose header holds the position: a decorator line, or the `def` line up to the name's end.

    The rest of the `def` line is left out on purpose: in `def f(): return g()` the position of `g` is a call of `g`.
    """
    found: FunctionDefinition | None = None
    for definition in definitions:
        start_line = definition.def_range[0]
        name_line, _, _, name_end = definition.name_range
        in_header = start_line <= line < name_line or (line == name_line and column <= name_end)
        if in_header and (found is None or _is_within(definition.def_range, found.def_range)):
            found = definition
    return found


def module_name_for_path(path: Path, roots: Sequence[Path]) -> str:
    """The dotted module name Python gives the file at `path`, with `roots` playing the part of `sys.path`.

    Inside a regular package (directories with `__init__.py`) the packages decide, wherever the roots are.
    Otherwise the name is relative to the deepest root holding the file, where `<root>/src` counts as a root too.
    A file outside every root, or under a directory whose name is no identifier, is named by its stem, as a script is.
    """
    file = Path(path).absolute()
    own_part = [] if file.name == "__init__.py" else [file.stem]
    package_parts: list[str] = []
    directory = file.parent
    while (directory / "__init__.py").is_file() and directory != directory.parent:
        package_parts.insert(0, directory.name)
        directory = directory.parent
    if package_parts:
        parts = package_parts + own_part
    else:
        root = _deepest_root_holding(file, roots)
        parts = (list(file.parent.relative_to(root).parts) if root is not None else []) + own_part
    if not parts or not all(part.isidentifier() for part in parts):
        return file.stem
    return ".".join(parts)


def split_lines(source: str) -> list[str]:
    """Lines as LSP (and Python's tokenizer) count them: `\\n`, `\\r\\n` and a lone `\\r` end a line."""
    return _LINE_BREAK.split(source)


def utf16_column(line_text: str, codepoint_column: int) -> int:
    """The UTF-16 column (what LSP clients send) of a column counted in code points (what Python and jedi use)."""
    prefix = line_text[:codepoint_column]
    return len(prefix) + sum(1 for char in prefix if ord(char) > 0xFFFF)


def codepoint_column(line_text: str, utf16_col: int) -> int:
    """The code-point column of a UTF-16 column; a column inside a surrogate pair or past the end is clamped."""
    if line_text.isascii():
        return min(utf16_col, len(line_text))
    units = 0
    for index, char in enumerate(line_text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > utf16_col:
            return index
    return len(line_text)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _is_within(inner: Range, outer: Range) -> bool:
    return (inner[0], inner[1]) >= (outer[0], outer[1]) and (inner[2], inner[3]) <= (outer[2], outer[3])


def _deepest_root_holding(file: Path, roots: Sequence[Path]) -> Path | None:
    candidates = []
    for root in roots:
        root = Path(root).absolute()
        candidates += [root / "src", root]
    holding = [root for root in candidates if file.is_relative_to(root) and root.is_dir()]
    return max(holding, key=lambda root: len(root.parts), default=None)


# --- The source model: the nesting of classes and functions, and the statements that bind names ----------------------
#
# Parsing a whole file with `ast` costs ~10 µs a line (half a second for a 10,000-function file) and fails on the first
# syntax error, so the structure comes from a scanner instead: one regular expression finds the tokens that decide
# where logical lines end (strings, comments, brackets, newlines), indentation gives the nesting, and `ast` parses only
# the few snippets whose meaning matters (decorators, imports, assignments).


@dataclass
class _Block:
    """A module, class or function body."""

    kind: Literal["module", "class", "function"]
    name: str
    indent: int
    name_range: Range
    def_range: Range
    decorators: list[ast.expr]
    statements: list[ast.stmt] = field(default_factory=list)
    """Imports and `global` declarations of this body, also inside if/try/with/loops."""
    assignments: dict[str, str] = field(default_factory=dict)
    """`name = ...` statements of this body: the statement's text, parsed only when the name is looked up."""
    children: list[_Block] = field(default_factory=list)
    """Classes and functions defined in this body, also inside if/try/with/loops."""


_TOKEN = re.compile(
    r"""
      \#[^\r\n]*
    | [rRbBuUfF]{0,2}(?:
          \"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*\"\"\"
        | '''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''
        | "[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*"
        | '[^'\\\r\n]*(?:\\.[^'\\\r\n]*)*'
      )
    | [(\[{]+
    | [)\]}]+
    | \\(?:\r\n|\r|\n)
    | \r\n|\r|\n
    """,
    re.VERBOSE | re.DOTALL,
)
# Inside brackets, a line starting a definition (or its decorators) can only mean a bracket was left open by mistake.
_DEFINITION_AHEAD = re.compile(r"(?:[ \t\f]*@[^\r\n]*(?:\r\n|\r|\n))*[ \t\f]*(?:async[ \t]+def|def|class)[ \t]+\w")
_LINE_KIND = re.compile(
    r"""
    (?P<indent>[ \t\f]*)
    (?:
        (?P<decorator>@)
      | (?P<keyword>(?:async[ \t]+)?def|class)[ \t]+(?P<name>\w+)
      | (?P<import>(?:import|from)\b)
      | global[ \t]+(?P<globals>\w+(?:[ \t]*,[ \t]*\w+)*)
      | (?P<target>(?!\d)\w+)[ \t]*(?::|=(?!=))
    )?
    """,
    re.VERBOSE,
)
_OPENING = frozenset("([{")
_CLOSING = frozenset(")]}")


def _logical_lines(source: str) -> Iterator[tuple[int, int]]:
    """(start, end) offsets of each logical line, the end excluding a trailing comment; blank lines included."""
    start = 0
    depth = 0
    comment = (-1, -1)
    for token in _TOKEN.finditer(source):
        first = source[token.start()]
        if first in _OPENING:
            depth += token.end() - token.start()
        elif first in _CLOSING:
            depth = max(0, depth - (token.end() - token.start()))
        elif first == "#":
            comment = token.span()
        elif first in "\r\n":
            if depth and not _DEFINITION_AHEAD.match(source, token.end()):
                continue
            depth = 0
            yield start, comment[0] if comment[1] == token.start() else token.start()
            start = token.end()
    if start < len(source):
        yield start, comment[0] if comment[1] == len(source) else len(source)


class _Positions:
    """Offsets in the source → LSP positions."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.line_starts = [0, *(match.end() for match in _LINE_BREAK.finditer(source))]

    def __call__(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, offset) - 1
        segment = self.source[self.line_starts[line] : offset]
        return line, len(segment) if segment.isascii() else utf16_column(segment, len(segment))


def _module_block(source: str) -> _Block:
    position = _Positions(source)
    module = _Block("module", "", -1, (0, 0, 0, 0), (0, 0, 0, 0), [])
    open_blocks: list[tuple[_Block, int]] = [(module, 0)]  # each with the offset where its definition starts
    decorators: list[tuple[str, int]] = []  # pending: the expression's text and where its `@` is
    content_end = 0
    for start, end in _logical_lines(source):
        while end > start and source[end - 1] in " \t\f":
            end -= 1
        line = _LINE_KIND.match(source, start, end)
        assert line is not None  # every group is optional
        indentation = line.group("indent")
        if line.end("indent") == end:  # blank or comment-only
            continue
        indent = len(indentation.rpartition("\f")[2].expandtabs(8))
        while indent <= open_blocks[-1][0].indent:
            _close(open_blocks.pop(), content_end, position)
        block = open_blocks[-1][0]
        content_end = end
        if line.group("decorator"):
            decorators.append((source[line.end("decorator") : end], line.start("decorator")))
            continue
        if line.group("keyword"):
            child = _Block(
                "class" if line.group("keyword") == "class" else "function",
                line.group("name"),
                indent,
                (*position(line.start("name")), *position(line.end("name"))),
                (0, 0, 0, 0),
                [expression for text, _ in decorators if (expression := _parse_expression(text.strip())) is not None],
            )
            block.children.append(child)
            open_blocks.append((child, decorators[0][1] if decorators else line.end("indent")))
        elif line.group("import"):
            block.statements += _parse_statements(source[line.end("indent") : end])
        elif line.group("globals"):
            block.statements.append(ast.Global(names=re.split(r"[ \t]*,[ \t]*", line.group("globals"))))
        elif line.group("target"):
            block.assignments[line.group("target")] = source[line.end("indent") : end]
        decorators = []
    while len(open_blocks) > 1:
        _close(open_blocks.pop(), content_end, position)
    return module


def _close(entry: tuple[_Block, int], content_end: int, position: _Positions) -> None:
    block, start = entry
    block.def_range = (*position(start), *position(content_end))


@functools.lru_cache(maxsize=4096)
def _parse_expression(text: str) -> ast.expr | None:
    """Decorators repeat (`autometrics(objective=API)` on every handler): each text is parsed once."""
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return None


def _parse_statements(text: str) -> list[ast.stmt]:
    try:
        return ast.parse(text).body
    except (SyntaxError, ValueError, RecursionError):
        return []


@functools.lru_cache(maxsize=4096)
def _assigned_value(statement: str, name: str) -> ast.expr | None:
    """The value `statement` (`NAME = value` or `NAME: T = value`) binds to `name`."""
    for node in _parse_statements(statement):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return node.value
    return None


# --- Analysis: scopes, names and the static values of decorator arguments ---------------------------------------------


@dataclass(frozen=True)
class _Imported:
    path: str
    """The dotted path the name is bound to, e.g. `autometrics_lsp.runtime.autometrics`."""


@dataclass(frozen=True)
class _Assigned:
    statement: str
    name: str
    scope: _Scope

    @property
    def value(self) -> ast.expr | None:
        return _assigned_value(self.statement, self.name)


@dataclass(frozen=True)
class _ClassReference:
    name: Literal["Objective", "ObjectiveLatency", "ObjectivePercentile"]


_UNKNOWN: Any = object()
_ENUMS: dict[str, Any] = {"ObjectiveLatency": ObjectiveLatency, "ObjectivePercentile": ObjectivePercentile}
_MAX_INDIRECTIONS = 16  # `A = B`, `B = A` must not loop


@dataclass
class _Scope:
    block: _Block
    parent: _Scope | None
    bindings: dict[str, _Imported | _Assigned] = field(default_factory=dict)
    declared_global: set[str] = field(default_factory=set)

    def lookup(self, name: str) -> _Imported | _Assigned | None:
        # Class bodies are visible to code directly in them only, as in Python.
        scope: _Scope | None = self
        while scope is not None:
            if (scope is self or scope.block.kind != "class") and name in scope.bindings:
                return scope.bindings[name]
            scope = scope.parent
        return None


@dataclass(frozen=True)
class _DecoratorUse:
    kind: DecoratorKind
    call: ast.Call | None


class _Mark(Enum):
    SKIP = "skip_autometrics"
    NOT_A_FUNCTION = "a decorator making a method something else than a function"


_SKIP = _Mark.SKIP
_NOT_A_FUNCTION = _Mark.NOT_A_FUNCTION
_DecoratorMark = _DecoratorUse | _Mark


@dataclass
class _Options:
    objective: Objective | None = None
    track_concurrency: bool = False
    exclude: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list)


class _Analysis:
    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.definitions: list[FunctionDefinition] = []
        # Handlers often share one decorator text (`@autometrics(objective=API)`), parsed into one shared node.
        self._options_seen: dict[tuple[int, int], tuple[_Scope, _Options]] = {}

    def run(self, block: _Block) -> list[FunctionDefinition]:
        self._visit(block, None, "", class_rule=None)
        return self.definitions

    def _visit(self, block: _Block, parent: _Scope | None, qualname: str, class_rule: _ClassRule | None) -> None:
        """Records the functions defined in `block`; `class_rule` is set when `block` is a decorated class."""
        scope = _Scope(block, parent)
        self._bind(scope)
        # What a class's __dict__ ends up holding: the last definition of each name.
        last_of_name = {child.name: child for child in block.children}
        for child in block.children:
            if child.name in scope.declared_global or parent is None:
                child_qualname = child.name
            elif block.kind == "class":
                child_qualname = f"{qualname}.{child.name}"
            else:
                child_qualname = f"{qualname}.<locals>.{child.name}"
            marks = [mark for mark in (self._decorator_mark(expr, scope) for expr in child.decorators) if mark]
            if child.kind == "function":
                method = _Method(
                    attribute=_mangled(child.name, block.name) if block.kind == "class" else child.name,
                    name=child.name,
                    in_class_dict=last_of_name[child.name] is child,
                    written_in_body=child_qualname == f"{qualname}.{child.name}",
                    plain_function=_NOT_A_FUNCTION not in marks,
                    skipped=_SKIP in marks,
                )
                self._add_function(child, child_qualname, scope, marks, class_rule, method)
            self._visit(child, scope, child_qualname, self._class_rule(child, scope, marks))

    def _add_function(
        self,
        block: _Block,
        qualname: str,
        scope: _Scope,
        marks: list[_DecoratorMark],
        class_rule: _ClassRule | None,
        method: _Method,
    ) -> None:
        own = [mark for mark in marks if isinstance(mark, _DecoratorUse)]
        problems: list[str] = []
        options = _Options()
        decorator: DecoratorKind | None = None
        if own:
            decorator = own[0].kind
            options = self._options(own[0], scope)
            if len({use.kind for use in own}) > 1:
                problems.append(
                    "decorated by both autometrics_lsp and the older autometrics package: calls are counted twice"
                )
            if own[0].call is not None and any(keyword.arg == "exclude" for keyword in own[0].call.keywords):
                problems.append("exclude=... applies to classes only: on a function the decorator raises TypeError")
        elif class_rule is not None and class_rule.covers(method):
            decorator = OURS
            options = class_rule.options
        elif class_rule is not None and class_rule.kind == OLDER_PACKAGE:
            problems.append(
                "the older autometrics package's decorator on a class counts constructor calls, not this method"
            )
        identity = FunctionIdentity(
            module=self.module,
            function=qualname,
            objective=options.objective,
            track_concurrency=options.track_concurrency,
        )
        self.definitions.append(
            FunctionDefinition(
                identity=identity,
                instrumented=decorator is not None,
                name_range=block.name_range,
                def_range=block.def_range,
                decorator=decorator,
                problems=tuple(options.problems + problems),
            )
        )

    def _class_rule(self, block: _Block, scope: _Scope, marks: list[_DecoratorMark]) -> _ClassRule | None:
        if block.kind != "class":
            return None
        for mark in marks:
            if isinstance(mark, _DecoratorUse):
                options = self._options(mark, scope) if mark.kind == OURS else _Options()
                return _ClassRule(mark.kind, options)
        return None

    # -- names

    def _bind(self, scope: _Scope) -> None:
        for statement in scope.block.statements:
            if isinstance(statement, ast.Import):
                for alias in statement.names:
                    if alias.asname:
                        scope.bindings[alias.asname] = _Imported(alias.name)
                    else:
                        top = alias.name.partition(".")[0]
                        scope.bindings[top] = _Imported(top)
            elif isinstance(statement, ast.ImportFrom):
                origin = self._absolute_module(statement.module, statement.level)
                for alias in statement.names:
                    if alias.name == "*":
                        for name in _STAR_EXPORTS.get(origin, ()):
                            scope.bindings[name] = _Imported(f"{origin}.{name}")
                    else:
                        scope.bindings[alias.asname or alias.name] = _Imported(f"{origin}.{alias.name}")
            elif isinstance(statement, ast.Global):
                scope.declared_global.update(statement.names)
        for name, statement_text in scope.block.assignments.items():
            # A name both imported and assigned counts as imported: `try: from ... import autometrics`
            # `except ImportError: autometrics = fallback` is the usual reason for both.
            scope.bindings.setdefault(name, _Assigned(statement_text, name, scope))

    def _absolute_module(self, module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        package_parts = self.package.split(".") if self.package else []
        if level - 1 >= len(package_parts):
            # Beyond the top-level package: unresolvable, but keep the name visible to the re-export rule.
            return "." * level + (module or "")
        base = ".".join(package_parts[: len(package_parts) - (level - 1)])
        return f"{base}.{module}" if module else base

    def _dotted_path(self, expr: ast.expr, scope: _Scope, depth: int = 0) -> str | None:
        """`rt.autometrics` → `autometrics_lsp.runtime.autometrics`; an unbound name stays itself."""
        if depth > _MAX_INDIRECTIONS:
            return None
        if isinstance(expr, ast.Name):
            binding = scope.lookup(expr.id)
            if binding is None:
                return expr.id
            if isinstance(binding, _Imported):
                return binding.path
            return self._dotted_path(binding.value, binding.scope, depth + 1) if binding.value else None
        if isinstance(expr, ast.Attribute):
            base = self._dotted_path(expr.value, scope, depth + 1)
            return f"{base}.{expr.attr}" if base is not None else None
        return None

    def _decorator_mark(self, expr: ast.expr, scope: _Scope) -> _DecoratorMark | None:
        call = expr if isinstance(expr, ast.Call) else None
        path = self._dotted_path(call.func if call else expr, scope)
        if path is None:
            return None
        if path in _OLDER_PACKAGE_DECORATORS:
            return _DecoratorUse(OLDER_PACKAGE, call)
        module, _, name = path.rpartition(".")
        # An unbound bare name (no module) is left alone: no import makes it our decorator.
        if name == _DECORATOR_NAME and module:
            return _DecoratorUse(OURS, call)
        if name == _SKIP_DECORATOR_NAME and module:
            return _SKIP
        if name in _NON_FUNCTION_DECORATORS or (module and name in ("setter", "getter", "deleter")):
            return _NOT_A_FUNCTION
        return None

    # -- decorator arguments

    def _options(self, use: _DecoratorUse, scope: _Scope) -> _Options:
        if use.call is None:
            return _Options()
        key = (id(use.call), id(scope))
        if key not in self._options_seen:
            # The scope is kept alive with its entry, so its id cannot be reused by another scope meanwhile.
            self._options_seen[key] = (scope, self._read_options(use.kind, use.call, scope))
        return self._options_seen[key][1]

    def _read_options(self, kind: DecoratorKind, call: ast.Call, scope: _Scope) -> _Options:
        options = _Options()
        for keyword in call.keywords:
            if keyword.arg is None:  # **kwargs: nothing to see statically
                continue
            if keyword.arg not in _OPTIONS[kind]:
                options.problems.append(f"unknown option {keyword.arg!r} for the autometrics decorator")
            elif keyword.arg == "objective":
                options.objective = self._objective_option(keyword.value, scope, options.problems)
            elif keyword.arg == "track_concurrency":
                options.track_concurrency = self._evaluate(keyword.value, scope, options.problems) is True
            elif keyword.arg == "exclude":
                excluded = self._evaluate(keyword.value, scope, options.problems)
                if isinstance(excluded, tuple):
                    options.exclude = tuple(name for name in excluded if isinstance(name, str))
        return options

    def _objective_option(self, expr: ast.expr, scope: _Scope, problems: list[str]) -> Objective | None:
        value = self._evaluate(expr, scope, problems)
        if isinstance(value, Objective) or value is None:
            return value
        if value is not _UNKNOWN:
            problems.append(f"objective must be an Objective(...), not {value!r}")
        return None

    def _evaluate(self, expr: ast.expr, scope: _Scope, problems: list[str], depth: int = 0) -> Any:
        """The value of an expression made of literals, names bound to them, and the objective types; else _UNKNOWN."""
        if depth > _MAX_INDIRECTIONS:
            return _UNKNOWN
        if isinstance(expr, ast.Constant):
            return expr.value
        if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
            return tuple(self._evaluate(item, scope, problems, depth + 1) for item in expr.elts)
        if isinstance(expr, ast.Call):
            return self._evaluate_call(expr, scope, problems, depth)
        if isinstance(expr, ast.Name):
            binding = scope.lookup(expr.id)
            if isinstance(binding, _Assigned):
                return self._evaluate(binding.value, binding.scope, problems, depth + 1) if binding.value else _UNKNOWN
        if isinstance(expr, (ast.Name, ast.Attribute)):
            path = self._dotted_path(expr, scope)
            if path is not None:
                return self._objective_type_member(path, problems)
        return _UNKNOWN

    def _objective_type_member(self, path: str, problems: list[str]) -> Any:
        parts = path.split(".")
        if parts[-1] in ("Objective", "ObjectiveLatency", "ObjectivePercentile"):
            return _ClassReference(parts[-1])  # type: ignore[arg-type]
        if len(parts) >= 2 and parts[-2] in _ENUMS:
            enum = _ENUMS[parts[-2]]
            # The older package's enums have the same member names as ours.
            if parts[-1] in enum.__members__:
                return enum[parts[-1]]
            problems.append(f"{parts[-2]} has no member {parts[-1]}")
        return _UNKNOWN

    def _evaluate_call(self, call: ast.Call, scope: _Scope, problems: list[str], depth: int) -> Any:
        callee = self._evaluate(call.func, scope, problems, depth + 1)
        if not isinstance(callee, _ClassReference):
            return _UNKNOWN
        arguments = [self._evaluate(argument, scope, problems, depth + 1) for argument in call.args]
        keywords = {
            keyword.arg: self._evaluate(keyword.value, scope, problems, depth + 1)
            for keyword in call.keywords
            if keyword.arg is not None
        }
        if callee.name == "ObjectivePercentile" and len(arguments) == 1:
            return _percentile(arguments[0], "percentile", problems)
        if callee.name == "ObjectiveLatency" and len(arguments) == 1:
            return _latency_threshold(arguments[0], problems)
        if callee.name == "Objective":
            return _objective(arguments, keywords, problems)
        return _UNKNOWN


@dataclass(frozen=True)
class _Method:
    """What the runtime's class rule looks at, for one function defined in a class body."""

    attribute: str
    """Its key in the class's __dict__ (private names are mangled)."""
    name: str
    in_class_dict: bool
    """False when a later definition of the same name replaced it."""
    written_in_body: bool
    """Its __qualname__ is `<class>.<name>`; a `global` declaration in the class body changes that."""
    plain_function: bool
    """Still a function after its other decorators (property, cached_property, lru_cache... make it something else)."""
    skipped: bool


@dataclass(frozen=True)
class _ClassRule:
    kind: DecoratorKind
    options: _Options

    def covers(self, method: _Method) -> bool:
        is_dunder = method.attribute.startswith("__") and method.attribute.endswith("__")
        return (
            self.kind == OURS
            and method.in_class_dict
            and method.written_in_body
            and method.plain_function
            and not method.skipped
            and (not is_dunder or method.attribute == "__call__")
            and method.attribute not in self.options.exclude
            and method.name not in self.options.exclude
        )


def _mangled(name: str, class_name: str) -> str:
    """The attribute Python stores a `__private` method under."""
    if not name.startswith("__") or name.endswith("__") or not class_name.strip("_"):
        return name
    return f"_{class_name.lstrip('_')}{name}"


def _percentile(value: Any, role: str, problems: list[str]) -> ObjectivePercentile | None:
    if value is _UNKNOWN or value is None:
        return None
    try:
        return ObjectivePercentile(value)
    except (ValueError, TypeError):
        allowed = ", ".join(member.value for member in ObjectivePercentile)
        problems.append(f"{role} {_shown(value)} is not one of the objective percentiles ({allowed})")
        return None


def _latency_threshold(value: Any, problems: list[str]) -> ObjectiveLatency | None:
    if value is _UNKNOWN or value is None:
        return None
    try:
        return ObjectiveLatency(value)
    except (ValueError, TypeError):
        allowed = ", ".join(member.value for member in ObjectiveLatency)
        problems.append(
            f"latency threshold {_shown(value)} is not a histogram bucket boundary in seconds ({allowed});"
            " use ObjectiveLatency"
        )
        return None


def _objective(arguments: list[Any], keywords: dict[str, Any], problems: list[str]) -> Any:
    """The Objective the runtime would build, or _UNKNOWN when a part is not static or the runtime would reject it."""
    fields = dict(zip(("name", "success_rate", "latency"), arguments, strict=False))
    fields.update({key: value for key, value in keywords.items() if key in ("name", "success_rate", "latency")})
    if any(value is _UNKNOWN or (isinstance(value, tuple) and _UNKNOWN in value) for value in fields.values()):
        return _UNKNOWN
    problems_before = len(problems)
    name = fields.get("name")
    if not isinstance(name, str) or not name:
        problems.append("an objective needs a non-empty name")
        name = None
    success_rate = _percentile(fields.get("success_rate"), "success_rate", problems)
    latency = _latency(fields.get("latency"), problems)
    if fields.get("success_rate") is None and fields.get("latency") is None:
        problems.append(f"objective {name!r} needs a success_rate, a latency, or both")
    if len(problems) > problems_before or name is None:
        return _UNKNOWN
    if not is_recommended_objective_name(name):
        problems.append(
            f"objective name {name!r} is discouraged: use lowercase letters, digits, '-' and '_',"
            " starting with a letter"
        )
    return Objective(name, success_rate=success_rate, latency=latency)


def _latency(value: Any, problems: list[str]) -> tuple[ObjectiveLatency, ObjectivePercentile] | None:
    if value is None:
        return None
    if not (isinstance(value, tuple) and len(value) == 2):
        problems.append("latency must be a pair (ObjectiveLatency threshold, ObjectivePercentile)")
        return None
    threshold = _latency_threshold(value[0], problems)
    percentile = _percentile(value[1], "latency percentile", problems)
    return (threshold, percentile) if threshold is not None and percentile is not None else None


def _shown(value: Any) -> str:
    return repr(value.value) if isinstance(value, (ObjectiveLatency, ObjectivePercentile)) else repr(value)


@functools.lru_cache(maxsize=64)
def _analyze_cached(source: str, module: str, is_package: bool) -> tuple[FunctionDefinition, ...]:
    try:
        return tuple(_Analysis(module, is_package).run(_module_block(source)))
    except Exception:  # a language server must survive any input; the log tells us what to fix
        logger.exception("could not analyse module %s", module)
        return ()
