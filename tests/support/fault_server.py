"""A real HTTP server on 127.0.0.1 that answers like a Prometheus query API — or fails the way backends fail.

A test switches its behaviour at any time with `behave(...)` and reads what clients sent from `requests`:

    with FaultServer() as server:
        server.behave(HttpStatus(503), HttpStatus(503), Healthy())   # two 503s, then healthy for good
        ...
        assert len(server.requests) == 3

`stop()` and `start()` take it down and bring it back on the same port, for recovery tests.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union
from urllib.parse import parse_qsl, urlsplit

JSON = "application/json"


@dataclass(frozen=True)
class Healthy:
    """Prometheus-like answers. `results` maps a PromQL expression to the `data` object to send for it;
    any other query gets one sample (or one series) of value 1 without labels."""

    results: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Stall:
    """Hold the request `seconds` (headers already sent when `after_headers`), then answer as `then`."""

    seconds: float
    then: Behaviour = Healthy()
    after_headers: bool = False


@dataclass(frozen=True)
class HttpStatus:
    code: int
    body: bytes = b"something went wrong\n"
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class PrometheusError:
    """Prometheus' own error answer; bad_data with HTTP 400 is what it says for an unknown function."""

    error: str = 'invalid parameter "query": 1:1: parse error: unknown function with name "nonexistent"'
    error_type: str = "bad_data"
    code: int = 400


@dataclass(frozen=True)
class InvalidJson:
    pass


@dataclass(frozen=True)
class TruncatedJson:
    pass


@dataclass(frozen=True)
class WrongContentType:
    """HTTP 200 with an HTML page, as a login proxy in front of Prometheus sends."""


@dataclass(frozen=True)
class ResetMidBody:
    """Headers and half the body, then a TCP reset."""


Behaviour = Union[
    Healthy, Stall, HttpStatus, PrometheusError, InvalidJson, TruncatedJson, WrongContentType, ResetMidBody
]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # names lower-cased
    form: Mapping[str, str]  # query string and url-encoded body together


def vector(*samples: tuple[Mapping[str, str], float | str]) -> dict[str, Any]:
    """A `data` object of an instant-vector answer; values may be strings like "NaN" or "+Inf"."""
    now = time.time()
    return {
        "resultType": "vector",
        "result": [{"metric": dict(labels), "value": [now, str(value)]} for labels, value in samples],
    }


def matrix(*series: tuple[Mapping[str, str], list[tuple[float, float | str]]]) -> dict[str, Any]:
    return {
        "resultType": "matrix",
        "result": [
            {"metric": dict(labels), "values": [[t, str(v)] for t, v in points]} for labels, points in series
        ],
    }


def _default_data(path: str, form: Mapping[str, str]) -> dict[str, Any]:
    if path.endswith("/query_range"):
        start, end, step = float(form["start"]), float(form["end"]), float(form["step"])
        count = int((end - start) // step) + 1
        return matrix(({}, [(start + i * step, 1) for i in range(count)]))
    return vector(({}, 1))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real Prometheus does, so clients pool connections
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would delay the second by 40 ms
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test's output is for its own messages."""

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        form = dict(parse_qsl(split.query)) | dict(parse_qsl(body))
        headers = {name.lower(): value for name, value in self.headers.items()}
        fault_server = self.server.fault_server
        fault_server.record(RecordedRequest(self.command, split.path, headers, form))
        self._answer(fault_server.next_behaviour(), split.path, form)

    def _answer(self, behaviour: Behaviour, path: str, form: Mapping[str, str]) -> None:
        if isinstance(behaviour, Stall):
            self._stall(behaviour, path, form)
        elif isinstance(behaviour, Healthy):
            self._healthy(behaviour, path, form)
        elif isinstance(behaviour, HttpStatus):
            self._send(behaviour.code, behaviour.content_type, behaviour.body)
        elif isinstance(behaviour, PrometheusError):
            payload = {"status": "error", "errorType": behaviour.error_type, "error": behaviour.error}
            self._send(behaviour.code, JSON, json.dumps(payload).encode())
        elif isinstance(behaviour, InvalidJson):
            self._send(200, JSON, b"<<this is not json>>")
        elif isinstance(behaviour, TruncatedJson):
            whole = json.dumps({"status": "success", "data": vector(({"function": "f"}, 1))}).encode()
            self._send(200, JSON, whole[: len(whole) // 2])
        elif isinstance(behaviour, WrongContentType):
            self._send(200, "text/html; charset=utf-8", b"<html><body>Please log in</body></html>")
        elif isinstance(behaviour, ResetMidBody):
            self._reset_mid_body()

    def _healthy(self, behaviour: Healthy, path: str, form: Mapping[str, str]) -> None:
        if path.endswith("/-/ready"):
            self._send(200, "text/plain", b"Prometheus Server is Ready.\n")
        elif path.endswith(("/api/v1/query", "/api/v1/query_range")) and "query" in form:
            data = behaviour.results.get(form["query"]) or _default_data(path, form)
            self._send(200, JSON, json.dumps({"status": "success", "data": data}).encode())
        else:
            self._send(404, "text/plain", b"404 page not found\n")

    def _stall(self, behaviour: Stall, path: str, form: Mapping[str, str]) -> None:
        if not behaviour.after_headers:
            self.server.fault_server.sleep(behaviour.seconds)
            self._answer(behaviour.then, path, form)
            return
        payload = json.dumps({"status": "success", "data": _default_data(path, form)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.server.fault_server.sleep(behaviour.seconds)
        self.wfile.write(payload)

    def _reset_mid_body(self) -> None:
        payload = json.dumps({"status": "success", "data": vector(({}, 1))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[: len(payload) // 2])
        # Linger 0 makes close() send RST instead of FIN: the client sees "connection reset by peer".
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close (block_on_close); `stop()` first unblocks every one of them.
    daemon_threads = False
    # socketserver's default backlog of 5 drops the SYNs of a burst of parallel queries (a 1 s retransmit each).
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fault_server: FaultServer) -> None:
        self.fault_server = fault_server
        self._open_connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._open_connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (a timeout, a cancelled hover) are expected here, not errors worth a traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def drop_open_connections(self) -> None:
        """Unblock handler threads waiting on idle keep-alive connections."""
        with self._connections_lock:
            connections = list(self._open_connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its handler


class FaultServer:
    """A threaded HTTP server on 127.0.0.1 (a free port, kept across stop/start) with switchable behaviour."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._behaviours: list[Behaviour] = [Healthy()]
        self._requests: list[RecordedRequest] = []
        self._stop_stalls = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def behave(self, *behaviours: Behaviour) -> None:
        """Answer the next requests with these behaviours in turn; the last one then stays."""
        if not behaviours:
            raise ValueError("behave() needs at least one behaviour")
        with self._lock:
            self._behaviours = list(behaviours)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def start(self) -> FaultServer:
        if self._server is not None:
            raise RuntimeError("already running")
        self._stop_stalls.clear()
        self._server = _Server(("127.0.0.1", self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=f"fault-server-{self._port}"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stop_stalls.set()
        self._server.shutdown()
        self._server.drop_open_connections()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- called from handler threads ---

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._behaviours.pop(0) if len(self._behaviours) > 1 else self._behaviours[0]

    def sleep(self, seconds: float) -> None:
        """A stall that `stop()` cuts short, so stopping never waits for a stalled request."""
        self._stop_stalls.wait(seconds)
