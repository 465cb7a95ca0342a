"""The command line as a person uses it: `hover`, `list`, `demo --once`, and what a wrong argument gets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autometrics_lsp.demo.shop import api, inventory, payments
from tests.support.hover_text import first_table, parse_percent, parse_rate
from tests.support.lsp import position_of

API = Path(api.__file__)
CLI = [sys.executable, "-m", "autometrics_lsp"]


def run(*arguments: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *arguments], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_hover_prints_the_live_markdown(prometheus, metrics_window, shop_service, workspace_root):
    position = position_of(API, "charge_card(order_id", offset=1)
    location = f"{API.relative_to(workspace_root)}:{position.line + 1}:{position.character + 1}"
    done = run("hover", location, "--prometheus-url", prometheus.url, "--window", metrics_window, "--timeout", "5",
               cwd=workspace_root)

    assert done.returncode == 0, done.stderr
    traffic = shop_service.plan.of(payments.charge)
    figures = first_table(done.stdout)
    assert parse_rate(figures["calls"]) == pytest.approx(traffic.calls_per_second, rel=0.25)
    assert parse_percent(figures["errors"]) == pytest.approx(traffic.error_ratio, abs=0.06)


def test_hover_off_a_function_and_bad_locations_are_clear(workspace_root):
    blank = run("hover", f"{API.relative_to(workspace_root)}:2:1", cwd=workspace_root)
    assert blank.returncode == 1 and "no function here" in blank.stderr

    malformed = run("hover", "api.py:ten:1", cwd=workspace_root)
    assert malformed.returncode != 0 and "FILE:LINE:COL" in malformed.stderr
    assert "Traceback" not in malformed.stderr

    missing = run("hover", "no/such/file.py:1:1", cwd=workspace_root)
    assert missing.returncode != 0 and "cannot read no/such/file.py" in missing.stderr


def test_list_sorts_the_workspace_functions(prometheus, metrics_window, shop_service, workspace_root):
    shop = Path(api.__file__).parent
    done = run("list", "--sort", "rate", "--prometheus-url", prometheus.url, "--window", metrics_window,
               "--timeout", "5", "--root", str(shop), cwd=workspace_root)

    assert done.returncode == 0, done.stderr
    header, busiest, *rest = done.stdout.splitlines()
    assert header.split()[:5] == ["FUNCTION", "MODULE", "CALLS", "ERRORS", "P99"]
    assert busiest.split()[:2] == ["stock_level", inventory.__name__]
    assert len(rest) == len(shop_service.plan.functions) - 1


def test_demo_once_prints_live_hovers(workspace_root):
    done = run("demo", "--once", cwd=workspace_root, timeout=180)

    assert done.returncode == 0, done.stderr[-3000:]
    assert "**`charge`**" in done.stdout and "| calls |" in done.stdout
    assert "Live metrics unavailable" not in done.stdout
