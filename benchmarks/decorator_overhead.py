"""Per-call cost of `@autometrics` next to a plain call, raw prometheus_client and the older package.

    python benchmarks/decorator_overhead.py [--iterations N] [--repeats N] [--old-python PATH]

`scripts/bench.sh` creates the older package's venv and runs this with the project's venv. Every variant runs
the same body (`return x + 1`); each figure is the median over the repeats of (elapsed / iterations), by wall
clock and by the thread's CPU time, and a variant's added cost is measured against the plain call of its own
kind and process. The older `autometrics` package pins old dependencies, so it runs in its own venv and
process (`_old_autometrics_worker.py`); repeats of all variants, in both processes, are interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from time import perf_counter
from typing import Any, TypeVar

from _call_timing import (
    PerCall,
    add_one,
    add_one_async,
    calls_made,
    count_recorded_calls,
    time_async_repeat,
    time_sync_repeat,
    warm_up_iterations,
)
from prometheus_client import CollectorRegistry, Counter, Histogram

from autometrics_lsp.runtime import names

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
DEFAULT_OLD_PYTHON = REPO_ROOT / ".cache" / "bench-venvs" / "old-autometrics" / "bin" / "python"
OLD_WORKER = BENCHMARKS_DIR / "_old_autometrics_worker.py"
BENCH_SERVICE_NAME = "decorator-overhead-bench"

# Issue 2's targets for our runtime.
MAX_ADDED_NS = 1000.0
MIN_ADVANTAGE_OVER_OLD = 8.0

PLAIN_SYNC = "plain_sync"
PLAIN_ASYNC = "plain_async"
PLAIN_NESTED = "plain_nested"
RAW_PER_CALL_LABELS = "raw_per_call_labels"
RAW_PREBOUND = "raw_prebound"
OLD_PLAIN_SYNC = "old_plain_sync"
OLD_SYNC = "old_autometrics_sync"
OURS_SYNC = "ours_sync"
OURS_ASYNC = "ours_async"
OURS_NESTED = "ours_nested"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Scenario:
    key: str
    description: str
    baseline: str | None = None
    """The plain call this variant's added cost is measured against; None for a baseline itself."""


SCENARIOS = (
    Scenario(PLAIN_SYNC, "(a) plain call"),
    Scenario(RAW_PER_CALL_LABELS, "(b) prometheus_client: labels(...) per call, inc + observe", PLAIN_SYNC),
    Scenario(RAW_PREBOUND, "(b) prometheus_client: pre-bound children, inc + observe", PLAIN_SYNC),
    Scenario(OLD_PLAIN_SYNC, "(c) plain call, in the older package's process"),
    Scenario(OLD_SYNC, "(c) autometrics 1.0.0 (PyPI), tracker=prometheus", OLD_PLAIN_SYNC),
    Scenario(OURS_SYNC, "(d) ours, sync", PLAIN_SYNC),
    Scenario(PLAIN_ASYNC, "(e) plain async call, awaited"),
    Scenario(OURS_ASYNC, "(e) ours, async, awaited", PLAIN_ASYNC),
    Scenario(PLAIN_NESTED, "(f) plain outer calling plain inner"),
    Scenario(
        OURS_NESTED, "(f) ours: decorated outer calling decorated inner (2 recorded calls)", PLAIN_NESTED
    ),
)

CLOCKS = {
    "wall_ns": "Wall clock (time.perf_counter_ns)",
    "cpu_ns": "CPU time of the calling thread (time.thread_time_ns): leaves out time other processes ran",
}


@dataclass(frozen=True)
class Row:
    description: str
    ns_per_call: float
    added_ns: float | None
    ratio_vs_ours: float | None
    """This variant's added cost divided by our sync decorator's."""


def medians_of(samples: Mapping[str, Sequence[PerCall]], clock: str) -> dict[str, float]:
    """The median cost per call of each scenario by one clock (a field of `PerCall`)."""
    return {
        key: statistics.median(getattr(figure, clock) for figure in figures)
        for key, figures in samples.items()
    }


def summarize(medians: Mapping[str, float]) -> list[Row]:
    """One row per measured scenario, in table order: median, added cost, and ratio to our added cost."""
    ours_added = _added_ns(medians, _scenario(OURS_SYNC))
    rows = []
    for scenario in SCENARIOS:
        if scenario.key not in medians:
            continue
        added = _added_ns(medians, scenario)
        ratio = added / ours_added if added is not None and ours_added else None
        rows.append(Row(scenario.description, medians[scenario.key], added, ratio))
    return rows


def _added_ns(medians: Mapping[str, float], scenario: Scenario) -> float | None:
    if scenario.baseline is None or scenario.key not in medians or scenario.baseline not in medians:
        return None
    return medians[scenario.key] - medians[scenario.baseline]


def _scenario(key: str) -> Scenario:
    return next(scenario for scenario in SCENARIOS if scenario.key == key)


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table, ready to paste into the README."""
    lines = [
        "| variant | ns/call | added ns/call | added vs ours (sync) |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        added = "" if row.added_ns is None else f"{row.added_ns:.0f}"
        ratio = "" if row.ratio_vs_ours is None else f"{row.ratio_vs_ours:.1f}x"
        lines.append(f"| {row.description} | {row.ns_per_call:.0f} | {added} | {ratio} |")
    return "\n".join(lines)


def verdict(ours_added_ns: float, old_added_ns: float) -> str:
    """Issue 2's targets: our added cost under 1 us per call, and at least 8x below the older package's."""
    under_limit = ours_added_ns < MAX_ADDED_NS
    advantage = old_added_ns / ours_added_ns if ours_added_ns > 0 else float("inf")
    ahead_enough = advantage >= MIN_ADVANTAGE_OVER_OLD
    outcome = "PASS" if under_limit and ahead_enough else "MISS"
    return (
        f"Verdict: {outcome}: ours adds {ours_added_ns:.0f} ns/call "
        f"({'<' if under_limit else '>='} {MAX_ADDED_NS:.0f} ns target); "
        f"the older package adds {old_added_ns:.0f} ns/call, {advantage:.1f}x ours "
        f"({'>=' if ahead_enough else '<'} {MIN_ADVANTAGE_OVER_OLD:.0f}x target)"
    )


RepeatTimer = Callable[[int], dict[str, PerCall]]
"""Times one repeat of `iterations` calls of one or more variants: the cost per call by scenario key."""


def _nothing_to_verify(calls: int) -> None:
    return None


@dataclass(frozen=True)
class VariantGroup:
    timers: list[RepeatTimer]
    verify: Callable[[int], None] = _nothing_to_verify
    """Raises unless every instrumented variant recorded exactly this many calls since the group was made."""


def measure(groups: Sequence[VariantGroup], iterations: int, repeats: int) -> dict[str, list[PerCall]]:
    """Times every variant in rounds, one repeat of each per round, then checks what was recorded.

    Interleaving makes a change of load on a shared machine hit all variants alike, instead of only the
    ones that happened to run at that moment.
    """
    timers = [timer for group in groups for timer in group.timers]
    for timer in timers:
        timer(warm_up_iterations(iterations))
    samples: dict[str, list[PerCall]] = {}
    for _ in range(repeats):
        for timer in timers:
            for key, figure in timer(iterations).items():
                samples.setdefault(key, []).append(figure)
    for group in groups:
        group.verify(calls_made(iterations, repeats))
    return samples


def _sync_timer(key: str, function: Callable[[int], object]) -> RepeatTimer:
    return lambda iterations: {key: time_sync_repeat(function, iterations)}


def _async_timer(key: str, function: Callable[[int], Awaitable[object]]) -> RepeatTimer:
    return lambda iterations: {key: time_async_repeat(function, iterations)}


def _nested_pair(wrap: Callable[[F], F]) -> tuple[Callable[[int], int], Callable[[int], int]]:
    """(outer, inner): an outer function calling an inner one, both passed through `wrap`."""

    def inner(x: int) -> int:
        return x + 1

    wrapped_inner = wrap(inner)

    def outer(x: int) -> int:
        return wrapped_inner(x)

    return wrap(outer), wrapped_inner


def _identity(function: F) -> F:
    return function


def plain_calls() -> VariantGroup:
    return VariantGroup(
        [
            _sync_timer(PLAIN_SYNC, add_one),
            _async_timer(PLAIN_ASYNC, add_one_async),
            _sync_timer(PLAIN_NESTED, _nested_pair(_identity)[0]),
        ]
    )


def raw_prometheus_client() -> VariantGroup:
    """The floor a decorator built on prometheus_client children stands on, with the spec's labels.

    A naive decorator fetches both children per call (its labels include the caller, known only at call
    time); pre-bound children are what remains once that lookup is gone.
    """
    registry = CollectorRegistry()
    calls = Counter(names.CALLS_TOTAL, "calls", names.CALLS_LABELS, registry=registry)
    durations = Histogram(
        names.CALLS_DURATION_SECONDS,
        "durations",
        names.DURATION_LABELS,
        buckets=names.DEFAULT_BUCKETS,
        registry=registry,
    )
    label_values = {
        names.FUNCTION: add_one.__qualname__,
        names.MODULE: add_one.__module__,
        names.SERVICE_NAME: BENCH_SERVICE_NAME,
        names.RESULT: names.RESULT_OK,
        names.CALLER_FUNCTION: "",
        names.CALLER_MODULE: "",
        names.OBJECTIVE_NAME: "",
        names.OBJECTIVE_PERCENTILE: "",
        names.OBJECTIVE_LATENCY_THRESHOLD: "",
    }
    call_values = tuple(label_values[label] for label in names.CALLS_LABELS)
    duration_values = tuple(label_values[label] for label in names.DURATION_LABELS)

    def per_call_labels(x: int) -> int:
        start = perf_counter()
        result = add_one(x)
        calls.labels(*call_values).inc()
        durations.labels(*duration_values).observe(perf_counter() - start)
        return result

    calls_child = calls.labels(*call_values)
    durations_child = durations.labels(*duration_values)

    def prebound(x: int) -> int:
        start = perf_counter()
        result = add_one(x)
        calls_child.inc()
        durations_child.observe(perf_counter() - start)
        return result

    return VariantGroup(
        [_sync_timer(RAW_PER_CALL_LABELS, per_call_labels), _sync_timer(RAW_PREBOUND, prebound)]
    )


def our_runtime() -> VariantGroup:
    """Our decorator on a sync function, an async one, and a decorated caller of a decorated callee."""
    from autometrics_lsp.runtime import autometrics, init

    registry = CollectorRegistry()
    init(registry=registry, service_name=BENCH_SERVICE_NAME)
    ours_sync = autometrics(add_one)
    ours_async = autometrics(add_one_async)
    ours_outer, ours_inner = _nested_pair(autometrics)
    checked_series = [
        {names.FUNCTION: function.__qualname__} for function in (ours_sync, ours_async, ours_outer)
    ]
    checked_series.append(
        {names.FUNCTION: ours_inner.__qualname__, names.CALLER_FUNCTION: ours_outer.__qualname__}
    )
    # The runtime keeps one series per function for the life of the process, so count what this run adds.
    counts_before = [_recorded(registry, labels) for labels in checked_series]

    def verify(calls: int) -> None:
        for labels, before in zip(checked_series, counts_before):
            recorded = _recorded(registry, labels) - before
            if recorded != calls:
                raise RuntimeError(f"ours, {labels}: {recorded:.0f} calls recorded, {calls} made")

    return VariantGroup(
        [
            _sync_timer(OURS_SYNC, ours_sync),
            _async_timer(OURS_ASYNC, ours_async),
            _sync_timer(OURS_NESTED, ours_outer),
        ],
        verify,
    )


def _recorded(registry: CollectorRegistry, required_labels: Mapping[str, str]) -> float:
    return count_recorded_calls(registry, names.CALLS_TOTAL, required_labels)


def measure_our_runtime(iterations: int, repeats: int) -> dict[str, list[PerCall]]:
    """Our variants alone; raises if the runtime did not count every call."""
    return measure([our_runtime()], iterations, repeats)


class OldPackageWorker:
    """The older package's worker process (`_old_autometrics_worker.py`) in its own venv, for one run."""

    def __init__(self, old_python: Path) -> None:
        self._command = [str(old_python.absolute()), str(OLD_WORKER)]
        self.versions: dict[str, str] = {}

    def __enter__(self) -> OldPackageWorker:
        self._process = subprocess.Popen(
            self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.versions = self._ask(
            {
                "calls_sample_name": names.CALLS_TOTAL,
                "function_label": names.FUNCTION,
                "service_name": BENCH_SERVICE_NAME,
            }
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _ask(self, request: Mapping[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the older package's worker exited with {self._process.wait()}")
        reply: dict[str, Any] = json.loads(answer)
        return reply

    def variants(self) -> VariantGroup:
        def time_repeat(iterations: int) -> dict[str, PerCall]:
            answer = self._ask({"iterations": iterations})
            return {
                OLD_PLAIN_SYNC: PerCall(*answer["plain"]),
                OLD_SYNC: PerCall(*answer["instrumented"]),
            }

        def verify(calls: int) -> None:
            recorded = self._ask({"count": True})["recorded_calls"]
            if recorded != calls:
                raise RuntimeError(f"the older package recorded {recorded:.0f} calls, {calls} made")

        return VariantGroup([time_repeat], verify)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200_000, help="calls per repeat")
    parser.add_argument("--repeats", type=int, default=7, help="repeats per variant; the median is shown")
    parser.add_argument(
        "--old-python",
        type=Path,
        default=DEFAULT_OLD_PYTHON,
        help="interpreter of the venv holding autometrics==1.0.0 (scripts/bench.sh creates it)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    arguments = _parse_arguments(argv)
    if not arguments.old_python.exists():
        print(
            f"{arguments.old_python} is missing: scripts/bench.sh creates the older package's venv",
            file=sys.stderr,
        )
        return 2
    print(f"Command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores")
    print(
        f"{arguments.iterations} calls per repeat, median of {arguments.repeats} interleaved repeats, "
        "GC paused while timing"
    )

    load_before = os.getloadavg()[0]
    with OldPackageWorker(arguments.old_python) as old_worker:
        groups = [plain_calls(), raw_prometheus_client(), our_runtime(), old_worker.variants()]
        samples = measure(groups, arguments.iterations, arguments.repeats)
    print(
        f"Ours: prometheus_client {version('prometheus_client')}; older package: autometrics "
        f"{old_worker.versions['autometrics_version']}, prometheus_client "
        f"{old_worker.versions['prometheus_client_version']}, Python {old_worker.versions['python']}, "
        "in its own process"
    )
    print(f"Load average (1 min) before: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}")
    for clock, heading in CLOCKS.items():
        medians = medians_of(samples, clock)
        print(f"\n{heading}\n")
        print(format_table(summarize(medians)))
        print()
        print(
            verdict(
                ours_added_ns=medians[OURS_SYNC] - medians[PLAIN_SYNC],
                old_added_ns=medians[OLD_SYNC] - medians[OLD_PLAIN_SYNC],
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
