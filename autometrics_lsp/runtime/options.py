"""The decorator's options, checked when the decorator is written rather than when the function first runs."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from autometrics_lsp.runtime.objectives import Objective, is_recommended_objective_name

ValuePredicate = Callable[[Any], bool]
ExceptionPredicate = Callable[[BaseException], bool]


@dataclass(frozen=True)
class DecoratorOptions:
    objective: Objective | None = None
    track_concurrency: bool = False
    record_error_if: ValuePredicate | None = None
    record_success_if: ExceptionPredicate | None = None
    record_error_type: bool | None = None
    exclude: frozenset[str] = frozenset()


def validated_options(
    *,
    objective: object,
    track_concurrency: object,
    record_error_if: object,
    record_success_if: object,
    record_error_type: object,
    exclude: object,
) -> DecoratorOptions:
    if objective is not None and not isinstance(objective, Objective):
        raise TypeError(f"objective must be an Objective, got {objective!r}")
    if not isinstance(track_concurrency, bool):
        raise TypeError(f"track_concurrency must be True or False, got {track_concurrency!r}")
    for option, predicate in (("record_error_if", record_error_if), ("record_success_if", record_success_if)):
        if predicate is not None and not callable(predicate):
            raise TypeError(f"{option} must be a callable returning a bool, got {predicate!r}")
    if record_error_type is not None and not isinstance(record_error_type, bool):
        raise TypeError(f"record_error_type must be True, False or None, got {record_error_type!r}")
    return DecoratorOptions(
        objective=objective,
        track_concurrency=track_concurrency,
        record_error_if=record_error_if,  # type: ignore[arg-type]  # checked callable above
        record_success_if=record_success_if,  # type: ignore[arg-type]
        record_error_type=record_error_type,
        exclude=method_names(exclude),
    )


def method_names(exclude: object) -> frozenset[str]:
    if isinstance(exclude, str) or not isinstance(exclude, Iterable):
        raise TypeError(f"exclude must be a collection of method names, e.g. ('health',), got {exclude!r}")
    names = frozenset(exclude)
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"exclude must hold method names as strings, got {sorted(map(repr, names))}")
    return names


def check_objective(objective: Objective, buckets: tuple[float, ...], *, stacklevel: int) -> None:
    """Raise for a latency threshold that is no bucket bound; warn about a name the spec discourages."""
    check_latency_threshold(objective, buckets)
    if not is_recommended_objective_name(objective.name):
        warnings.warn(
            f"Objective name {objective.name!r} is not recommended: use lowercase letters, digits, '-' and '_', "
            "starting with a letter (it becomes a Prometheus label value and part of alert names)",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def check_latency_threshold(objective: Objective, buckets: tuple[float, ...]) -> None:
    """A latency threshold must be a bucket bound, or no query could ever tell whether it is met."""
    if objective.latency is None:
        return
    threshold = objective.latency[0]
    if threshold.seconds not in buckets:
        raise ValueError(
            f"Objective {objective.name!r}: latency threshold {threshold.value}s is not a histogram bucket "
            f"bound; the buckets are {list(buckets)} (pass buckets=... to init() to change them)"
        )
