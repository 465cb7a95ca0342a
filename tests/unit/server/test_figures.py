"""From backend answers to figures, through a fake backend with the real one's `run` signature."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest

from autometrics_lsp.backend import BackendError, BackendErrorKind, Query, QueryResult, Sample, Series
from autometrics_lsp.figures import Edge, FunctionFigures, collect_figures, collect_module_figures
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.queries import Figure, function_lens_exprs, hover_queries, module_lens_queries

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


FULL_ANSWERS: dict[str, QueryResult] = {
    Figure.RATE: [sample(1.3)],
    Figure.ERROR_RATIO: [sample(0.1923)],
    Figure.P95: [sample(0.235)],
    Figure.P99: [sample(0.247)],
    Figure.CONCURRENCY: [sample(3)],
    Figure.RATE_HISTORY: [Series(labels={}, points=((1000.0, 0.0), (1120.0, 1.25), (1240.0, math.nan)))],
    Figure.ERRORS_BY_TYPE: [
        sample(0.05, error="KeyError"),
        sample(0.2, error="ValueError"),
        sample(0.0, error="TimeoutError"),
    ],
    Figure.CALLERS: [
        caller("handle", "shop.api", "ok", 0.75),
        caller("handle", "shop.api", "error", 0.25),
        sample(0.1, caller="legacy_job", result="ok"),
        sample(0.2, result="ok"),  # calls from uninstrumented code
        caller("cron", "shop.jobs", "ok", 0.0),
    ],
    Figure.CALLEES: [
        callee("Ledger.save", "shop.db", "ok", 0.5),
        callee("Ledger.save", "shop.db", "error", 0.1),
        callee("audit", "shop.audit", "ok", 2.0),
    ],
}


async def test_every_figure_from_a_full_answer() -> None:
    backend = FakeBackend(FULL_ANSWERS)

    figures = await collect_figures(backend, IDENTITY, "5m")

    assert len(backend.rounds) == 1
    assert figures == FunctionFigures(
        rate=1.3,
        error_ratio=0.1923,
        p95=0.235,
        p99=0.247,
        concurrency=3,
        rate_history=(0.0, 1.25, None),
        errors_by_type=(("ValueError", 0.2), ("KeyError", 0.05)),
        callers=(
            Edge("handle", "shop.api", 1.0, 0.25),
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


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
async def test_values_that_are_not_numbers_become_none(value: float) -> None:
    answers: dict[str, QueryResult] = {figure: [sample(value)] for figure in (Figure.RATE, Figure.ERROR_RATIO, Figure.P95, Figure.P99)}

    figures = await collect_figures(FakeBackend(answers), IDENTITY, "5m")

    assert (figures.rate, figures.error_ratio, figures.p95, figures.p99) == (None, None, None, None)
    assert not figures.has_data


async def test_empty_answers_are_no_data_not_zero() -> None:
    answers: dict[str, QueryResult] = {figure: [] for figure in Figure}

    figures = await collect_figures(FakeBackend(answers), IDENTITY, "1m")

    assert figures == FunctionFigures(queries=figures.queries, window="1m")
    assert not figures.has_data


async def test_a_zero_rate_is_known_but_has_no_data() -> None:
    figures = await collect_figures(FakeBackend({Figure.RATE: [sample(0.0)]}), IDENTITY, "5m")

    assert figures.rate == 0.0
    assert not figures.has_data


async def test_partial_failure_keeps_what_came_back_and_names_the_most_important_problem() -> None:
    answers = {**FULL_ANSWERS, Figure.P99: TIMEOUT, Figure.CALLERS: REFUSED}

    figures = await collect_figures(FakeBackend(answers), IDENTITY, "5m")

    assert figures.p99 is None and figures.callers == ()
    assert (figures.rate, figures.p95, len(figures.callees)) == (1.3, 0.235, 2)
    assert figures.problem is TIMEOUT
    assert figures.has_data


async def test_a_backend_that_fails_as_a_whole_fails_every_figure() -> None:
    figures = await collect_figures(FakeBackend({}, raises=REFUSED), IDENTITY, "5m")

    assert figures.problem is REFUSED
    assert figures.rate is None and figures.rate_history == ()
    assert set(figures.queries) == set(Figure)


async def test_only_the_busiest_five_edges_are_kept() -> None:
    answers: dict[str, QueryResult] = {Figure.CALLEES: [callee(f"f{n}", "m", "ok", float(n)) for n in range(1, 8)]}

    figures = await collect_figures(FakeBackend(answers), IDENTITY, "5m")

    assert [edge.function for edge in figures.callees] == ["f7", "f6", "f5", "f4", "f3"]


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
