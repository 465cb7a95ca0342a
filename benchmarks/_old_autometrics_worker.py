"""Times the older `autometrics` package (PyPI 1.0.0) in its own venv, on request of decorator_overhead.py.

A line protocol of JSON objects, so the benchmark can interleave this process's repeats with its own:
- first request `{"calls_sample_name", "function_label", "service_name"}`; answer: the versions timed;
- `{"iterations": N}`: time one repeat; answer `{"plain": PerCall, "instrumented": PerCall}` (each
  `[wall_ns, cpu_ns]` per call, see `_call_timing`): a plain call, and the same function under the older
  package's decorator (Prometheus tracker);
- `{"count": true}`: answer `{"recorded_calls": N}`, what the package's registry counted for that function.
The metric and label names come in the first request, so the project's names module stays their one source.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib.metadata import version
from typing import IO, Any

from _call_timing import add_one, count_recorded_calls, time_sync_repeat


def serve(requests: IO[str], answers: IO[str]) -> None:
    from autometrics import autometrics, init
    from prometheus_client import REGISTRY

    def answer(message: dict[str, Any]) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    setup = json.loads(requests.readline())
    init(tracker="prometheus", service_name=setup["service_name"])
    instrumented = autometrics(add_one)
    answer(
        {
            "python": platform.python_version(),
            "autometrics_version": version("autometrics"),
            "prometheus_client_version": version("prometheus_client"),
        }
    )
    for line in requests:
        request = json.loads(line)
        if "iterations" in request:
            answer(
                {
                    "plain": time_sync_repeat(add_one, request["iterations"]),
                    "instrumented": time_sync_repeat(instrumented, request["iterations"]),
                }
            )
        else:
            recorded = count_recorded_calls(
                REGISTRY, setup["calls_sample_name"], {setup["function_label"]: add_one.__qualname__}
            )
            answer({"recorded_calls": recorded})


def main() -> None:
    answers = sys.stdout
    # Only answers may reach the protocol's stream: anything the package prints goes to stderr.
    sys.stdout = sys.stderr
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
