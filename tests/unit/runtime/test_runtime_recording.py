"""What a call records: result, error type, duration, calls in progress, and the series that exist before any call."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from tests.unit.runtime.runtime_samples import TEST_SERVICE, samples, total

from autometrics_lsp.runtime import Objective, ObjectiveLatency, ObjectivePercentile, autometrics, init, names
from autometrics_lsp.runtime.store import ShardStore

BUCKET = names.CALLS_DURATION_SECONDS + "_bucket"
COUNT = names.CALLS_DURATION_SECONDS + "_count"
SUM = names.CALLS_DURATION_SECONDS + "_sum"


def calls(registry: CollectorRegistry, function: str, **labels: str) -> float:
    return total(registry, names.CALLS_TOTAL, **{names.FUNCTION: function}, **labels)


def ok(registry: CollectorRegistry, function: str) -> float:
    return calls(registry, function, **{names.RESULT: names.RESULT_OK})


def errors(registry: CollectorRegistry, function: str) -> float:
    return calls(registry, function, **{names.RESULT: names.RESULT_ERROR})


def test_returns_are_ok_and_exceptions_are_errors(registry: CollectorRegistry) -> None:
    @autometrics
    def divide(a: int, b: int) -> float:
        return a / b

    divide(1, 1)
    divide(1, 2)
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)

    name = divide.__qualname__
    assert (ok(registry, name), errors(registry, name)) == (2, 1)
    assert total(registry, COUNT, **{names.FUNCTION: name}) == 3


def test_record_error_if_judges_returned_values(registry: CollectorRegistry) -> None:
    @autometrics(record_error_if=lambda status: status >= 500)
    def respond(status: int) -> int:
        return status

    for status in (200, 404, 500, 503):
        assert respond(status) == status

    assert (ok(registry, respond.__qualname__), errors(registry, respond.__qualname__)) == (2, 2)


def test_record_success_if_forgives_chosen_exceptions(registry: CollectorRegistry) -> None:
    @autometrics(record_success_if=lambda error: isinstance(error, KeyError))
    def look_up(key: str) -> str:
        raise KeyError(key) if key == "missing" else ValueError(key)

    for key in ("missing", "bad"):
        with pytest.raises((KeyError, ValueError)):
            look_up(key)

    assert (ok(registry, look_up.__qualname__), errors(registry, look_up.__qualname__)) == (1, 1)


async def test_a_cancelled_call_is_interrupted_not_failed(registry: CollectorRegistry) -> None:
    started = asyncio.Event()

    @autometrics
    async def wait_forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(wait_forever())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert (ok(registry, wait_forever.__qualname__), errors(registry, wait_forever.__qualname__)) == (1, 0)


def test_a_failure_carries_its_class_name_when_asked(registry: CollectorRegistry) -> None:
    @autometrics(record_error_type=True)
    def parse(text: str) -> int:
        return int(text)

    with pytest.raises(ValueError):
        parse("x")
    parse("1")

    found = samples(registry, names.CALLS_TOTAL, **{names.FUNCTION: parse.__qualname__})
    counted = {(s.labels[names.RESULT], s.labels.get(names.ERROR)): s.value for s in found}
    assert counted == {("ok", None): 1, ("error", None): 0, ("error", "ValueError"): 1}


def test_error_types_follow_init_unless_the_decorator_says_otherwise(registry: CollectorRegistry) -> None:
    @autometrics
    def follows_init() -> None:
        raise LookupError

    @autometrics(record_error_type=False)
    def never() -> None:
        raise LookupError

    for function in (follows_init, never):
        with pytest.raises(LookupError):
            function()

    def error_labels() -> dict[str, set[str | None]]:
        return {
            function.__qualname__: {
                s.labels.get(names.ERROR)
                for s in samples(registry, names.CALLS_TOTAL, **{names.FUNCTION: function.__qualname__})
            }
            for function in (follows_init, never)
        }

    assert error_labels() == {follows_init.__qualname__: {None}, never.__qualname__: {None}}
    init(registry=registry, service_name=TEST_SERVICE, record_error_type=True)
    assert error_labels() == {follows_init.__qualname__: {None, "LookupError"}, never.__qualname__: {None}}


def test_counters_exist_at_zero_from_decoration(registry: CollectorRegistry) -> None:
    @autometrics(objective=Objective("api", success_rate=ObjectivePercentile.P99_9))
    def never_called() -> None:
        pass

    found = samples(registry, names.CALLS_TOTAL, **{names.FUNCTION: never_called.__qualname__})

    assert sorted((s.labels[names.RESULT], s.value) for s in found) == [("error", 0.0), ("ok", 0.0)]
    for sample in found:
        assert sample.labels == {
            names.FUNCTION: never_called.__qualname__,
            names.MODULE: __name__,
            names.SERVICE_NAME: TEST_SERVICE,
            names.RESULT: sample.labels[names.RESULT],
            names.CALLER_FUNCTION: "",
            names.CALLER_MODULE: "",
            names.OBJECTIVE_NAME: "api",
            names.OBJECTIVE_PERCENTILE: "99.9",
        }
    assert total(registry, COUNT, **{names.FUNCTION: never_called.__qualname__}) == 0


def test_the_histogram_carries_the_latency_objective(registry: CollectorRegistry) -> None:
    objective = Objective("search", latency=(ObjectiveLatency.Ms50, ObjectivePercentile.P95))

    @autometrics(objective=objective)
    def search() -> None:
        time.sleep(0.03)

    search()

    buckets = {
        s.labels[names.LE]: s.value for s in samples(registry, BUCKET, **{names.FUNCTION: search.__qualname__})
    }
    [count] = samples(registry, COUNT, **{names.FUNCTION: search.__qualname__})
    assert count.labels[names.OBJECTIVE_NAME] == "search"
    assert count.labels[names.OBJECTIVE_PERCENTILE] == "95"
    assert count.labels[names.OBJECTIVE_LATENCY_THRESHOLD] == "0.05"
    assert (buckets["0.025"], buckets["+Inf"], count.value) == (0, 1, 1)
    assert list(buckets) == [*(str(b) for b in names.DEFAULT_BUCKETS), "+Inf"]
    assert total(registry, SUM, **{names.FUNCTION: search.__qualname__}) >= 0.03


def test_build_info_is_one_with_the_spec_version(registry: CollectorRegistry) -> None:
    init(registry=registry, service_name=TEST_SERVICE, version="2.1.0", commit="c0ffee", branch="main",
         repository_url="https://github.com/acme/shop", repository_provider="github")

    [info] = samples(registry, names.BUILD_INFO)

    assert info.value == 1
    assert info.labels == {
        names.SERVICE_NAME: TEST_SERVICE,
        names.AUTOMETRICS_VERSION: "1.0.0",
        names.VERSION: "2.1.0",
        names.COMMIT: "c0ffee",
        names.BRANCH: "main",
        names.REPOSITORY_URL: "https://github.com/acme/shop",
        names.REPOSITORY_PROVIDER: "github",
    }


def test_eight_threads_of_ten_thousand_calls_are_counted_exactly(registry: CollectorRegistry) -> None:
    @autometrics
    def work(i: int) -> int:
        if i % 10 == 0:
            raise ValueError(i)
        return i

    def run() -> None:
        for i in range(10_000):
            try:
                work(i)
            except ValueError:
                pass

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    name = work.__qualname__
    assert (ok(registry, name), errors(registry, name)) == (72_000, 8_000)
    assert total(registry, COUNT, **{names.FUNCTION: name}) == 80_000
    assert samples(registry, BUCKET, **{names.FUNCTION: name, names.LE: "+Inf"})[0].value == 80_000


def test_calls_in_progress_are_a_gauge(registry: CollectorRegistry) -> None:
    seen_inside: list[float] = []

    def in_progress() -> float:
        return total(registry, names.CALLS_CONCURRENT, **{names.FUNCTION: busy.__qualname__})

    @autometrics(track_concurrency=True)
    def busy() -> None:
        seen_inside.append(in_progress())

    busy()

    assert seen_inside == [1]
    assert in_progress() == 0
    [gauge] = samples(registry, names.CALLS_CONCURRENT, **{names.FUNCTION: busy.__qualname__})
    assert set(gauge.labels) == set(names.CONCURRENT_LABELS)


def test_functions_without_the_gauge_have_no_gauge_series(registry: CollectorRegistry) -> None:
    @autometrics
    def plain() -> None:
        pass

    plain()

    assert samples(registry, names.CALLS_CONCURRENT, **{names.FUNCTION: plain.__qualname__}) == []


def test_a_failure_while_recording_never_reaches_the_caller_and_is_logged_once(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: ShardStore) -> None:
        raise RuntimeError("metrics storage is broken")

    monkeypatch.setattr(ShardStore, "new_shard", broken)  # a new function's first call in a thread needs one

    @autometrics
    def unlucky(fail: bool) -> str:
        if fail:
            raise KeyError("the caller's own error")
        return "result"

    monkeypatch.setattr("autometrics_lsp.runtime.wrappers._failure_logged", False)

    with caplog.at_level(logging.ERROR, logger="autometrics_lsp.runtime.wrappers"):
        assert unlucky(False) == "result"
        with pytest.raises(KeyError, match="the caller's own error"):
            unlucky(True)
        assert unlucky(False) == "result"

    assert [record.getMessage() for record in caplog.records] == [
        "autometrics: recording a call failed; further failures are not logged"
    ]
    assert "metrics storage is broken" in caplog.text


class Boom(Exception):
    pass


@given(value=st.integers(), raises=st.booleans())
def test_decorated_functions_return_and_raise_exactly_like_plain_ones(value: int, raises: bool) -> None:
    def plain(x: int) -> int:
        if raises:
            raise Boom(x)
        return x * 2

    decorated = autometrics(plain)

    def outcome(function: object) -> tuple[str, object]:
        try:
            return "returned", function(value)  # type: ignore[operator]
        except Boom as error:
            return "raised", error.args

    assert outcome(decorated) == outcome(plain)
