"""Live figures of a function: run its queries through the backend and turn the answers into numbers.

"No value" is always `None`: an empty answer (no series), NaN (0/0 when there were no calls in the window,
or a quantile without observations) and ±Inf (a quantile past the last bucket) alike. A failed query leaves
its figures at `None` and the other figures intact.

A hover executes five queries (`hover_fetch_queries`) for its nine figures: rate, error ratio, errors by type
and callers are sums over the groups of one call-rate answer, and both latency quantiles come from one answer
of bucket rates through `histogram_quantile`, Prometheus' own algorithm, here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from autometrics_lsp.backend import BackendError, InstantQuery, Query, QueryResult, Sample, Series
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.queries import (
    Figure,
    HoverFetch,
    callees_query,
    callers_query,
    function_lens_exprs,
    hover_fetch_queries,
    hover_queries,
    module_call_edges_query,
    module_lens_queries,
)
from autometrics_lsp.runtime import names

K = TypeVar("K")

TOP_EDGES = 5
TOP_ERROR_TYPES = 5

FIGURE_SOURCES: Mapping[Figure, HoverFetch] = {
    Figure.RATE: HoverFetch.CALLS,
    Figure.ERROR_RATIO: HoverFetch.CALLS,
    Figure.P95: HoverFetch.BUCKETS,
    Figure.P99: HoverFetch.BUCKETS,
    Figure.CONCURRENCY: HoverFetch.CONCURRENCY,
    Figure.CALLERS: HoverFetch.CALLS,
    Figure.CALLEES: HoverFetch.CALLEES,
    Figure.ERRORS_BY_TYPE: HoverFetch.CALLS,
    Figure.RATE_HISTORY: HoverFetch.RATE_HISTORY,
}
"""The executed query each figure of a hover is read from."""

Bucket = tuple[float, float]
"""One bucket of a histogram: (upper bound, cumulative count or rate)."""

EdgeNamer = Callable[[Mapping[str, str]], "tuple[str, str] | None"]


class Backend(Protocol):
    async def run(self, queries: Mapping[str, Query]) -> dict[str, QueryResult]: ...


@dataclass(frozen=True)
class Edge:
    """One caller or callee of a function, with the rate and error ratio of the calls along that edge.

    `module` is empty for callers named by the older `caller` label, which carries no module.
    """

    function: str
    module: str
    rate: float
    error_ratio: float | None

    @property
    def display_name(self) -> str:
        return f"{self.module}.{self.function}" if self.module else self.function


@dataclass(frozen=True)
class FunctionFigures:
    """What one function did over `window`: calls/s, error ratio, latency in seconds, calls in flight.

    `rate_history` is the call rate over the last hour, oldest first; `errors_by_type`, `callers` and
    `callees` are busiest first and only hold entries with calls. `queries` maps each `Figure` to its
    PromQL, for chart links; `problem` is the backend error behind the most important missing figure.
    """

    rate: float | None = None
    error_ratio: float | None = None
    p95: float | None = None
    p99: float | None = None
    concurrency: float | None = None
    rate_history: tuple[float | None, ...] = ()
    errors_by_type: tuple[tuple[str, float], ...] = ()
    callers: tuple[Edge, ...] = ()
    callees: tuple[Edge, ...] = ()
    queries: Mapping[str, str] = field(default_factory=dict)
    problem: BackendError | None = None
    window: str = "5m"

    @property
    def has_data(self) -> bool:
        """Whether the function was called within the window."""
        return self.rate is not None and self.rate > 0


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _problem(results: Mapping[str, QueryResult], order: Iterable[str]) -> BackendError | None:
    """The error of the most important failed query: `order` lists figures by importance."""
    for key in order:
        result = results.get(key)
        if isinstance(result, BackendError):
            return result
    return None


def _samples(result: QueryResult | None) -> list[Sample]:
    return [item for item in result if isinstance(item, Sample)] if isinstance(result, list) else []


def _single_value(result: QueryResult | None) -> float | None:
    """The value of a query that aggregates to one sample (`sum(...)`, `histogram_quantile` of one group)."""
    samples = _samples(result)
    return finite(samples[0].value) if samples else None


def _history(result: QueryResult | None) -> tuple[float | None, ...]:
    if not isinstance(result, list) or not result or not isinstance(result[0], Series):
        return ()
    return tuple(finite(value) for _, value in result[0].points)


def rates_by(samples: Sequence[Sample], key: Callable[[Mapping[str, str]], K | None]) -> dict[K, tuple[float, float]]:
    """(call rate, error rate) per key of per-`result` call-rate samples; samples without a key or a finite
    value are left out."""
    rates: dict[K, tuple[float, float]] = {}
    for sample in samples:
        group = key(sample.labels)
        rate = finite(sample.value)
        if group is None or rate is None:
            continue
        calls, errors = rates.get(group, (0.0, 0.0))
        is_error = sample.labels.get(names.RESULT) == names.RESULT_ERROR
        rates[group] = (calls + rate, errors + rate if is_error else errors)
    return rates


def _edges(samples: Sequence[Sample], identify: EdgeNamer, limit: int | None = TOP_EDGES) -> tuple[Edge, ...]:
    """Edges from per-`result` call rates: rate = all results, error ratio = `result="error"` / all.

    The busiest `limit` edges, or all of them when `limit` is None.
    """
    edges = [
        Edge(function, module, rate, error_rate / rate)
        for (function, module), (rate, error_rate) in rates_by(samples, identify).items()
        if rate > 0
    ]
    edges.sort(key=lambda edge: (-edge.rate, edge.display_name))
    return tuple(edges[:limit])


def caller_of(labels: Mapping[str, str]) -> tuple[str, str] | None:
    """(function, module) of the caller a series names, or None for calls from uninstrumented code."""
    if labels.get(names.CALLER_FUNCTION):
        return labels[names.CALLER_FUNCTION], labels.get(names.CALLER_MODULE, "")
    if labels.get(names.OLD_CALLER):
        return labels[names.OLD_CALLER], ""
    return None


def callee_of(labels: Mapping[str, str]) -> tuple[str, str] | None:
    if not labels.get(names.FUNCTION):
        return None
    return labels[names.FUNCTION], labels.get(names.MODULE, "")


def _errors_by_type(samples: Sequence[Sample]) -> tuple[tuple[str, float], ...]:
    rates = [
        (sample.labels[names.ERROR], rate)
        for sample in samples
        if sample.labels.get(names.ERROR) and (rate := finite(sample.value)) is not None and rate > 0
    ]
    rates.sort(key=lambda pair: (-pair[1], pair[0]))
    return tuple(rates[:TOP_ERROR_TYPES])


# What Go's strconv.ParseFloat reads, which is how Prometheus reads `le`: no blanks; an underscore only
# between two digits (Python's float() agrees on that for decimals).
_DIGITS = r"\d+(?:_\d+)*"
_HEX_DIGITS = r"[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*"
_GO_DECIMAL = re.compile(rf"[+-]?(?:{_DIGITS}\.?(?:{_DIGITS})?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?")
_GO_HEX = re.compile(rf"[+-]?0[xX]_?(?:{_HEX_DIGITS}\.?(?:{_HEX_DIGITS})?|\.{_HEX_DIGITS})[pP][+-]?{_DIGITS}")
_GO_INFINITY = re.compile(r"[+-]?inf(?:inity)?", re.IGNORECASE)


def parse_le(text: str) -> float | None:
    """A bucket's upper bound from its `le` label, or None where Prometheus skips the sample.

    Prometheus skips what Go cannot parse and numbers out of float range. It also reads `NaN`, but sorts such
    buckets arbitrarily; no client writes one, and here it is skipped.
    """
    if _GO_INFINITY.fullmatch(text):
        return float(text)
    if _GO_DECIMAL.fullmatch(text):
        bound = float(text)
    elif _GO_HEX.fullmatch(text):
        bound = float.fromhex(text.replace("_", ""))
    else:
        return None
    return bound if math.isfinite(bound) else None


def _first_index(length: int, holds: Callable[[int], bool]) -> int:
    """The smallest index in [0, length) where `holds` is true, else `length`: Go's sort.Search, which
    Prometheus uses, so that even non-monotonic predicates give its answer."""
    low, high = 0, length
    while low < high:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _coalesced(buckets: Sequence[Bucket]) -> list[Bucket]:
    """Sorted buckets with equal upper bounds merged (`le="1"` and `le="1.0"` name one bucket)."""
    merged: list[Bucket] = []
    for bound, count in buckets:
        if merged and merged[-1][0] == bound:
            merged[-1] = (bound, merged[-1][1] + count)
        else:
            merged.append((bound, count))
    return merged


def _monotonic(buckets: Sequence[Bucket]) -> list[Bucket]:
    """Counts raised to the running maximum: a lower count after a higher one is inconsistent data."""
    envelope: list[Bucket] = []
    highest = -math.inf
    for bound, count in buckets:
        if count > highest:
            highest = count
        elif count < highest:
            count = highest
        envelope.append((bound, count))
    return envelope


def histogram_quantile(quantile: float, buckets: Iterable[Bucket]) -> float:
    """The `quantile` (0..1) of a classic histogram, exactly as PromQL's `histogram_quantile` (Prometheus 2.42).

    Linear interpolation inside the bucket holding the rank, from 0 for the lowest bucket when its bound is
    positive (else that bound itself); a rank in the +Inf bucket gives the highest finite bound. NaN without
    observations, without a +Inf bucket, or with fewer than two buckets; -Inf / +Inf for a quantile below 0 /
    above 1. Buckets may come in any order; counts that decrease are raised to the running maximum.
    """
    if math.isnan(quantile):
        return math.nan
    if quantile < 0:
        return -math.inf
    if quantile > 1:
        return math.inf
    ordered = sorted(buckets, key=lambda bucket: bucket[0])
    if not ordered or ordered[-1][0] != math.inf:
        return math.nan
    ordered = _monotonic(_coalesced(ordered))
    if len(ordered) < 2:
        return math.nan
    observations = ordered[-1][1]
    if observations == 0:
        return math.nan
    rank = quantile * observations
    index = _first_index(len(ordered) - 1, lambda i: ordered[i][1] >= rank)
    if index == len(ordered) - 1:
        return ordered[-2][0]
    bound, count = ordered[index]
    if index == 0 and bound <= 0:
        return bound
    start = 0.0
    if index > 0:
        start, below = ordered[index - 1]
        count -= below
        rank -= below
    return start + (bound - start) * _divide(rank, count)


def _divide(numerator: float, denominator: float) -> float:
    """IEEE 754 division, as in Go: by zero it gives NaN or an infinity instead of raising."""
    if denominator != 0:
        return numerator / denominator
    if numerator == 0 or math.isnan(numerator):
        return math.nan
    return math.copysign(math.inf, numerator) * math.copysign(1.0, denominator)


def buckets_of(samples: Sequence[Sample]) -> list[Bucket]:
    """The buckets in per-`le` samples; samples whose `le` Prometheus would not read are left out."""
    buckets = []
    for sample in samples:
        bound = parse_le(sample.labels.get(names.LE, ""))
        if bound is not None:
            buckets.append((bound, sample.value))
    return buckets


def _quantile(quantile: float, buckets: Sequence[Bucket]) -> float | None:
    # An answer without buckets is no answer: PromQL's histogram_quantile returns no sample then, not NaN.
    return finite(histogram_quantile(quantile, buckets)) if buckets else None


@dataclass(frozen=True)
class CallFigures:
    """The figures of one function read from its calls per result, error type and caller (`own_calls_query`)."""

    rate: float | None
    error_ratio: float | None
    errors_by_type: tuple[tuple[str, float], ...]
    callers: tuple[Edge, ...]


def _sum(values: Sequence[float]) -> float:
    """The correctly rounded sum; with infinities or NaN, what PromQL's `sum` gives (fsum raises for those)."""
    try:
        return math.fsum(values)
    except (OverflowError, ValueError):
        return sum(values)


def call_figures(samples: Sequence[Sample]) -> CallFigures:
    """Rate, error ratio, errors by type and callers, each the sum over the groups its own query would merge.

    As with those queries: no samples is no value; a zero rate gives no error ratio (0/0); calls without any
    error series have an error ratio of 0.
    """
    if not samples:
        return CallFigures(None, None, (), ())
    total = _sum([sample.value for sample in samples])
    failed = [sample.value for sample in samples if sample.labels.get(names.RESULT) == names.RESULT_ERROR]
    # As `error_ratio`'s `errors or calls * 0`: without error series the errors are 0, or NaN for infinite calls.
    errors = _sum(failed) if failed else total * 0
    failed_by_type: dict[str, float] = {}
    for sample in samples:
        error_type = sample.labels.get(names.ERROR, "")
        if error_type and sample.labels.get(names.RESULT) == names.RESULT_ERROR:
            failed_by_type[error_type] = failed_by_type.get(error_type, 0.0) + sample.value
    return CallFigures(
        rate=finite(total),
        error_ratio=finite(errors / total) if total != 0 else None,  # 0/0 is NaN: no value
        errors_by_type=_errors_by_type([Sample({names.ERROR: name}, rate) for name, rate in failed_by_type.items()]),
        callers=_edges(samples, caller_of),
    )


async def _run(backend: Backend, queries: Mapping[str, Query]) -> dict[str, QueryResult]:
    try:
        return await backend.run(queries)
    except BackendError as error:
        # The contract reports failures per query; a backend that cannot even start fails them all.
        return {key: error for key in queries}


async def collect_figures(backend: Backend, identity: FunctionIdentity, window: str) -> FunctionFigures:
    """The live figures of one function: the five `hover_fetch_queries` in one parallel round through `backend`.

    `queries` holds each figure's natural PromQL (`hover_queries`) for its chart link, not what was executed.
    """
    results = await _run(backend, hover_fetch_queries(identity, window))
    calls = call_figures(_samples(results.get(HoverFetch.CALLS)))
    buckets = buckets_of(_samples(results.get(HoverFetch.BUCKETS)))
    return FunctionFigures(
        rate=calls.rate,
        error_ratio=calls.error_ratio,
        p95=_quantile(0.95, buckets),
        p99=_quantile(0.99, buckets),
        concurrency=_single_value(results.get(HoverFetch.CONCURRENCY)),
        rate_history=_history(results.get(HoverFetch.RATE_HISTORY)),
        errors_by_type=calls.errors_by_type,
        callers=calls.callers,
        callees=_edges(_samples(results.get(HoverFetch.CALLEES)), callee_of),
        queries={figure: query.expr for figure, query in hover_queries(identity, window).items()},
        problem=_problem({figure: results.get(source) for figure, source in FIGURE_SOURCES.items()}, Figure),
        window=window,
    )


@dataclass(frozen=True)
class ModuleFigures:
    """Lens figures (rate, error ratio, p99) of every function of one module that has series."""

    module: str
    window: str
    by_function: Mapping[str, FunctionFigures]
    problem: BackendError | None = None

    def of(self, function: str) -> FunctionFigures:
        """The figures of `function` (its `__qualname__`); empty, with the module's problem, if it has none."""
        known = self.by_function.get(function)
        if known is not None:
            return known
        exprs = function_lens_exprs(FunctionIdentity(self.module, function), self.window)
        return FunctionFigures(queries=exprs, problem=self.problem, window=self.window)


def _by_function(result: QueryResult | None) -> dict[str, float | None]:
    return {
        sample.labels[names.FUNCTION]: finite(sample.value)
        for sample in _samples(result)
        if names.FUNCTION in sample.labels
    }


async def collect_module_figures(backend: Backend, module: str, window: str) -> ModuleFigures:
    """The lens figures of a whole module in one round of `module_lens_queries` (three queries)."""
    results = await _run(backend, module_lens_queries(module, window))
    rates = _by_function(results.get(Figure.RATE))
    error_ratios = _by_function(results.get(Figure.ERROR_RATIO))
    p99s = _by_function(results.get(Figure.P99))
    problem = _problem(results, Figure)
    by_function = {}
    for function in rates.keys() | error_ratios.keys() | p99s.keys():
        exprs = function_lens_exprs(FunctionIdentity(module, function), window)
        by_function[function] = FunctionFigures(
            rate=rates.get(function),
            error_ratio=error_ratios.get(function),
            p99=p99s.get(function),
            queries=exprs,
            problem=problem,
            window=window,
        )
    return ModuleFigures(module, window, by_function, problem)


@dataclass(frozen=True)
class LiveEdges:
    """Every caller or every callee of one function with calls in the window, busiest first.

    `edges` is empty when the backend failed; `problem` then says why, so "no edge" and "unknown" differ.
    """

    edges: tuple[Edge, ...]
    query: str
    problem: BackendError | None = None


async def _single_query(backend: Backend, query: InstantQuery) -> QueryResult | None:
    return (await _run(backend, {_ONLY_QUERY: query})).get(_ONLY_QUERY)


_ONLY_QUERY = "only"


async def _collect_edges(backend: Backend, query: InstantQuery, identify: EdgeNamer) -> LiveEdges:
    result = await _single_query(backend, query)
    return LiveEdges(
        edges=_edges(_samples(result), identify, limit=None),
        query=query.expr,
        problem=result if isinstance(result, BackendError) else None,
    )


async def collect_callers(backend: Backend, identity: FunctionIdentity, window: str) -> LiveEdges:
    """All live callers of a function, in one query."""
    return await _collect_edges(backend, callers_query(identity, window), caller_of)


async def collect_callees(backend: Backend, identity: FunctionIdentity, window: str) -> LiveEdges:
    """All live callees of a function, in one query."""
    return await _collect_edges(backend, callees_query(identity, window), callee_of)


@dataclass(frozen=True)
class ModuleCallEdges:
    """The live calls made by the functions of one module: per caller `__qualname__`, its callees."""

    module: str
    by_caller: Mapping[str, tuple[Edge, ...]]
    problem: BackendError | None = None

    def edge(self, caller_function: str, callee: FunctionIdentity) -> Edge | None:
        """The calls from `caller_function` (of this module) to `callee`, or None when there were none."""
        for edge in self.by_caller.get(caller_function, ()):
            if (edge.function, edge.module) == (callee.function, callee.module):
                return edge
        return None


async def collect_module_call_edges(backend: Backend, module: str, window: str) -> ModuleCallEdges:
    """Every live edge out of the functions of `module`, in one query (`module_call_edges_query`)."""
    result = await _single_query(backend, module_call_edges_query(module, window))
    samples_by_caller: dict[str, list[Sample]] = {}
    for sample in _samples(result):
        caller_function = sample.labels.get(names.CALLER_FUNCTION)
        if caller_function:
            samples_by_caller.setdefault(caller_function, []).append(sample)
    return ModuleCallEdges(
        module=module,
        by_caller={
            caller: _edges(samples, callee_of, limit=None) for caller, samples in samples_by_caller.items()
        },
        problem=result if isinstance(result, BackendError) else None,
    )
