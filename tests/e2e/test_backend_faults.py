"""The backend against real backends — Prometheus (plain, behind a path prefix, behind TLS and basic auth) and
VictoriaMetrics — and through a whole outage story on the fault server: it recovers by itself and reports each
distinct failure once.

Each real backend here is this module's own throwaway process on a free loopback port (no scraping needed:
the queries are constant expressions), stopped by its fixture's finalizer; the tests that need one carry the
`prometheus` marker.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from autometrics_lsp.backend import (
    BackendError,
    BackendErrorKind,
    InstantQuery,
    RangeQuery,
    Sample,
)
from autometrics_lsp.settings import BasicAuth, Settings
from tests.support.fault_server import (
    FaultServer,
    Healthy,
    HttpStatus,
    ResetMidBody,
    Stall,
    TruncatedJson,
    WrongContentType,
)
from tests.support.backends import only_error

PROMETHEUS_BINARY = "/usr/bin/prometheus"
VICTORIA_METRICS_BINARY = "/usr/bin/victoria-metrics"
PROMETHEUS_CONFIG = "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs: []\n"
USERNAME = "ann"
PASSWORD = "e2e-basic-auth-password"
# bcrypt (cost 4, the minimum: fast to check) of PASSWORD, for Prometheus' web config.
PASSWORD_BCRYPT = "$2b$04$8cqj9BESzf9..xLO/KI7xepuPFzTtrzmmQFSN8JRR7hSPdJU4uWaS"
SLACK = 0.5  # seconds a loaded 2-core machine may add to a time budget; far below what a missed budget costs
# ~10 kB: longer than many proxies allow in a GET URL, shorter than VictoriaMetrics' default limit of 16 kB.
LONG_QUERY = " + ".join(f'label_replace(vector({i}), "function", "f{i}", "", "")' for i in range(170))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Process:
    """A backend process we started, with its base URL."""

    argv: list[str]
    ready_url: str
    log_path: Path
    ssl_context: ssl.SSLContext | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=1, context=self.ssl_context) as answer:
                    if answer.status == 200:
                        return self
            except urllib.error.HTTPError as refused:
                if refused.code == 401:  # up, and asking for the credentials it is configured with
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.argv[0]} not ready within 15 s: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.popen is None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.popen = None


def prometheus_process(directory: Path, port: int, *extra: str, ready_path: str = "/-/ready", **options) -> Process:
    config = directory / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG)
    argv = [
        PROMETHEUS_BINARY,
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        *extra,
    ]
    scheme = "https" if options.get("ssl_context") else "http"
    return Process(argv, f"{scheme}://127.0.0.1:{port}{ready_path}", directory / "prometheus.log", **options)


@pytest.fixture(scope="module")
def prefixed_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus serving under /prom, as behind a reverse proxy; yields its base URL with the prefix."""
    port = free_port()
    external = f"http://127.0.0.1:{port}/prom/"
    process = prometheus_process(
        tmp_path_factory.mktemp("prometheus"), port, f"--web.external-url={external}", ready_path="/prom/-/ready"
    ).start()
    yield external
    process.stop()


@dataclass(frozen=True)
class SecuredBackend:
    url: str
    ca_bundle: Path


@pytest.fixture(scope="module")
def secured_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBackend]:
    """A real Prometheus behind TLS (a self-signed certificate for 127.0.0.1) and basic auth."""
    directory = tmp_path_factory.mktemp("secured-prometheus")
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(certificate), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    web_config = directory / "web.yml"
    web_config.write_text(
        f"tls_server_config:\n  cert_file: {certificate}\n  key_file: {key}\n"
        f"basic_auth_users:\n  {USERNAME}: '{PASSWORD_BCRYPT}'\n"
    )
    port = free_port()
    context = ssl.create_default_context(cafile=str(certificate))
    process = prometheus_process(directory, port, f"--web.config.file={web_config}", ssl_context=context).start()
    yield SecuredBackend(f"https://127.0.0.1:{port}", certificate)
    process.stop()


@pytest.fixture(scope="module")
def local_victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("victoria-metrics")
    port = free_port()
    argv = [
        VICTORIA_METRICS_BINARY,
        f"-httpListenAddr=127.0.0.1:{port}",
        f"-storageDataPath={directory / 'data'}",
        "-loggerLevel=ERROR",
    ]
    process = Process(argv, f"http://127.0.0.1:{port}/health", directory / "victoria-metrics.log").start()
    yield f"http://127.0.0.1:{port}"
    process.stop()


QUERIES = {
    "constant": InstantQuery("vector(1)"),
    "labelled": InstantQuery('label_replace(vector(2), "function", "say \\"hi\\"\\\\n", "", "")'),
    "long": InstantQuery(LONG_QUERY),
    "history": RangeQuery("vector(3)", duration=300, step=15),
}


def check_answers(results: dict[str, object]) -> None:
    assert results["constant"] == [Sample({}, 1.0)]
    assert results["labelled"] == [Sample({"function": 'say "hi"\\n'}, 2.0)]
    long = results["long"]
    assert isinstance(long, list) and len(long) == 0  # label sets differ, so `+` matches nothing: but it ran
    [series] = results["history"]  # type: ignore[misc]
    assert len(series.points) == 21 and {value for _, value in series.points} == {3.0}
    assert series.points[-1][0] - series.points[0][0] == 300


# --- real Prometheus ----------------------------------------------------------------------------


@pytest.mark.prometheus
async def test_real_prometheus_behind_a_path_prefix(prefixed_prometheus: str, make_backend) -> None:
    backend = make_backend(Settings(prometheus_url=prefixed_prometheus))

    check_answers(await backend.run(QUERIES))
    assert await backend.ping() is None


@pytest.mark.prometheus
async def test_real_prometheus_without_its_path_prefix_says_so(prefixed_prometheus: str, make_backend) -> None:
    root = prefixed_prometheus.removesuffix("/prom/")
    backend = make_backend(Settings(prometheus_url=root))

    error = only_error((await backend.run({"constant": QUERIES["constant"]}))["constant"])

    assert error.message() == f"Prometheus at {root} answered HTTP 404 (is the URL's path prefix right?)"


@pytest.mark.prometheus
async def test_real_prometheus_rejects_an_unknown_function_once(prefixed_prometheus: str, make_backend) -> None:
    reported: list[BackendError] = []
    backend = make_backend(Settings(prometheus_url=prefixed_prometheus), cache_ttl=0, on_error=reported.append)

    for _ in range(3):
        results = await backend.run({"bad": InstantQuery("nonexistent_function(1)"), "good": QUERIES["constant"]})
        assert results["good"] == [Sample({}, 1.0)]
        error = only_error(results["bad"])
        assert error.kind is BackendErrorKind.BAD_QUERY
        assert 'unknown function with name "nonexistent_function"' in error.message()

    assert len(reported) == 1


@pytest.mark.prometheus
async def test_real_prometheus_going_away_and_coming_back(tmp_path: Path, make_backend) -> None:
    port = free_port()
    prometheus = prometheus_process(tmp_path, port)
    reported: list[str] = []
    backend = make_backend(
        Settings(prometheus_url=f"http://127.0.0.1:{port}"), on_error=lambda error: reported.append(error.message())
    )
    try:
        prometheus.start()
        assert (await backend.run({"one": InstantQuery("vector(1)")}))["one"] == [Sample({}, 1.0)]

        prometheus.stop()
        for attempt in range(3):
            error = only_error((await backend.run({"two": InstantQuery("vector(2)")}))["two"])
            assert error.kind is BackendErrorKind.UNREACHABLE

        prometheus.start()
        assert (await backend.run({"two": InstantQuery("vector(2)")}))["two"] == [Sample({}, 2.0)]
    finally:
        prometheus.stop()
    assert reported == [f"Prometheus at http://127.0.0.1:{port} refused the connection"]


@pytest.mark.prometheus
async def test_real_prometheus_with_tls_and_basic_auth(secured_prometheus: SecuredBackend, make_backend) -> None:
    settings = Settings(
        prometheus_url=secured_prometheus.url,
        basic_auth=BasicAuth(USERNAME, PASSWORD),
        tls_verify=str(secured_prometheus.ca_bundle),
    )
    backend = make_backend(settings)

    check_answers(await backend.run(QUERIES))


@pytest.mark.prometheus
@pytest.mark.parametrize(
    ("auth", "detail"),
    [
        ({"basic_auth": BasicAuth(USERNAME, "wrong-password")}, "rejected the credentials (HTTP 401)"),
        ({}, "rejected the credentials (HTTP 401)"),
        ({"bearer_token": "not-a-user"}, "rejected the credentials (HTTP 401)"),
    ],
    ids=["wrong password", "no credentials", "bearer token instead"],
)
async def test_real_prometheus_rejecting_credentials(
    secured_prometheus: SecuredBackend, make_backend, auth: dict, detail: str
) -> None:
    settings = Settings(prometheus_url=secured_prometheus.url, tls_verify=str(secured_prometheus.ca_bundle), **auth)
    backend = make_backend(settings)

    error = only_error((await backend.run({"constant": QUERIES["constant"]}))["constant"])

    assert error.kind is BackendErrorKind.UNAUTHORIZED
    assert error.message() == f"Prometheus at {secured_prometheus.url} {detail}"
    assert "wrong-password" not in repr(error) and "not-a-user" not in repr(error)


@pytest.mark.prometheus
async def test_real_prometheus_with_an_unknown_certificate(secured_prometheus: SecuredBackend, make_backend) -> None:
    checked = make_backend(Settings(prometheus_url=secured_prometheus.url, basic_auth=BasicAuth(USERNAME, PASSWORD)))
    unchecked = make_backend(
        Settings(prometheus_url=secured_prometheus.url, basic_auth=BasicAuth(USERNAME, PASSWORD), tls_verify=False)
    )

    error = only_error((await checked.run({"constant": QUERIES["constant"]}))["constant"])
    assert error.kind is BackendErrorKind.TLS
    assert error.message().startswith(f"Prometheus at {secured_prometheus.url} failed TLS verification (")
    assert (await unchecked.run({"constant": QUERIES["constant"]}))["constant"] == [Sample({}, 1.0)]


# --- real VictoriaMetrics -----------------------------------------------------------------------


@pytest.mark.prometheus
@pytest.mark.parametrize("prefix", ["", "/prometheus"])
async def test_real_victoria_metrics(local_victoria_metrics: str, make_backend, prefix: str) -> None:
    backend = make_backend(Settings(prometheus_url=local_victoria_metrics + prefix))

    check_answers(await backend.run(QUERIES))
    assert await backend.ping() is None


@pytest.mark.prometheus
async def test_real_victoria_metrics_rejects_an_unknown_function(local_victoria_metrics: str, make_backend) -> None:
    backend = make_backend(Settings(prometheus_url=local_victoria_metrics))

    error = only_error((await backend.run({"bad": InstantQuery("nonexistent_function(1)")}))["bad"])

    assert error.kind is BackendErrorKind.BAD_QUERY
    assert 'unknown func "nonexistent_function"' in error.message()


@pytest.mark.prometheus
async def test_real_victoria_metrics_limits_the_query_length(local_victoria_metrics: str, make_backend) -> None:
    """Worth knowing when building queries: VictoriaMetrics refuses PromQL over 16 kB by default."""
    backend = make_backend(Settings(prometheus_url=local_victoria_metrics))
    too_long = " + ".join([LONG_QUERY] * 2)

    error = only_error((await backend.run({"long": InstantQuery(too_long)}))["long"])

    assert error.kind is BackendErrorKind.BAD_QUERY and "maxQueryLen" in error.message()


# --- a whole outage on the fault server ---------------------------------------------------------


async def test_an_outage_story_recovers_by_itself_and_reports_each_distinct_failure_once(make_backend) -> None:
    """Refused, reset mid-body, 10 s stalls, a 5xx storm, truncated JSON, a login page — then back to normal."""
    server = FaultServer().start()
    url = server.url
    server.stop()
    reported: list[str] = []
    backend = make_backend(
        Settings(prometheus_url=url, timeout=0.5), cache_ttl=0, on_error=lambda error: reported.append(error.detail)
    )
    queries = {"rate": InstantQuery("vector(1)"), "history": RangeQuery("vector(1)", duration=600, step=60)}

    async def hovers(count: int) -> list[dict[str, object]]:
        answers = []
        for _ in range(count):
            started = time.perf_counter()
            answers.append(await backend.run(queries))
            assert time.perf_counter() - started < 0.5 + SLACK, "no hover waits longer than the budget"
        return answers

    try:
        for answer in await hovers(3):
            assert all(only_error(result).kind is BackendErrorKind.UNREACHABLE for result in answer.values())
        server.start()  # the same port: the backend was never told
        for behaviour in [ResetMidBody(), Stall(10), HttpStatus(503), HttpStatus(500), TruncatedJson(),
                          WrongContentType()]:  # fmt: skip
            server.behave(behaviour)
            for answer in await hovers(3):
                assert all(isinstance(result, BackendError) for result in answer.values())
        server.behave(Healthy())
        for answer in await hovers(2):
            assert answer["rate"] == [Sample({}, 1.0)]
    finally:
        server.stop()

    assert reported == [
        "refused the connection",
        "closed the connection before the answer was complete",
        "did not answer within 0.5 s",
        "answered HTTP 503",
        "answered HTTP 500",
        "sent a response that is not Prometheus JSON (invalid or truncated JSON)",
        "sent a response that is not Prometheus JSON (text/html)",
    ]
