"""Rule text for objectives: bucket patterns, burn-rate thresholds, the objectives a workspace names, YAML shape."""

from __future__ import annotations

import json
import re

import pytest

from autometrics_lsp.instrumentation import analyze_module
from autometrics_lsp.rules import (
    ALERT_NAME,
    BURN_RATE_ALERTS,
    LATENCY_ALERT_NAME,
    WINDOWS,
    le_pattern,
    objectives_of,
    render_rules,
    rule_groups,
)
from autometrics_lsp.runtime.objectives import Objective, ObjectiveLatency, ObjectivePercentile

PAYMENTS = Objective("payments", success_rate=ObjectivePercentile.P95)
CHECKOUT = Objective(
    "checkout", success_rate=ObjectivePercentile.P99, latency=(ObjectiveLatency.Ms250, ObjectivePercentile.P99_9)
)


@pytest.mark.parametrize(
    ("threshold", "matching", "not_matching"),
    [
        (ObjectiveLatency.Ms250, ["0.25", "0.250"], ["0.025", "0.5", "0.255"]),
        (ObjectiveLatency.Ms1000, ["1", "1.0", "1.00"], ["10", "10.0", "0.1"]),
        (ObjectiveLatency.Ms7500, ["7.5", "7.50"], ["7", "75"]),
    ],
)
def test_le_pattern_matches_every_spelling_of_the_boundary_only(threshold, matching, not_matching):
    pattern = re.compile(le_pattern(threshold))
    assert all(pattern.fullmatch(le) for le in matching)
    assert not any(pattern.fullmatch(le) for le in not_matching)


def test_windows_run_short_to_long():
    assert WINDOWS == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def test_alert_thresholds_are_the_burn_factor_times_the_budget():
    groups = {group["name"]: group["rules"] for group in rule_groups([CHECKOUT])}
    alerts = groups["autometrics-objective-checkout-alerts"]
    success = [alert for alert in alerts if alert["alert"] == ALERT_NAME]
    latency = [alert for alert in alerts if alert["alert"] == LATENCY_ALERT_NAME]
    assert len(success) == len(latency) == len(BURN_RATE_ALERTS)
    assert success[0]["expr"] == (
        'autometrics:objective_errors:ratio_rate1h{objective_name="checkout", objective_percentile="99"} > 0.144'
        ' and autometrics:objective_errors:ratio_rate5m{objective_name="checkout", objective_percentile="99"} > 0.144'
    )
    assert latency[0]["expr"].endswith('objective_percentile="99.9"} > 0.0144')
    assert [alert["labels"]["severity"] for alert in success] == ["page", "page", "ticket", "ticket"]
    records = groups["autometrics-objective-checkout-ratios"]
    assert len(records) == 2 * len(WINDOWS)
    assert 'le=~"0\\\\.250*"' in records[1]["expr"] and 'objective_latency_threshold="0.25"' in records[1]["expr"]


def test_objectives_of_a_module_are_distinct_and_instrumented_only():
    source = (
        "from autometrics_lsp.runtime import Objective, ObjectivePercentile, autometrics\n"
        'API = Objective("api", success_rate=ObjectivePercentile.P99)\n'
        "@autometrics(objective=API)\ndef one(): pass\n"
        "@autometrics(objective=API)\ndef two(): pass\n"
        "def plain(objective=API): pass\n"
    )
    assert objectives_of(analyze_module(source, "service")) == [Objective("api", ObjectivePercentile.P99)]


def test_yaml_is_block_style_with_json_strings():
    text = render_rules([PAYMENTS])
    assert text.startswith('groups:\n  - name: "autometrics-objective-payments-ratios"\n    rules:\n')
    expr_line = next(line for line in text.splitlines() if line.strip().startswith("expr:"))
    assert json.loads(expr_line.split("expr: ", 1)[1]).startswith("(sum by (objective_name, objective_percentile)")
    assert render_rules([]) == "groups: []\n"
