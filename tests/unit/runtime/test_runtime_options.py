"""Mistakes in the decorator's options fail where the decorator is written, with a message saying what to do."""

from __future__ import annotations

import warnings

import pytest
from prometheus_client import CollectorRegistry
from tests.unit.runtime.runtime_samples import run_isolated

from autometrics_lsp.runtime import Objective, ObjectiveLatency, ObjectivePercentile, autometrics


def test_a_latency_threshold_that_is_no_bucket_bound_is_refused() -> None:
    printed = run_isolated(
        """
        from autometrics_lsp.runtime import Objective, ObjectiveLatency, ObjectivePercentile, autometrics, init
        init(buckets=[0.1, 0.5, 1.0])
        slow = Objective("slow", latency=(ObjectiveLatency.Ms250, ObjectivePercentile.P99))
        try:
            autometrics(objective=slow)
        except ValueError as error:
            print(error)
        """
    )

    assert "Objective 'slow': latency threshold 0.25s is not a histogram bucket bound" in printed


def test_a_latency_threshold_among_the_buckets_is_accepted(registry: CollectorRegistry) -> None:
    fast = Objective("fast", latency=(ObjectiveLatency.Ms100, ObjectivePercentile.P95))

    @autometrics(objective=fast)
    def answer() -> int:
        return 42

    assert answer() == 42


def test_init_refuses_buckets_that_drop_a_threshold_in_use() -> None:
    printed = run_isolated(
        """
        from autometrics_lsp.runtime import Objective, ObjectiveLatency, ObjectivePercentile, autometrics, init
        @autometrics(objective=Objective("quick", latency=(ObjectiveLatency.Ms10, ObjectivePercentile.P99)))
        def quick():
            pass
        try:
            init(buckets=[0.5, 1.0])
        except ValueError as error:
            print(error)
        """
    )

    assert "Objective 'quick': latency threshold 0.01s is not a histogram bucket bound" in printed


@pytest.mark.parametrize("option", ["record_error_if", "record_success_if"])
def test_a_predicate_must_be_callable(option: str) -> None:
    with pytest.raises(TypeError, match=f"{option} must be a callable"):
        autometrics(**{option: True})  # type: ignore[arg-type]


def test_an_unknown_option_is_named() -> None:
    with pytest.raises(TypeError, match="objectve"):
        autometrics(objectve=None)  # type: ignore[call-overload]


def test_the_objective_must_be_an_objective() -> None:
    with pytest.raises(TypeError, match="objective must be an Objective"):
        autometrics(objective="api")  # type: ignore[arg-type]


def test_track_concurrency_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="track_concurrency"):
        autometrics(track_concurrency="yes")  # type: ignore[arg-type]


def test_exclude_is_for_classes() -> None:
    with pytest.raises(TypeError, match="exclude"):
        autometrics(exclude=("x",))(lambda: None)


def test_exclude_takes_names_not_a_string() -> None:
    with pytest.raises(TypeError, match="exclude"):
        autometrics(exclude="health")  # type: ignore[arg-type]


def test_only_callables_can_be_instrumented() -> None:
    with pytest.raises(TypeError, match="goes on a function"):
        autometrics(42)


def test_a_discouraged_objective_name_warns_at_the_decorator() -> None:
    shouting = Objective("API Latency!", success_rate=ObjectivePercentile.P99)

    with pytest.warns(UserWarning, match="'API Latency!' is not recommended") as recorded:
        autometrics(objective=shouting)

    assert recorded[0].filename == __file__


def test_a_recommended_objective_name_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        autometrics(objective=Objective("api-latency_2", success_rate=ObjectivePercentile.P99))
