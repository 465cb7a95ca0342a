"""Service-level objectives attached to functions (autometrics spec): pure values, shared by runtime and server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class ObjectivePercentile(str, Enum):
    """The share of calls that must succeed, or be faster than the latency threshold, as label strings."""

    P90 = "90"
    P95 = "95"
    P99 = "99"
    P99_9 = "99.9"

    @property
    def ratio(self) -> float:
        return float(self.value) / 100


class ObjectiveLatency(str, Enum):
    """Latency thresholds: default histogram bucket boundaries, in seconds, as label strings."""

    Ms5 = "0.005"
    Ms10 = "0.01"
    Ms25 = "0.025"
    Ms50 = "0.05"
    Ms75 = "0.075"
    Ms100 = "0.1"
    Ms250 = "0.25"
    Ms500 = "0.5"
    Ms750 = "0.75"
    Ms1000 = "1"
    Ms2500 = "2.5"
    Ms5000 = "5"
    Ms7500 = "7.5"
    Ms10000 = "10"

    @property
    def seconds(self) -> float:
        return float(self.value)


# Prometheus rule and label conventions: lowercase words joined by '-' or '_' read well in alerts and URLs.
_RECOMMENDED_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def is_recommended_objective_name(name: str) -> bool:
    return bool(_RECOMMENDED_NAME.match(name))


@dataclass(frozen=True)
class Objective:
    """A named objective: a success rate, a latency target, or both.

    `latency` is `(threshold, percentile)`: `percentile` of calls must finish within `threshold`.
    """

    name: str
    success_rate: ObjectivePercentile | None = None
    latency: tuple[ObjectiveLatency, ObjectivePercentile] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("Objective name must be a non-empty string")
        if self.success_rate is not None:
            object.__setattr__(self, "success_rate", ObjectivePercentile(self.success_rate))
        if self.latency is not None:
            threshold, percentile = self.latency
            object.__setattr__(
                self, "latency", (ObjectiveLatency(threshold), ObjectivePercentile(percentile))
            )
        if self.success_rate is None and self.latency is None:
            raise ValueError(f"Objective {self.name!r} needs a success_rate, a latency, or both")
