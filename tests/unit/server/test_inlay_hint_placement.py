"""Inlay hints: where hints go and what they say (pure), the module's live edges from one query, the PromQL of that
query on Prometheus' own engine, and the use case over real jedi with a backend that records what it is asked."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from autometrics_lsp.backend import BackendError, BackendErrorKind, Sample
from autometrics_lsp.engine import Engine
from autometrics_lsp.figures import Edge, ModuleCallEdges, collect_module_call_edges
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.inlay_hints import CallHint, InstrumentedCall, call_hints, place_hints
from autometrics_lsp.queries import Figure, edge_exprs, module_call_edges_query
from autometrics_lsp.rendering import markdown_link
from autometrics_lsp.settings import Settings
from tests.support.backends import RecordingBackend, answering
from tests.support.promtool import assert_promql, expect, needs_promtool

WINDOW = "5m"
HANDLE = FunctionIdentity("svc.api", "handle")
LOAD = FunctionIdentity("svc.db", "load")
SAVE = FunctionIdentity("svc.db", "save")
EVERYWHERE = (0, 0, 10_000, 0)
REFUSED = BackendError(BackendErrorKind.UNREACHABLE, "http://127.0.0.1:9", "is unreachable: connection refused")


def chart(expr: str) -> str:
    return "http://prom.test/graph?g0.expr=" + expr


def module_edges(**by_caller: tuple[Edge, ...]) -> ModuleCallEdges:
    return ModuleCallEdges("svc.api", by_caller)


# --- place_hints ---------------------------------------------------------------------------------------------------


def test_each_call_gets_the_rate_of_its_own_edge_right_after_it() -> None:
    calls = [
        InstrumentedCall(HANDLE, SAVE, (7, 4, 7, 12)),
        InstrumentedCall(HANDLE, LOAD, (5, 4, 6, 1)),
    ]
    edges = module_edges(handle=(Edge("load", "svc.db", 12.0, 0.0), Edge("save", "svc.db", 0.25, 0.5)))

    hints = place_hints(calls, edges, WINDOW, EVERYWHERE, chart)

    assert [(hint.line, hint.character, hint.label) for hint in hints] == [(6, 1, "12/s"), (7, 12, "15/min")]


def test_an_edge_without_traffic_shows_zero_and_says_why() -> None:
    (hint,) = place_hints([InstrumentedCall(HANDLE, LOAD, (5, 4, 5, 14))], module_edges(), WINDOW, EVERYWHERE, chart)

    assert hint.label == "0/s"
    assert "No calls along this edge in the last 5m." in hint.tooltip


def test_the_tooltip_names_the_edge_gives_its_errors_and_links_its_charts() -> None:
    edges = module_edges(handle=(Edge("save", "svc.db", 2.0, 0.125),))
    (hint,) = place_hints([InstrumentedCall(HANDLE, SAVE, (5, 4, 5, 14))], edges, WINDOW, EVERYWHERE, chart)

    exprs = edge_exprs(HANDLE, SAVE, WINDOW)
    assert hint.tooltip.startswith("**`handle`** → **`svc.db.save`**")
    assert "2/s · 12.5% errors over the last 5m" in hint.tooltip
    html = MarkdownIt().render(hint.tooltip)
    assert html.count("<a href=") == 2 and "<script" not in html
    assert markdown_link("calls", chart(exprs[Figure.RATE])) in hint.tooltip
    assert markdown_link("errors", chart(exprs[Figure.ERROR_RATIO])) in hint.tooltip


def test_only_calls_ending_inside_the_requested_range_get_hints() -> None:
    calls = [InstrumentedCall(HANDLE, LOAD, (line, 4, line, 12)) for line in (3, 5, 9)]

    hints = place_hints(calls, module_edges(), WINDOW, (5, 12, 9, 11), chart)

    assert [hint.line for hint in hints] == [5], "a call ending on the range's start counts; one past its end not"


def test_no_hints_at_all_when_the_backend_failed() -> None:
    failed = ModuleCallEdges("svc.api", {}, REFUSED)

    assert place_hints([InstrumentedCall(HANDLE, LOAD, (5, 4, 5, 14))], failed, WINDOW, EVERYWHERE, chart) == []


def test_a_crafted_function_name_stays_inside_its_code_span() -> None:
    crafted = FunctionIdentity("svc.db", "x`](http://evil)")
    (hint,) = place_hints([InstrumentedCall(HANDLE, crafted, (1, 0, 1, 5))], module_edges(), WINDOW, EVERYWHERE, chart)

    html = MarkdownIt().render(hint.tooltip)
    assert 'href="http://evil' not in html and html.count("<a href=") == 2


# --- the module's live edges ----------------------------------------------------------------------------------------


def edge_sample(caller: str, function: str, module: str, result: str, rate: float) -> Sample:
    labels = {"caller_function": caller, "caller_module": "svc.api", "function": function, "module": module}
    return Sample({**labels, "result": result}, rate)


async def test_the_module_edges_come_from_one_query_grouped_by_caller() -> None:
    backend = RecordingBackend(
        [
            edge_sample("handle", "save", "svc.db", "ok", 1.5),
            edge_sample("handle", "save", "svc.db", "error", 0.5),
            edge_sample("handle", "load", "svc.db", "ok", 3.0),
            edge_sample("Worker.run", "load", "svc.db", "ok", 0.0),
            edge_sample("", "load", "svc.db", "ok", 9.0),
        ]
    )

    edges = await collect_module_call_edges(backend, "svc.api", WINDOW)

    assert backend.rounds == [{"only": module_call_edges_query("svc.api", WINDOW)}]
    assert edges.edge("handle", SAVE) == Edge("save", "svc.db", 2.0, 0.25)
    assert edges.edge("handle", LOAD) == Edge("load", "svc.db", 3.0, 0.0)
    assert edges.edge("Worker.run", LOAD) is None, "no calls in the window is no edge"
    assert edges.problem is None


async def test_a_failed_query_is_a_problem_not_an_empty_module() -> None:
    edges = await collect_module_call_edges(RecordingBackend([], REFUSED), "svc.api", WINDOW)

    assert edges.problem == REFUSED and edges.by_caller == {}


@pytest.mark.prometheus
@needs_promtool
def test_the_module_edges_query_on_prometheus_engine(tmp_path: Path) -> None:
    """Per (caller, callee, result) rates of the module's calls only; older names count, other modules do not."""
    series = [
        ('function_calls_total{function="save", module="svc.db", result="ok", caller_function="handle", '
         'caller_module="svc.api"}', "0+90x20"),
        ('function_calls_total{function="save", module="svc.db", result="error", caller_function="handle", '
         'caller_module="svc.api"}', "0+30x20"),
        ('function_calls_count_total{function="load", module="svc.db", result="ok", caller_function="idle", '
         'caller_module="svc.api"}', "0+60x20"),
        ('function_calls_total{function="save", module="svc.db", result="ok", caller_function="handle", '
         'caller_module="svc.apix"}', "0+60x20"),
        ('function_calls_total{function="save", module="svc.db", result="ok", caller="handle"}', "0+60x20"),
    ]
    edge = 'caller_function="handle", caller_module="svc.api", function="save", module="svc.db"'
    checks = [
        (
            module_call_edges_query("svc.api", WINDOW).expr,
            [
                (f'{{{edge}, result="ok"}}', 1.5),
                (f'{{{edge}, result="error"}}', 0.5),
                ('{caller_function="idle", caller_module="svc.api", function="load", module="svc.db", result="ok"}', 1),
            ],
        ),
        (edge_exprs(HANDLE, SAVE, WINDOW)[Figure.RATE], [("{}", 2)]),
        (edge_exprs(HANDLE, SAVE, WINDOW)[Figure.ERROR_RATIO], [("{}", 0.25)]),
    ]
    assert_promql(tmp_path, series, [expect(expr, samples) for expr, samples in checks])


# --- the use case, over real jedi -----------------------------------------------------------------------------------

DB = """\
from autometrics_lsp.runtime import autometrics


@autometrics
def load(key):
    return key


@autometrics
def save(value):
    return value
"""
API = """\
from autometrics_lsp.runtime import autometrics
from svc import db
from svc.db import save as store


def helper():
    return db.load(1)


@autometrics
def handle(x):
    db.load(x)
    store(
        x,
    )
    helper()

    def later():
        db.load(3)

    return len([x])


@autometrics
def idle():
    return store(0)
"""


@pytest.fixture
def api_path(tmp_path: Path) -> Path:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "__init__.py").write_text("")
    (tmp_path / "svc" / "db.py").write_text(DB)
    path = tmp_path / "svc" / "api.py"
    path.write_text(API)
    return path


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    engine = Engine(Settings(window=WINDOW, inlay_hints=True), [tmp_path])
    real_backend = engine.backend
    yield engine
    await real_backend.aclose()
    await engine.symbols.close()


def end_of(source: str, call: str) -> tuple[int, int]:
    start = source.index(call) + len(call)
    line = source.count("\n", 0, start)
    return line, start - (source.rindex("\n", 0, start) + 1)


def at(hints: list[CallHint]) -> list[tuple[int, int, str]]:
    return [(hint.line, hint.character, hint.label) for hint in hints]


async def test_hints_after_the_instrumented_calls_of_instrumented_functions(engine: Engine, api_path: Path) -> None:
    backend = answering(
        engine,
        RecordingBackend(
            [edge_sample("handle", "load", "svc.db", "ok", 4.0), edge_sample("idle", "save", "svc.db", "ok", 2.0)]
        ),
    )

    hints = await call_hints(engine, api_path, API, EVERYWHERE)

    # Not: `helper()` (plain), `db.load(1)` (in a plain function), `db.load(3)` (a nested body), `len(...)`.
    assert at(hints) == [
        (*end_of(API, "db.load(x)"), "4/s"),
        (*end_of(API, "store(\n        x,\n    )"), "0/s"),
        (*end_of(API, "store(0)"), "2/s"),
    ]
    assert len(backend.rounds) == 1, "one query for the whole document"


async def test_the_range_limits_the_hints(engine: Engine, api_path: Path) -> None:
    answering(engine, RecordingBackend([]))
    idle_line = API.splitlines().index("def idle():")

    hints = await call_hints(engine, api_path, API, (idle_line, 0, idle_line + 1, 100))

    assert at(hints) == [(*end_of(API, "store(0)"), "0/s")]


async def test_off_means_no_hints_and_no_query(engine: Engine, api_path: Path) -> None:
    backend = answering(engine, RecordingBackend([]))
    engine.settings = Settings(window=WINDOW, inlay_hints=False)

    assert await call_hints(engine, api_path, API, EVERYWHERE) == []
    assert backend.rounds == []


async def test_a_document_without_instrumented_functions_costs_no_query(engine: Engine, tmp_path: Path) -> None:
    backend = answering(engine, RecordingBackend([]))
    plain = tmp_path / "plain.py"
    plain.write_text(textwrap.dedent("def f():\n    return g()\n\n\ndef g():\n    return 1\n"))

    assert await call_hints(engine, plain, plain.read_text(), EVERYWHERE) == []
    assert backend.rounds == []
