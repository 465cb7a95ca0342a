"""The process-wide runtime: the instrumented functions, the settings of `init()`, and the registry they are exposed in.

Decorating registers a function at once, and its calls are recorded from the first one, whether or not
`init()` has run; `init()` only decides how they are labelled and where they are exposed. Without an explicit
`init()`, the first decoration registers the metrics in prometheus_client's default registry (single-process
mode), and the exposition helpers call `init()` with its defaults.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from autometrics_lsp.runtime.collector import AutometricsCollector, Snapshot
from autometrics_lsp.runtime.functions import CallStore, FunctionMetrics
from autometrics_lsp.runtime.git import read_git_checkout
from autometrics_lsp.runtime.labels import module_label
from autometrics_lsp.runtime.multiprocess import MultiprocessMetrics, MultiprocessStore, multiprocess_mode_enabled
from autometrics_lsp.runtime.objectives import Objective
from autometrics_lsp.runtime.options import check_latency_threshold
from autometrics_lsp.runtime.settings import (
    Settings,
    derived_service_name,
    explicit_service_name,
    resolve_build_info,
    validated_buckets,
)
from autometrics_lsp.runtime.store import ShardStore

_log = logging.getLogger(__name__)

FunctionKey = tuple[str, str, Objective | None, bool, bool | None]


class Runtime:
    def __init__(self, *, multiprocess: bool) -> None:
        self.multiprocess = multiprocess
        self._lock = threading.RLock()
        # One entry per label identity, so a nested function decorated on every call of its outer function
        # keeps one set of series. Insertion-ordered: the first entry names the service by default.
        self._functions: dict[FunctionKey, FunctionMetrics] = {}
        self._settings: Settings | None = None
        self._registry: CollectorRegistry | None = None
        self._collector: Collector | None = None
        self._multiprocess_metrics: MultiprocessMetrics | None = None

    @property
    def initialised(self) -> bool:
        return self._settings is not None

    @property
    def buckets(self) -> tuple[float, ...]:
        return self._settings.buckets if self._settings is not None else Settings().buckets

    def function_metrics(
        self,
        *,
        function: str,
        module: str,
        objective: Objective | None,
        track_concurrency: bool,
        record_error_type: bool | None,
    ) -> FunctionMetrics:
        key: FunctionKey = (module, function, objective, track_concurrency, record_error_type)
        with self._lock:
            existing = self._functions.get(key)
            if existing is not None:
                return existing
            store: CallStore = MultiprocessStore() if self.multiprocess else ShardStore(self.buckets)
            metrics = self._functions[key] = FunctionMetrics(
                function, module, objective, track_concurrency, record_error_type, store
            )
            if self._settings is not None and self.multiprocess:
                self._activate(metrics, self._settings)
            elif self._settings is None and self._registry is None and not self.multiprocess:
                self._bind_default_registry_quietly()
            return metrics

    def _bind_default_registry_quietly(self) -> None:
        # Runs while the user's modules are imported: a clash there must not stop the import. The calls are
        # still recorded, and an explicit init(registry=...) shows them (or raises the clash to its caller).
        try:
            self._bind(REGISTRY)
        except ValueError:
            _log.warning("autometrics: could not register in the default registry", exc_info=True)

    def functions(self) -> list[FunctionMetrics]:
        with self._lock:
            return list(self._functions.values())

    def init(self, settings: Settings, registry: CollectorRegistry | None) -> None:
        with self._lock:
            for metrics in self._functions.values():
                if metrics.objective is not None:
                    check_latency_threshold(metrics.objective, settings.buckets)
            if self.multiprocess:
                self._init_multiprocess(settings)
            else:
                for metrics in self._functions.values():
                    assert isinstance(metrics.store, ShardStore)
                    metrics.store.relayout(settings.buckets)
            self._settings = settings
            self._bind(registry if registry is not None else self._default_registry())

    def _default_registry(self) -> CollectorRegistry:
        if self.multiprocess:
            # The default registry holds this process's own collectors; a scrape must show all workers.
            return self._registry if self._registry is not None else CollectorRegistry()
        return REGISTRY

    def _init_multiprocess(self, settings: Settings) -> None:
        if self._multiprocess_metrics is None:
            self._multiprocess_metrics = MultiprocessMetrics(settings.buckets)
        elif self._multiprocess_metrics.buckets != settings.buckets:
            raise ValueError("buckets cannot change once init() has run in multiprocess mode")
        self._multiprocess_metrics.set_build_info(settings, self._service_name(settings))
        for metrics in self._functions.values():
            self._activate(metrics, settings)

    def _activate(self, metrics: FunctionMetrics, settings: Settings) -> None:
        assert isinstance(metrics.store, MultiprocessStore) and self._multiprocess_metrics is not None
        metrics.store.activate(metrics, self._multiprocess_metrics, settings, self._service_name(settings))

    def _bind(self, registry: CollectorRegistry) -> None:
        if registry is self._registry:
            return
        if self._registry is not None and self._collector is not None:
            self._registry.unregister(self._collector)
        collector: Collector = (
            MultiProcessCollector(None) if self.multiprocess else AutometricsCollector(self._snapshot)
        )
        registry.register(collector)
        self._registry, self._collector = registry, collector

    def ensure_initialised(self) -> None:
        with self._lock:
            if self._settings is None:
                init()

    @property
    def registry(self) -> CollectorRegistry:
        self.ensure_initialised()
        assert self._registry is not None
        return self._registry

    def _service_name(self, settings: Settings) -> str:
        if settings.service_name is not None:
            return settings.service_name
        main = sys.modules.get("__main__")
        main_label = module_label("__main__", main) if main is not None else None
        return derived_service_name((metrics.module for metrics in self._functions.values()), main_label)

    def _snapshot(self) -> Snapshot:
        with self._lock:
            settings = self._settings if self._settings is not None else Settings()
            functions = list(self._functions.values())
            service_name = self._service_name(settings)
        return Snapshot(
            service_name=service_name,
            build_info=settings.build_info,
            record_error_type=settings.record_error_type,
            functions=[(metrics, metrics.store.totals()) for metrics in functions],  # type: ignore[attr-defined]
        )


RUNTIME = Runtime(multiprocess=multiprocess_mode_enabled())


def init(
    *,
    service_name: str | None = None,
    version: str | None = None,
    commit: str | None = None,
    branch: str | None = None,
    repository_url: str | None = None,
    repository_provider: str | None = None,
    buckets: Sequence[float] | None = None,
    registry: CollectorRegistry | None = None,
    record_error_type: bool = False,
) -> Settings:
    """Settle labels and exposition; safe to call again (for instance with a fresh registry in tests).

    Each of `service_name`, `version`, `commit`, `branch`, `repository_url`, `repository_provider` is taken from
    the argument, else from `AUTOMETRICS_<NAME>` in the environment (the service name also from
    `OTEL_SERVICE_NAME`), else derived: the service name from the top-level package of the instrumented code,
    commit, branch and repository from the git checkout around the working directory. `buckets` are the
    histogram bounds in seconds. `registry` defaults to prometheus_client's default registry (in multiprocess
    mode, a registry of its own that reads every worker's files). `record_error_type=True` adds the exception's
    class name as an `error` label on failed calls, for every function that does not say otherwise.
    Calls recorded before `init()` are kept and reported under these settings.
    """
    if not isinstance(record_error_type, bool):
        raise TypeError(f"record_error_type must be True or False, got {record_error_type!r}")
    settings = Settings(
        service_name=explicit_service_name(service_name, os.environ),
        build_info=resolve_build_info(
            version=version,
            commit=commit,
            branch=branch,
            repository_url=repository_url,
            repository_provider_name=repository_provider,
            environ=os.environ,
            read_checkout=lambda: read_git_checkout(Path.cwd()),
        ),
        buckets=validated_buckets(buckets),
        record_error_type=record_error_type,
    )
    RUNTIME.init(settings, registry)
    return settings

