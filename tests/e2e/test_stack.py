"""The demo stack: the shop's traffic plan matches what a real Prometheus and a real VictoriaMetrics scrape.

The expected numbers all come from `traffic_plan(rate)`; each backend test runs against both backends.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from autometrics_lsp.demo import stack, walkthrough
from autometrics_lsp.demo.shop import api, inventory, orders, payments
from autometrics_lsp.demo.shop.plan import traffic_plan
from autometrics_lsp.demo.stack import RunningBackend, StackError
from autometrics_lsp.identity import FunctionIdentity
from autometrics_lsp.runtime import names

RATE_TOLERANCE = 0.1  # relative: a 10 s window holds 100-300 calls per function, counted at 1 s scrapes
ERROR_RATIO_TOLERANCE = 0.03  # absolute: ~100 charges per window, ±1 decline at the window's edges
# Time a busy two-core machine (jedi, editors, backends) adds to a sleep or a thread hop, at the 99th percentile.
SCHEDULING_SLACK_SECONDS = 0.05


@pytest.fixture(params=["prometheus", "victoria_metrics"])
def backend(request: pytest.FixtureRequest) -> RunningBackend:
    return request.getfixturevalue(request.param)


def _matchers(labels: dict[str, str]) -> str:
    return ", ".join(f"{label}={json.dumps(value)}" for label, value in labels.items())


def _selector(metric: str, labels: dict[str, str]) -> str:
    return f"{metric}{{{_matchers(labels)}}}"


def _of(identity: FunctionIdentity) -> dict[str, str]:
    return {names.FUNCTION: identity.function, names.MODULE: identity.module}


def _buckets_of(identity: FunctionIdentity) -> str:
    return f"{{__name__=~{json.dumps(names.DURATION_BUCKET_NAME_PATTERN)}, {_matchers(_of(identity))}}}"


# --- The plan itself, and the stack's pure helpers: no backend needed. ---


def test_plan_derives_every_function_rate_from_the_entry_point_rate() -> None:
    plan = traffic_plan(rate=20)
    # Half the ticks check out, half browse a page of CATALOG_PAGE_SIZE products; every fourth charge is declined.
    assert plan.of(api.checkout).calls_per_second == pytest.approx(10)
    assert plan.of(api.browse_catalog).calls_per_second == pytest.approx(10)
    assert plan.of(inventory.stock_level).calls_per_second == pytest.approx(10 * api.CATALOG_PAGE_SIZE)
    assert plan.of(payments.charge).calls_per_second == pytest.approx(10)
    assert plan.of(payments.charge).errors_per_second == pytest.approx(10 * payments.DECLINE_SHARE)
    assert plan.of(inventory.release).calls_per_second == pytest.approx(10 * payments.DECLINE_SHARE)
    assert plan.of(orders.Ledger.record).calls_per_second == pytest.approx(10 * (1 - payments.DECLINE_SHARE))
    assert plan.of(inventory.commit).calls_per_second == pytest.approx(10 * (1 - payments.DECLINE_SHARE))
    assert plan.entry_points == (plan.of(api.checkout).identity, plan.of(api.browse_catalog).identity)


def test_plan_names_functions_as_the_runtime_labels_them() -> None:
    plan = traffic_plan(rate=1)
    record = plan.named("autometrics_lsp.demo.shop.orders", "Ledger.record")
    assert record.identity == FunctionIdentity("autometrics_lsp.demo.shop.orders", "Ledger.record")
    charge = plan.of(payments.charge).identity
    assert (charge.objective, charge.track_concurrency) == (payments.PAYMENTS_OBJECTIVE, True)
    assert [edge.caller for edge in plan.callers_of(record.identity)] == [plan.of(api.checkout).identity]
    with pytest.raises(KeyError, match="not in the shop's traffic plan"):
        plan.named("autometrics_lsp.demo.shop.inventory", "find_product")


def test_plan_refuses_a_rate_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        traffic_plan(rate=0)


@pytest.mark.parametrize(("duration", "seconds"), [("500ms", 0.5), ("1s", 1), ("10s", 10), ("5m", 300), ("1h", 3600)])
def test_duration_seconds(duration: str, seconds: float) -> None:
    assert stack.duration_seconds(duration) == seconds


@pytest.mark.parametrize("duration", ["", "10", "1.5s", "1d", "1m30s", "-1s"])
def test_duration_seconds_refuses_what_it_cannot_read(duration: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        stack.duration_seconds(duration)


def test_scrape_config_scrapes_every_target_at_the_interval() -> None:
    config = stack.scrape_config(["127.0.0.1:1", "127.0.0.1:2"], "1s", job_name="shop")
    assert config["global"] == {"scrape_interval": "1s", "scrape_timeout": "1s"}
    assert config["scrape_configs"] == [
        {"job_name": "shop", "static_configs": [{"targets": ["127.0.0.1:1", "127.0.0.1:2"]}]}
    ]
    with pytest.raises(ValueError, match="target"):
        stack.scrape_config([], "1s")


def test_a_missing_binary_says_how_to_install_it() -> None:
    with pytest.raises(stack.BinaryNotFound, match="scripts/setup.sh"):
        stack.find_binary("prometheus-that-is-not-installed")


def test_waiting_on_a_backend_that_is_down_fails_with_the_cause() -> None:
    with pytest.raises(StackError, match=r"after 0\.5 s; last answer: .*did not answer"):
        stack.wait_for_series(f"http://127.0.0.1:{stack.free_port()}", "up", timeout=0.5)


# --- Processes: started for real, stopped for good. ---


def test_the_shop_serves_its_counters_and_stops_with_its_directory() -> None:
    with stack.start_service(rate=5) as service:
        with urllib.request.urlopen(service.metrics_url, timeout=5) as response:
            exposition = response.read().decode()
        workdir = Path(os.readlink(f"/proc/{service.pid}/cwd"))
    assert f'{names.FUNCTION}="checkout"' in exposition
    with pytest.raises(ProcessLookupError):
        os.kill(service.pid, 0)
    assert not workdir.exists()
    with pytest.raises(OSError):
        urllib.request.urlopen(service.metrics_url, timeout=5)


def test_a_shop_that_cannot_start_reports_its_own_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(StackError, match=r"(?s)the sample shop exited with code 1 while starting:.*in use"):
            with stack.start_service(port=taken.getsockname()[1]):
                pass


# --- Against real backends scraping the shop. ---


def test_every_planned_function_is_called_at_its_planned_rate(
    backend: RunningBackend, shop_service, metrics_window: str
) -> None:
    measured = {
        traffic.identity.display_name: stack.query_value(
            backend.url, f"sum(rate({_selector(names.CALLS_TOTAL, _of(traffic.identity))}[{metrics_window}]))"
        )
        for traffic in shop_service.plan.functions
    }
    expected = {traffic.identity.display_name: traffic.calls_per_second for traffic in shop_service.plan.functions}
    assert measured == pytest.approx(expected, rel=RATE_TOLERANCE)


def test_only_the_payment_fails_and_exactly_one_call_in_four(
    backend: RunningBackend, shop_service, metrics_window: str
) -> None:
    def error_ratio(identity: FunctionIdentity) -> float | None:
        calls = _selector(names.CALLS_TOTAL, _of(identity))
        errors = _selector(names.CALLS_TOTAL, {**_of(identity), names.RESULT: names.RESULT_ERROR})
        return stack.query_value(
            backend.url,
            f"sum(rate({errors}[{metrics_window}])) / sum(rate({calls}[{metrics_window}]))",
        )

    measured = {traffic.identity.display_name: error_ratio(traffic.identity) for traffic in shop_service.plan.functions}
    expected = {traffic.identity.display_name: traffic.error_ratio for traffic in shop_service.plan.functions}
    assert measured == pytest.approx(expected, abs=ERROR_RATIO_TOLERANCE)
    assert expected[shop_service.plan.of(payments.charge).identity.display_name] == 0.25


def test_failed_calls_name_their_exception(backend: RunningBackend, shop_service, metrics_window: str) -> None:
    errors = _selector(names.CALLS_TOTAL, {names.RESULT: names.RESULT_ERROR})
    result = stack.query(
        backend.url, f"sum by ({names.MODULE}, {names.FUNCTION}, {names.ERROR}) (rate({errors}[{metrics_window}])) > 0"
    )
    measured = {
        (series["metric"][names.MODULE], series["metric"][names.FUNCTION], series["metric"][names.ERROR])
        for series in result
    }
    expected = {
        (traffic.identity.module, traffic.identity.function, traffic.error_type)
        for traffic in shop_service.plan.functions
        if traffic.error_type is not None
    }
    assert measured == expected


def test_callers_are_recorded_for_every_planned_edge_and_entry_points_have_none(
    backend: RunningBackend, shop_service, metrics_window: str
) -> None:
    by_edge = f"{names.CALLER_MODULE}, {names.CALLER_FUNCTION}, {names.MODULE}, {names.FUNCTION}"
    result = stack.query(backend.url, f"sum by ({by_edge}) (rate({names.CALLS_TOTAL}[{metrics_window}])) > 0")
    measured = {
        (
            series["metric"].get(names.CALLER_MODULE, ""),
            series["metric"].get(names.CALLER_FUNCTION, ""),
            series["metric"][names.MODULE],
            series["metric"][names.FUNCTION],
        ): float(series["value"][1])
        for series in result
    }
    plan = shop_service.plan
    expected = {
        (edge.caller.module, edge.caller.function, edge.callee.module, edge.callee.function): edge.calls_per_second
        for edge in plan.edges
    } | {
        ("", "", entry.module, entry.function): plan.named(entry.module, entry.function).calls_per_second
        for entry in plan.entry_points
    }
    assert measured == pytest.approx(expected, rel=RATE_TOLERANCE)


def test_build_info_names_the_shop_and_its_version(backend: RunningBackend, shop_service) -> None:
    from autometrics_lsp.demo.shop import SERVICE_NAME

    info = stack.query(backend.url, _selector(names.BUILD_INFO, {names.SERVICE_NAME: SERVICE_NAME}))
    assert [series["metric"][names.VERSION] for series in info] == [shop_service.service.version]
    assert [series["value"][1] for series in info] == ["1"]


@pytest.mark.parametrize("function", [payments.charge, api.checkout], ids=lambda function: function.__qualname__)
def test_p99_latency_lies_in_the_bucket_of_the_slowest_planned_calls(
    backend: RunningBackend, shop_service, metrics_window: str, function
) -> None:
    traffic = shop_service.plan.of(function)
    buckets = _buckets_of(traffic.identity)
    p99 = stack.query_value(
        backend.url, f"histogram_quantile(0.99, sum by ({names.LE}) (rate({buckets}[{metrics_window}])))"
    )
    _, slowest = traffic.latency_range_seconds
    bucket_below = max(bound for bound in names.DEFAULT_BUCKETS if bound < slowest)
    bucket_above = min(bound for bound in names.DEFAULT_BUCKETS if bound >= slowest + SCHEDULING_SLACK_SECONDS)
    assert p99 is not None and bucket_below < p99 <= bucket_above


def test_series_carry_the_objectives_and_concurrency_the_plan_says(backend: RunningBackend, shop_service) -> None:
    for traffic in shop_service.plan.functions:
        identity = traffic.identity
        objective_names = {
            series["metric"].get(names.OBJECTIVE_NAME, "")
            for series in stack.query(backend.url, _selector(names.CALLS_TOTAL, _of(identity)))
        }
        assert objective_names == {identity.objective.name if identity.objective else ""}, identity.display_name
        concurrency = stack.query(backend.url, _selector(names.CALLS_CONCURRENT, _of(identity)))
        assert len(concurrency) == int(identity.track_concurrency), identity.display_name
    checkout = shop_service.plan.of(api.checkout).identity
    assert checkout.objective is not None and checkout.objective.latency is not None
    thresholds = {
        series["metric"].get(names.OBJECTIVE_LATENCY_THRESHOLD)
        for series in stack.query(backend.url, _buckets_of(checkout))
    }
    assert thresholds == {checkout.objective.latency[0].value}


def test_waiting_for_data_that_never_comes_fails_clearly(backend: RunningBackend) -> None:
    absent = _selector(names.CALLS_TOTAL, {names.FUNCTION: "no_such_function"})
    with pytest.raises(StackError, match=r"no data for .*no_such_function.* after 0\.5 s"):
        stack.wait_for_series(backend.url, absent, timeout=0.5)


def test_a_query_the_backend_cannot_parse_fails_at_once(backend: RunningBackend) -> None:
    with pytest.raises(stack.QueryRejected, match="answered 4"):
        stack.wait_for_series(backend.url, "rate(", timeout=30)


# --- The `autometrics-lsp demo` walkthrough. ---


def test_definition_and_call_positions_point_at_the_names() -> None:
    source = "import x\n\nclass Ledger:\n    @deco\n    async def record(self):\n        return charge_card(1)\n"
    line, column = walkthrough.definition_position(source, "Ledger.record")
    assert source.splitlines()[line][column:].startswith("record(")
    line, column = walkthrough.call_position(source, "charge_card")
    assert source.splitlines()[line][column:].startswith("charge_card(1)")
    with pytest.raises(LookupError):
        walkthrough.definition_position(source, "record")
    with pytest.raises(LookupError):
        walkthrough.call_position(source, "record")


def test_every_hover_site_of_the_walkthrough_is_where_it_says(workspace_root: Path) -> None:
    for site in walkthrough.hover_sites():
        assert site.path.is_relative_to(workspace_root)
        at_site = site.path.read_text().splitlines()[site.line][site.column :]
        assert at_site.startswith(site.symbol.split(".")[-1] + "("), site


def test_the_walkthrough_prints_a_live_hover_for_every_site(prometheus: RunningBackend, metrics_window: str) -> None:
    out = io.StringIO()
    asyncio.run(walkthrough.print_hovers(prometheus.url, metrics_window, out))
    printed = out.getvalue()
    assert "(no hover here)" not in printed
    for site in walkthrough.hover_sites():
        assert f"=== {site.symbol}: {site.note}" in printed
    assert printed.count(f"--prometheus-url {prometheus.url}") == len(walkthrough.hover_sites())
    assert payments.PaymentDeclined.__name__ in printed  # a live figure: errors by type, scraped from the shop


def test_a_killed_run_leaves_no_shop_or_prometheus_behind() -> None:
    """SIGKILL skips every finalizer: the stack's processes must still end with the process that started them."""
    script = (
        "import time\n"
        "from autometrics_lsp.demo.stack import start_prometheus, start_service\n"
        "with start_service() as shop, start_prometheus([shop.target]) as backend:\n"
        "    print(shop.pid, backend.pid, flush=True)\n"
        "    time.sleep(120)\n"
    )
    starter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(pid) for pid in starter.stdout.readline().split()]
        assert len(pids) == 2 and all(_running(pid) for pid in pids)
    finally:
        starter.kill()
        starter.wait()
    deadline = time.monotonic() + 15
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in pids)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
