"""The shop's traffic plan, as data: what the traffic loop calls, and every instrumented call that causes.

The loop (`traffic.py`) runs `ENTRY_POINT_CYCLE`; `CALL_EDGES` and the tables below describe what the shop's
code does per call. `traffic_plan(rate)` turns both into the figures a backend must show, so tests compute what
they expect instead of spelling the numbers twice; the stack's end-to-end test checks this description against
what a real Prometheus scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from autometrics_lsp.demo.shop import api, inventory, notifications, orders, payments
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.runtime.objectives import Objective

Function = Callable[..., object]


@dataclass(frozen=True)
class EntryPoint:
    function: Function
    arguments: Callable[[int], tuple[object, ...]]
    """The arguments of the entry point's n-th call."""


def _checkout_arguments(n: int) -> tuple[str, int]:
    product = inventory.CATALOG[n % len(inventory.CATALOG)]
    return product.sku, 1 + n % 3


def _browse_arguments(n: int) -> tuple[int]:
    return (n,)


# One entry point per tick, in this order, round and round.
ENTRY_POINT_CYCLE: tuple[EntryPoint, ...] = (
    EntryPoint(api.checkout, _checkout_arguments),
    EntryPoint(api.browse_catalog, _browse_arguments),
)


@dataclass(frozen=True)
class CallEdge:
    caller: Function
    callee: Function
    calls_per_caller_call: float
    """Exact on average over a cycle of `payments.DECLINE_EVERY` charges."""


CALL_EDGES: tuple[CallEdge, ...] = (
    CallEdge(api.checkout, inventory.reserve, 1),
    CallEdge(api.checkout, payments.charge, 1),
    CallEdge(api.checkout, inventory.release, payments.DECLINE_SHARE),
    CallEdge(api.checkout, orders.Ledger.record, 1 - payments.DECLINE_SHARE),
    CallEdge(orders.Ledger.record, inventory.commit, 1),
    CallEdge(api.checkout, notifications.email_receipt, 1 - payments.DECLINE_SHARE),
    CallEdge(api.browse_catalog, inventory.stock_level, api.CATALOG_PAGE_SIZE),
)

# Share of calls that raise. `checkout` catches the declines, so only `charge` fails.
ERROR_SHARES: Mapping[Function, float] = {payments.charge: payments.DECLINE_SHARE}
ERROR_TYPES: Mapping[Function, str] = {payments.charge: payments.PaymentDeclined.__name__}

# (shortest, longest) time a call spends waiting; what a histogram sees adds a little scheduling time.
_FASTEST_GATEWAY = min(payments.GATEWAY_ROUND_TRIPS_SECONDS)
_SLOWEST_GATEWAY = max(payments.GATEWAY_ROUND_TRIPS_SECONDS)
LATENCY_RANGES_SECONDS: Mapping[Function, tuple[float, float]] = {
    payments.charge: (_FASTEST_GATEWAY, _SLOWEST_GATEWAY),
    # It waits for the charge, then for the e-mail when paid; all else it does takes microseconds.
    api.checkout: (_FASTEST_GATEWAY, _SLOWEST_GATEWAY + notifications.SMTP_ROUND_TRIP_SECONDS),
    notifications.email_receipt: (notifications.SMTP_ROUND_TRIP_SECONDS, notifications.SMTP_ROUND_TRIP_SECONDS),
}

OBJECTIVES: Mapping[Function, Objective] = {
    api.checkout: api.CHECKOUT_OBJECTIVE,
    payments.charge: payments.PAYMENTS_OBJECTIVE,
}
CONCURRENCY_TRACKED: frozenset[Function] = frozenset({payments.charge})


def identity_of(function: Function) -> FunctionIdentity:
    """The labels the runtime writes for one of the shop's functions, with what its decorator says."""
    return FunctionIdentity(
        module=function.__module__,
        function=function.__qualname__,
        objective=OBJECTIVES.get(function),
        track_concurrency=function in CONCURRENCY_TRACKED,
    )


@dataclass(frozen=True)
class Edge:
    """Calls from one instrumented function to another, as the `caller_*` labels record them."""

    caller: FunctionIdentity
    callee: FunctionIdentity
    calls_per_second: float
    error_ratio: float


@dataclass(frozen=True)
class FunctionTraffic:
    identity: FunctionIdentity
    calls_per_second: float
    error_ratio: float
    error_type: str | None
    """The exception's class name on failed calls."""
    latency_range_seconds: tuple[float, float] | None

    @property
    def errors_per_second(self) -> float:
        return self.calls_per_second * self.error_ratio


@dataclass(frozen=True)
class TrafficPlan:
    rate: float
    """Entry-point calls per second."""
    functions: tuple[FunctionTraffic, ...]
    edges: tuple[Edge, ...]
    entry_points: tuple[FunctionIdentity, ...]
    """Called by the (uninstrumented) traffic loop: their calls carry empty caller labels."""

    def of(self, function: Function) -> FunctionTraffic:
        return self.named(function.__module__, function.__qualname__)

    def named(self, module: str, function: str) -> FunctionTraffic:
        for traffic in self.functions:
            if (traffic.identity.module, traffic.identity.function) == (module, function):
                return traffic
        raise KeyError(f"{module}.{function} is not in the shop's traffic plan")

    def callers_of(self, identity: FunctionIdentity) -> tuple[Edge, ...]:
        return tuple(edge for edge in self.edges if edge.callee == identity)

    def callees_of(self, identity: FunctionIdentity) -> tuple[Edge, ...]:
        return tuple(edge for edge in self.edges if edge.caller == identity)


def traffic_plan(rate: float) -> TrafficPlan:
    """What the shop's functions do when the traffic loop runs at `rate` entry-point calls per second."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    entry_rates: dict[Function, float] = {}
    for entry in ENTRY_POINT_CYCLE:
        entry_rates[entry.function] = entry_rates.get(entry.function, 0.0) + rate / len(ENTRY_POINT_CYCLE)

    @cache
    def calls_per_second(function: Function) -> float:
        from_callers = sum(
            calls_per_second(edge.caller) * edge.calls_per_caller_call for edge in CALL_EDGES if edge.callee is function
        )
        return entry_rates.get(function, 0.0) + from_callers

    functions = dict.fromkeys([*entry_rates, *(edge.callee for edge in CALL_EDGES)])
    return TrafficPlan(
        rate=rate,
        functions=tuple(
            FunctionTraffic(
                identity=identity_of(function),
                calls_per_second=calls_per_second(function),
                error_ratio=ERROR_SHARES.get(function, 0.0),
                error_type=ERROR_TYPES.get(function),
                latency_range_seconds=LATENCY_RANGES_SECONDS.get(function),
            )
            for function in functions
        ),
        edges=tuple(
            Edge(
                caller=identity_of(edge.caller),
                callee=identity_of(edge.callee),
                calls_per_second=calls_per_second(edge.caller) * edge.calls_per_caller_call,
                error_ratio=ERROR_SHARES.get(edge.callee, 0.0),
            )
            for edge in CALL_EDGES
        ),
        entry_points=tuple(identity_of(function) for function in entry_rates),
    )
