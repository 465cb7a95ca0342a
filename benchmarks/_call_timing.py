"""Timing loops shared by the benchmark and its worker in the older package's venv: standard library only.

The worker runs under another interpreter environment (the older `autometrics` package pins old
dependencies), so this module must import nothing from the project or from third parties.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from time import perf_counter_ns
from typing import Any, Protocol

ARGUMENT = 1


def add_one(x: int) -> int:
    return x + 1


async def add_one_async(x: int) -> int:
    return x + 1


def calls_made(iterations: int, repeats: int) -> int:
    """How many times one timing run calls the function, warm-up included."""
    return _warm_up_iterations(iterations) + iterations * repeats


def _warm_up_iterations(iterations: int) -> int:
    return max(1, iterations // 10)


def time_sync_calls(function: Callable[[int], object], iterations: int, repeats: int) -> list[float]:
    """Nanoseconds per call, one figure per repeat, after a short warm-up.

    The collector is off while a repeat runs (as `timeit` does), so a collection that happens to land in one
    repeat does not decide the median.
    """
    _time_sync_repeat(function, _warm_up_iterations(iterations))
    return [_time_sync_repeat(function, iterations) / iterations for _ in range(repeats)]


def time_async_calls(
    function: Callable[[int], Awaitable[object]], iterations: int, repeats: int
) -> list[float]:
    """Nanoseconds per awaited call, one figure per repeat, all awaited in a loop inside one event loop."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_time_async_repeat(function, _warm_up_iterations(iterations)))
        return [
            loop.run_until_complete(_time_async_repeat(function, iterations)) / iterations
            for _ in range(repeats)
        ]
    finally:
        loop.close()


def _time_sync_repeat(function: Callable[[int], object], iterations: int) -> int:
    argument = ARGUMENT
    with _collector_paused():
        start = perf_counter_ns()
        for _ in itertools.repeat(None, iterations):
            function(argument)
        return perf_counter_ns() - start


async def _time_async_repeat(function: Callable[[int], Awaitable[object]], iterations: int) -> int:
    argument = ARGUMENT
    with _collector_paused():
        start = perf_counter_ns()
        for _ in itertools.repeat(None, iterations):
            await function(argument)
        return perf_counter_ns() - start


@contextmanager
def _collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class MetricRegistry(Protocol):
    """What is read of a `prometheus_client.CollectorRegistry` (whichever version the process has)."""

    def collect(self) -> Iterable[Any]: ...


def count_recorded_calls(
    registry: MetricRegistry, sample_name: str, required_labels: Mapping[str, str]
) -> float:
    """The calls a registry counted in the samples carrying all of `required_labels`.

    Checks that an instrumented variant really recorded every timed call, so a broken set-up cannot pass
    for a fast one.
    """
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == sample_name
        and all(sample.labels.get(label) == value for label, value in required_labels.items())
    )
