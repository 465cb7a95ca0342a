"""Session fixtures shared by the end-to-end tests: the sample shop under known traffic, and real backends scraping it.

- `shop_service`: the shop (`autometrics_lsp.demo.shop`) as a real process serving `/metrics`, with its traffic plan
  (`shop_service.plan.of(payments.charge).calls_per_second`, ...), at the shop's default rate and version.
- `prometheus`: a real Prometheus scraping it every second; yields once a rate over `METRICS_WINDOW` is exact.
- `victoria_metrics`: the same with VictoriaMetrics, started only by the tests that ask for it.
- `metrics_window`: the PromQL window to query with (pass it as the server's `window` setting): the backend
  fixtures wait until it is full of samples, so a rate over it shows the true rate from the first test on.
- `workspace_root`: the directory holding the `autometrics_lsp` package, to open the shop's sources from, so
  module names are the ones the runtime writes (`autometrics_lsp.demo.shop.payments`, ...).

Start-up: the shop ~0.5 s; Prometheus ~6 s to its first scrape, then METRICS_WINDOW more (~16 s in all);
VictoriaMetrics ~1 s + METRICS_WINDOW. A missing binary makes the fixture error, with how to install it.
Tests using a backend fixture get the `prometheus` marker, so `-m "not prometheus"` leaves them out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import autometrics_lsp

# Imported where used, not here: every test loads this file, and most need neither the stack nor the shop.
if TYPE_CHECKING:
    from autometrics_lsp.demo.shop.plan import TrafficPlan
    from autometrics_lsp.demo.stack import RunningBackend, RunningService

# Fixtures of tests/support shared by tests in several folders.
pytest_plugins = ["tests.support.backends"]

METRICS_WINDOW = "10s"
_BACKEND_FIXTURES = frozenset({"shop_service", "prometheus", "victoria_metrics"})


@dataclass(frozen=True)
class ShopUnderTraffic:
    service: RunningService
    plan: TrafficPlan

    @property
    def port(self) -> int:
        return self.service.port


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _BACKEND_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.prometheus)


@pytest.fixture(scope="session")
def workspace_root() -> Path:
    return Path(autometrics_lsp.__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def metrics_window() -> str:
    return METRICS_WINDOW


@pytest.fixture(scope="session")
def shop_service() -> Iterator[ShopUnderTraffic]:
    from autometrics_lsp.demo.shop.plan import traffic_plan
    from autometrics_lsp.demo.stack import start_service

    with start_service() as service:
        yield ShopUnderTraffic(service=service, plan=traffic_plan(service.rate))


@pytest.fixture(scope="session")
def prometheus(shop_service: ShopUnderTraffic) -> Iterator[RunningBackend]:
    from autometrics_lsp.demo.stack import start_prometheus, wait_for_shop_traffic

    with start_prometheus([shop_service.service.target]) as backend:
        wait_for_shop_traffic(backend, METRICS_WINDOW)
        yield backend


@pytest.fixture(scope="session")
def victoria_metrics(shop_service: ShopUnderTraffic) -> Iterator[RunningBackend]:
    from autometrics_lsp.demo.stack import start_victoria_metrics, wait_for_shop_traffic

    with start_victoria_metrics([shop_service.service.target]) as backend:
        wait_for_shop_traffic(backend, METRICS_WINDOW)
        yield backend
