"""The PromQL behind every figure the server shows: pure string building, no I/O.

Every label value that reaches a query goes through `escape_label_value`, so a crafted function or module
name can only ever match itself. Metric names come from `runtime/names.py` as tolerant `__name__=~` patterns,
so data written by older autometrics libraries is found too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum

from autometrics_lsp.backend import InstantQuery, RangeQuery
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.runtime import names
from autometrics_lsp.settings import parse_promql_duration


class Figure(str, Enum):
    """One figure of a hover; the keys of `hover_queries` and of `FunctionFigures.queries`."""

    RATE = "rate"
    ERROR_RATIO = "error_ratio"
    P95 = "p95"
    P99 = "p99"
    CONCURRENCY = "concurrency"
    CALLERS = "callers"
    CALLEES = "callees"
    ERRORS_BY_TYPE = "errors_by_type"
    RATE_HISTORY = "rate_history"


class HoverFetch(str, Enum):
    """One query a hover executes: the keys of `hover_fetch_queries`; each feeds one figure or several."""

    CALLS = "calls"
    BUCKETS = "buckets"
    CONCURRENCY = "concurrency"
    CALLEES = "callees"
    RATE_HISTORY = "rate_history"


# Only `function` and `module` identify a function; grouping by `result` lets one query give both the
# call rate and the error ratio of every edge.
CALLER_GROUPING = (names.CALLER_FUNCTION, names.CALLER_MODULE, names.OLD_CALLER, names.RESULT)
CALLEE_GROUPING = (names.FUNCTION, names.MODULE, names.RESULT)
MODULE_CALL_EDGE_GROUPING = (names.CALLER_FUNCTION, names.CALLER_MODULE, names.FUNCTION, names.MODULE, names.RESULT)
# Every label a hover's call-derived figures (rate, error ratio, errors by type, callers) tell apart: summing
# the groups of this one answer gives each of those figures exactly.
OWN_CALLS_GROUPING = (names.RESULT, names.ERROR, names.CALLER_FUNCTION, names.CALLER_MODULE, names.OLD_CALLER)

HISTORY_DURATION_SECONDS = 3600.0
# Two minutes keeps the sparkline at 31 characters, narrow enough for a hover; with a 5m rate window
# a finer step would show no more detail.
HISTORY_STEP_SECONDS = 120.0

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_MATCH_OPERATORS = ("=", "!=", "=~", "!~")
# Go's string literal escapes, which PromQL uses; everything else below U+0020 (and DEL) goes out as \xNN.
_NAMED_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\v": "\\v",
}


def escape_label_value(value: str) -> str:
    """The body of a PromQL double-quoted string literal that parses back to exactly `value`.

    Lone surrogates cannot be part of a label value (those are UTF-8); they become U+FFFD, which can
    only narrow a match, never widen it. U+FFFD itself is written as an escape: Prometheus's lexer refuses
    the raw character as an invalid rune.
    """
    out: list[str] = []
    for char in value:
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif char < " " or char == "\x7f":
            out.append(f"\\x{ord(char):02x}")
        elif "\ud800" <= char <= "\udfff" or char == "\ufffd":
            out.append("\\ufffd")
        else:
            out.append(char)
    return "".join(out)


def matcher(label: str, value: str, operator: str = "=") -> str:
    """One label matcher, `label="value"`, with the value escaped."""
    if not _LABEL_NAME.match(label):
        raise ValueError(f"not a Prometheus label name: {label!r}")
    if operator not in _MATCH_OPERATORS:
        raise ValueError(f"not a PromQL match operator: {operator!r}")
    return f'{label}{operator}"{escape_label_value(value)}"'


def selector(name_pattern: str, *matchers: str) -> str:
    """A series selector for every metric whose name matches `name_pattern` (a regular expression)."""
    return "{" + ", ".join((matcher("__name__", name_pattern, "=~"), *matchers)) + "}"


def function_matchers(identity: FunctionIdentity) -> tuple[str, str]:
    return (matcher(names.FUNCTION, identity.function), matcher(names.MODULE, identity.module))


def check_window(window: str) -> str:
    """`window` itself, if it is a PromQL duration such as `5m` or `1h30m`; it goes into queries verbatim."""
    parse_promql_duration(window)
    return window


def _sum(expr: str, by: Sequence[str]) -> str:
    for label in by:
        if not _LABEL_NAME.match(label):
            raise ValueError(f"not a Prometheus label name: {label!r}")
    if not by:
        return f"sum({expr})"
    return f"sum by ({', '.join(by)}) ({expr})"


def _calls(*matchers: str) -> str:
    return selector(names.CALLS_NAME_PATTERN, *matchers)


def call_rate(matchers: Sequence[str], window: str, by: Sequence[str] = ()) -> str:
    """Calls per second over `window`."""
    return _sum(f"rate({_calls(*matchers)}[{check_window(window)}])", by)


def error_ratio(matchers: Sequence[str], window: str, by: Sequence[str] = ()) -> str:
    """Errors / all calls over `window`, per group of `by`.

    A group without any error series gets 0 (older libraries create that series on the first error only);
    a group with no calls in the window gets NaN (0/0), which readers treat as "no value".
    """
    errors = call_rate((*matchers, matcher(names.RESULT, names.RESULT_ERROR)), window, by)
    calls = call_rate(matchers, window, by)
    return f"({errors} or {calls} * 0) / {calls}"


def latency_quantile(
    quantile: float, matchers: Sequence[str], window: str, by: Sequence[str] = ()
) -> str:
    """The `quantile` of call duration in seconds, from the duration histogram's buckets."""
    buckets = selector(names.DURATION_BUCKET_NAME_PATTERN, *matchers)
    per_bucket = _sum(f"rate({buckets}[{check_window(window)}])", (*by, names.LE))
    return f"histogram_quantile({quantile}, {per_bucket})"


def concurrency(matchers: Sequence[str]) -> str:
    return _sum(selector(names.CONCURRENT_NAME_PATTERN, *matchers), ())


def errors_by_type(matchers: Sequence[str], window: str) -> str:
    """Error rate per exception class name, where the runtime records the opt-in `error` label."""
    failed = (*matchers, matcher(names.RESULT, names.RESULT_ERROR), matcher(names.ERROR, "", "!="))
    return call_rate(failed, window, (names.ERROR,))


def rate_history(matchers: Sequence[str], window: str) -> str:
    # `or vector(0)` fills the steps where no series exists, so the sparkline has no holes.
    return f"{call_rate(matchers, window)} or vector(0)"


def hover_queries(identity: FunctionIdentity, window: str) -> dict[str, InstantQuery | RangeQuery]:
    """The natural PromQL of each figure of one hover, keyed by figure: what its chart link shows.

    A hover executes fewer, broader queries (`hover_fetch_queries`) and derives these figures from them.
    """
    own = function_matchers(identity)
    return {
        Figure.RATE: InstantQuery(call_rate(own, window)),
        Figure.ERROR_RATIO: InstantQuery(error_ratio(own, window)),
        Figure.P95: InstantQuery(latency_quantile(0.95, own, window)),
        Figure.P99: InstantQuery(latency_quantile(0.99, own, window)),
        Figure.CONCURRENCY: InstantQuery(concurrency(own)),
        Figure.CALLERS: callers_query(identity, window),
        Figure.CALLEES: callees_query(identity, window),
        Figure.ERRORS_BY_TYPE: InstantQuery(errors_by_type(own, window)),
        Figure.RATE_HISTORY: RangeQuery(
            rate_history(own, window), duration=HISTORY_DURATION_SECONDS, step=HISTORY_STEP_SECONDS
        ),
    }


def own_calls_query(identity: FunctionIdentity, window: str) -> InstantQuery:
    """Call rate of `identity` per result, error type and caller: its rate, error ratio, errors by type and
    callers all in one answer."""
    return InstantQuery(call_rate(function_matchers(identity), window, OWN_CALLS_GROUPING))


def own_buckets_query(identity: FunctionIdentity, window: str) -> InstantQuery:
    """Rate per duration bucket of `identity`: every latency quantile is computed from this one answer."""
    buckets = selector(names.DURATION_BUCKET_NAME_PATTERN, *function_matchers(identity))
    return InstantQuery(_sum(f"rate({buckets}[{check_window(window)}])", (names.LE,)))


def hover_fetch_queries(identity: FunctionIdentity, window: str) -> dict[str, InstantQuery | RangeQuery]:
    """What one hover asks the backend, keyed by `HoverFetch`: five queries for the nine figures.

    Concurrency is always asked for: the decorator's `track_concurrency` may not be visible in the source
    (a variable, a class decorator), and a function that does not track it simply gets an empty answer.
    """
    per_figure = hover_queries(identity, window)
    return {
        HoverFetch.CALLS: own_calls_query(identity, window),
        HoverFetch.BUCKETS: own_buckets_query(identity, window),
        # No other figure can be read from these three: each runs its own natural query.
        HoverFetch.CONCURRENCY: per_figure[Figure.CONCURRENCY],
        HoverFetch.CALLEES: per_figure[Figure.CALLEES],
        HoverFetch.RATE_HISTORY: per_figure[Figure.RATE_HISTORY],
    }


def caller_matchers(identity: FunctionIdentity) -> tuple[str, str]:
    """Matchers for the calls `identity` makes: the series where it is the caller."""
    return (matcher(names.CALLER_FUNCTION, identity.function), matcher(names.CALLER_MODULE, identity.module))


def callers_query(identity: FunctionIdentity, window: str) -> InstantQuery:
    """Call rate into `identity` per caller and result: every incoming edge with its errors, in one query."""
    return InstantQuery(call_rate(function_matchers(identity), window, CALLER_GROUPING))


def callees_query(identity: FunctionIdentity, window: str) -> InstantQuery:
    """Call rate out of `identity` per callee and result: every outgoing edge with its errors, in one query."""
    return InstantQuery(call_rate(caller_matchers(identity), window, CALLEE_GROUPING))


def module_call_edges_query(module: str, window: str) -> InstantQuery:
    """Call rate per (caller, callee, result) of every call made by the functions of `module`, in one query.

    Only the `caller_module` label can tie a call to the calling module, so calls recorded by older libraries
    (which write `caller` alone) are not part of the answer.
    """
    return InstantQuery(call_rate((matcher(names.CALLER_MODULE, module),), window, MODULE_CALL_EDGE_GROUPING))


def edge_exprs(caller: FunctionIdentity, callee: FunctionIdentity, window: str) -> dict[str, str]:
    """The PromQL of one edge's rate and error ratio (calls from `caller` to `callee`), for chart links."""
    along_edge = (*function_matchers(callee), *caller_matchers(caller))
    return {
        Figure.RATE: call_rate(along_edge, window),
        Figure.ERROR_RATIO: error_ratio(along_edge, window),
    }


def module_lens_queries(module: str, window: str) -> dict[str, InstantQuery]:
    """Rate, error ratio and p99 `by (function)` for every function of `module`: three queries per file."""
    in_module = (matcher(names.MODULE, module),)
    per_function = (names.FUNCTION,)
    return {
        Figure.RATE: InstantQuery(call_rate(in_module, window, per_function)),
        Figure.ERROR_RATIO: InstantQuery(error_ratio(in_module, window, per_function)),
        Figure.P99: InstantQuery(latency_quantile(0.99, in_module, window, per_function)),
    }


def function_lens_exprs(identity: FunctionIdentity, window: str) -> dict[str, str]:
    """The single-function PromQL of each lens figure, for the chart a lens opens."""
    own = function_matchers(identity)
    return {
        Figure.RATE: call_rate(own, window),
        Figure.ERROR_RATIO: error_ratio(own, window),
        Figure.P99: latency_quantile(0.99, own, window),
    }
