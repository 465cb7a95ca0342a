"""Static recognition of instrumented functions: decorator forms, the class rule, labels, objectives, positions."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import sysconfig
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autometrics_lsp.instrumentation import (
    FunctionDefinition,
    analyze_module,
    codepoint_column,
    definition_at,
    module_name_for_path,
    split_lines,
    utf16_column,
)
from autometrics_lsp.runtime.objectives import Objective, ObjectiveLatency, ObjectivePercentile

WORKSPACE = Path(__file__).resolve().parents[2] / "fixtures" / "workspace"
SHOPKIT = WORKSPACE / "shopkit"


def analyze(source: str, module: str = "app.handlers", is_package: bool = False) -> dict[str, FunctionDefinition]:
    definitions = analyze_module(textwrap.dedent(source), module, is_package=is_package)
    return {definition.identity.function: definition for definition in definitions}


def instrumented(source: str, module: str = "app.handlers", is_package: bool = False) -> dict[str, str | None]:
    """Each function's decorator kind, None when not instrumented."""
    return {name: definition.decorator for name, definition in analyze(source, module, is_package).items()}


def fixture(module_file: str) -> dict[str, FunctionDefinition]:
    path = SHOPKIT / module_file
    module = module_name_for_path(path, [WORKSPACE])
    return {d.identity.function: d for d in analyze_module(path.read_text(encoding="utf-8"), module)}


# --- decorator forms ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "imports, decorator",
    [
        ("from autometrics_lsp.runtime import autometrics", "@autometrics"),
        ("from autometrics_lsp.runtime import autometrics", "@autometrics()"),
        ("from autometrics_lsp.runtime import autometrics", "@autometrics(track_concurrency=False)"),
        ("from autometrics_lsp.runtime import autometrics as am", "@am"),
        ("from autometrics_lsp.runtime import autometrics as am", "@am(record_error_if=lambda value: not value)"),
        ("import autometrics_lsp.runtime as rt", "@rt.autometrics"),
        ("import autometrics_lsp.runtime as rt", "@rt.autometrics()"),
        ("import autometrics_lsp.runtime", "@autometrics_lsp.runtime.autometrics"),
        ("import autometrics_lsp", "@autometrics_lsp.runtime.autometrics(track_concurrency=True)"),
        ("from autometrics_lsp import runtime", "@runtime.autometrics"),
        ("from autometrics_lsp.runtime import *", "@autometrics"),
        ("from autometrics_lsp.runtime import autometrics\ninstrument = autometrics", "@instrument"),
        ("try:\n    from autometrics_lsp.runtime import autometrics\nexcept ImportError:\n    autometrics = None",
         "@autometrics"),
        # A re-export of ours from the user's own code: jedi could tell, a static reading assumes it.
        ("from myservice.observability import autometrics", "@autometrics"),
    ],
)
def test_every_form_of_our_decorator_is_recognised(imports: str, decorator: str) -> None:
    source = f"{imports}\n\n{decorator}\ndef handler():\n    pass\n"
    assert instrumented(source) == {"handler": "autometrics_lsp"}


@pytest.mark.parametrize(
    "imports, decorator",
    [
        ("from autometrics import autometrics", "@autometrics"),
        ("from autometrics import autometrics", "@autometrics(track_concurrency=True)"),
        ("from autometrics import autometrics as legacy", "@legacy"),
        ("import autometrics", "@autometrics.autometrics"),
        ("import autometrics as am", "@am.autometrics()"),
        ("from autometrics.decorator import autometrics", "@autometrics"),
        ("from autometrics import *", "@autometrics"),
    ],
)
def test_the_older_packages_decorator_is_recognised(imports: str, decorator: str) -> None:
    source = f"{imports}\n\n{decorator}\ndef handler():\n    pass\n"
    assert instrumented(source) == {"handler": "autometrics"}


@pytest.mark.parametrize(
    "source",
    [
        "def handler():\n    pass\n",
        "@autometrics\ndef handler():\n    pass\n",  # never imported: NameError at import time, not ours
        "import functools\n\n@functools.cache\ndef handler():\n    pass\n",
        "from autometrics_lsp.runtime import autometrics\n\n@autometrics.something\ndef handler():\n    pass\n",
        "import autometrics\n\n@autometrics\ndef handler():\n    pass\n",  # a module is no decorator
        "from autometrics_lsp.runtime import init\n\n@init\ndef handler():\n    pass\n",
    ],
)
def test_other_decorators_and_unbound_names_are_not_instrumentation(source: str) -> None:
    assert instrumented(source) == {"handler": None}


def test_our_decorator_among_others_in_either_order() -> None:
    source = """
        import functools
        from autometrics_lsp.runtime import autometrics

        class Service:
            @staticmethod
            @autometrics
            def first(): ...

            @autometrics
            @classmethod
            def second(cls): ...

            @functools.cached_property
            def third(self): ...
    """
    assert instrumented(source) == {"Service.first": "autometrics_lsp", "Service.second": "autometrics_lsp",
                                    "Service.third": None}


def test_both_decorators_on_one_function_is_a_problem() -> None:
    source = """
        from autometrics import autometrics as old
        from autometrics_lsp.runtime import autometrics

        @autometrics
        @old
        def twice(): ...
    """
    twice = analyze(source)["twice"]
    assert twice.instrumented and twice.decorator == "autometrics_lsp"
    assert any("counted twice" in problem for problem in twice.problems)


def test_an_import_inside_a_function_reaches_its_nested_definitions_only() -> None:
    source = """
        def factory():
            from autometrics_lsp.runtime import autometrics

            @autometrics
            def made(): ...
            return made

        @autometrics
        def outside(): ...
    """
    assert instrumented(source) == {"factory": None, "factory.<locals>.made": "autometrics_lsp", "outside": None}


def test_class_scope_names_reach_method_decorators_but_not_nested_functions() -> None:
    source = """
        class Service:
            from autometrics_lsp.runtime import autometrics as instrument

            @instrument
            def handle(self):
                @instrument  # class names are not visible here: a NameError in Python
                def inner(): ...
    """
    assert instrumented(source) == {"Service.handle": "autometrics_lsp", "Service.handle.<locals>.inner": None}


# --- relative imports ------------------------------------------------------------------------------------------


def test_relative_imports_resolve_against_the_module_and_package() -> None:
    # Inside the older package's own tree, only a correctly resolved import reaches ITS decorator (else: ours).
    source = "from ..decorator import autometrics\n\n@autometrics\ndef f(): ...\n"
    assert instrumented(source, module="autometrics.contrib.helpers") == {"f": "autometrics"}
    assert instrumented(source, module="autometrics.contrib", is_package=True) == {"f": "autometrics"}
    assert instrumented(source, module="autometrics.contrib") == {"f": "autometrics_lsp"}  # `..` is above the top
    assert instrumented("from . import decorator\n\n@decorator.autometrics\ndef f(): ...\n",
                        module="autometrics.helpers") == {"f": "autometrics"}


def test_a_relative_import_above_the_top_package_still_keeps_its_name() -> None:
    source = "from ....observability import autometrics\n\n@autometrics\ndef a(): ...\n"
    assert instrumented(source, module="app.handlers") == {"a": "autometrics_lsp"}


# --- the class rule (see the runtime's class decorator) --------------------------------------------------------


def test_the_class_rule_on_the_fixture_ledger() -> None:
    path = SHOPKIT / "ledger.py"
    definitions = analyze_module(path.read_text(encoding="utf-8"), "shopkit.ledger")
    assert [(d.identity.function, d.instrumented) for d in definitions] == [
        ("Ledger.__init__", False),  # dunder
        ("Ledger.__call__", True),  # the one dunder that is instrumented
        ("Ledger.__len__", False),
        ("Ledger.record", True),
        ("Ledger.record_twice", True),
        ("Ledger.audit", False),  # exclude=("audit", ...)
        ("Ledger.describe", False),  # @skip_autometrics
        ("Ledger.currency", True),  # staticmethod
        ("Ledger.opened", True),  # classmethod
        ("Ledger.settle", True),  # async
        ("Ledger.history", True),  # generator
        ("Ledger.close", True),  # its own decorator
        ("Ledger._private_helper", True),
        ("Ledger.__reconcile", True),  # stored as _Ledger__reconcile: no dunder
        ("Ledger.__hidden", False),  # excluded by its written name
        ("Ledger.balance", False),  # a property
        ("Ledger.balance", False),  # its setter
        ("Ledger.summary", False),  # cached_property
        ("Ledger.rate", False),  # lru_cache
        ("Ledger.replaced", False),  # replaced by the next definition of the name
        ("Ledger.replaced", True),
        ("Ledger.Page.lines", False),  # a nested class is no method
        ("PlainBook.record", False),
    ]
    ledger = {d.identity.function: d for d in definitions}
    assert ledger["Ledger.record"].identity.objective is None
    assert ledger["Ledger.close"].identity.objective == Objective("ledger-close", success_rate=ObjectivePercentile.P95)


def test_a_global_declaration_in_a_class_body_takes_the_function_out_of_the_class_rule() -> None:
    source = """
        from autometrics_lsp.runtime import autometrics

        @autometrics
        class Holder:
            global hoisted
            def hoisted(self): ...
            def kept(self): ...
    """
    assert instrumented(source) == {"hoisted": None, "Holder.kept": "autometrics_lsp"}


def test_exclude_on_a_function_is_a_problem() -> None:
    source = "from autometrics_lsp.runtime import autometrics\n\n@autometrics(exclude=('x',))\ndef f(): ...\n"
    assert analyze(source)["f"].problems == (
        "exclude=... applies to classes only: on a function the decorator raises TypeError",
    )


def test_class_options_reach_its_methods_and_nested_functions_are_not_methods() -> None:
    source = """
        from autometrics_lsp.runtime import Objective, ObjectivePercentile, autometrics

        @autometrics(objective=Objective("api", success_rate=ObjectivePercentile.P99), track_concurrency=True)
        class Api:
            def get(self):
                def helper(): ...
            if True:
                def conditional(self): ...
    """
    found = analyze(source)
    for method in ("Api.get", "Api.conditional"):
        assert found[method].instrumented
        assert found[method].identity.track_concurrency
        assert found[method].identity.objective == Objective("api", success_rate=ObjectivePercentile.P99)
    assert not found["Api.get.<locals>.helper"].instrumented


def test_the_older_package_on_a_class_instruments_no_method() -> None:
    legacy = fixture("legacy.py")
    assert not legacy["LegacyCart.add"].instrumented
    assert any("constructor" in problem for problem in legacy["LegacyCart.add"].problems)


# --- labels -----------------------------------------------------------------------------------------------------


def test_qualnames_of_nested_definitions() -> None:
    source = """
        def outer():
            def inner():
                class Local:
                    def method(self):
                        def deepest(): ...
            async def sibling(): ...

        class Outer:
            class Inner:
                async def method(self): ...

        def declares():
            global promoted
            def promoted(): ...

        class Holder:
            global hoisted
            def hoisted(self): ...
            def __mangled(self): ...
    """
    assert list(analyze(source)) == [
        "outer",
        "outer.<locals>.inner",
        "outer.<locals>.inner.<locals>.Local.method",
        "outer.<locals>.inner.<locals>.Local.method.<locals>.deepest",
        "outer.<locals>.sibling",
        "Outer.Inner.method",
        "declares",
        "promoted",
        "hoisted",
        "Holder.__mangled",
    ]


def _interpreter_definitions(source: str) -> Counter[tuple[str, int]]:
    """(qualname, first line) of every function the interpreter compiles: the ground truth for labels."""
    found: Counter[tuple[str, int]] = Counter()
    newlocals = 0x2  # inspect.CO_NEWLOCALS: set for functions, not for class bodies or the module

    def walk(code: object) -> None:
        for constant in code.co_consts:  # type: ignore[attr-defined]
            if hasattr(constant, "co_qualname"):
                if constant.co_flags & newlocals and not constant.co_name.startswith("<"):
                    found[(constant.co_qualname, constant.co_firstlineno)] += 1
                walk(constant)

    walk(compile(source, "<source>", "exec", dont_inherit=True))
    return found


def _ast_extents(source: str) -> Counter[tuple[int, int]]:
    return Counter(
        (min([node.lineno, *(d.lineno for d in node.decorator_list)]), node.end_lineno or node.lineno)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    )


def _sample_sources() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    modules = sorted(path for path in stdlib.rglob("*.py") if not {"test", "tests", "site-packages"} & set(path.parts))
    return sorted(SHOPKIT.rglob("*.py")) + modules[::12]  # every 12th: about 70 files, varied enough, a second


@pytest.mark.parametrize("path", _sample_sources(), ids=lambda path: path.name)
def test_labels_and_extents_match_the_interpreter_on_real_code(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    definitions = analyze_module(source, "sample")
    assert Counter((d.identity.function, d.def_range[0] + 1) for d in definitions) == _interpreter_definitions(source)
    assert Counter((d.def_range[0] + 1, d.def_range[2] + 1) for d in definitions) == _ast_extents(source)


def test_module_and_identity_fields() -> None:
    orders = fixture("orders.py")
    assert orders["cancel_order"].identity.module == "shopkit.orders"
    assert orders["cancel_order"].identity.display_name == "shopkit.orders.cancel_order"
    assert orders["place_order"].identity.track_concurrency
    assert not orders["cancel_order"].identity.track_concurrency
    assert [name for name, d in orders.items() if d.instrumented] == [
        "cancel_order", "place_order", "refund", "checkout_total", "order_lines", "order_events"
    ]
    assert not orders["undecorated_helper"].instrumented and orders["undecorated_helper"].decorator is None


def test_the_older_package_gets_the_same_labels() -> None:
    # autometrics 1.0.0 (utils.get_function_name / get_module_name): function = __qualname__, module = __name__.
    legacy = fixture("legacy.py")
    assert legacy["legacy_lookup"].identity.function == "legacy_lookup"
    assert legacy["legacy_lookup"].identity.module == "shopkit.legacy"
    assert legacy["legacy_store"].decorator == "autometrics"
    assert legacy["legacy_store"].identity.track_concurrency
    assert legacy["legacy_store"].identity.objective == Objective(
        "api", success_rate=ObjectivePercentile.P99, latency=(ObjectiveLatency.Ms500, ObjectivePercentile.P95)
    )


def test_non_ascii_names_are_labelled_as_written() -> None:
    pricing = fixture("pricing.py")
    assert pricing["étiquette"].identity.function == "étiquette"
    assert [name for name, d in pricing.items() if d.instrumented] == [
        "quote", "discount", "price_with_tax", "price_table.<locals>.cheapest", "price_table.<locals>.Table.row"
    ]
    assert pricing["discount"].identity.track_concurrency


# --- objectives -------------------------------------------------------------------------------------------------

API_OBJECTIVE = Objective("api", success_rate=ObjectivePercentile.P99_9,
                          latency=(ObjectiveLatency.Ms250, ObjectivePercentile.P99))


@pytest.mark.parametrize(
    "preamble, argument",
    [
        ("", 'Objective("api", success_rate=ObjectivePercentile.P99_9, '
             "latency=(ObjectiveLatency.Ms250, ObjectivePercentile.P99))"),
        ("", 'Objective("api", ObjectivePercentile.P99_9, [ObjectiveLatency.Ms250, ObjectivePercentile.P99])'),
        ("", 'Objective(name="api", latency=("0.25", "99"), success_rate="99.9")'),
        ('API = Objective("api", success_rate=ObjectivePercentile.P99_9, '
         "latency=(ObjectiveLatency.Ms250, ObjectivePercentile.P99))", "API"),
        ("from autometrics_lsp.runtime import ObjectivePercentile as P, ObjectiveLatency as L\n"
         'API: Objective = Objective("api", success_rate=P.P99_9, latency=(L.Ms250, P.P99))\nALIAS = API', "ALIAS"),
        ("import autometrics_lsp.runtime.objectives as slo\n"
         'API = slo.Objective("api", success_rate=slo.ObjectivePercentile.P99_9,'
         " latency=(slo.ObjectiveLatency.Ms250, slo.ObjectivePercentile.P99))", "API"),
        ('RATE = ObjectivePercentile("99.9")\nLATENCY = (ObjectiveLatency("0.25"), ObjectivePercentile.P99)\n'
         'API = Objective("api", success_rate=RATE, latency=LATENCY)', "API"),
    ],
)
def test_objectives_are_resolved_statically(preamble: str, argument: str) -> None:
    source = (
        "from autometrics_lsp.runtime import autometrics, Objective, ObjectiveLatency, ObjectivePercentile\n"
        f"{preamble}\n\n@autometrics(objective={argument})\ndef handler(): ...\n"
    )
    handler = analyze(source)["handler"]
    assert handler.identity.objective == API_OBJECTIVE
    assert handler.problems == ()


def test_objectives_of_the_fixture() -> None:
    orders = fixture("orders.py")
    assert orders["place_order"].identity.objective == Objective("place-order", success_rate=ObjectivePercentile.P99)
    assert orders["refund"].identity.objective == Objective(
        "refunds", latency=(ObjectiveLatency.Ms100, ObjectivePercentile.P95)
    )
    # Bound in another module (shopkit.slos): out of a single file's sight, so unknown rather than guessed.
    assert orders["checkout_total"].identity.objective is None
    assert orders["checkout_total"].instrumented


@pytest.mark.parametrize(
    "argument, problem",
    [
        ('Objective("api", latency=("0.3", ObjectivePercentile.P99))', "latency threshold '0.3' is not a histogram"),
        ('Objective("api", latency=(0.25, ObjectivePercentile.P99))', "latency threshold 0.25 is not a histogram"),
        ('Objective("api", success_rate="99.5")', "success_rate '99.5' is not one of the objective percentiles"),
        ('Objective("api", latency=(ObjectiveLatency.Ms250, "42"))', "latency percentile '42' is not one of"),
        ('Objective("api", success_rate=ObjectivePercentile.P98)', "ObjectivePercentile has no member P98"),
        ('Objective("api")', "objective 'api' needs a success_rate, a latency, or both"),
        ('Objective("", success_rate="99")', "an objective needs a non-empty name"),
        ('Objective("api", latency=ObjectiveLatency.Ms250)', "latency must be a pair"),
        ('"api"', "objective must be an Objective(...), not 'api'"),
    ],
)
def test_misconfigured_objectives_are_problems(argument: str, problem: str) -> None:
    source = (
        "from autometrics_lsp.runtime import autometrics, Objective, ObjectiveLatency, ObjectivePercentile\n\n"
        f"@autometrics(objective={argument})\ndef handler(): ...\n"
    )
    handler = analyze(source)["handler"]
    assert handler.instrumented
    assert handler.identity.objective is None
    assert [found for found in handler.problems if found.startswith(problem)], handler.problems


def test_a_discouraged_objective_name_is_a_problem_but_still_an_objective() -> None:
    source = (
        "from autometrics_lsp.runtime import autometrics, Objective\n\n"
        '@autometrics(objective=Objective("Checkout API", success_rate="99"))\ndef handler(): ...\n'
    )
    handler = analyze(source)["handler"]
    assert handler.identity.objective == Objective("Checkout API", success_rate=ObjectivePercentile.P99)
    assert handler.problems and "discouraged" in handler.problems[0]


def test_unknown_options_are_problems_and_dynamic_values_are_unknown() -> None:
    source = """
        import os
        from autometrics_lsp.runtime import autometrics

        @autometrics(objectve=None, track_concurrency=os.environ.get("TRACK") == "1", **{"extra": 1})
        def handler(): ...
    """
    handler = analyze(source)["handler"]
    assert handler.problems == ("unknown option 'objectve' for the autometrics decorator",)
    assert not handler.identity.track_concurrency
    older = analyze("from autometrics import autometrics\n\n@autometrics(record_error_type=True)\ndef f(): ...\n")
    assert older["f"].problems == ("unknown option 'record_error_type' for the autometrics decorator",)


def test_one_decorator_text_means_what_its_own_scope_says() -> None:
    # The same text `@autometrics(objective=SLO)` in many scopes, each binding SLO differently.
    functions = "".join(
        f"def factory_{number}():\n"
        f"    SLO = Objective('slo-{number}', success_rate=ObjectivePercentile.P99)\n"
        "    @autometrics(objective=SLO)\n"
        "    def made(): ...\n"
        for number in range(50)
    )
    source = "from autometrics_lsp.runtime import autometrics, Objective, ObjectivePercentile\n" + functions
    objectives = {d.identity.function: d.identity.objective for d in analyze_module(source, "m") if d.instrumented}
    assert objectives == {
        f"factory_{number}.<locals>.made": Objective(f"slo-{number}", success_rate=ObjectivePercentile.P99)
        for number in range(50)
    }


def test_cyclic_names_do_not_loop() -> None:
    source = """
        from autometrics_lsp.runtime import autometrics
        A = B
        B = A

        @autometrics(objective=A, track_concurrency=B)
        def handler(): ...
    """
    assert analyze(source)["handler"].identity.objective is None


# --- positions ------------------------------------------------------------------------------------------------


def test_ranges_are_lsp_positions_in_utf16() -> None:
    source = (
        "from autometrics_lsp.runtime import autometrics\r\n"
        "\r\n"
        "@autometrics\r\n"
        "def café(): return '😀😀'\r\n"
        "class K:\r\n"
        "    def ünïcode(self, emoji='😀'): return emoji\r\n"
    )
    found = analyze(source)
    assert found["café"].name_range == (3, 4, 3, 8)
    assert found["café"].def_range == (2, 0, 3, 25)  # each astral character counts two UTF-16 units
    assert found["K.ünïcode"].name_range == (5, 8, 5, 15)
    assert found["K.ünïcode"].def_range == (5, 4, 5, 47)


def test_def_range_spans_multi_line_decorators_and_bodies_up_to_the_last_statement() -> None:
    source = textwrap.dedent(
        """\
        from autometrics_lsp.runtime import autometrics


        @autometrics(
            track_concurrency=True,
        )
        async def handler(
            request,
        ):
            return request  # trailing comment

            # a comment after the body belongs to nobody

        def after(): ...
        """
    )
    handler = analyze(source)["handler"]
    assert handler.name_range == (6, 10, 6, 17)
    assert handler.def_range == (3, 0, 9, 18)
    assert handler.identity.track_concurrency


def test_definition_at_finds_a_definition_from_its_header() -> None:
    source = textwrap.dedent(
        """\
        from autometrics_lsp.runtime import autometrics

        @autometrics
        def outer():
            @autometrics
            def inner(): return helper()
            return inner
        """
    )
    definitions = analyze_module(source, "app")

    def at(line: int, column: int) -> str | None:
        found = definition_at(definitions, line, column)
        return found.identity.function if found else None

    assert at(2, 0) == "outer"  # the decorator line
    assert at(2, 5) == "outer"
    assert at(3, 0) == "outer"  # `def`
    assert at(3, 9) == "outer"  # the end of the name
    assert at(3, 10) is None  # the parameters
    assert at(4, 6) == "outer.<locals>.inner"
    assert at(5, 8) == "outer.<locals>.inner"
    assert at(5, 25) is None  # `helper()` in a one-line body is a call, not the definition
    assert at(6, 8) is None  # the body
    assert at(0, 0) is None


# --- bad input ------------------------------------------------------------------------------------------------


def test_a_broken_function_does_not_hide_the_others() -> None:
    source = textwrap.dedent(
        """\
        from autometrics_lsp.runtime import autometrics

        @autometrics
        def broken(a, b:
            return a +

        @autometrics
        def intact():
            return compute(1, 2

        @autometrics
        class Service:
            def method(self): ...
        """
    )
    assert instrumented(source) == {"broken": "autometrics_lsp", "intact": "autometrics_lsp",
                                    "Service.method": "autometrics_lsp"}


def test_an_unterminated_string_or_garbage_never_raises() -> None:
    for source in ('def f():\n    return """never closed\n\ndef g(): ...\n', "\x00\x00def f(): ...", "@\n", ")))(((",
                   "def", "class :", "@autometrics(\n", "\ufeffdef bom(): ...\n", "\tdef tabs(): ...\n  def x(): ..."):
        assert isinstance(analyze_module(source, "m"), list)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([*"@()[]{}'\"#\\\n\r\t :=.,abdefsly_😀é", "def ", "class ", "async ", '"""'])))
def test_any_text_is_analysed_without_raising(pieces: list[str]) -> None:
    source = "".join(pieces)
    for definition in analyze_module(source, "fuzz"):
        assert definition.def_range[:2] <= definition.name_range[:2]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_fixture_sources_cut_anywhere_are_analysed_without_raising(data: st.DataObject) -> None:
    source = (SHOPKIT / "ledger.py").read_text(encoding="utf-8")
    start = data.draw(st.integers(0, len(source)))
    end = data.draw(st.integers(start, min(len(source), start + 40)))
    assert isinstance(analyze_module(source[:start] + source[end:], "cut"), list)


def test_a_ten_thousand_function_file_is_analysed_completely() -> None:
    header = "from autometrics_lsp.runtime import autometrics, Objective, ObjectivePercentile\n"
    header += 'API = Objective("api", success_rate=ObjectivePercentile.P99)\n\n'
    functions = [
        f"@autometrics(objective=API)\ndef handler_{number}(request):\n    total = request + {number}\n"
        "    return total\n\n"
        if number % 2
        else f"class Page{number}:\n    def render(self, title='é'):\n        return title\n\n"
        for number in range(10_000)
    ]
    definitions = analyze_module(header + "".join(functions), "big")
    assert len(definitions) == 10_000
    assert sum(d.instrumented for d in definitions) == 5_000
    assert definitions[-1].identity.function == "handler_9999"
    assert definitions[-1].identity.objective == Objective("api", success_rate=ObjectivePercentile.P99)


def test_results_are_cached_per_source_text_and_not_shared_mutably() -> None:
    source = "def f(): ...\n"
    first = analyze_module(source, "m")
    first.clear()
    assert len(analyze_module(source, "m")) == 1


# --- the runtime agrees -----------------------------------------------------------------------------------------


def test_the_runtime_registers_exactly_the_functions_found_statically() -> None:
    """Import the fixture package with the real runtime and compare the series it creates at decoration time."""
    script = textwrap.dedent(
        f"""
        import importlib, json, sys
        sys.path.insert(0, {str(WORKSPACE)!r})
        from prometheus_client import CollectorRegistry
        from autometrics_lsp.runtime import init
        registry = CollectorRegistry()
        init(service_name="fixture", registry=registry)
        for module in ("shopkit", "shopkit.orders", "shopkit.ledger", "shopkit.pricing", "shopkit.checkout",
                       "shopkit.payments", "shopkit.payments.cards"):
            module = importlib.import_module(module)
            if hasattr(module, "price_table"):
                module.price_table()  # defines the nested functions, as any call would
        registry.collect()
        print(json.dumps(sorted({{(s.labels["function"], s.labels["module"])
                                   for metric in registry.collect() for s in metric.samples
                                   if "function" in s.labels and "module" in s.labels}})))
        """
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    registered = {tuple(pair) for pair in json.loads(completed.stdout)}
    assert {("Ledger.__reconcile", "shopkit.ledger"), ("price_table.<locals>.Table.row", "shopkit.pricing"),
            ("authorize", "shopkit.payments")} <= registered
    found = set()
    for path in SHOPKIT.rglob("*.py"):
        if path.name == "legacy.py":  # needs the older package, not installed here
            continue
        module = module_name_for_path(path, [WORKSPACE])
        source = path.read_text(encoding="utf-8")
        for definition in analyze_module(source, module, is_package=path.name == "__init__.py"):
            if definition.instrumented:
                found.add((definition.identity.function, definition.identity.module))
    assert found == registered


# --- module names ---------------------------------------------------------------------------------------------


def _touch(root: Path, *relative: str) -> None:
    for name in relative:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")


def test_module_names_follow_packages(tmp_path: Path) -> None:
    _touch(tmp_path, "app/__init__.py", "app/api/__init__.py", "app/api/views.py", "app/main.py")
    assert module_name_for_path(tmp_path / "app/api/views.py", [tmp_path]) == "app.api.views"
    assert module_name_for_path(tmp_path / "app/api/__init__.py", [tmp_path]) == "app.api"
    assert module_name_for_path(tmp_path / "app/__init__.py", [tmp_path]) == "app"
    # The packages decide even when a root points inside them: Python would import `app.main`.
    assert module_name_for_path(tmp_path / "app/main.py", [tmp_path / "app"]) == "app.main"


def test_module_names_in_a_src_layout(tmp_path: Path) -> None:
    _touch(tmp_path, "src/shop/__init__.py", "src/shop/orders.py", "src/namespace_pkg/tool.py", "tests/test_x.py")
    assert module_name_for_path(tmp_path / "src/shop/orders.py", [tmp_path]) == "shop.orders"
    assert module_name_for_path(tmp_path / "src/namespace_pkg/tool.py", [tmp_path]) == "namespace_pkg.tool"
    assert module_name_for_path(tmp_path / "tests/test_x.py", [tmp_path]) == "tests.test_x"


def test_module_names_outside_roots_or_packages_are_stems(tmp_path: Path) -> None:
    _touch(tmp_path, "scripts/run.py", "my-tools/helper.py", "elsewhere/tool.py")
    roots = [tmp_path / "scripts", tmp_path]
    assert module_name_for_path(tmp_path / "scripts/run.py", roots) == "run"  # the deepest root wins
    assert module_name_for_path(tmp_path / "my-tools/helper.py", [tmp_path]) == "helper"
    assert module_name_for_path(tmp_path / "elsewhere/tool.py", [tmp_path / "scripts"]) == "tool"
    assert module_name_for_path(tmp_path / "unsaved.py", []) == "unsaved"


def test_module_names_of_the_fixture_workspace() -> None:
    assert module_name_for_path(SHOPKIT / "payments" / "cards.py", [WORKSPACE]) == "shopkit.payments.cards"
    assert module_name_for_path(SHOPKIT / "payments" / "__init__.py", []) == "shopkit.payments"


# --- columns ---------------------------------------------------------------------------------------------------


def test_utf16_and_codepoint_columns_convert_both_ways() -> None:
    line = "a😀é😀b"
    assert [utf16_column(line, column) for column in range(6)] == [0, 1, 3, 4, 6, 7]
    assert [codepoint_column(line, column) for column in (0, 1, 3, 4, 6, 7, 99)] == [0, 1, 2, 3, 4, 5, 5]
    assert codepoint_column(line, 2) == 1  # inside a surrogate pair: the character it belongs to
    assert codepoint_column("ascii", 99) == 5


def test_split_lines_counts_lines_as_lsp_does() -> None:
    assert split_lines("a\r\nb\rc\nd\x0ce\u2028f") == ["a", "b", "c", "d\x0ce\u2028f"]
