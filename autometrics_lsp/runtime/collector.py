"""The single-process exposition: a prometheus_client Collector that sums the shards at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from autometrics_lsp.runtime import names
from autometrics_lsp.runtime.functions import FunctionMetrics
from autometrics_lsp.runtime.labels import (
    build_info_labels,
    caller_labels,
    calls_labels,
    concurrent_labels,
    duration_labels,
)
from autometrics_lsp.runtime.settings import BuildInfo
from autometrics_lsp.runtime.store import CallTotals

CALLS_HELP = "Calls of functions instrumented with autometrics, by result and caller"
DURATION_HELP = "Duration of calls of functions instrumented with autometrics, in seconds"
CONCURRENT_HELP = "Calls of functions instrumented with autometrics that are running now"
BUILD_INFO_HELP = "Build information of the service, always 1"


@dataclass(frozen=True)
class Snapshot:
    """Everything one scrape reports."""

    service_name: str
    build_info: BuildInfo
    record_error_type: bool
    functions: list[tuple[FunctionMetrics, CallTotals]]


class AutometricsCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def describe(self) -> Iterable[Metric]:
        # Lets a registry refuse a clashing metric at registration, without summing shards to find our names.
        return families(Snapshot("", BuildInfo(), False, []))

    def collect(self) -> Iterable[Metric]:
        return families(self._snapshot())


def families(snapshot: Snapshot) -> list[Metric]:
    service = snapshot.service_name
    calls: dict[tuple[tuple[str, str], ...], int] = {}
    durations: dict[tuple[str, ...], tuple[tuple[float, ...], list[int], float]] = {}
    concurrency: dict[tuple[str, ...], int] = {}

    for function, totals in snapshot.functions:
        with_error_type = (
            snapshot.record_error_type if function.record_error_type is None else function.record_error_type
        )
        for key, count in _call_counts(function, totals, service, with_error_type):
            calls[key] = calls.get(key, 0) + count

        histogram_key = _values(duration_labels(function, service), names.DURATION_LABELS)
        _, counts, seconds = durations.get(histogram_key, (totals.bounds, [0] * len(totals.bucket_counts), 0.0))
        merged = [a + b for a, b in zip(counts, totals.bucket_counts)]
        durations[histogram_key] = (totals.bounds, merged, seconds + totals.seconds)

        if function.track_concurrency:
            gauge_key = _values(concurrent_labels(function, service), names.CONCURRENT_LABELS)
            concurrency[gauge_key] = concurrency.get(gauge_key, 0) + totals.in_flight

    calls_family = CounterMetricFamily(names.CALLS_TOTAL, CALLS_HELP)
    for label_items, count in calls.items():
        calls_family.add_sample(names.CALLS_TOTAL, dict(label_items), count)

    duration_family = HistogramMetricFamily(names.CALLS_DURATION_SECONDS, DURATION_HELP, labels=names.DURATION_LABELS)
    for label_values, (bounds, counts, seconds) in durations.items():
        duration_family.add_metric(list(label_values), list(_cumulative_buckets(bounds, counts)), seconds)

    concurrent_family = GaugeMetricFamily(names.CALLS_CONCURRENT, CONCURRENT_HELP, labels=names.CONCURRENT_LABELS)
    for label_values, in_flight in concurrency.items():
        concurrent_family.add_metric(list(label_values), in_flight)

    build_info_family = GaugeMetricFamily(names.BUILD_INFO, BUILD_INFO_HELP, labels=names.BUILD_INFO_LABELS)
    build_info_family.add_metric(
        _values(build_info_labels(snapshot.build_info, service), names.BUILD_INFO_LABELS), 1
    )
    return [calls_family, duration_family, concurrent_family, build_info_family]


def _call_counts(
    function: FunctionMetrics, totals: CallTotals, service: str, with_error_type: bool
) -> Iterator[tuple[tuple[tuple[str, str], ...], int]]:
    """Counter samples; the top-level ok and error series always appear, at 0 before any call."""
    top_level = caller_labels(None)
    yield _items(calls_labels(function, service, top_level, names.RESULT_OK)), 0
    yield _items(calls_labels(function, service, top_level, names.RESULT_ERROR)), 0
    for caller, count in totals.ok.items():
        yield _items(calls_labels(function, service, caller_labels(caller), names.RESULT_OK)), count
    for (caller, error_type), count in totals.errors.items():
        labels = calls_labels(
            function, service, caller_labels(caller), names.RESULT_ERROR, error_type if with_error_type else ""
        )
        yield _items(labels), count


def _cumulative_buckets(bounds: tuple[float, ...], counts: list[int]) -> Iterator[tuple[str, float]]:
    running = 0
    for bound, count in zip((*bounds, float("inf")), counts):
        running += count
        yield floatToGoString(bound), running


def _items(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(labels.items())


def _values(labels: dict[str, str], order: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(labels[name] for name in order)
