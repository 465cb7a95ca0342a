"""Timing loops shared by the benchmark and its worker in the older package's venv: standard library only.

The worker runs in another venv (the older `autometrics` package pins old dependencies), so this module must
import nothing from the project or from third parties.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from time import perf_counter_ns, thread_time_ns
from typing import Any, NamedTuple, Protocol

ARGUMENT = 1


def add_one(x: int) -> int:
    return x + 1


async def add_one_async(x: int) -> int:
    return x + 1


def warm_up_iterations(iterations: int) -> int:
    return max(1, iterations // 10)


def calls_made(iterations: int, repeats: int) -> int:
    """How many times a benchmark run calls each function: one warm-up, then the timed repeats."""
    return warm_up_iterations(iterations) + iterations * repeats


class PerCall(NamedTuple):
    """Nanoseconds per call by two clocks.

    `wall_ns` (perf_counter_ns) is what a caller waits; `cpu_ns` (thread_time_ns) is the calling thread's CPU
    time, which leaves out the time other processes held the core, so it stays put on a busy machine.
    """

    wall_ns: float
    cpu_ns: float


def time_sync_repeat(function: Callable[[int], object], iterations: int) -> PerCall:
    """The cost per call of `iterations` calls in a loop.

    The collector is off while the loop runs (as `timeit` does), so a collection that happens to land in
    one repeat does not decide the figures.
    """
    argument = ARGUMENT
    with _collector_paused():
        wall_start, cpu_start = perf_counter_ns(), thread_time_ns()
        for _ in itertools.repeat(None, iterations):
            function(argument)
        cpu_elapsed, wall_elapsed = thread_time_ns() - cpu_start, perf_counter_ns() - wall_start
    return PerCall(wall_elapsed / iterations, cpu_elapsed / iterations)


def time_async_repeat(function: Callable[[int], Awaitable[object]], iterations: int) -> PerCall:
    """The cost per awaited call of `iterations` calls awaited in a loop inside one coroutine."""
    wall_elapsed, cpu_elapsed = asyncio.run(_await_in_a_loop(function, iterations))
    return PerCall(wall_elapsed / iterations, cpu_elapsed / iterations)


async def _await_in_a_loop(
    function: Callable[[int], Awaitable[object]], iterations: int
) -> tuple[int, int]:
    argument = ARGUMENT
    with _collector_paused():
        wall_start, cpu_start = perf_counter_ns(), thread_time_ns()
        for _ in itertools.repeat(None, iterations):
            await function(argument)
        cpu_elapsed, wall_elapsed = thread_time_ns() - cpu_start, perf_counter_ns() - wall_start
    return wall_elapsed, cpu_elapsed


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
