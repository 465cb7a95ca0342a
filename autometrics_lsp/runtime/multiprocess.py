"""Multiprocess mode (`PROMETHEUS_MULTIPROC_DIR` set): every call goes through prometheus_client metric objects.

Worker processes (gunicorn, uWSGI, ...) each write their own files in that directory, and whichever worker
answers a scrape sums all of them with prometheus_client's `MultiProcessCollector`. Correct over fast: each
call costs what prometheus_client costs. Calls-in-progress is a `livesum` gauge (only live workers count);
`build_info` is a `max` gauge (1 from any worker is 1).

Label values need the service name, which is known only once `init()` has run (decorating, and so the first
calls, usually happen earlier), so until then calls wait in a bounded per-function buffer and are replayed
exactly when `init()` activates the function. A forked child drops the buffer it inherited: those calls are
its parent's to report.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

from autometrics_lsp.runtime import names
from autometrics_lsp.runtime.collector import BUILD_INFO_HELP, CALLS_HELP, CONCURRENT_HELP, DURATION_HELP
from autometrics_lsp.runtime.functions import FunctionMetrics
from autometrics_lsp.runtime.labels import (
    build_info_labels,
    caller_labels,
    calls_labels,
    concurrent_labels,
    duration_labels,
)
from autometrics_lsp.runtime.settings import Settings

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
PENDING_CALLS_LIMIT = 10_000

_log = logging.getLogger(__name__)


def multiprocess_mode_enabled() -> bool:
    """The test prometheus_client itself applies when it is imported."""
    return MULTIPROCESS_DIR_ENV in os.environ or MULTIPROCESS_DIR_ENV.lower() in os.environ


class MultiprocessMetrics:
    """The metric objects of one process. They are in no registry: the files are what gets scraped."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.calls = Counter(names.CALLS_TOTAL, CALLS_HELP, names.CALLS_LABELS, registry=None)
        self.calls_by_error_type = Counter(
            names.CALLS_TOTAL, CALLS_HELP, (*names.CALLS_LABELS, names.ERROR), registry=None
        )
        self.duration = Histogram(
            names.CALLS_DURATION_SECONDS, DURATION_HELP, names.DURATION_LABELS, buckets=buckets, registry=None
        )
        self.concurrent = Gauge(
            names.CALLS_CONCURRENT, CONCURRENT_HELP, names.CONCURRENT_LABELS, multiprocess_mode="livesum",
            registry=None,
        )
        self.build_info = Gauge(
            names.BUILD_INFO, BUILD_INFO_HELP, names.BUILD_INFO_LABELS, multiprocess_mode="max", registry=None
        )

    def set_build_info(self, settings: Settings, service_name: str) -> None:
        self.build_info.labels(**build_info_labels(settings.build_info, service_name)).set(1)


@dataclass(frozen=True)
class _PendingCall:
    caller: object
    error_type: str | None  # None: ok
    elapsed: float


class _Writer:
    """Writes one function's calls into the metric objects, with its label children looked up once."""

    def __init__(
        self, function: FunctionMetrics, metrics: MultiprocessMetrics, service_name: str, with_error_type: bool
    ) -> None:
        self._function = function
        self._metrics = metrics
        self._service_name = service_name
        self._with_error_type = with_error_type
        self._counters: dict[tuple[tuple[str, str], str, str], Counter] = {}
        self._duration = metrics.duration.labels(**duration_labels(function, service_name))
        self.concurrent = metrics.concurrent.labels(**concurrent_labels(function, service_name))
        # The top-level series exist from the start, at 0.
        self._counter(caller_labels(None), names.RESULT_OK, "")
        self._counter(caller_labels(None), names.RESULT_ERROR, "")

    def _counter(self, caller: tuple[str, str], result: str, error_type: str) -> Counter:
        key = (caller, result, error_type)
        child = self._counters.get(key)
        if child is None:
            labels = calls_labels(self._function, self._service_name, caller, result, error_type)
            family = self._metrics.calls_by_error_type if error_type else self._metrics.calls
            child = self._counters[key] = family.labels(**labels)
        return child

    def record(self, caller: object, error_type: str | None, elapsed: float) -> None:
        if error_type is None:
            self._counter(caller_labels(caller), names.RESULT_OK, "").inc()
        else:
            shown_type = error_type if self._with_error_type else ""
            self._counter(caller_labels(caller), names.RESULT_ERROR, shown_type).inc()
        self._duration.observe(elapsed)


class MultiprocessStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writer: _Writer | None = None
        self._pending: list[_PendingCall] = []
        self._pending_in_flight = 0
        self._dropped = 0
        _stores.add(self)

    def activate(self, function: FunctionMetrics, metrics: MultiprocessMetrics, settings: Settings, service_name: str) -> None:
        with_error_type = settings.record_error_type if function.record_error_type is None else function.record_error_type
        with self._lock:
            writer = self._writer = _Writer(function, metrics, service_name, with_error_type)
            for call in self._pending:
                writer.record(call.caller, call.error_type, call.elapsed)
            writer.concurrent.inc(self._pending_in_flight)
            if self._dropped:
                _log.warning(
                    "autometrics: %d calls of %s.%s made before init() were not recorded (more than %d)",
                    self._dropped, function.module, function.function, PENDING_CALLS_LIMIT,
                )
            self._pending, self._pending_in_flight, self._dropped = [], 0, 0

    def _record(self, caller: object, error_type: str | None, elapsed: float) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.record(caller, error_type, elapsed)
            elif len(self._pending) < PENDING_CALLS_LIMIT:
                self._pending.append(_PendingCall(caller, error_type, elapsed))
            else:
                self._dropped += 1

    def record_ok(self, caller: object, elapsed: float) -> None:
        self._record(caller, None, elapsed)

    def record_error(self, caller: object, error_type: str, elapsed: float) -> None:
        self._record(caller, error_type, elapsed)

    def enter(self) -> None:
        self._change_in_flight(1)

    def leave(self) -> None:
        self._change_in_flight(-1)

    def _change_in_flight(self, change: int) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.concurrent.inc(change)
            else:
                self._pending_in_flight += change

    def forget_parent_calls(self) -> None:
        # Runs in a fresh child right after fork, when no other thread exists: the lock may be held by a
        # parent thread that is gone, so replace it rather than take it.
        self._lock = threading.Lock()
        self._pending, self._pending_in_flight, self._dropped = [], 0, 0


_stores: weakref.WeakSet[MultiprocessStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_stores):
        store.forget_parent_calls()


os.register_at_fork(after_in_child=_after_fork_in_child)
