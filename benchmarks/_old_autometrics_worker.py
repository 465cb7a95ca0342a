"""Times the older `autometrics` package (PyPI 1.0.0) inside its own venv; run by decorator_overhead.py.

Reads one JSON request on stdin ({"iterations", "repeats", "calls_sample_name", "function_label",
"service_name"}) and writes one JSON answer on stdout: the per-call figures of a plain call and of the same
function under the older package's decorator (Prometheus tracker), and how many calls its registry counted.
The metric and label names come in the request, so the project's names module stays their one source.
"""

from __future__ import annotations

import contextlib
import json
import platform
import sys
from importlib.metadata import version
from typing import Any

from _call_timing import add_one, count_recorded_calls, time_sync_calls


def measure(request: dict[str, Any]) -> dict[str, Any]:
    from autometrics import autometrics, init
    from prometheus_client import REGISTRY

    iterations: int = request["iterations"]
    repeats: int = request["repeats"]
    init(tracker="prometheus", service_name=request["service_name"])
    instrumented = autometrics(add_one)

    plain_samples = time_sync_calls(add_one, iterations, repeats)
    instrumented_samples = time_sync_calls(instrumented, iterations, repeats)
    return {
        "python": platform.python_version(),
        "autometrics_version": version("autometrics"),
        "prometheus_client_version": version("prometheus_client"),
        "plain_sync": plain_samples,
        "old_autometrics_sync": instrumented_samples,
        "recorded_calls": count_recorded_calls(
            REGISTRY, request["calls_sample_name"], {request["function_label"]: add_one.__qualname__}
        ),
    }


def main() -> None:
    request = json.load(sys.stdin)
    # Only the answer may reach stdout: anything the package might print goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        answer = measure(request)
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
