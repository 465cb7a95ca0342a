"""The live-data side of the benchmark: the exporter and a real Prometheus scraping it, on loopback.

Every process starts in a session of its own and is stopped as a process group when the `ExitStack` given to
its starter unwinds, whatever happened in between.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from autometrics_lsp.runtime import names

PROMETHEUS_BINARY = Path("/usr/bin/prometheus")
EXPORTER_SCRIPT = Path(__file__).resolve().parent / "exporter.py"
STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class LiveData:
    prometheus_url: str
    exporter_pid: int
    prometheus_pid: int


def start_process(
    stack: ExitStack, command: list[str], log_path: Path, *, stdout: int | IO[Any] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session (stderr to `log_path`); it is stopped when `stack` unwinds."""
    log = stack.enter_context(log_path.open("wb"))
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=stdout if stdout is not None else log, stderr=log,
        env=env, start_new_session=True,
    )
    stack.callback(stop_process_group, process)
    return process


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's whole group, SIGKILL after a grace period; a no-op once it is gone."""
    for sig, wait_seconds in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, STOP_GRACE_SECONDS)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_seconds)
            break
        except subprocess.TimeoutExpired:
            continue
    if process.stdout:
        process.stdout.close()


def start_live_data(
    stack: ExitStack, functions: list[tuple[str, str]], work_dir: Path, *, seed: int, wait_seconds: float = 60.0
) -> LiveData:
    """Exporter + Prometheus (1 s scrape), returned once Prometheus answers `rate()` for every function."""
    functions_file = work_dir / "functions.json"
    functions_file.write_text(json.dumps(functions), encoding="utf-8")
    exporter = start_process(
        stack,
        [sys.executable, str(EXPORTER_SCRIPT), str(functions_file), "--seed", str(seed)],
        work_dir / "exporter.log",
        stdout=subprocess.PIPE,
    )
    assert exporter.stdout is not None
    announced = exporter.stdout.readline().decode().split()
    if len(announced) != 2 or announced[0] != "port":
        raise RuntimeError(f"the exporter did not start; see {work_dir / 'exporter.log'}")
    prometheus, url = _start_prometheus(stack, int(announced[1]), work_dir)
    wait_for_rates(url, expected=len(set(functions)), timeout_seconds=wait_seconds)
    return LiveData(prometheus_url=url, exporter_pid=exporter.pid, prometheus_pid=prometheus.pid)


def _start_prometheus(stack: ExitStack, target_port: int, work_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    config = work_dir / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: hover-bench\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n",
        encoding="utf-8",
    )
    port = free_port()
    process = start_process(
        stack,
        [
            str(PROMETHEUS_BINARY),
            f"--config.file={config}",
            f"--storage.tsdb.path={work_dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        work_dir / "prometheus.log",
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Prometheus exited; see {work_dir / 'prometheus.log'}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1.0):
                return process, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("Prometheus did not become ready in 15 s")


def wait_for_rates(url: str, *, expected: int, timeout_seconds: float) -> None:
    """Poll until `rate()` of the calls counter has a value for `expected` distinct functions."""
    query = (
        f"count(count by ({names.FUNCTION}, {names.MODULE}) (rate({names.CALLS_TOTAL}[1m])))"
    )
    deadline = time.monotonic() + timeout_seconds
    seen = 0
    while time.monotonic() < deadline:
        result = instant_query(url, query)
        seen = int(float(result[0]["value"][1])) if result else 0
        if seen >= expected:
            return
        time.sleep(0.5)
    raise RuntimeError(f"Prometheus had rates for {seen} of {expected} functions after {timeout_seconds:.0f} s")


def instant_query(url: str, query: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}", timeout=10) as reply:
        result: list[dict[str, Any]] = json.load(reply)["data"]["result"]
        return result


def api_requests_served(url: str) -> int:
    """Requests Prometheus has answered on its query API so far, read from its own metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as reply:
        text = reply.read().decode("utf-8")
    total = 0.0
    for line in text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
