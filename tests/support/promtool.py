"""Prometheus's own PromQL engine, offline: `promtool test rules` over synthetic series, no server to start."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

PROMTOOL = shutil.which("promtool")

Series = tuple[str, str]
"""A series selector and its values in promtool's notation, e.g. ('calls{f="a"}', "0+60x20")."""


def needs_promtool(test: Callable[..., None]) -> Callable[..., None]:
    """promtool ships with the Debian `prometheus` package that scripts/setup.sh installs."""
    skip_without = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) not installed")
    return pytest.mark.prometheus(skip_without(test))


def expect(expr: str, samples: Sequence[tuple[str, float]], eval_time: str = "10m") -> dict[str, object]:
    """The expectation that `expr`, evaluated at `eval_time`, gives exactly `samples` (labels, value)."""
    return {
        "expr": expr,
        "eval_time": eval_time,
        "exp_samples": [{"labels": labels, "value": value} for labels, value in samples],
    }


def assert_promql(tmp_path: Path, series: Sequence[Series], expectations: Sequence[dict[str, object]]) -> None:
    """Assert every expectation on Prometheus's engine, the series scraped every minute."""
    assert PROMTOOL is not None
    test_file = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": selector, "values": values} for selector, values in series],
                "promql_expr_test": list(expectations),
            }
        ],
    }
    path = tmp_path / "promql_test.yml"
    path.write_text(json.dumps(test_file, indent=1))  # JSON is YAML
    run = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr
