"""From backend answers to figures, through a fake backend with the real one's `run` signature; and how many
queries one hover costs, counted through the real Engine."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from autometrics_lsp.backend import BackendError, BackendErrorKind, Query, QueryResult, Sample, Series
from autometrics_lsp.engine import Engine
from autometrics_lsp.figures import FIGURE_SOURCES, Edge, FunctionFigures, collect_figures, collect_module_figures
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.queries import (
    Figure,
    HoverFetch,
    call_rate,
    function_lens_exprs,
    function_matchers,
    hover_fetch_queries,
    hover_queries,
    module_lens_queries,
)
from autometrics_lsp.settings import Settings
from autometrics_lsp.versions import version_calls_query

IDENTITY = FunctionIdentity("shop.ledger", "Ledger.record")
TIMEOUT = BackendError(BackendErrorKind.TIMEOUT, "http://127.0.0.1:9090", "did not answer within 1.0 s")
REFUSED = BackendError(BackendErrorKind.UNREACHABLE, "http://127.0.0.1:9090", "is unreachable: connection refused")


class FakeBackend:
    """Answers by figure; records each round of queries it is asked."""

    def __init__(self, answers: Mapping[str, QueryResult], raises: BackendError | None = None) -> None:
        self.answers = answers
        self.raises = raises
        self.rounds: list[Mapping[str, Query]] = []

    async def run(self, queries: Mapping[str, Query]) -> dict[str, QueryResult]:
        self.rounds.append(queries)
        if self.raises is not None:
            raise self.raises
        return {key: self.answers[key] for key in queries if key in self.answers}


def sample(value: float, **labels: str) -> Sample:
    return Sample(labels=labels, value=value)


def caller(function: str, module: str, result: str, value: float) -> Sample:
    return sample(value, caller_function=function, caller_module=module, result=result)


def callee(function: str, module: str, result: str, value: float) -> Sample:
    return sample(value, function=function, module=module, result=result)


def own_call(value: float, result: str = "ok", **labels: str) -> Sample:
    """One group of `own_calls_query`'s answer."""
    return sample(value, result=result, **labels)


def bucket(le: str, value: float) -> Sample:
    return sample(value, le=le)


# Half the calls within 100 ms, all within 250 ms; 1.3 calls/s, 0.25 of them ValueErrors and 0.05 KeyErrors.
RECORD_CALLS = [
    own_call(0.55, caller_function="handle", caller_module="shop.api"),
    own_call(0.2, "error", caller_function="handle", caller_module="shop.api", error="ValueError"),
    own_call(0.05, "error", caller_function="handle", caller_module="shop.api", error="KeyError"),
    own_call(0.1, caller="legacy_job"),  # older libraries name the caller in `caller`
    own_call(0.2),  # calls from uninstrumented code: every caller label empty, so absent
    own_call(0.2, caller_function="cron", caller_module="shop.jobs"),
    own_call(0.0, "error", caller_function="cron", caller_module="shop.jobs", error="TimeoutError"),
]
RECORD_BUCKETS = [bucket("0.1", 0.65), bucket("0.25", 1.3), bucket("+Inf", 1.3)]

FULL_ANSWERS: dict[str, QueryResult] = {
    HoverFetch.CALLS: RECORD_CALLS,
    HoverFetch.BUCKETS: RECORD_BUCKETS,
    HoverFetch.CONCURRENCY: [sample(3)],
    HoverFetch.RATE_HISTORY: [Series(labels={}, points=((1000.0, 0.0), (1120.0, 1.25), (1240.0, math.nan)))],
    HoverFetch.CALLEES: [
        callee("Ledger.save", "shop.db", "ok", 0.5),
        callee("Ledger.save", "shop.db", "error", 0.1),
        callee("audit", "shop.audit", "ok", 2.0),
    ],
}


async def test_every_figure_from_a_full_answer_of_five_queries() -> None:
    backend = FakeBackend(FULL_ANSWERS)

    figures = await collect_figures(backend, IDENTITY, "5m")

    assert [set(round_) for round_ in backend.rounds] == [set(HoverFetch)]
    assert figures == FunctionFigures(
        rate=pytest.approx(1.3),  # type: ignore[arg-type]
        error_ratio=pytest.approx(0.25 / 1.3),  # type: ignore[arg-type]
        # Linear interpolation inside (0.1, 0.25]: ranks 1.235 and 1.287 of 1.3, 0.65 calls below 0.1.
        p95=pytest.approx(0.1 + 0.15 * (1.235 - 0.65) / 0.65),  # type: ignore[arg-type]
        p99=pytest.approx(0.1 + 0.15 * (1.287 - 0.65) / 0.65),  # type: ignore[arg-type]
        concurrency=3,
        rate_history=(0.0, 1.25, None),
        errors_by_type=(("ValueError", 0.2), ("KeyError", 0.05)),
        callers=(
            Edge("handle", "shop.api", pytest.approx(0.8), pytest.approx(0.25 / 0.8)),  # type: ignore[arg-type]
            Edge("cron", "shop.jobs", 0.2, 0.0),
            Edge("legacy_job", "", 0.1, 0.0),
        ),
        callees=(
            Edge("audit", "shop.audit", 2.0, 0.0),
            Edge("Ledger.save", "shop.db", 0.5 + 0.1, 0.1 / (0.5 + 0.1)),
        ),
        queries={figure: query.expr for figure, query in hover_queries(IDENTITY, "5m").items()},
        problem=None,
        window="5m",
    )
    assert figures.has_data


async def test_chart_links_keep_each_figures_natural_query_not_the_merged_one() -> None:
    figures = await collect_figures(FakeBackend(FULL_ANSWERS), IDENTITY, "5m")

    assert set(figures.queries) == set(Figure)
    assert figures.queries[Figure.P99].startswith("histogram_quantile(0.99, ")
    assert figures.queries[Figure.RATE] == call_rate(function_matchers(IDENTITY), "5m")
    executed = {query.expr for query in hover_fetch_queries(IDENTITY, "5m").values()}
    assert executed.isdisjoint({figures.queries[figure] for figure in (Figure.RATE, Figure.P95, Figure.P99)})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
async def test_values_that_are_not_numbers_become_none(value: float) -> None:
    answers: dict[str, QueryResult] = {
        HoverFetch.CALLS: [own_call(value)],
        HoverFetch.BUCKETS: [bucket("+Inf", value)],  # one bucket: NaN in PromQL
        HoverFetch.CONCURRENCY: [sample(value)],
    }

    figures = await collect_figures(FakeBackend(answers), IDENTITY, "5m")

    assert (figures.rate, figures.error_ratio, figures.p95, figures.p99, figures.concurrency) == (None,) * 5
    assert not figures.has_data


async def test_empty_answers_are_no_data_not_zero() -> None:
    answers: dict[str, QueryResult] = {query: [] for query in HoverFetch}

    figures = await collect_figures(FakeBackend(answers), IDENTITY, "1m")

    assert figures == FunctionFigures(queries=figures.queries, window="1m")
    assert not figures.has_data


async def test_an_idle_function_has_a_zero_rate_and_no_ratio_or_latency() -> None:
    answers: dict[str, QueryResult] = {
        HoverFetch.CALLS: [own_call(0.0), own_call(0.0, "error")],
        HoverFetch.BUCKETS: [bucket("0.1", 0.0), bucket("+Inf", 0.0)],  # no observations: NaN in PromQL
    }

    figures = await collect_figures(FakeBackend(answers), IDENTITY, "5m")

    assert (figures.rate, figures.error_ratio, figures.p95, figures.p99) == (0.0, None, None, None)
    assert (figures.callers, figures.errors_by_type) == ((), ())
    assert not figures.has_data


async def test_calls_without_any_error_series_have_no_errors_rather_than_an_unknown_ratio() -> None:
    figures = await collect_figures(FakeBackend({HoverFetch.CALLS: [own_call(2.0)]}), IDENTITY, "5m")

    assert (figures.rate, figures.error_ratio) == (2.0, 0.0)


async def test_errors_by_type_only_counts_errors_that_name_their_type() -> None:
    answers: dict[str, QueryResult] = {
        HoverFetch.CALLS: [
            own_call(1.0, "error"),  # the runtime's `error` label is opt-in
            own_call(0.3, "error", error="KeyError", caller_function="a", caller_module="m"),
            own_call(0.2, "error", error="KeyError", caller_function="b", caller_module="m"),
            own_call(0.4, "ok", error="NotAnError"),  # a label only errors carry, on a success: not an error
        ]
    }

    figures = await collect_figures(FakeBackend(answers), IDENTITY, "5m")

    assert figures.errors_by_type == (("KeyError", 0.5),)
    assert figures.error_ratio == pytest.approx(1.5 / 1.9)


async def test_a_failed_query_leaves_only_its_own_figures_and_names_the_most_important_problem() -> None:
    answers = {**FULL_ANSWERS, HoverFetch.BUCKETS: TIMEOUT, HoverFetch.CALLEES: REFUSED}

    figures = await collect_figures(FakeBackend(answers), IDENTITY, "5m")

    assert (figures.p95, figures.p99, figures.callees) == (None, None, ())
    assert (figures.rate, figures.concurrency, len(figures.callers)) == (pytest.approx(1.3), 3, 3)
    assert figures.problem is TIMEOUT  # latency ranks above callees
    assert figures.has_data


async def test_a_failed_calls_query_is_the_problem_before_any_other() -> None:
    answers = {**FULL_ANSWERS, HoverFetch.CALLS: REFUSED, HoverFetch.BUCKETS: TIMEOUT}

    figures = await collect_figures(FakeBackend(answers), IDENTITY, "5m")

    assert (figures.rate, figures.error_ratio, figures.errors_by_type, figures.callers) == (None, None, (), ())
    assert figures.p95 is None and figures.concurrency == 3
    assert figures.problem is REFUSED


async def test_a_backend_that_fails_as_a_whole_fails_every_figure() -> None:
    figures = await collect_figures(FakeBackend({}, raises=REFUSED), IDENTITY, "5m")

    assert figures.problem is REFUSED
    assert figures.rate is None and figures.rate_history == ()
    assert set(figures.queries) == set(Figure)


async def test_only_the_busiest_five_edges_are_kept() -> None:
    answers: dict[str, QueryResult] = {
        HoverFetch.CALLEES: [callee(f"f{n}", "m", "ok", float(n)) for n in range(1, 8)],
        HoverFetch.CALLS: [own_call(float(n), caller_function=f"g{n}", caller_module="m") for n in range(1, 8)],
    }

    figures = await collect_figures(FakeBackend(answers), IDENTITY, "5m")

    assert [edge.function for edge in figures.callees] == ["f7", "f6", "f5", "f4", "f3"]
    assert [edge.function for edge in figures.callers] == ["g7", "g6", "g5", "g4", "g3"]


def test_every_figure_is_read_from_one_executed_query() -> None:
    assert set(FIGURE_SOURCES) == set(Figure)
    assert set(FIGURE_SOURCES.values()) == set(HoverFetch)


def test_edge_display_name_omits_an_unknown_module() -> None:
    assert Edge("f", "m", 1.0, None).display_name == "m.f"
    assert Edge("legacy", "", 1.0, None).display_name == "legacy"


async def test_module_figures_come_from_one_round_of_lens_queries() -> None:
    answers: dict[str, QueryResult] = {
        Figure.RATE: [sample(1.3, function="Ledger.record"), sample(0.0, function="idle")],
        Figure.ERROR_RATIO: [sample(0.25, function="Ledger.record"), sample(math.nan, function="idle")],
        Figure.P99: [sample(0.247, function="Ledger.record")],
    }
    backend = FakeBackend(answers)

    module = await collect_module_figures(backend, "shop.ledger", "5m")

    assert [set(round_) for round_ in backend.rounds] == [set(module_lens_queries("shop.ledger", "5m"))]
    record = module.of("Ledger.record")
    assert (record.rate, record.error_ratio, record.p99, record.has_data) == (1.3, 0.25, 0.247, True)
    assert record.queries == function_lens_exprs(IDENTITY, "5m")
    idle = module.of("idle")
    assert (idle.rate, idle.error_ratio, idle.has_data) == (0.0, None, False)
    unknown = module.of("never_called")
    assert (unknown.rate, unknown.problem, bool(unknown.queries)) == (None, None, True)


async def test_module_figures_carry_the_problem_to_every_function() -> None:
    answers: dict[str, QueryResult] = {Figure.RATE: [sample(2.0, function="f")], Figure.ERROR_RATIO: TIMEOUT, Figure.P99: TIMEOUT}

    module = await collect_module_figures(FakeBackend(answers), "m", "5m")

    assert module.problem is TIMEOUT
    assert (module.of("f").rate, module.of("f").problem) == (2.0, TIMEOUT)
    assert module.of("g").problem is TIMEOUT


# --- how many queries one hover costs -----------------------------------------------------------

HOVERED_MODULE = "svc.api"
HOVERED_SOURCE = """\
from autometrics_lsp.runtime import Objective, ObjectivePercentile, autometrics

API = Objective("api", success_rate=ObjectivePercentile.P99)


@autometrics
def plain():
    return 1


@autometrics(objective=API)
def with_objective():
    return 2
"""
HOVER_QUERY_BOUND = 6
"""Queries of a hover over a function without objective, deployed in one version (10 before the merge)."""


class CountingBackend:
    """Answers by expression (anything else: no series) and keeps every query it executed."""

    def __init__(self, answers: Mapping[str, QueryResult]) -> None:
        self.answers = answers
        self.executed: list[Query] = []

    async def run(self, queries: Mapping[str, Query]) -> dict[str, QueryResult]:
        self.executed.extend(queries.values())
        return {key: self.answers.get(query.expr, []) for key, query in queries.items()}


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "__init__.py").write_text("")
    (tmp_path / "svc" / "api.py").write_text(HOVERED_SOURCE)
    engine = Engine(Settings(window="5m"), [tmp_path])
    real_backend = engine.backend
    yield engine
    await real_backend.aclose()
    await engine.symbols.close()


async def queries_of_one_hover(engine: Engine, function: str, answers: Mapping[str, QueryResult]) -> list[Query]:
    backend = CountingBackend(answers)
    engine.backend = backend  # type: ignore[assignment]  # hovers only call run()
    path = next(engine.symbols.roots[0].glob("svc/api.py"))
    line = next(number for number, text in enumerate(HOVERED_SOURCE.splitlines()) if f"def {function}" in text)
    markdown = await engine.hover_markdown(path, HOVERED_SOURCE, line, len("def "))
    assert markdown is not None and f"`{function}`" in markdown, markdown
    return backend.executed


def two_versions(function: str) -> dict[str, QueryResult]:
    """What makes the per-version table ask its second query."""
    expr = version_calls_query(FunctionIdentity(HOVERED_MODULE, function), "5m").expr
    return {expr: [sample(1.0, version="1.1.0", result="ok"), sample(1.0, version="1.0.0", result="ok")]}


@pytest.mark.parametrize(
    ("function", "versions", "before", "after"),
    [
        ("plain", False, 10, 6),
        ("plain", True, 11, 7),
        ("with_objective", False, 12, 8),
    ],
)
async def test_one_hover_runs_four_queries_fewer_than_before(
    engine: Engine, function: str, versions: bool, before: int, after: int
) -> None:
    executed = await queries_of_one_hover(engine, function, two_versions(function) if versions else {})

    assert len(executed) == after == before - (len(Figure) - len(HoverFetch))
    assert len({query.expr for query in executed}) == len(executed), "no query asked twice"


async def test_a_hover_without_objective_stays_within_the_bound(engine: Engine) -> None:
    assert len(await queries_of_one_hover(engine, "plain", {})) <= HOVER_QUERY_BOUND
