"""Prometheus rules for the objectives of a workspace: recording rules for the share of bad calls per objective
over a ladder of windows, and multi-window, multi-burn-rate alerts on them (Google SRE workbook, chapter 5).

An alert fires when the error budget burns `factor` times too fast over a long window AND still does over a
short one: the long window makes it significant, the short one makes it stop soon after the problem does.
Pure text building but for `workspace_objectives`, which reads the workspace's sources.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from autometrics_lsp.instrumentation import FunctionDefinition, module_name_for_path
from autometrics_lsp.queries import error_ratio, matcher, selector
from autometrics_lsp.runtime import names
from autometrics_lsp.runtime.objectives import Objective, ObjectiveLatency, ObjectivePercentile
from autometrics_lsp.settings import parse_promql_duration
from autometrics_lsp.workspace_scan import WorkspaceScan

RULE_PREFIX = "autometrics"
SUCCESS_RECORD = f"{RULE_PREFIX}:objective_errors:ratio_rate"
LATENCY_RECORD = f"{RULE_PREFIX}:objective_slow_calls:ratio_rate"
ALERT_NAME = "AutometricsErrorBudgetBurn"
LATENCY_ALERT_NAME = "AutometricsLatencyBudgetBurn"
SEVERITY = "severity"
LONG_WINDOW = "long_window"
SHORT_WINDOW = "short_window"


@dataclass(frozen=True)
class BurnRateAlert:
    """Fire at `severity` when the budget burns more than `factor` times too fast over both windows."""

    severity: str
    long_window: str
    short_window: str
    factor: float


# The workbook's four alerts for a 30-day budget: 2% of it in an hour, 5% in six hours pages someone;
# 10% in a day, 10% in three days opens a ticket.
BURN_RATE_ALERTS = (
    BurnRateAlert("page", "1h", "5m", 14.4),
    BurnRateAlert("page", "6h", "30m", 6.0),
    BurnRateAlert("ticket", "1d", "2h", 3.0),
    BurnRateAlert("ticket", "3d", "6h", 1.0),
)
WINDOWS = tuple(
    sorted(
        {window for alert in BURN_RATE_ALERTS for window in (alert.long_window, alert.short_window)},
        key=parse_promql_duration,
    )
)
_OBJECTIVE_GROUPING = (names.OBJECTIVE_NAME, names.OBJECTIVE_PERCENTILE)


def objectives_of(definitions: Iterable[FunctionDefinition]) -> list[Objective]:
    """The distinct static objectives of instrumented functions, by name."""
    found = {
        definition.identity.objective
        for definition in definitions
        if definition.instrumented and definition.identity.objective is not None
    }
    return sorted(found, key=lambda objective: (objective.name, repr(objective)))


def workspace_objectives(roots: Sequence[Path]) -> list[Objective]:
    located = WorkspaceScan().instrumented(roots, lambda path: module_name_for_path(path, roots))
    return objectives_of(function.definition for function in located)


def le_pattern(threshold: ObjectiveLatency) -> str:
    """A regular expression for the bucket boundary `threshold` as any library writes `le`: `1`, `1.0`, `0.25`."""
    whole, _, fraction = threshold.value.partition(".")
    fraction = fraction.rstrip("0")
    return f"{whole}\\.{fraction}0*" if fraction else f"{whole}(\\.0+)?"


def success_error_ratio(objective: Objective, window: str) -> str:
    """Failed calls / all calls of the functions under the objective's success target."""
    assert objective.success_rate is not None
    under_objective = (
        matcher(names.OBJECTIVE_NAME, objective.name),
        matcher(names.OBJECTIVE_PERCENTILE, objective.success_rate.value),
    )
    return error_ratio(under_objective, window, _OBJECTIVE_GROUPING)


def latency_slow_ratio(objective: Objective, window: str) -> str:
    """Calls slower than the threshold / all calls of the functions under the objective's latency target."""
    assert objective.latency is not None
    threshold, percentile = objective.latency
    under_objective = (
        matcher(names.OBJECTIVE_NAME, objective.name),
        matcher(names.OBJECTIVE_PERCENTILE, percentile.value),
        matcher(names.OBJECTIVE_LATENCY_THRESHOLD, threshold.value),
    )

    def bucket_rate(*le: str) -> str:
        buckets = selector(names.DURATION_BUCKET_NAME_PATTERN, *under_objective, *le)
        return f"sum by ({', '.join(_OBJECTIVE_GROUPING)}) (rate({buckets}[{window}]))"

    within = bucket_rate(matcher(names.LE, le_pattern(threshold), "=~"))
    every = bucket_rate(matcher(names.LE, "+Inf"))
    return f"1 - ({within} / {every})"


def _number(value: float) -> str:
    return f"{value:.6g}"


def _records(objective: Objective) -> list[dict[str, object]]:
    # The expressions already keep these labels; stating them makes each rule distinct for `promtool check rules`.
    records: list[dict[str, object]] = []
    for window in WINDOWS:
        if objective.success_rate is not None:
            records.append(
                {
                    "record": SUCCESS_RECORD + window,
                    "expr": success_error_ratio(objective, window),
                    "labels": _objective_labels(objective, objective.success_rate),
                }
            )
        if objective.latency is not None:
            records.append(
                {
                    "record": LATENCY_RECORD + window,
                    "expr": latency_slow_ratio(objective, window),
                    "labels": _objective_labels(objective, objective.latency[1]),
                }
            )
    return records


def _objective_labels(objective: Objective, percentile: ObjectivePercentile) -> dict[str, str]:
    return {names.OBJECTIVE_NAME: objective.name, names.OBJECTIVE_PERCENTILE: percentile.value}


def _alerts(objective: Objective) -> list[dict[str, object]]:
    targets = []
    if objective.success_rate is not None:
        targets.append((ALERT_NAME, SUCCESS_RECORD, objective.success_rate, "fail"))
    if objective.latency is not None:
        threshold, percentile = objective.latency
        targets.append((LATENCY_ALERT_NAME, LATENCY_RECORD, percentile, f"take longer than {threshold.value} s"))
    alerts: list[dict[str, object]] = []
    for alert_name, record, percentile, what in targets:
        labels = _objective_labels(objective, percentile)
        own = "{" + ", ".join(matcher(name, value) for name, value in labels.items()) + "}"
        for burn in BURN_RATE_ALERTS:
            limit = _number(burn.factor * (1 - percentile.ratio))
            alerts.append(
                {
                    "alert": alert_name,
                    "expr": f"{record}{burn.long_window}{own} > {limit} and {record}{burn.short_window}{own} > {limit}",
                    "labels": {
                        **_objective_labels(objective, percentile),
                        SEVERITY: burn.severity,
                        LONG_WINDOW: burn.long_window,
                        SHORT_WINDOW: burn.short_window,
                    },
                    "annotations": {
                        "summary": f"Objective {objective.name}: too many calls {what}",
                        "description": (
                            f"More than {limit} of the calls under objective {objective.name} {what} over the last"
                            f" {burn.long_window} and {burn.short_window}: the error budget of a"
                            f" {percentile.value}% objective burns {_number(burn.factor)} times too fast."
                        ),
                    },
                }
            )
    return alerts


def rule_groups(objectives: Sequence[Objective]) -> list[dict[str, object]]:
    """One recording group and one alerting group per objective name."""
    groups: list[dict[str, object]] = []
    for name in sorted({objective.name for objective in objectives}):
        named = [objective for objective in objectives if objective.name == name]
        records = [rule for objective in named for rule in _records(objective)]
        alerts = [rule for objective in named for rule in _alerts(objective)]
        groups.append({"name": f"{RULE_PREFIX}-objective-{name}-ratios", "rules": records})
        groups.append({"name": f"{RULE_PREFIX}-objective-{name}-alerts", "rules": alerts})
    return groups


def _yaml_value(value: object, indent: int) -> list[str]:
    """Block YAML for nested dicts and lists of strings; scalars as JSON strings, which YAML reads verbatim."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml_value(item, indent + 2))
            else:
                lines.append(f"{pad}{key}: {json.dumps(str(item), ensure_ascii=False)}")
    elif isinstance(value, list):
        for item in value:
            nested = _yaml_value(item, indent + 2)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines.extend(nested[1:])
    return lines


def render_rules(objectives: Sequence[Objective]) -> str:
    """A Prometheus rule file (YAML) for `objectives`; `groups: []` when there are none."""
    groups = rule_groups(objectives)
    if not groups:
        return "groups: []\n"
    return "\n".join(["groups:", *_yaml_value(groups, 2)]) + "\n"
