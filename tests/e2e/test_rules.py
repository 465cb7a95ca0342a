"""`autometrics-lsp rules` end to end: the rule file for the shop's objectives passes `promtool check rules`, and
`promtool test rules` shows its alerts fire exactly at the burn rates they are meant for.

Series of the test (one sample a minute for 100 minutes, evaluated at 90 minutes):
- `payments` (95% success): 25% errors. Burn rate 5: above the ticket factors (3 and 1), below the page ones
  (14.4 and 6), so exactly the two ticket alerts fire.
- `checkout` (99% success, 99% within 250 ms): no errors, but 1 call in 6 is slower than 250 ms. Slow-call burn
  rate 16.7: all four latency alerts fire, no error-budget alert.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autometrics_lsp.demo.shop import api, payments
from autometrics_lsp.rules import rule_groups, workspace_objectives
from autometrics_lsp.runtime import names

SHOP = Path(api.__file__).parent
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool comes with Prometheus: apt-get install prometheus")

CHARGE = {
    names.FUNCTION: "charge",
    names.MODULE: payments.__name__,
    names.SERVICE_NAME: "shop",
    names.OBJECTIVE_NAME: "payments",
    names.OBJECTIVE_PERCENTILE: "95",
}
CHECKOUT = {names.FUNCTION: "checkout", names.MODULE: api.__name__, names.SERVICE_NAME: "shop"}


def series(metric: str, labels: dict[str, str], values: str) -> dict[str, str]:
    selector = ", ".join(f"{name}={json.dumps(value)}" for name, value in labels.items())
    return {"series": f"{metric}{{{selector}}}", "values": values}


def input_series() -> list[dict[str, str]]:
    checkout_calls = {**CHECKOUT, names.OBJECTIVE_NAME: "checkout", names.OBJECTIVE_PERCENTILE: "99"}
    checkout_latency = {**checkout_calls, names.OBJECTIVE_LATENCY_THRESHOLD: "0.25"}
    bucket = f"{names.CALLS_DURATION_SECONDS}_bucket"
    return [
        series(names.CALLS_TOTAL, {**CHARGE, names.RESULT: "ok"}, "0+180x100"),
        series(names.CALLS_TOTAL, {**CHARGE, names.RESULT: "error"}, "0+60x100"),
        series(names.CALLS_TOTAL, {**checkout_calls, names.RESULT: "ok"}, "0+60x100"),
        series(names.CALLS_TOTAL, {**checkout_calls, names.RESULT: "error"}, "0x100"),
        series(bucket, {**checkout_latency, names.LE: "0.1"}, "0+40x100"),
        series(bucket, {**checkout_latency, names.LE: "0.25"}, "0+50x100"),
        series(bucket, {**checkout_latency, names.LE: "1.0"}, "0+60x100"),
        series(bucket, {**checkout_latency, names.LE: "+Inf"}, "0+60x100"),
    ]


def annotations_of(alert_name: str, labels: dict[str, str]) -> object:
    """promtool compares annotations too: take them from the rules rather than restating their prose here."""
    for group in rule_groups(workspace_objectives([SHOP])):
        for rule in group["rules"]:  # type: ignore[attr-defined]
            if rule.get("alert") == alert_name and rule["labels"] == labels:
                return rule["annotations"]
    raise AssertionError(f"no {alert_name} rule with labels {labels}")


def expected_alerts(
    alert_name: str, objective: str, percentile: str, windows: list[tuple[str, str, str]]
) -> list[dict[str, object]]:
    expected: list[dict[str, object]] = []
    for severity, long_window, short_window in windows:
        labels = {
            names.OBJECTIVE_NAME: objective,
            names.OBJECTIVE_PERCENTILE: percentile,
            "severity": severity,
            "long_window": long_window,
            "short_window": short_window,
        }
        expected.append({"exp_labels": labels, "exp_annotations": annotations_of(alert_name, labels)})
    return expected


ALL_WINDOWS = [("page", "1h", "5m"), ("page", "6h", "30m"), ("ticket", "1d", "2h"), ("ticket", "3d", "6h")]


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("rules") / "objectives.yml"
    subprocess.run(
        [sys.executable, "-m", "autometrics_lsp", "rules", "--root", str(SHOP), "-o", str(output)],
        check=True,
        timeout=60,
    )
    return output


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


def test_rule_file_passes_promtool_check(rule_file):
    checked = promtool("check", "rules", str(rule_file))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    text = rule_file.read_text()
    assert 'objective_name: "payments"' in text and 'objective_name: "checkout"' in text


def test_alerts_fire_exactly_at_their_burn_rates(rule_file, tmp_path):
    tests = {
        "rule_files": [str(rule_file)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series(),
                "promql_expr_test": [
                    {
                        "expr": 'autometrics:objective_errors:ratio_rate1h{objective_name="payments"}',
                        "eval_time": "90m",
                        "exp_samples": [
                            {
                                "labels": 'autometrics:objective_errors:ratio_rate1h{objective_name="payments",'
                                ' objective_percentile="95"}',
                                "value": 0.25,
                            }
                        ],
                    },
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "90m",
                        "alertname": "AutometricsErrorBudgetBurn",
                        "exp_alerts": expected_alerts("AutometricsErrorBudgetBurn", "payments", "95", ALL_WINDOWS[2:]),
                    },
                    {
                        "eval_time": "90m",
                        "alertname": "AutometricsLatencyBudgetBurn",
                        "exp_alerts": expected_alerts("AutometricsLatencyBudgetBurn", "checkout", "99", ALL_WINDOWS),
                    },
                ],
            }
        ],
    }
    test_file = tmp_path / "objectives_test.yml"
    test_file.write_text(json.dumps(tests))  # JSON is YAML
    tested = promtool("test", "rules", str(test_file))
    assert tested.returncode == 0, tested.stdout + tested.stderr
