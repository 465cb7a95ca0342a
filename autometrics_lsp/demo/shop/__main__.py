"""`python -m autometrics_lsp.demo.shop --port P --rate R [--version V]`: the shop under steady traffic."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from autometrics_lsp.demo.shop import DEFAULT_RATE, DEFAULT_VERSION, SERVICE_NAME
from autometrics_lsp.demo.shop.traffic import run_traffic
from autometrics_lsp.runtime import init, start_http_server
from autometrics_lsp.runtime.names import DEFAULT_METRICS_PORT


def _positive_rate(text: str) -> float:
    rate = float(text)
    if not rate > 0:
        raise argparse.ArgumentTypeError(f"the rate must be a positive number of calls per second, got {text}")
    return rate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autometrics_lsp.demo.shop",
        description="A sample shop instrumented with autometrics_lsp.runtime, under steady, known traffic.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_METRICS_PORT, help="serve /metrics on 127.0.0.1:PORT")
    parser.add_argument("--rate", type=_positive_rate, default=DEFAULT_RATE, help="entry-point calls per second")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="the version label of build_info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    # record_error_type: failed calls carry the exception's class name, so the editor can break errors down.
    init(service_name=SERVICE_NAME, version=args.version, record_error_type=True)
    start_http_server(args.port, addr="127.0.0.1")
    logging.getLogger(__name__).info(
        "shop %s: /metrics on http://127.0.0.1:%d, %g calls/s", args.version, args.port, args.rate
    )
    try:
        asyncio.run(run_traffic(args.rate))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
