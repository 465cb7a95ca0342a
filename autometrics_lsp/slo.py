"""Service-level objectives of functions, live: what each objective asks, how the calls in the window measure up,
and how fast they burn the error budget.

Two instant queries cover any number of functions (one module, or one function): call rates grouped by function,
objective and result, and duration-bucket rates grouped by function, objective and `le`. Everything else is
arithmetic on their samples, here and pure. The objective comes from the series' own `objective_*` labels (what
the running code says); the source's static objective is the fallback for series written without them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from autometrics_lsp.backend import BackendError, InstantQuery, Sample
from autometrics_lsp.figures import Backend, finite
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.queries import check_window, function_matchers, matcher, selector
from autometrics_lsp.runtime import names
from autometrics_lsp.runtime.objectives import Objective, ObjectiveLatency, ObjectivePercentile

CALLS_BY_OBJECTIVE = "slo_calls"
BUCKETS_BY_OBJECTIVE = "slo_buckets"

_CALLS_GROUPING = (names.FUNCTION, names.OBJECTIVE_NAME, names.OBJECTIVE_PERCENTILE, names.RESULT)
_BUCKETS_GROUPING = (
    names.FUNCTION,
    names.OBJECTIVE_NAME,
    names.OBJECTIVE_PERCENTILE,
    names.OBJECTIVE_LATENCY_THRESHOLD,
    names.LE,
)


def _grouped_rate(name_pattern: str, matchers: Sequence[str], window: str, by: Sequence[str]) -> str:
    return f"sum by ({', '.join(by)}) (rate({selector(name_pattern, *matchers)}[{check_window(window)}]))"


def slo_queries(matchers: Sequence[str], window: str) -> dict[str, InstantQuery]:
    """The two queries behind the objectives of every function the matchers select."""
    return {
        CALLS_BY_OBJECTIVE: InstantQuery(_grouped_rate(names.CALLS_NAME_PATTERN, matchers, window, _CALLS_GROUPING)),
        BUCKETS_BY_OBJECTIVE: InstantQuery(
            _grouped_rate(names.DURATION_BUCKET_NAME_PATTERN, matchers, window, _BUCKETS_GROUPING)
        ),
    }


def function_slo_queries(identity: FunctionIdentity, window: str) -> dict[str, InstantQuery]:
    return slo_queries(function_matchers(identity), window)


def module_slo_queries(module: str, window: str) -> dict[str, InstantQuery]:
    return slo_queries((matcher(names.MODULE, module),), window)


def burn_rate(bad_ratio: float | None, target: ObjectivePercentile) -> float | None:
    """How many times faster than sustainable the error budget (1 - target) is spent: 1 spends it exactly."""
    if bad_ratio is None:
        return None
    return bad_ratio / (1 - target.ratio)


@dataclass(frozen=True)
class SloStatus:
    """One function's objective over `window`.

    `success_rate` is the share of calls that succeeded; `within_latency` the share of calls that finished within
    the latency threshold; both None without calls in the window (or without the histogram). `live` says the
    objective was read from the series' labels rather than from the source.
    """

    objective: Objective
    live: bool
    window: str
    success_rate: float | None = None
    within_latency: float | None = None
    problem: BackendError | None = None

    @property
    def success_burn_rate(self) -> float | None:
        if self.objective.success_rate is None or self.success_rate is None:
            return None
        return burn_rate(1 - self.success_rate, self.objective.success_rate)

    @property
    def latency_burn_rate(self) -> float | None:
        if self.objective.latency is None or self.within_latency is None:
            return None
        return burn_rate(1 - self.within_latency, self.objective.latency[1])

    @property
    def success_violated(self) -> bool:
        target = self.objective.success_rate
        return target is not None and self.success_rate is not None and self.success_rate < target.ratio

    @property
    def latency_violated(self) -> bool:
        latency = self.objective.latency
        return latency is not None and self.within_latency is not None and self.within_latency < latency[1].ratio

    @property
    def violated(self) -> bool:
        return self.success_violated or self.latency_violated

    @property
    def measured(self) -> bool:
        return self.success_rate is not None or self.within_latency is not None


def le_matches(le: str, threshold: float) -> bool:
    """Whether a bucket's `le` label is this threshold: libraries write `1`, `1.0` or `1e+00` alike."""
    try:
        return math.isclose(float(le), threshold, rel_tol=1e-9)
    except ValueError:
        return False


def _positive(value: float) -> float:
    rate = finite(value)
    return rate if rate is not None and rate > 0 else 0.0


def _live_objective(name: str, success_label: str, latency_label: tuple[str, str] | None) -> Objective | None:
    """The objective the runtime wrote into the labels, or None when they do not form a valid one."""
    try:
        success_rate = ObjectivePercentile(success_label) if success_label else None
        latency = (ObjectiveLatency(latency_label[0]), ObjectivePercentile(latency_label[1])) if latency_label else None
        return Objective(name, success_rate=success_rate, latency=latency)
    except ValueError:
        return None


@dataclass
class _Tally:
    calls: float = 0.0
    errors: float = 0.0
    within: float = 0.0
    observed: float = 0.0

    def success_rate(self) -> float | None:
        return 1 - self.errors / self.calls if self.calls > 0 else None

    def within_latency(self) -> float | None:
        return self.within / self.observed if self.observed > 0 else None


@dataclass
class _FunctionSeries:
    """What one function's samples say: per objective name its labels, and overall (objective or not) counts."""

    success_labels: dict[str, str]
    latency_labels: dict[str, tuple[str, str]]
    by_objective: dict[str, _Tally]
    overall: _Tally
    buckets: dict[str, float]  # le -> rate, summed over objective labels: for a static threshold


def _series_by_function(calls: Sequence[Sample], buckets: Sequence[Sample]) -> dict[str, _FunctionSeries]:
    functions: dict[str, _FunctionSeries] = {}

    def of(labels: Mapping[str, str]) -> _FunctionSeries:
        function = labels.get(names.FUNCTION, "")
        if function not in functions:
            functions[function] = _FunctionSeries({}, {}, {}, _Tally(), {})
        return functions[function]

    for sample in calls:
        series, rate = of(sample.labels), _positive(sample.value)
        is_error = sample.labels.get(names.RESULT) == names.RESULT_ERROR
        tallies = [series.overall]
        objective = sample.labels.get(names.OBJECTIVE_NAME, "")
        if objective:
            series.success_labels.setdefault(objective, sample.labels.get(names.OBJECTIVE_PERCENTILE, ""))
            tallies.append(series.by_objective.setdefault(objective, _Tally()))
        for tally in tallies:
            tally.calls += rate
            tally.errors += rate if is_error else 0.0
    for sample in buckets:
        series, rate = of(sample.labels), _positive(sample.value)
        le = sample.labels.get(names.LE, "")
        series.buckets[le] = series.buckets.get(le, 0.0) + rate
        objective = sample.labels.get(names.OBJECTIVE_NAME, "")
        threshold = sample.labels.get(names.OBJECTIVE_LATENCY_THRESHOLD, "")
        if not (objective and threshold):
            continue
        series.latency_labels.setdefault(objective, (threshold, sample.labels.get(names.OBJECTIVE_PERCENTILE, "")))
        tally = series.by_objective.setdefault(objective, _Tally())
        if le == "+Inf":
            tally.observed += rate
        elif le_matches(le, float(threshold)):
            tally.within += rate
    return functions


def _within_static_threshold(buckets: Mapping[str, float], threshold: float) -> float | None:
    total = buckets.get("+Inf", 0.0)
    within = sum(rate for le, rate in buckets.items() if le_matches(le, threshold))
    return within / total if total > 0 else None


def slo_statuses(
    calls: Sequence[Sample],
    buckets: Sequence[Sample],
    static_objectives: Mapping[str, Objective],
    window: str,
) -> dict[str, SloStatus]:
    """Each function's objective status from the two answers of `slo_queries`, keyed by `__qualname__`.

    Functions whose series carry objective labels get the live objective; a function with a static objective
    (`static_objectives`) but no such labels is measured against that objective over all its calls.
    """
    statuses: dict[str, SloStatus] = {}
    series_by_function = _series_by_function(calls, buckets)
    for function, series in series_by_function.items():
        for name, tally in sorted(series.by_objective.items()):
            objective = _live_objective(name, series.success_labels.get(name, ""), series.latency_labels.get(name))
            if objective is not None and function not in statuses:
                statuses[function] = SloStatus(
                    objective, True, window, tally.success_rate(), tally.within_latency()
                )
    for function, objective in static_objectives.items():
        if function in statuses:
            continue
        series = series_by_function.get(function)
        if series is None:
            statuses[function] = SloStatus(objective, False, window)
            continue
        latency = objective.latency
        statuses[function] = SloStatus(
            objective,
            False,
            window,
            series.overall.success_rate() if objective.success_rate is not None else None,
            _within_static_threshold(series.buckets, latency[0].seconds) if latency is not None else None,
        )
    return statuses


async def _run_slo_queries(
    backend: Backend, queries: Mapping[str, InstantQuery]
) -> tuple[list[Sample], list[Sample], BackendError | None]:
    try:
        results = await backend.run(queries)
    except BackendError as error:
        return [], [], error
    answers: list[list[Sample]] = []
    problem: BackendError | None = None
    for key in (CALLS_BY_OBJECTIVE, BUCKETS_BY_OBJECTIVE):
        result = results.get(key)
        if isinstance(result, BackendError):
            problem = problem or result
        answers.append([item for item in result if isinstance(item, Sample)] if isinstance(result, list) else [])
    return answers[0], answers[1], problem


async def collect_slo_statuses(
    backend: Backend, module: str, static_objectives: Mapping[str, Objective], window: str
) -> tuple[dict[str, SloStatus], BackendError | None]:
    """The objective of every function of `module` that has one, live or static, in one round of two queries."""
    calls, buckets, problem = await _run_slo_queries(backend, module_slo_queries(module, window))
    return slo_statuses(calls, buckets, static_objectives, window), problem


async def collect_function_slo(backend: Backend, identity: FunctionIdentity, window: str) -> SloStatus | None:
    """The objective status of one function, or None when neither its series nor its source name one."""
    calls, buckets, problem = await _run_slo_queries(backend, function_slo_queries(identity, window))
    static = {identity.function: identity.objective} if identity.objective is not None else {}
    status = slo_statuses(calls, buckets, static, window).get(identity.function)
    if status is None:
        return None
    return SloStatus(
        status.objective, status.live, window, status.success_rate, status.within_latency, problem
    )
