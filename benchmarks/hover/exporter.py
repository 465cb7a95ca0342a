"""A metrics endpoint for thousands of instrumented functions, as the runtime would expose them under traffic.

    python exporter.py FUNCTIONS_JSON [--seed N]

Prints `port N` on stdout once it listens on 127.0.0.1 (an ephemeral port), then serves `/metrics` until it
is terminated. FUNCTIONS_JSON is a list of `[module, qualname]` pairs. Each function gets a steady traffic
profile drawn from the seed — a call rate, an error ratio, a latency distribution, a caller — and its
counters grow with the wall clock, so every scrape sees them rise and `rate()` answers at once.

Driving the real runtime would mean running the package's code under some invented load; serving the
series it would write (names from the project's one list) gives the servers the same data to read, at a
steady, small CPU cost beside the servers being measured.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from autometrics_lsp.runtime import names

SERVICE = "hover-bench"
ERROR_TYPES = ("ValueError", "KeyError", "NetworkXError", "TimeoutError")
CALLER_SHARE = 0.6  # of a function's calls, the part made by its instrumented caller; the rest come from the top


@dataclass(frozen=True)
class Series:
    """One exposition line whose value is `per_second * elapsed seconds`."""

    line_start: str  # `name{labels} `
    per_second: float


@dataclass(frozen=True)
class TrafficProfile:
    calls_per_second: float
    error_ratio: float
    median_latency_seconds: float
    latency_spread: float  # sigma of the log-normal latency
    caller: tuple[str, str] | None  # (module, qualname) of the instrumented caller
    error_type: str | None  # the `error` label, for functions whose errors record it


def traffic_profile(function: tuple[str, str], functions: Sequence[tuple[str, str]], seed: int) -> TrafficProfile:
    rng = random.Random(f"{seed}:{function[0]}:{function[1]}")
    caller = rng.choice(functions) if rng.random() < 0.7 else None
    return TrafficProfile(
        calls_per_second=math.exp(rng.uniform(math.log(0.05), math.log(50.0))),
        error_ratio=0.0 if rng.random() < 0.4 else rng.uniform(0.001, 0.2),
        median_latency_seconds=math.exp(rng.uniform(math.log(0.001), math.log(0.5))),
        latency_spread=rng.uniform(0.2, 1.2),
        caller=caller if caller != function else None,
        error_type=rng.choice(ERROR_TYPES) if rng.random() < 0.5 else None,
    )


def function_series(function: tuple[str, str], profile: TrafficProfile) -> list[Series]:
    """The calls counter (per caller and result) and the duration histogram of one function."""
    module, qualname = function
    identity = {names.FUNCTION: qualname, names.MODULE: module, names.SERVICE_NAME: SERVICE}
    callers = [("", "", 1.0)]
    if profile.caller:
        caller_module, caller_function = profile.caller
        callers = [("", "", 1.0 - CALLER_SHARE), (caller_function, caller_module, CALLER_SHARE)]
    series = []
    for caller_function, caller_module, share in callers:
        caller_labels = {**identity, names.CALLER_FUNCTION: caller_function, names.CALLER_MODULE: caller_module}
        rate = profile.calls_per_second * share
        ok_labels = {**caller_labels, names.RESULT: names.RESULT_OK}
        series.append(Series(_line_start(names.CALLS_TOTAL, ok_labels), rate * (1.0 - profile.error_ratio)))
        error_labels = {**caller_labels, names.RESULT: names.RESULT_ERROR}
        if profile.error_type:
            error_labels[names.ERROR] = profile.error_type
        series.append(Series(_line_start(names.CALLS_TOTAL, error_labels), rate * profile.error_ratio))
    histogram = names.CALLS_DURATION_SECONDS
    for bound in names.DEFAULT_BUCKETS:
        share_below = _lognormal_cdf(bound, profile.median_latency_seconds, profile.latency_spread)
        labels = {**identity, names.LE: _bucket_label(bound)}
        series.append(Series(_line_start(f"{histogram}_bucket", labels), profile.calls_per_second * share_below))
    series.append(Series(_line_start(f"{histogram}_bucket", {**identity, names.LE: "+Inf"}), profile.calls_per_second))
    series.append(Series(_line_start(f"{histogram}_count", identity), profile.calls_per_second))
    mean_latency = profile.median_latency_seconds * math.exp(profile.latency_spread**2 / 2)
    series.append(Series(_line_start(f"{histogram}_sum", identity), profile.calls_per_second * mean_latency))
    return series


def exposition(series: Sequence[Series], elapsed_seconds: float) -> bytes:
    """The text format, every counter at its value after `elapsed_seconds` of traffic."""
    header = f"# TYPE {names.CALLS_TOTAL} counter\n# TYPE {names.CALLS_DURATION_SECONDS} histogram\n"
    body = "".join(f"{one.line_start}{one.per_second * elapsed_seconds:.3f}\n" for one in series)
    return (header + body).encode("utf-8")


def _line_start(metric: str, labels: dict[str, str]) -> str:
    # Empty values are left out: Prometheus stores `x=""` as no label at all, and every byte is scraped each second.
    rendered = ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items() if value)
    return f"{metric}{{{rendered}}} "


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _bucket_label(bound: float) -> str:
    return repr(float(bound))


def _lognormal_cdf(value: float, median: float, sigma: float) -> float:
    return 0.5 * (1.0 + math.erf(math.log(value / median) / (sigma * math.sqrt(2.0))))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("functions", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    functions = [tuple(pair) for pair in json.loads(args.functions.read_text(encoding="utf-8"))]
    series = [
        one
        for function in functions
        for one in function_series(function, traffic_profile(function, functions, args.seed))
    ]
    # Traffic "began" a minute ago, so the first scrape already carries counts of every magnitude.
    traffic_start = time.monotonic() - 60.0

    class MetricsHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = exposition(series, time.monotonic() - traffic_start)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per scrape each second would only bury real errors

    server = ThreadingHTTPServer(("127.0.0.1", 0), MetricsHandler)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
