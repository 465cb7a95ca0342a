"""Each test gets a fresh registry, with the runtime initialised to expose into it.

The runtime is process-wide (it has to be: decorators run at import), so tests keep their counts apart by
instrumenting functions defined inside the test itself: each has its own qualname, so its own series.
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from tests.unit.runtime.runtime_samples import TEST_SERVICE

from autometrics_lsp.runtime import init


@pytest.fixture
def registry() -> CollectorRegistry:
    fresh = CollectorRegistry()
    init(registry=fresh, service_name=TEST_SERVICE)
    return fresh
