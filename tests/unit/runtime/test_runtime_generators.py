"""Generators and async generators: one call from first item to the end, timed and judged when iteration ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator

import pytest
from prometheus_client import CollectorRegistry
from tests.unit.runtime.runtime_samples import samples, total

from autometrics_lsp.runtime import autometrics, names

COUNT = names.CALLS_DURATION_SECONDS + "_count"


def results(registry: CollectorRegistry, function: str) -> dict[str, float]:
    counted = {names.RESULT_OK: 0.0, names.RESULT_ERROR: 0.0}
    for sample in samples(registry, names.CALLS_TOTAL, **{names.FUNCTION: function}):
        counted[sample.labels[names.RESULT]] += sample.value
    return counted


def callers(registry: CollectorRegistry, function: str) -> set[str]:
    return {
        s.labels[names.CALLER_FUNCTION]
        for s in samples(registry, names.CALLS_TOTAL, **{names.FUNCTION: function})
        if s.value
    }


def test_a_generator_is_counted_once_when_it_is_exhausted(registry: CollectorRegistry) -> None:
    @autometrics
    def count_to(n: int) -> Iterator[int]:
        yield from range(n)

    iterator = count_to(3)
    assert next(iterator) == 0
    assert results(registry, count_to.__qualname__) == {"ok": 0, "error": 0}

    assert list(iterator) == [1, 2]
    assert results(registry, count_to.__qualname__) == {"ok": 1, "error": 0}
    assert total(registry, COUNT, **{names.FUNCTION: count_to.__qualname__}) == 1


def test_an_exception_during_iteration_is_an_error(registry: CollectorRegistry) -> None:
    failure = OSError("disk gone")

    @autometrics
    def read_lines() -> Iterator[str]:
        yield "first"
        raise failure

    with pytest.raises(OSError) as caught:
        list(read_lines())

    assert caught.value is failure
    assert results(registry, read_lines.__qualname__) == {"ok": 0, "error": 1}


def test_closing_early_is_ok_and_runs_the_generator_s_cleanup(registry: CollectorRegistry) -> None:
    cleaned: list[str] = []

    @autometrics
    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            cleaned.append("done")

    iterator = endless()
    assert [next(iterator) for _ in range(3)] == [0, 1, 2]
    iterator.close()

    assert cleaned == ["done"]
    assert results(registry, endless.__qualname__) == {"ok": 1, "error": 0}


def test_send_throw_and_return_value_pass_through(registry: CollectorRegistry) -> None:
    @autometrics
    def accumulate() -> Generator[int, int, str]:
        running = 0
        while True:
            try:
                received = yield running
            except KeyError:
                running = -1
                continue
            if received is None:
                return f"total {running}"
            running += received

    generator = accumulate()
    assert next(generator) == 0
    assert generator.send(5) == 5
    assert generator.throw(KeyError("reset")) == -1
    assert generator.send(2) == 1
    with pytest.raises(StopIteration) as finished:
        generator.send(None)  # type: ignore[arg-type]

    assert finished.value.value == "total 1"
    assert results(registry, accumulate.__qualname__) == {"ok": 1, "error": 0}


def test_the_generator_body_is_the_caller_and_the_consumer_is_not(registry: CollectorRegistry) -> None:
    @autometrics
    def callee(tag: str) -> str:
        return tag

    @autometrics
    def producer() -> Iterator[str]:
        yield callee("inside")
        yield callee("inside")

    @autometrics
    def consumer() -> list[str]:
        seen = []
        for item in producer():
            seen.append(callee(item))
        return seen

    assert consumer() == ["inside", "inside"]
    in_body = {s.labels[names.CALLER_FUNCTION]: s.value
               for s in samples(registry, names.CALLS_TOTAL, **{names.FUNCTION: callee.__qualname__}) if s.value}
    assert in_body == {producer.__qualname__: 2, consumer.__qualname__: 2}
    assert callers(registry, producer.__qualname__) == {consumer.__qualname__}


def test_a_generator_in_progress_counts_in_the_gauge(registry: CollectorRegistry) -> None:
    @autometrics(track_concurrency=True)
    def stream() -> Iterator[int]:
        yield 1
        yield 2

    def in_progress() -> float:
        return total(registry, names.CALLS_CONCURRENT, **{names.FUNCTION: stream.__qualname__})

    iterator = stream()
    next(iterator)
    assert in_progress() == 1
    list(iterator)
    assert in_progress() == 0


async def test_an_async_generator_is_counted_when_exhausted(registry: CollectorRegistry) -> None:
    @autometrics
    async def ticks(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    assert [i async for i in ticks(3)] == [0, 1, 2]
    assert results(registry, ticks.__qualname__) == {"ok": 1, "error": 0}


async def test_an_async_generator_that_raises_is_an_error(registry: CollectorRegistry) -> None:
    @autometrics
    async def broken() -> AsyncIterator[int]:
        yield 1
        raise ValueError("bad row")

    with pytest.raises(ValueError, match="bad row"):
        _ = [i async for i in broken()]

    assert results(registry, broken.__qualname__) == {"ok": 0, "error": 1}


async def test_an_async_generator_closed_early_is_ok(registry: CollectorRegistry) -> None:
    cleaned: list[str] = []

    @autometrics
    async def endless() -> AsyncIterator[int]:
        try:
            while True:
                yield 1
        finally:
            cleaned.append("done")

    generator = endless()
    assert await generator.__anext__() == 1
    await generator.aclose()

    assert cleaned == ["done"]
    assert results(registry, endless.__qualname__) == {"ok": 1, "error": 0}


async def test_asend_and_athrow_pass_through(registry: CollectorRegistry) -> None:
    @autometrics
    async def echo() -> AsyncIterator[str]:
        received = "start"
        while True:
            try:
                received = yield received
            except LookupError:
                received = "recovered"

    generator = echo()
    assert await generator.asend(None) == "start"
    assert await generator.asend("hello") == "hello"
    assert await generator.athrow(LookupError()) == "recovered"
    await generator.aclose()


async def test_the_async_generator_body_is_the_caller(registry: CollectorRegistry) -> None:
    @autometrics
    async def fetch(page: int) -> int:
        return page

    @autometrics
    async def pages() -> AsyncIterator[int]:
        for page in range(2):
            yield await fetch(page)

    @autometrics
    async def reader() -> list[int]:
        return [await fetch(page + 10) async for page in pages()]

    assert await reader() == [10, 11]
    by_caller = {s.labels[names.CALLER_FUNCTION]: s.value
                 for s in samples(registry, names.CALLS_TOTAL, **{names.FUNCTION: fetch.__qualname__}) if s.value}
    assert by_caller == {pages.__qualname__: 2, reader.__qualname__: 2}
