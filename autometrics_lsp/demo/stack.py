"""Start and stop the demo stack: the sample shop, and a real Prometheus or VictoriaMetrics scraping it.

Used by `autometrics-lsp demo` and by the test fixtures alike, through context managers that always stop what
they started. Standard library only (no httpx): this sits beside instrumented code and must stay light.

Every process binds 127.0.0.1 only, runs in a process group of its own (stopping it is SIGTERM to the group,
then SIGKILL after a grace period) and writes its output to a log in its own temporary directory, which is
removed afterwards; a start-up error quotes the end of that log.

Timing on this project's Debian packages (Prometheus 2.42, VictoriaMetrics 1.79), 1 s scrape interval:
- Prometheus answers `/-/ready` after ~0.2 s, but its FIRST scrape lands only ~6 s after start (its scrape
  manager waits before starting; no flag shortens that). Start it once, then poll; never sleep.
- VictoriaMetrics scrapes within ~1 s. By default it hides the newest 30 s from queries
  (`-search.latencyOffset`); it runs with `-search.latencyOffset=0s` here. And a query made before new series
  are searchable caches "no such series" for that exact selector for up to ~10 s, so `wait_for_series` makes
  every attempt's selector unique (see `_POLL_LABEL`).
- A rate over a window W reads low until W is full of samples (Prometheus divides the increase by all of W).
  `wait_for_shop_traffic` waits until it is, i.e. about 6 s + W after Prometheus starts.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import autometrics_lsp
from autometrics_lsp.demo.shop import DEFAULT_RATE, DEFAULT_VERSION, SERVICE_NAME
from autometrics_lsp.runtime import names

LOOPBACK = "127.0.0.1"
SETUP_HINT = "run scripts/setup.sh, or: apt-get install prometheus victoria-metrics"
DEFAULT_SCRAPE_INTERVAL = "1s"
DEFAULT_JOB = "autometrics-demo"

_STOP_GRACE_SECONDS = 10.0
_POLL_SECONDS = 0.2
_LOG_TAIL_CHARACTERS = 3000
# A label no series carries. `wait_for_series` adds `_POLL_LABEL!="<attempt>"` to every selector: it matches
# everything, but makes each attempt a new selector, which VictoriaMetrics cannot answer from its cache.
_POLL_LABEL = "autometrics_demo_poll"


class StackError(RuntimeError):
    """A process of the stack did not start, or a backend never showed the data."""


class BinaryNotFound(StackError):
    """A backend's executable is not installed."""


class BackendUnavailable(StackError):
    """The backend did not answer, or answered with a server error: worth another try."""


class QueryRejected(StackError):
    """The backend refused the query itself (a client error): no use trying again."""


@dataclass(frozen=True)
class RunningService:
    port: int
    rate: float
    """Entry-point calls per second."""
    version: str
    pid: int

    @property
    def target(self) -> str:
        """`host:port` as a scrape config names it."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.target}/metrics"


@dataclass(frozen=True)
class RunningBackend:
    kind: str
    """"prometheus" or "victoria-metrics"."""
    url: str
    """Base URL of the Prometheus query API, without a trailing slash."""
    pid: int
    scrape_interval: str


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (another process could still take it before it is used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def find_binary(name: str) -> str:
    """The path of a backend's executable: on PATH, else where the Debian package puts it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/local/bin")
    if path is None:
        raise BinaryNotFound(f"{name} is not installed (not on PATH, not in /usr/bin): {SETUP_HINT}")
    return path


def duration_seconds(duration: str) -> float:
    """Seconds in a one-unit Prometheus duration: `500ms`, `1s`, `5m`, `1h` (whole numbers, as Prometheus wants)."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", duration)
    if match is None:
        raise ValueError(f"not a simple Prometheus duration (like 1s, 5m): {duration!r}")
    number, unit = match.groups()
    return int(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def scrape_config(targets: Sequence[str], scrape_interval: str, job_name: str = DEFAULT_JOB) -> dict[str, Any]:
    """A Prometheus configuration scraping `targets` (`host:port`); VictoriaMetrics reads it too."""
    duration_seconds(scrape_interval)
    if not targets:
        raise ValueError("a scrape configuration needs at least one target")
    return {
        "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval},
        "scrape_configs": [{"job_name": job_name, "static_configs": [{"targets": list(targets)}]}],
    }


@contextmanager
def start_service(
    *, rate: float = DEFAULT_RATE, version: str = DEFAULT_VERSION, port: int = 0, timeout: float = 20.0
) -> Iterator[RunningService]:
    """Run the sample shop (`python -m autometrics_lsp.demo.shop`) until the block ends; `port=0` picks one.

    Ready once its `/metrics` lists the shop's call counters, which it writes when its modules load.
    """
    port = port or free_port()
    package_root = Path(autometrics_lsp.__file__).resolve().parent.parent
    environment = {
        **os.environ,
        # The same code as this process, installed or not.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(package_root), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }
    argv = [
        sys.executable, "-m", "autometrics_lsp.demo.shop",
        "--port", str(port), "--rate", repr(rate), "--version", version,
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="autometrics-shop-") as workdir:
        with _process(argv, Path(workdir), environment, what="the sample shop") as process:
            url = f"http://{LOOPBACK}:{port}/metrics"
            process.wait_until(lambda: names.CALLS_TOTAL in (_http_text(url) or ""), timeout)
            yield RunningService(port=port, rate=rate, version=version, pid=process.pid)


@contextmanager
def start_prometheus(
    targets: Sequence[str], scrape_interval: str = DEFAULT_SCRAPE_INTERVAL, *, port: int = 0, timeout: float = 30.0
) -> Iterator[RunningBackend]:
    """A real Prometheus with a throwaway TSDB scraping `targets`, on 127.0.0.1:`port` (0: a free one).

    Ready means `/-/ready`; the first scrape comes ~6 s after start: wait for data with `wait_for_series`.
    """
    binary = find_binary("prometheus")
    config = scrape_config(targets, scrape_interval)
    config["global"]["evaluation_interval"] = scrape_interval
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="autometrics-prometheus-") as workdir:
        config_path = Path(workdir, "prometheus.yml")
        config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        argv = [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={Path(workdir, 'tsdb')}",
            f"--web.listen-address={LOOPBACK}:{port}",
        ]
        with _process(argv, Path(workdir), dict(os.environ), what="Prometheus") as process:
            url = f"http://{LOOPBACK}:{port}"
            process.wait_until(lambda: _http_text(f"{url}/-/ready") is not None, timeout)
            yield RunningBackend("prometheus", url, process.pid, scrape_interval)


@contextmanager
def start_victoria_metrics(
    targets: Sequence[str], scrape_interval: str = DEFAULT_SCRAPE_INTERVAL, *, port: int = 0, timeout: float = 30.0
) -> Iterator[RunningBackend]:
    """A real single-node VictoriaMetrics scraping `targets` itself (`-promscrape.config`), on 127.0.0.1:`port`."""
    binary = find_binary("victoria-metrics")
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="autometrics-victoria-metrics-") as workdir:
        config_path = Path(workdir, "scrape.yml")
        config_path.write_text(json.dumps(scrape_config(targets, scrape_interval), indent=2))
        argv = [
            binary,
            f"-promscrape.config={config_path}",
            f"-storageDataPath={Path(workdir, 'data')}",
            f"-httpListenAddr={LOOPBACK}:{port}",
            "-search.latencyOffset=0s",  # show samples as soon as they are stored, not 30 s later
            "-loggerLevel=WARN",
        ]
        with _process(argv, Path(workdir), dict(os.environ), what="VictoriaMetrics") as process:
            url = f"http://{LOOPBACK}:{port}"
            process.wait_until(lambda: _http_text(f"{url}/health") is not None, timeout)
            yield RunningBackend("victoria-metrics", url, process.pid, scrape_interval)


def query(url: str, expr: str, *, timeout: float = 5.0, extra_selector: str | None = None) -> list[dict[str, Any]]:
    """The result of an instant query at `url`'s `/api/v1/query` (a list of `{"metric", "value"}` for a vector).

    `extra_selector` (`{label!="value"}`) is added to every selector of `expr` (VictoriaMetrics' `extra_filters[]`;
    Prometheus ignores it).
    """
    parameters = [("query", expr)]
    if extra_selector is not None:
        parameters.append(("extra_filters[]", extra_selector))
    request_url = f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode(parameters)}"
    try:
        with urllib.request.urlopen(request_url, timeout=timeout) as response:
            payload = json.load(response)
    except urllib.error.HTTPError as error:
        reason = _error_message(error.read()) or error.reason
        failure = QueryRejected if 400 <= error.code < 500 else BackendUnavailable
        raise failure(f"{url} answered {error.code} to {expr!r}: {reason}") from None
    except (OSError, ValueError) as error:  # refused, reset, timed out; or not JSON
        raise BackendUnavailable(f"{url} did not answer {expr!r}: {error}") from None
    if payload.get("status") != "success":
        raise QueryRejected(f"{url} rejected {expr!r}: {payload.get('error', payload)}")
    data = payload["data"]
    if data["resultType"] in ("scalar", "string"):
        return [{"metric": {}, "value": data["result"]}]
    return list(data["result"])


def query_value(url: str, expr: str, *, timeout: float = 5.0) -> float | None:
    """The value of a query that yields at most one series, e.g. a `sum(...)`; None when it yields none."""
    result = query(url, expr, timeout=timeout)
    if len(result) > 1:
        raise StackError(f"{expr!r} gave {len(result)} series, expected at most one")
    return float(result[0]["value"][1]) if result else None


def wait_for_series(url: str, expr: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Poll an instant query until its result is not empty; return that result.

    A backend still starting (connection refused, 5xx) is polled again; a rejected query fails at once.
    """
    deadline = time.monotonic() + timeout
    last_problem = "an empty result"
    for attempt in itertools.count():
        try:
            result = query(url, expr, extra_selector=f'{{{_POLL_LABEL}!="{attempt}"}}')
        except BackendUnavailable as problem:
            last_problem = str(problem)
        else:
            if result:
                return result
            last_problem = "an empty result"
        if time.monotonic() > deadline:
            break
        time.sleep(_POLL_SECONDS)
    raise StackError(f"no data for {expr!r} at {url} after {timeout:g} s; last answer: {last_problem}")


def wait_for_shop_traffic(
    backend: RunningBackend, window: str, *, service_name: str = SERVICE_NAME, timeout: float = 60.0
) -> float:
    """Wait until `backend` holds the shop's counters and a full `window` of their samples; return the seconds waited.

    Only then does a rate over `window` show the true rate (until the window is full, it reads low).
    """
    started = time.monotonic()
    selector = f"{names.CALLS_TOTAL}{{{names.SERVICE_NAME}={json.dumps(service_name)}}}"
    wait_for_series(backend.url, selector, timeout)
    samples_in_full_window = math.floor(duration_seconds(window) / duration_seconds(backend.scrape_interval))
    remaining = timeout - (time.monotonic() - started)
    wait_for_series(backend.url, f"count_over_time({selector}[{window}]) >= {samples_in_full_window}", remaining)
    return time.monotonic() - started


class _Process:
    def __init__(self, popen: subprocess.Popen[bytes], log_path: Path, what: str) -> None:
        self._popen = popen
        self._log_path = log_path
        self.what = what

    @property
    def pid(self) -> int:
        return self._popen.pid

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            exit_code = self._popen.poll()
            if exit_code is not None:
                raise StackError(f"{self.what} exited with code {exit_code} while starting:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise StackError(f"{self.what} was not ready after {timeout:g} s:\n{self.log_tail()}")
            time.sleep(_POLL_SECONDS)

    def log_tail(self) -> str:
        text = self._log_path.read_text(errors="replace")
        return text[-_LOG_TAIL_CHARACTERS:] or "(no output)"

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL to it after the grace period; reaps the leader."""
        _signal_group(self._popen.pid, signal.SIGTERM)
        try:
            self._popen.wait(_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(self._popen.pid, signal.SIGKILL)
            self._popen.wait()


def _signal_group(group: int, signal_number: int) -> None:
    try:
        os.killpg(group, signal_number)
    except ProcessLookupError:
        pass  # the whole group is gone already


@contextmanager
def _process(argv: list[str], workdir: Path, environment: dict[str, str], *, what: str) -> Iterator[_Process]:
    log_path = workdir / "output.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [*_dies_with_this_process(), *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=environment,
            start_new_session=True,  # its own process group, so stop() reaches anything it spawns
        )
    process = _Process(popen, log_path, what)
    try:
        yield process
    finally:
        process.stop()


def _dies_with_this_process() -> list[str]:
    """A command prefix that ends the child when this process dies without cleaning up (SIGKILL, or a SIGTERM
    that skips finalizers), so no Prometheus or shop outlives a killed test run. The kernel sends the signal when
    the starting thread exits: the stack is started from the main thread. Where setpriv is missing, nothing."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


def _http_text(url: str) -> str | None:
    """The body of a 200 answer, or None for anything else (refused, error status, timeout)."""
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return response.read().decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return None


def _error_message(body: bytes) -> str | None:
    try:
        message = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return None
    return str(message) if message else None
