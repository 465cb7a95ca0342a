"""Multiprocess mode for real: gunicorn with two worker processes, both serving calls, one scrape summing both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from autometrics_lsp.runtime import names

APP_DIR = Path(__file__).resolve().parent
SERVICE_NAME = "multiprocess-teashop"  # as multiprocess_app.py says
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Gunicorn:
    base_url: str

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def scrape(self) -> dict[str, list[tuple[str, dict[str, str], float]]]:
        status, text = self.get("/metrics")
        assert status == 200
        by_sample: dict[str, list[tuple[str, dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                by_sample.setdefault(sample.name, []).append((sample.name, sample.labels, sample.value))
        return by_sample


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Gunicorn]:
    multiprocess_dir = tmp_path / "multiproc"
    multiprocess_dir.mkdir()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AUTOMETRICS_", "OTEL_"))},
        "PROMETHEUS_MULTIPROC_DIR": str(multiprocess_dir),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "--chdir", str(APP_DIR), "--log-level", "warning", "multiprocess_app:app"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    server = Gunicorn(f"http://127.0.0.1:{port}")
    try:
        _wait_until_serving(server, process)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_serving(server: Gunicorn, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}: {process.stderr.read() if process.stderr else ''}")
        try:
            server.get("/metrics")
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail("gunicorn did not answer in time")


def brew_samples(scraped: dict[str, list[tuple[str, dict[str, str], float]]], sample_name: str) -> list[tuple[dict[str, str], float]]:
    return [(labels, value) for _, labels, value in scraped.get(sample_name, []) if labels.get(names.FUNCTION) == "brew"]


def test_two_workers_serve_calls_and_one_scrape_sums_both(gunicorn: Gunicorn) -> None:
    # Sync workers serve one request at a time: four slow requests at once keep both workers busy.
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: gunicorn.get("/brew/green?seconds=0.3"), range(4)))
    answers += [gunicorn.get("/brew/black") for _ in range(20)]
    answers += [gunicorn.get("/brew/bad") for _ in range(5)]

    assert len({pid for _, pid in answers}) == 2, "both workers served calls"
    assert [status for status, _ in answers].count(500) == 5

    first, second = gunicorn.scrape(), gunicorn.scrape()
    for scraped in (first, second):  # whichever worker answers, it reports both
        calls = {labels[names.RESULT]: value for labels, value in brew_samples(scraped, names.CALLS_TOTAL)
                 if labels[names.CALLER_FUNCTION] == ""}
        assert calls == {names.RESULT_OK: 24, names.RESULT_ERROR: 5}
        [(count_labels, count)] = brew_samples(scraped, names.CALLS_DURATION_SECONDS + "_count")
        assert count == 29
        assert count_labels[names.SERVICE_NAME] == SERVICE_NAME
        [(_, in_progress)] = brew_samples(scraped, names.CALLS_CONCURRENT)
        assert in_progress == 0
        [(info_labels, info)] = [(labels, value) for _, labels, value in scraped[names.BUILD_INFO]]
        assert info == 1
        assert info_labels[names.SERVICE_NAME] == SERVICE_NAME
        assert info_labels[names.AUTOMETRICS_VERSION] == "1.0.0"


def test_calls_in_progress_are_summed_over_live_workers(gunicorn: Gunicorn) -> None:
    slow = threading.Thread(target=gunicorn.get, args=("/brew/oolong?seconds=2",))
    slow.start()
    try:
        deadline = time.monotonic() + 10
        in_progress = 0.0
        while time.monotonic() < deadline and in_progress == 0:
            [(_, in_progress)] = brew_samples(gunicorn.scrape(), names.CALLS_CONCURRENT)
        assert in_progress == 1
    finally:
        slow.join()
    [(_, after)] = brew_samples(gunicorn.scrape(), names.CALLS_CONCURRENT)
    assert after == 0
