"""A WSGI app instrumented with the runtime, for the multiprocess test: gunicorn runs it in several workers.

`/brew/<kind>?seconds=S` brews (sleeping S seconds; kind `bad` fails) and answers with the worker's pid;
`/metrics` answers with the metrics of all workers, read from PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from autometrics_lsp.runtime import autometrics, init, make_wsgi_app

SERVICE_NAME = "multiprocess-teashop"

init(service_name=SERVICE_NAME)


@autometrics(track_concurrency=True)
def brew(kind: str, seconds: float) -> str:
    time.sleep(seconds)
    if kind == "bad":
        raise ValueError(kind)
    return kind


metrics_app = make_wsgi_app()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path: str = environ["PATH_INFO"]
    if path == "/metrics":
        return metrics_app(environ, start_response)
    seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("seconds", ["0"])[0])
    try:
        brew(path.removeprefix("/brew/"), seconds)
        status = "200 OK"
    except ValueError:
        status = "500 Internal Server Error"
    start_response(status, [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
