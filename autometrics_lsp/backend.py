"""The one module that talks HTTP: PromQL against any Prometheus-compatible query API.

Every call is bounded by the settings' time budget and never raises: each query yields its result or a
`BackendError` whose one-line message names the URL and the cause. Results live in a short TTL cache whose
entries are the in-flight tasks themselves, so concurrent callers asking the same query share one request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any, Union

import httpx

from autometrics_lsp.settings import Settings

log = logging.getLogger(__name__)

INSTANT_QUERY_PATH = "/api/v1/query"
RANGE_QUERY_PATH = "/api/v1/query_range"
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
"""A backend must not be able to make the server buffer without limit."""
MAX_POOLED_CONNECTIONS = 16
_MAX_QUOTED_ERROR_CHARS = 200
_BACKSTOP_GRACE_SECONDS = 0.05


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class InstantQuery:
    expr: str


@dataclass(frozen=True)
class RangeQuery:
    """`expr` over the last `duration` seconds, one point every `step` seconds."""

    expr: str
    duration: float
    step: float


Query = Union[InstantQuery, RangeQuery]
QueryResult = Union[list[Sample], list[Series], "BackendError"]


class BackendErrorKind(Enum):
    INVALID_URL = "invalid URL"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    TLS = "TLS failure"
    UNAUTHORIZED = "unauthorized"
    HTTP_STATUS = "HTTP error status"
    BAD_RESPONSE = "bad response"
    BAD_QUERY = "bad query"
    CLOSED = "closed"


class BackendError(Exception):
    """Why a query has no result. `url` never carries credentials; `detail` completes "Prometheus at <url> ..."."""

    def __init__(self, kind: BackendErrorKind, url: str, detail: str) -> None:
        super().__init__(kind, url, detail)
        self.kind = kind
        self.url = url
        self.detail = detail

    def message(self) -> str:
        return f"Prometheus at {self.url} {self.detail}"

    def __str__(self) -> str:
        return self.message()

    def __repr__(self) -> str:
        return f"BackendError({self.kind.name}, {self.message()!r})"


# --- pure: turning an HTTP answer or an exception into results or an error ----------------------


def format_seconds(seconds: float) -> str:
    return f"{seconds:.1f}" if round(seconds, 1) == seconds else f"{seconds:g}"


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_QUOTED_ERROR_CHARS else flat[: _MAX_QUOTED_ERROR_CHARS - 3] + "..."


def _float(text: Any) -> float:
    # Prometheus sends sample values as strings, including "NaN", "+Inf" and "-Inf", which float() reads.
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"not a number: {text!r}")
    return float(text)


def _labels(metric: Any) -> Mapping[str, str]:
    if not isinstance(metric, dict) or not all(isinstance(v, str) for v in metric.values()):
        raise ValueError("labels are not an object of strings")
    # Read-only: one result is shared by every caller of the cache.
    return MappingProxyType(metric)


def _point(pair: Any) -> tuple[float, float]:
    if not isinstance(pair, list) or len(pair) != 2:
        raise ValueError("a point is not [time, value]")
    return _float(pair[0]), _float(pair[1])


def _decode_instant(data: Mapping[str, Any]) -> list[Sample]:
    result_type, result = data.get("resultType"), data.get("result")
    if result_type == "vector" and isinstance(result, list):
        return [Sample(_labels(item.get("metric", {})), _point(item.get("value"))[1]) for item in result]
    if result_type == "scalar":
        return [Sample(MappingProxyType({}), _point(result)[1])]
    raise ValueError(f"an instant query returned {result_type!r}, not a vector or scalar")


def _decode_range(data: Mapping[str, Any]) -> list[Series]:
    result_type, result = data.get("resultType"), data.get("result")
    if result_type == "matrix" and isinstance(result, list):
        return [
            Series(_labels(item.get("metric", {})), tuple(_point(pair) for pair in item.get("values", [])))
            for item in result
        ]
    raise ValueError(f"a range query returned {result_type!r}, not a matrix")


def _error_from_prometheus(status: int, payload: Mapping[str, Any], url: str) -> BackendError:
    """Prometheus' own error answer: `{"status": "error", "errorType": ..., "error": ...}`."""
    error_type = str(payload.get("errorType", ""))
    reason = _one_line(str(payload.get("error", "") or error_type or "no reason given"))
    # Prometheus says bad_data (400) or execution (422); VictoriaMetrics says "422" for an unknown function.
    if error_type in ("bad_data", "execution", "400", "422") or status in (400, 422):
        return BackendError(BackendErrorKind.BAD_QUERY, url, f"rejected a query: {reason}")
    if error_type in ("timeout", "canceled"):
        return BackendError(BackendErrorKind.TIMEOUT, url, f"gave up on a query: {reason}")
    return BackendError(BackendErrorKind.HTTP_STATUS, url, f"answered HTTP {status}: {reason}")


def _status_error(status: int, url: str) -> BackendError:
    if status in (401, 407):
        return BackendError(BackendErrorKind.UNAUTHORIZED, url, f"rejected the credentials (HTTP {status})")
    if status == 403:
        return BackendError(BackendErrorKind.UNAUTHORIZED, url, "denied access with these credentials (HTTP 403)")
    if status == 404:
        return BackendError(BackendErrorKind.HTTP_STATUS, url, "answered HTTP 404 (is the URL's path prefix right?)")
    return BackendError(BackendErrorKind.HTTP_STATUS, url, f"answered HTTP {status}")


def decode_response(query: Query, status: int, content_type: str, body: bytes, url: str) -> QueryResult:
    """What one HTTP answer to `query` means: its samples or series, or why there are none."""
    if status in (401, 403, 407):
        return _status_error(status, url)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict) or payload.get("status") not in ("success", "error"):
        if not 200 <= status < 300:
            return _status_error(status, url)
        media_type = content_type.split(";")[0].strip() or "no content type"
        reason = "invalid or truncated JSON" if "json" in media_type else media_type
        return BackendError(
            BackendErrorKind.BAD_RESPONSE, url, f"sent a response that is not Prometheus JSON ({reason})"
        )
    if payload["status"] == "error":
        return _error_from_prometheus(status, payload, url)
    if not 200 <= status < 300:
        return _status_error(status, url)
    data = payload.get("data")
    try:
        if not isinstance(data, dict):
            raise ValueError("no data object")
        return _decode_instant(data) if isinstance(query, InstantQuery) else _decode_range(data)
    except (ValueError, TypeError, AttributeError) as error:
        return BackendError(
            BackendErrorKind.BAD_RESPONSE, url, f"sent a response that is not Prometheus JSON ({_one_line(str(error))})"
        )


def _causes(error: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def error_from_exception(error: BaseException, url: str, timeout: float) -> BackendError:
    """The user-facing meaning of what the HTTP client raised. Never quotes request data (it may hold secrets)."""
    if isinstance(error, (httpx.TimeoutException, asyncio.TimeoutError)):
        return BackendError(BackendErrorKind.TIMEOUT, url, f"did not answer within {format_seconds(timeout)} s")
    if isinstance(error, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return BackendError(BackendErrorKind.INVALID_URL, url, "is not a URL the HTTP client can use")
    if isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return BackendError(BackendErrorKind.UNREACHABLE, url, "closed the connection before the answer was complete")
    if isinstance(error, httpx.TooManyRedirects):
        return BackendError(BackendErrorKind.BAD_RESPONSE, url, "redirected too many times")
    if isinstance(error, httpx.DecodingError):
        return BackendError(BackendErrorKind.BAD_RESPONSE, url, "sent a body that could not be decoded")
    for cause in _causes(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = getattr(cause, "verify_message", None) or "certificate verification failed"
            return BackendError(BackendErrorKind.TLS, url, f"failed TLS verification ({reason})")
        if isinstance(cause, ssl.SSLError):
            return BackendError(BackendErrorKind.TLS, url, f"failed the TLS handshake ({cause.reason or 'SSL error'})")
        if isinstance(cause, ConnectionRefusedError):
            return BackendError(BackendErrorKind.UNREACHABLE, url, "refused the connection")
        if isinstance(cause, socket.gaierror):
            return BackendError(BackendErrorKind.UNREACHABLE, url, "could not be found (unknown host name)")
    return BackendError(BackendErrorKind.UNREACHABLE, url, f"could not be reached ({type(error).__name__})")


# --- the client --------------------------------------------------------------------------------


def _verify(tls_verify: bool | str) -> bool | ssl.SSLContext:
    if isinstance(tls_verify, bool):
        return tls_verify
    if os.path.isdir(tls_verify):
        return ssl.create_default_context(capath=tls_verify)
    return ssl.create_default_context(cafile=tls_verify)


def _auth_and_headers(settings: Settings) -> tuple[httpx.Auth | None, dict[str, str]]:
    headers = dict(settings.headers)
    if settings.bearer_token:
        headers["Authorization"] = f"Bearer {settings.bearer_token}"
        return None, headers
    if settings.basic_auth:
        return httpx.BasicAuth(settings.basic_auth.username, settings.basic_auth.password), headers
    return None, headers


def _build_client(settings: Settings) -> httpx.AsyncClient:
    auth, headers = _auth_and_headers(settings)
    return httpx.AsyncClient(
        auth=auth,
        headers=headers,
        verify=_verify(settings.tls_verify),
        timeout=httpx.Timeout(settings.timeout),
        limits=httpx.Limits(max_connections=MAX_POOLED_CONNECTIONS, max_keepalive_connections=MAX_POOLED_CONNECTIONS),
        follow_redirects=True,
    )


class _TooLarge(Exception):
    pass


class _CaBundleUnusable(Exception):
    pass


@dataclass
class _CacheEntry:
    task: asyncio.Task[QueryResult]
    finished_at: float | None = None


class PrometheusBackend:
    """One pooled HTTP client for one `Settings`; build a new backend when the settings change."""

    def __init__(
        self,
        settings: Settings,
        *,
        cache_ttl: float = 5.0,
        on_error: Callable[[BackendError], None] | None = None,
    ) -> None:
        self._settings = settings
        self._cache_ttl = cache_ttl
        self._on_error = on_error
        self._client: httpx.AsyncClient | None = None
        self._cache: dict[Query, _CacheEntry] = {}
        self._closed = False
        # Failures of the backend itself are reported again after it recovers; a rejected query only once,
        # since it fails the same way on every hover and recovery of the backend does not change that.
        self._reported_outages: set[tuple[BackendErrorKind, str]] = set()
        self._reported_query_errors: set[tuple[BackendErrorKind, str]] = set()

    @property
    def url(self) -> str:
        return self._settings.prometheus_url

    async def run(self, queries: Mapping[str, Query]) -> dict[str, QueryResult]:
        """Every query's result or error, all in parallel, within `settings.timeout` seconds in total."""
        if not queries:
            return {}
        if self._closed:
            return {key: self._closed_error() for key in queries}
        tasks = {key: self._shared_task(query) for key, query in queries.items()}
        # Each request enforces the budget itself; this wait is the backstop, a little later, so that a request
        # timing out is finished (and out of the cache) before the next call could join it.
        await asyncio.wait(set(tasks.values()), timeout=self._settings.timeout + _BACKSTOP_GRACE_SECONDS)
        return {key: self._outcome(task) for key, task in tasks.items()}

    async def ping(self) -> BackendError | None:
        """None when the backend answers a trivial query within the time budget, else why not."""
        if self._closed:
            return self._closed_error()
        result = await self._fetch(InstantQuery("1"))
        return result if isinstance(result, BackendError) else None

    def forget_answers(self) -> None:
        """Drop cached answers (a user asked for fresh figures); requests under way stay shared."""
        for query in [query for query, entry in self._cache.items() if entry.finished_at is not None]:
            del self._cache[query]

    async def aclose(self) -> None:
        self._closed = True
        pending = [entry.task for entry in self._cache.values() if not entry.task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._cache.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- cache and de-duplication ---

    def _shared_task(self, query: Query) -> asyncio.Task[QueryResult]:
        now = time.monotonic()
        self._evict_expired(now)
        entry = self._cache.get(query)
        if entry is None:
            entry = _CacheEntry(asyncio.ensure_future(self._fetch(query)))
            self._cache[query] = entry
            entry.task.add_done_callback(lambda task, query=query: self._on_task_done(query, task))
        return entry.task

    def _on_task_done(self, query: Query, task: asyncio.Task[QueryResult]) -> None:
        entry = self._cache.get(query)
        if entry is None or entry.task is not task:
            return
        if task.cancelled() or isinstance(task.result(), BackendError):
            # Failures are not cached: the next hover asks again, so recovery shows at once.
            del self._cache[query]
        else:
            entry.finished_at = time.monotonic()

    def _evict_expired(self, now: float) -> None:
        expired = [
            query
            for query, entry in self._cache.items()
            if entry.finished_at is not None and now - entry.finished_at >= self._cache_ttl
        ]
        for query in expired:
            del self._cache[query]

    def _outcome(self, task: asyncio.Task[QueryResult]) -> QueryResult:
        if not task.done():
            return error_from_exception(asyncio.TimeoutError(), self.url, self._settings.timeout)
        if task.cancelled():
            return self._closed_error()
        result = task.result()
        # A fresh list per caller: nobody's sorting may reorder what the cache holds.
        return result if isinstance(result, BackendError) else list(result)

    def _closed_error(self) -> BackendError:
        return BackendError(BackendErrorKind.CLOSED, self.url, "is no longer queried (the settings changed)")

    # --- one HTTP request ---

    async def _fetch(self, query: Query) -> QueryResult:
        try:
            result = await asyncio.wait_for(self._request(query), timeout=self._settings.timeout)
        except _TooLarge:
            result = BackendError(
                BackendErrorKind.BAD_RESPONSE, self.url, f"sent more than {MAX_RESPONSE_BYTES // 2**20} MiB"
            )
        except _CaBundleUnusable:
            result = BackendError(
                BackendErrorKind.TLS, self.url, "cannot be verified: the CA bundle in tlsVerify is unusable"
            )
        except Exception as error:  # never raise into a hover: every failure becomes a reported BackendError
            if not isinstance(error, (httpx.HTTPError, asyncio.TimeoutError, OSError)):
                log.warning("unexpected failure querying %s", self.url, exc_info=True)
            result = error_from_exception(error, self.url, self._settings.timeout)
        self._report(result)
        return result

    async def _request(self, query: Query) -> QueryResult:
        path, form = self._endpoint(query)
        started = time.perf_counter()
        async with self._http().stream("POST", self.url + path, data=form) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise _TooLarge
        elapsed_ms = 1000 * (time.perf_counter() - started)
        log.debug(
            "POST %s%s (%d chars of PromQL): HTTP %d in %.0f ms",
            self.url, path, len(query.expr), response.status_code, elapsed_ms,
        )  # fmt: skip
        content_type = response.headers.get("content-type", "")
        return decode_response(query, response.status_code, content_type, bytes(body), self.url)

    def _endpoint(self, query: Query) -> tuple[str, dict[str, str]]:
        if isinstance(query, InstantQuery):
            return INSTANT_QUERY_PATH, {"query": query.expr}
        # Ends aligned to the step give every caller within one step the same points, and the backend a cache hit.
        end = math.floor(time.time() / query.step) * query.step
        return RANGE_QUERY_PATH, {
            "query": query.expr,
            "start": format(end - query.duration, ".3f"),
            "end": format(end, ".3f"),
            "step": format(query.step, "g"),
        }

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            try:
                self._client = _build_client(self._settings)
            except (ssl.SSLError, OSError) as error:  # only loading the CA bundle touches files or ssl here
                raise _CaBundleUnusable from error
        return self._client

    def _report(self, result: QueryResult) -> None:
        if not isinstance(result, BackendError):
            self._reported_outages.clear()
            return
        if result.kind is BackendErrorKind.BAD_QUERY:
            # The backend did answer, so it is up again; only this query is wrong.
            self._reported_outages.clear()
            reported = self._reported_query_errors
        else:
            reported = self._reported_outages
        key = (result.kind, result.detail)
        if key in reported:
            return
        reported.add(key)
        if self._on_error is None:
            return
        try:
            self._on_error(result)
        except Exception:  # the caller's callback must not turn a reported failure into a crash
            log.exception("on_error callback failed")
