"""Objective state from the two SLO answers: live labels, the static fallback, burn rates; and their rendering."""

from __future__ import annotations


import pytest

from autometrics_lsp.backend import BackendError, BackendErrorKind, Sample
from autometrics_lsp.features.diagnostics import violation_message
from autometrics_lsp.figures import FunctionFigures
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.rendering import format_burn_rate, render_hover
from autometrics_lsp.runtime.objectives import Objective, ObjectiveLatency, ObjectivePercentile
from autometrics_lsp.slo import (
    BUCKETS_BY_OBJECTIVE,
    CALLS_BY_OBJECTIVE,
    SloStatus,
    burn_rate,
    collect_function_slo,
    function_slo_queries,
    le_matches,
    module_slo_queries,
    slo_statuses,
)
from tests.support.backends import Answers

WINDOW = "5m"
PAYMENTS = Objective("payments", success_rate=ObjectivePercentile.P95)
CHECKOUT = Objective(
    "checkout", success_rate=ObjectivePercentile.P99, latency=(ObjectiveLatency.Ms250, ObjectivePercentile.P99)
)


def calls(function: str, result: str, value: float, objective: str = "", percentile: str = "") -> Sample:
    labels = {"function": function, "result": result, "objective_name": objective, "objective_percentile": percentile}
    return Sample(labels, value)


def bucket(
    function: str, le: str, value: float, objective: str = "", percentile: str = "", threshold: str = ""
) -> Sample:
    labels = {
        "function": function,
        "le": le,
        "objective_name": objective,
        "objective_percentile": percentile,
        "objective_latency_threshold": threshold,
    }
    return Sample(labels, value)


def test_queries_group_by_function_objective_and_result_or_le():
    queries = function_slo_queries(FunctionIdentity("shop.api", "checkout"), WINDOW)
    assert queries[CALLS_BY_OBJECTIVE].expr == (
        "sum by (function, objective_name, objective_percentile, result) "
        '(rate({__name__=~"function_calls(_count)?(_total)?", function="checkout", module="shop.api"}[5m]))'
    )
    assert "objective_latency_threshold, le)" in queries[BUCKETS_BY_OBJECTIVE].expr
    assert 'function_calls_duration(_seconds)?_bucket' in queries[BUCKETS_BY_OBJECTIVE].expr
    assert 'module="shop.\\"x"' in module_slo_queries('shop."x', WINDOW)[CALLS_BY_OBJECTIVE].expr


@pytest.mark.parametrize(
    ("le", "threshold", "matches"),
    [("1.0", 1.0, True), ("1", 1.0, True), ("0.25", 0.25, True), ("+Inf", 1.0, False), ("0.5", 0.25, False)],
)
def test_bucket_boundaries_compare_as_numbers(le, threshold, matches):
    assert le_matches(le, threshold) is matches


def test_burn_rate_is_bad_share_over_error_budget():
    assert burn_rate(0.25, ObjectivePercentile.P95) == pytest.approx(5.0)
    assert burn_rate(0.001, ObjectivePercentile.P99_9) == pytest.approx(1.0)
    assert burn_rate(None, ObjectivePercentile.P99) is None


def test_live_labels_give_the_objective_and_its_state():
    statuses = slo_statuses(
        [
            calls("charge", "ok", 3.0, "payments", "95"),
            calls("charge", "error", 1.0, "payments", "95"),
            calls("browse", "ok", 9.0),
        ],
        [],
        {},
        WINDOW,
    )
    assert set(statuses) == {"charge"}
    status = statuses["charge"]
    assert status.live and status.objective == PAYMENTS
    assert status.success_rate == pytest.approx(0.75)
    assert status.success_burn_rate == pytest.approx(5.0)
    assert status.violated and status.within_latency is None


def test_latency_share_is_the_threshold_bucket_over_all_observations():
    answers = [
        bucket("checkout", "0.1", 8.0, "checkout", "99", "0.25"),
        bucket("checkout", "0.25", 9.95, "checkout", "99", "0.25"),
        bucket("checkout", "+Inf", 10.0, "checkout", "99", "0.25"),
    ]
    status = slo_statuses([calls("checkout", "ok", 10.0, "checkout", "99")], answers, {}, WINDOW)["checkout"]
    assert status.objective == CHECKOUT
    assert status.within_latency == pytest.approx(0.995)
    assert status.latency_burn_rate == pytest.approx(0.5)
    assert not status.violated


def test_live_labels_win_over_the_source():
    statuses = slo_statuses([calls("charge", "ok", 1.0, "payments", "95")], [], {"charge": CHECKOUT}, WINDOW)
    assert statuses["charge"].objective == PAYMENTS and statuses["charge"].live


def test_static_objective_is_measured_on_unlabelled_series():
    answers = [bucket("checkout", "0.25", 4.0), bucket("checkout", "1.0", 5.0), bucket("checkout", "+Inf", 5.0)]
    status = slo_statuses(
        [calls("checkout", "ok", 4.9), calls("checkout", "error", 0.1)], answers, {"checkout": CHECKOUT}, WINDOW
    )["checkout"]
    assert not status.live
    assert status.success_rate == pytest.approx(0.98) and status.within_latency == pytest.approx(0.8)
    assert status.success_violated and status.latency_violated


def test_static_objective_without_any_series_is_unmeasured():
    status = slo_statuses([], [], {"charge": PAYMENTS}, WINDOW)["charge"]
    assert not status.measured and not status.violated and status.success_burn_rate is None


def test_labels_that_do_not_form_an_objective_are_ignored():
    assert slo_statuses([calls("f", "ok", 1.0, "odd", "42")], [], {}, WINDOW) == {}


async def test_a_failed_query_keeps_the_static_objective_and_says_why():
    refused = BackendError(BackendErrorKind.UNREACHABLE, "http://127.0.0.1:1", "refused the connection")
    backend = Answers({CALLS_BY_OBJECTIVE: refused, BUCKETS_BY_OBJECTIVE: refused})
    status = await collect_function_slo(backend, FunctionIdentity("shop", "charge", PAYMENTS), WINDOW)
    assert status is not None and status.problem is refused and not status.measured
    assert len(backend.rounds) == 1


def test_hover_section_and_diagnostic_message_of_a_violated_objective():
    status = SloStatus(CHECKOUT, True, WINDOW, success_rate=0.75, within_latency=0.999)
    markdown = render_hover(
        FunctionIdentity("shop", "checkout"), FunctionFigures(rate=1.0, window=WINDOW), lambda expr: "", slo=status
    )
    assert "Objective `checkout`: **violated**" in markdown
    assert "| success rate | 99% | 75% | 25× |" in markdown
    assert "| within 250 ms | 99% | 99.9% | 0.1× |" in markdown
    message = violation_message(status)
    assert message == (
        "objective 'checkout' is violated over the last 5m: success rate 75% is below 99% (error budget burning 25×)"
    )
    assert violation_message(SloStatus(CHECKOUT, True, WINDOW, success_rate=1.0, within_latency=1.0)) is None


def test_source_objective_and_missing_values_are_marked():
    markdown = render_hover(
        FunctionIdentity("shop", "charge"), FunctionFigures(rate=0.0, window=WINDOW), lambda expr: "",
        slo=SloStatus(PAYMENTS, False, WINDOW),
    )
    assert "Objective `payments` (from the source): no calls in the last 5m" in markdown
    assert "| success rate | 95% | – | – |" in markdown
    assert format_burn_rate(12.345) == "12.3×"
