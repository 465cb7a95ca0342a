"""The backend against a real local HTTP server playing Prometheus and its failures; its pure decoding directly."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import math
import socket
import ssl
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from autometrics_lsp import backend as backend_module
from autometrics_lsp.backend import (
    BackendError,
    BackendErrorKind,
    InstantQuery,
    PrometheusBackend,
    RangeQuery,
    Sample,
    Series,
    decode_response,
    error_from_exception,
    format_seconds,
)
from autometrics_lsp.settings import BasicAuth, Settings, load_settings
from tests.support.fault_server import (
    Behaviour,
    FaultServer,
    Healthy,
    HttpStatus,
    InvalidJson,
    PrometheusError,
    ResetMidBody,
    Stall,
    TruncatedJson,
    WrongContentType,
    matrix,
    vector,
)
from tests.support.backends import only_error

TOKEN = "tok-5c1e-SECRET"
PASSWORD = "pw-8a0f-SECRET"
HEADER_SECRET = "key-77d3-SECRET"
URL = "http://127.0.0.1:9"
SLACK = 0.5  # seconds a loaded 2-core machine may add to a time budget; far below what a missed budget costs
RATE = InstantQuery('sum(rate(function_calls_total{function="f"}[5m]))')
HISTORY = RangeQuery('sum(rate(function_calls_total{function="f"}[1m]))', duration=3600, step=60)


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


def settings_for(server: FaultServer, **changes: object) -> Settings:
    return Settings(prometheus_url=server.url, **changes)  # type: ignore[arg-type]


# --- pure decoding ------------------------------------------------------------------------------


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


def test_decoding_an_instant_vector_with_special_float_values() -> None:
    data = vector(({"function": "f", "module": "m"}, 2.5), ({"function": "g"}, "NaN"), ({}, "+Inf"), ({}, "-Inf"))

    samples = decode_response(RATE, 200, "application/json", body({"status": "success", "data": data}), URL)

    assert isinstance(samples, list) and all(isinstance(sample, Sample) for sample in samples)
    assert dict(samples[0].labels) == {"function": "f", "module": "m"} and samples[0].value == 2.5
    assert math.isnan(samples[1].value)
    assert samples[2].value == math.inf and samples[3].value == -math.inf


def test_decoding_a_scalar_answer_of_an_instant_query() -> None:
    payload = {"status": "success", "data": {"resultType": "scalar", "result": [1700000000.5, "3"]}}

    assert decode_response(RATE, 200, "application/json", body(payload), URL) == [Sample({}, 3.0)]


def test_decoding_a_matrix_of_a_range_query() -> None:
    data = matrix(({"version": "1.2"}, [(100, "1"), (160, "NaN")]), ({"version": "1.3"}, []))

    series = decode_response(HISTORY, 200, "application/json", body({"status": "success", "data": data}), URL)

    assert isinstance(series, list) and all(isinstance(one, Series) for one in series)
    assert dict(series[0].labels) == {"version": "1.2"}
    assert series[0].points[0] == (100.0, 1.0) and math.isnan(series[0].points[1][1])
    assert series[1].points == ()


def test_decoded_labels_are_read_only() -> None:
    samples = decode_response(RATE, 200, "", body({"status": "success", "data": vector(({"a": "b"}, 1))}), URL)

    with pytest.raises(TypeError):
        samples[0].labels["a"] = "c"  # type: ignore[index]


@pytest.mark.parametrize(
    ("query", "status", "content_type", "raw", "kind", "detail"),
    [
        (RATE, 200, "application/json", b"{not json", BackendErrorKind.BAD_RESPONSE,
         "sent a response that is not Prometheus JSON (invalid or truncated JSON)"),
        (RATE, 200, "text/html", b"<html></html>", BackendErrorKind.BAD_RESPONSE,
         "sent a response that is not Prometheus JSON (text/html)"),
        (RATE, 200, "", b"[1, 2]", BackendErrorKind.BAD_RESPONSE,
         "sent a response that is not Prometheus JSON (no content type)"),
        (RATE, 200, "application/json", body({"status": "success", "data": {"resultType": "matrix", "result": []}}),
         BackendErrorKind.BAD_RESPONSE, "an instant query returned 'matrix'"),
        (HISTORY, 200, "application/json", body({"status": "success", "data": vector()}),
         BackendErrorKind.BAD_RESPONSE, "a range query returned 'vector'"),
        (RATE, 200, "application/json",
         body({"status": "success",
               "data": {"resultType": "vector", "result": [{"metric": {"a": 1}, "value": [1, "1"]}]}}),
         BackendErrorKind.BAD_RESPONSE, "labels are not an object of strings"),
        (RATE, 200, "application/json",
         body({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "x"]}]}}),
         BackendErrorKind.BAD_RESPONSE, "could not convert string to float"),
        (RATE, 200, "application/json", body({"status": "success"}), BackendErrorKind.BAD_RESPONSE, "no data object"),
        (RATE, 400, "application/json",
         body({"status": "error", "errorType": "bad_data", "error": 'unknown function with name "nope"'}),
         BackendErrorKind.BAD_QUERY, 'rejected a query: unknown function with name "nope"'),
        (RATE, 422, "application/json",
         body({"status": "error", "errorType": "422", "error": 'unknown func "nope"'}),
         BackendErrorKind.BAD_QUERY, 'rejected a query: unknown func "nope"'),
        (RATE, 503, "application/json",
         body({"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"}),
         BackendErrorKind.TIMEOUT, "gave up on a query: query timed out"),
        (RATE, 503, "application/json", body({"status": "error", "errorType": "unavailable", "error": "shutting down"}),
         BackendErrorKind.HTTP_STATUS, "answered HTTP 503: shutting down"),
        (RATE, 500, "text/plain", b"oops", BackendErrorKind.HTTP_STATUS, "answered HTTP 500"),
        (RATE, 404, "text/plain", b"404 page not found", BackendErrorKind.HTTP_STATUS,
         "answered HTTP 404 (is the URL's path prefix right?)"),
        (RATE, 401, "application/json", body({"status": "success", "data": vector()}),
         BackendErrorKind.UNAUTHORIZED, "rejected the credentials (HTTP 401)"),
        (RATE, 403, "text/plain", b"", BackendErrorKind.UNAUTHORIZED, "denied access with these credentials"),
    ],
)  # fmt: skip
def test_decoding_failures(
    query: InstantQuery | RangeQuery, status: int, content_type: str, raw: bytes, kind: BackendErrorKind, detail: str
) -> None:
    error = only_error(decode_response(query, status, content_type, raw, URL))

    assert error.kind is kind
    assert detail in error.detail
    assert error.message() == f"Prometheus at {URL} {error.detail}"
    assert "\n" not in error.message()


def test_a_long_multi_line_error_from_the_backend_becomes_one_short_line() -> None:
    payload = {"status": "error", "errorType": "bad_data", "error": "line one\nline two\n" + "x" * 1000}

    error = only_error(decode_response(RATE, 400, "application/json", body(payload), URL))

    assert "\n" not in error.message() and len(error.message()) < 300
    assert "line one line two" in error.detail


def chained(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("exception", "kind", "detail"),
    [
        (httpx.ReadTimeout("timed out"), BackendErrorKind.TIMEOUT, "did not answer within 1.5 s"),
        (asyncio.TimeoutError(), BackendErrorKind.TIMEOUT, "did not answer within 1.5 s"),
        (chained(httpx.ConnectError("All connection attempts failed"), ConnectionRefusedError(111, "refused")),
         BackendErrorKind.UNREACHABLE, "refused the connection"),
        (chained(httpx.ConnectError("x"), socket.gaierror(-2, "Name or service not known")),
         BackendErrorKind.UNREACHABLE, "could not be found (unknown host name)"),
        (chained(httpx.ConnectError("x"), ssl.SSLCertVerificationError(1, "certificate verify failed")),
         BackendErrorKind.TLS, "failed TLS verification"),
        (httpx.RemoteProtocolError("peer closed connection"), BackendErrorKind.UNREACHABLE,
         "closed the connection before the answer was complete"),
        (httpx.ReadError("reset"), BackendErrorKind.UNREACHABLE, "closed the connection before the answer"),
        (httpx.UnsupportedProtocol("no"), BackendErrorKind.INVALID_URL, "is not a URL the HTTP client can use"),
        (httpx.ConnectError("something else"), BackendErrorKind.UNREACHABLE, "could not be reached (ConnectError)"),
    ],
)  # fmt: skip
def test_client_exceptions_become_errors_that_name_the_cause(
    exception: Exception, kind: BackendErrorKind, detail: str
) -> None:
    error = error_from_exception(exception, URL, timeout=1.5)

    assert error.kind is kind
    assert detail in error.detail


@pytest.mark.parametrize(("seconds", "text"), [(1.0, "1.0"), (2, "2.0"), (0.25, "0.25"), (0.5, "0.5"), (10, "10.0")])
def test_format_seconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


# --- against the fault server -------------------------------------------------------------------


async def test_healthy_instant_and_range_queries_are_posted_as_forms(fault_server: FaultServer, make_backend) -> None:
    fault_server.behave(Healthy({RATE.expr: vector(({"function": "f"}, "0.5"))}))
    backend = make_backend(settings_for(fault_server))

    before = time.time()
    results = await backend.run({"rate": RATE, "history": HISTORY})

    assert results["rate"] == [Sample({"function": "f"}, 0.5)]
    [series] = results["history"]
    assert len(series.points) == 61 and all(value == 1.0 for _, value in series.points)
    by_path = {request.path: request for request in fault_server.requests}
    assert set(by_path) == {"/api/v1/query", "/api/v1/query_range"}
    instant, ranged = by_path["/api/v1/query"], by_path["/api/v1/query_range"]
    assert instant.method == ranged.method == "POST"
    assert instant.headers["content-type"] == "application/x-www-form-urlencoded"
    assert instant.form == {"query": RATE.expr}
    start, end = float(ranged.form["start"]), float(ranged.form["end"])
    assert ranged.form["query"] == HISTORY.expr and float(ranged.form["step"]) == 60
    assert end - start == 3600 and end % 60 == 0 and before - 60 <= end <= time.time()


async def test_a_long_query_goes_through(fault_server: FaultServer, make_backend) -> None:
    long_expr = " + ".join(f'sum(rate(function_calls_total{{function="f{i}"}}[5m]))' for i in range(400))
    backend = make_backend(settings_for(fault_server))

    result = await backend.run({"long": InstantQuery(long_expr)})

    assert result["long"] == [Sample({}, 1.0)]
    assert fault_server.requests[0].form["query"] == long_expr


async def test_a_url_path_prefix_is_kept(fault_server: FaultServer, make_backend) -> None:
    backend = make_backend(Settings(prometheus_url=fault_server.url + "/select/0/prometheus/"))

    results = await backend.run({"rate": RATE, "history": HISTORY})

    assert not any(isinstance(result, BackendError) for result in results.values())
    assert {request.path for request in fault_server.requests} == {
        "/select/0/prometheus/api/v1/query",
        "/select/0/prometheus/api/v1/query_range",
    }
    assert backend.url == fault_server.url + "/select/0/prometheus"


FAULTS: list[tuple[Behaviour, BackendErrorKind, str]] = [
    (HttpStatus(500), BackendErrorKind.HTTP_STATUS, "answered HTTP 500"),
    (HttpStatus(503), BackendErrorKind.HTTP_STATUS, "answered HTTP 503"),
    (HttpStatus(401), BackendErrorKind.UNAUTHORIZED, "rejected the credentials (HTTP 401)"),
    (HttpStatus(403), BackendErrorKind.UNAUTHORIZED, "denied access with these credentials (HTTP 403)"),
    (InvalidJson(), BackendErrorKind.BAD_RESPONSE, "sent a response that is not Prometheus JSON"),
    (TruncatedJson(), BackendErrorKind.BAD_RESPONSE, "sent a response that is not Prometheus JSON"),
    (WrongContentType(), BackendErrorKind.BAD_RESPONSE, "sent a response that is not Prometheus JSON (text/html)"),
    (ResetMidBody(), BackendErrorKind.UNREACHABLE, "closed the connection before the answer was complete"),
    (PrometheusError(), BackendErrorKind.BAD_QUERY, "rejected a query: invalid parameter"),
    (Stall(10), BackendErrorKind.TIMEOUT, "did not answer within 0.5 s"),
    (Stall(10, after_headers=True), BackendErrorKind.TIMEOUT, "did not answer within 0.5 s"),
]


@pytest.mark.parametrize(("behaviour", "kind", "detail"), FAULTS, ids=[type(f[0]).__name__ for f in FAULTS])
async def test_each_fault_gives_its_kind_and_a_one_line_message_within_the_budget(
    fault_server: FaultServer, make_backend, behaviour: Behaviour, kind: BackendErrorKind, detail: str
) -> None:
    fault_server.behave(behaviour)
    backend = make_backend(settings_for(fault_server, timeout=0.5))

    started = time.perf_counter()
    results = await backend.run({"rate": RATE, "history": HISTORY})
    elapsed = time.perf_counter() - started

    assert elapsed < 0.5 + SLACK
    for result in results.values():
        error = only_error(result)
        assert error.kind is kind
        assert detail in error.detail
        assert error.message().startswith(f"Prometheus at {fault_server.url} ")
        assert "\n" not in error.message()


async def test_a_ten_second_stall_returns_at_the_timeout(fault_server: FaultServer, make_backend) -> None:
    fault_server.behave(Stall(10))
    backend = make_backend(settings_for(fault_server, timeout=1.0))

    started = time.perf_counter()
    result = await backend.run({"rate": RATE})
    elapsed = time.perf_counter() - started

    assert 0.95 <= elapsed < 1.0 + SLACK
    assert only_error(result["rate"]).message() == f"Prometheus at {fault_server.url} did not answer within 1.0 s"


async def test_a_call_right_after_a_timeout_asks_again_instead_of_joining_the_expiring_request(
    fault_server: FaultServer, make_backend
) -> None:
    fault_server.behave(Stall(10))
    backend = make_backend(settings_for(fault_server, timeout=0.3))

    await backend.run({"rate": RATE})
    started = time.perf_counter()
    error = only_error((await backend.run({"rate": RATE}))["rate"])

    assert time.perf_counter() - started >= 0.25
    assert error.kind is BackendErrorKind.TIMEOUT
    assert len(fault_server.requests) == 2


async def test_the_whole_call_shares_one_budget(fault_server: FaultServer, make_backend) -> None:
    fault_server.behave(Stall(0.3))
    backend = make_backend(settings_for(fault_server, timeout=2.0))
    queries = {f"q{i}": InstantQuery(f"vector({i})") for i in range(8)}

    started = time.perf_counter()
    results = await backend.run(queries)
    elapsed = time.perf_counter() - started

    assert all(result == [Sample({}, 1.0)] for result in results.values())
    assert elapsed < 0.3 * 3, "queries run in parallel, not one after the other"
    assert len(fault_server.requests) == 8


async def test_a_refused_connection(make_backend) -> None:
    with FaultServer() as closed:
        url = closed.url  # stopped on leaving: nothing listens on this port any more
    backend = make_backend(Settings(prometheus_url=url))

    started = time.perf_counter()
    error = only_error((await backend.run({"rate": RATE}))["rate"])

    assert time.perf_counter() - started < SLACK
    assert error.kind is BackendErrorKind.UNREACHABLE
    assert error.message() == f"Prometheus at {url} refused the connection"


async def test_recovery_after_the_server_comes_back_on_the_same_backend(
    fault_server: FaultServer, make_backend
) -> None:
    backend = make_backend(settings_for(fault_server))
    assert (await backend.run({"rate": RATE}))["rate"] == [Sample({}, 1.0)]

    fault_server.stop()
    assert only_error((await backend.run({"rate": InstantQuery("vector(2)")}))["rate"]).kind is (
        BackendErrorKind.UNREACHABLE
    )
    fault_server.start()

    assert (await backend.run({"rate": InstantQuery("vector(2)")}))["rate"] == [Sample({}, 1.0)]


async def test_recovery_after_a_5xx_storm(fault_server: FaultServer, make_backend) -> None:
    fault_server.behave(*[HttpStatus(503)] * 20, Healthy())
    backend = make_backend(settings_for(fault_server))

    outcomes = [(await backend.run({"rate": RATE}))["rate"] for _ in range(21)]

    assert all(only_error(outcome).kind is BackendErrorKind.HTTP_STATUS for outcome in outcomes[:20])
    assert outcomes[20] == [Sample({}, 1.0)]


async def test_on_error_is_called_once_per_distinct_failure_until_the_backend_answers(
    fault_server: FaultServer, make_backend
) -> None:
    reported: list[str] = []
    backend = make_backend(
        settings_for(fault_server), cache_ttl=0, on_error=lambda error: reported.append(error.detail)
    )

    async def hover(behaviour: Behaviour) -> None:
        fault_server.behave(behaviour)
        await backend.run({"rate": RATE, "history": HISTORY})

    for behaviour in [HttpStatus(500), HttpStatus(500), HttpStatus(503), HttpStatus(500), InvalidJson()]:
        await hover(behaviour)
    assert reported == ["answered HTTP 500", "answered HTTP 503", "sent a response that is not Prometheus JSON "
                        "(invalid or truncated JSON)"]  # fmt: skip

    await hover(Healthy())
    await hover(HttpStatus(500))
    await hover(HttpStatus(500))
    assert reported[3:] == ["answered HTTP 500"], "after a recovery, the same failure is news again"


async def test_a_rejected_query_is_reported_once_even_between_good_answers(
    fault_server: FaultServer, make_backend
) -> None:
    reported: list[BackendError] = []
    backend = make_backend(settings_for(fault_server), cache_ttl=0, on_error=reported.append)

    for _ in range(3):
        fault_server.behave(PrometheusError())
        await backend.run({"slo": InstantQuery("nonexistent(1)")})
        fault_server.behave(Healthy())
        await backend.run({"rate": RATE})

    assert [error.kind for error in reported] == [BackendErrorKind.BAD_QUERY]


async def test_a_failing_on_error_callback_does_not_break_the_call(fault_server: FaultServer, make_backend) -> None:
    def broken_callback(error: BackendError) -> None:
        raise RuntimeError("bug in the caller")

    fault_server.behave(HttpStatus(500))
    backend = make_backend(settings_for(fault_server), on_error=broken_callback)

    assert only_error((await backend.run({"rate": RATE}))["rate"]).kind is BackendErrorKind.HTTP_STATUS


async def test_answers_are_cached_for_the_ttl(fault_server: FaultServer, make_backend) -> None:
    backend = make_backend(settings_for(fault_server), cache_ttl=0.3)

    first = await backend.run({"rate": RATE, "history": HISTORY})
    second = await backend.run({"again": RATE, "history": HISTORY})
    assert len(fault_server.requests) == 2
    assert second["again"] == first["rate"] and second["history"] == first["history"]

    await asyncio.sleep(0.35)
    await backend.run({"rate": RATE})
    assert len(fault_server.requests) == 3


async def test_forgotten_answers_are_asked_again(fault_server: FaultServer, make_backend) -> None:
    backend = make_backend(settings_for(fault_server), cache_ttl=60)

    await backend.run({"rate": RATE})
    backend.forget_answers()
    await backend.run({"rate": RATE})
    assert len(fault_server.requests) == 2


async def test_failures_are_not_cached(fault_server: FaultServer, make_backend) -> None:
    fault_server.behave(HttpStatus(500), Healthy())
    backend = make_backend(settings_for(fault_server), cache_ttl=60)

    assert isinstance((await backend.run({"rate": RATE}))["rate"], BackendError)
    assert (await backend.run({"rate": RATE}))["rate"] == [Sample({}, 1.0)]
    assert len(fault_server.requests) == 2


async def test_callers_cannot_change_what_the_cache_holds(fault_server: FaultServer, make_backend) -> None:
    fault_server.behave(Healthy({RATE.expr: vector(({"a": "1"}, 1), ({"a": "2"}, 2))}))
    backend = make_backend(settings_for(fault_server))

    first = (await backend.run({"rate": RATE}))["rate"]
    assert isinstance(first, list)
    first.clear()

    assert len((await backend.run({"rate": RATE}))["rate"]) == 2


async def test_concurrent_callers_of_the_same_query_share_one_request(fault_server: FaultServer, make_backend) -> None:
    fault_server.behave(Stall(0.3))
    backend = make_backend(settings_for(fault_server), cache_ttl=0)

    results = await asyncio.gather(*(backend.run({"rate": RATE, "history": HISTORY}) for _ in range(5)))

    assert len(fault_server.requests) == 2
    assert all(result["rate"] == [Sample({}, 1.0)] for result in results)
    assert all(isinstance(result["history"], list) and len(result["history"]) == 1 for result in results)


async def test_a_cancelled_caller_does_not_cancel_a_shared_request(fault_server: FaultServer, make_backend) -> None:
    fault_server.behave(Stall(0.3))
    backend = make_backend(settings_for(fault_server))

    cancelled = asyncio.ensure_future(backend.run({"rate": RATE}))
    patient = asyncio.ensure_future(backend.run({"rate": RATE}))
    await asyncio.sleep(0.1)
    cancelled.cancel()

    assert (await patient)["rate"] == [Sample({}, 1.0)]
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert len(fault_server.requests) == 1


async def test_cancellation_and_close_leave_no_warnings_or_pending_tasks(
    fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    fault_server.behave(Stall(5))
    backend = PrometheusBackend(settings_for(fault_server, timeout=5.0))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hover = asyncio.ensure_future(backend.run({"rate": RATE, "history": HISTORY}))
        await asyncio.sleep(0.1)
        hover.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hover
        started = time.perf_counter()
        await backend.aclose()
        closing_took = time.perf_counter() - started
        gc.collect()

    assert closing_took < SLACK
    assert [str(warning.message) for warning in caught] == []
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    assert others == []


async def test_closing_answers_waiting_callers_at_once_and_later_calls_too(fault_server: FaultServer) -> None:
    fault_server.behave(Stall(5))
    backend = PrometheusBackend(settings_for(fault_server, timeout=5.0))
    waiting = asyncio.ensure_future(backend.run({"rate": RATE}))
    await asyncio.sleep(0.1)

    await backend.aclose()

    assert only_error((await asyncio.wait_for(waiting, 1))["rate"]).kind is BackendErrorKind.CLOSED
    assert only_error((await backend.run({"rate": RATE}))["rate"]).kind is BackendErrorKind.CLOSED
    assert only_error(await backend.ping()).kind is BackendErrorKind.CLOSED
    await backend.aclose()  # closing twice is harmless


async def test_ping(fault_server: FaultServer, make_backend) -> None:
    backend = make_backend(settings_for(fault_server, timeout=0.5))

    assert await backend.ping() is None
    assert fault_server.requests[-1].form == {"query": "1"}
    fault_server.behave(HttpStatus(502))
    assert only_error(await backend.ping()).detail == "answered HTTP 502"
    fault_server.behave(Stall(5))
    assert only_error(await backend.ping()).kind is BackendErrorKind.TIMEOUT


async def test_no_queries_no_requests(fault_server: FaultServer, make_backend) -> None:
    backend = make_backend(settings_for(fault_server))

    assert await backend.run({}) == {}
    assert fault_server.requests == []


async def test_an_oversized_answer_is_cut_off(
    fault_server: FaultServer, make_backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_module, "MAX_RESPONSE_BYTES", 10_000)
    many = vector(*[({"function": f"f{i}"}, i) for i in range(1000)])
    fault_server.behave(Healthy({RATE.expr: many}))
    backend = make_backend(settings_for(fault_server))

    error = only_error((await backend.run({"rate": RATE}))["rate"])

    assert error.kind is BackendErrorKind.BAD_RESPONSE and "sent more than" in error.detail


async def test_an_unusable_ca_bundle_is_a_tls_error(tmp_path: Path, fault_server: FaultServer, make_backend) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    backend = make_backend(settings_for(fault_server, tls_verify=str(bundle)))

    error = only_error((await backend.run({"rate": RATE}))["rate"])

    assert error.kind is BackendErrorKind.TLS and "CA bundle" in error.detail


# --- auth and secrets ---------------------------------------------------------------------------


async def test_bearer_token_and_extra_headers_are_sent(fault_server: FaultServer, make_backend) -> None:
    settings = settings_for(fault_server, bearer_token=TOKEN, headers={"X-Scope-OrgID": "team-a"})
    backend = make_backend(settings)

    await backend.run({"rate": RATE, "history": HISTORY})

    for request in fault_server.requests:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["x-scope-orgid"] == "team-a"


async def test_basic_auth_is_sent(fault_server: FaultServer, make_backend) -> None:
    backend = make_backend(settings_for(fault_server, basic_auth=BasicAuth("ann", PASSWORD)))

    await backend.run({"rate": RATE})

    expected = "Basic " + base64.b64encode(f"ann:{PASSWORD}".encode()).decode()
    assert fault_server.requests[0].headers["authorization"] == expected


async def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown(
    fault_server: FaultServer, make_backend
) -> None:
    settings, problems = load_settings({"prometheusUrl": f"http://ann:{PASSWORD}@127.0.0.1:{fault_server.port}/p"})
    assert problems == []
    backend = make_backend(settings)

    await backend.run({"rate": RATE})
    fault_server.behave(HttpStatus(401))
    error = only_error((await backend.run({"other": InstantQuery("vector(3)")}))["other"])

    [request, _] = fault_server.requests
    assert request.path == "/p/api/v1/query"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"ann:{PASSWORD}".encode()).decode()
    assert PASSWORD not in backend.url and PASSWORD not in error.message() and "ann" not in error.message()


@pytest.mark.parametrize("behaviour", [Healthy(), HttpStatus(401), HttpStatus(500), InvalidJson(), ResetMidBody(),
                                       PrometheusError(), Stall(5)])  # fmt: skip
async def test_secrets_are_absent_from_messages_reprs_and_logs(
    fault_server: FaultServer, make_backend, caplog: pytest.LogCaptureFixture, behaviour: Behaviour
) -> None:
    caplog.set_level(logging.DEBUG)
    fault_server.behave(behaviour)
    reported: list[BackendError] = []
    for auth in ({"bearer_token": TOKEN}, {"basic_auth": BasicAuth("ann", PASSWORD)}):
        settings = settings_for(fault_server, timeout=0.3, headers={"X-Api-Key": HEADER_SECRET}, **auth)
        backend = make_backend(settings, on_error=reported.append)
        results = await backend.run({"rate": RATE, "history": HISTORY})
        await backend.ping()
        await backend.aclose()

        shown = [repr(settings), str(settings), backend.url, repr(results), caplog.text]
        shown += [error.message() + repr(error) + str(error) for error in reported]
        for text in shown:
            for secret in (TOKEN, PASSWORD, HEADER_SECRET, base64.b64encode(f"ann:{PASSWORD}".encode()).decode()):
                assert secret not in text
    assert caplog.records, "the logs were captured, so their checks above mean something"
