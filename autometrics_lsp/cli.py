"""Command line: the language server (stdio or TCP) and terminal versions of its features."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from autometrics_lsp import __version__

PYGLS_PROTOCOL_LOGGER = "pygls.protocol"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        stream=sys.stderr,  # stdout belongs to the LSP stream
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # pygls logs whole JSON-RPC messages at info and debug level: initializationOptions and configuration
    # answers carry tokens and passwords, which must never reach a log.
    logging.getLogger(PYGLS_PROTOCOL_LOGGER).setLevel(max(logging.WARNING, logging.getLogger().level))
    if args.command is None:
        return _serve(args.tcp)
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autometrics-lsp",
        description="Live autometrics (function-level Prometheus metrics) for Python, in your editor.",
    )
    parser.add_argument("--version", action="version", version=f"autometrics-lsp {__version__}")
    parser.add_argument("--tcp", metavar="HOST:PORT", help="serve LSP over TCP instead of stdio")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    hover = commands.add_parser("hover", help="print the hover of FILE:LINE:COL (1-based) as markdown")
    hover.add_argument("location", metavar="FILE:LINE:COL")
    _add_backend_options(hover)
    hover.set_defaults(run=_run_hover)

    listing = commands.add_parser(
        "list", help="list the workspace's instrumented functions with live calls, errors and p99"
    )
    listing.add_argument("--sort", choices=["rate", "errors", "latency", "name"], default="rate")
    _add_backend_options(listing)
    listing.set_defaults(run=_run_list)

    rules = commands.add_parser(
        "rules", help="write Prometheus recording and burn-rate alerting rules for the workspace's objectives"
    )
    rules.add_argument("--root", type=Path, default=None, help="project root (default: the current directory)")
    rules.add_argument("-o", "--output", type=Path, default=None, help="rule file to write (default: stdout)")
    rules.set_defaults(run=_run_rules)

    demo = commands.add_parser(
        "demo", help="run a sample instrumented service and a real Prometheus, and show live hovers"
    )
    demo.add_argument("--port", type=int, default=0, help="Prometheus port (default: a free one)")
    demo.add_argument("--once", action="store_true", help="print the hovers and stop instead of waiting for Ctrl+C")
    demo.set_defaults(run=_run_demo)
    return parser


def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prometheus-url", help="Prometheus-compatible API base URL (default: $PROMETHEUS_URL or http://localhost:9090)"
    )
    parser.add_argument("--window", help="PromQL rate window, e.g. 5m")
    parser.add_argument("--timeout", type=float, help="seconds for the backend queries of one request")
    parser.add_argument("--root", type=Path, default=None, help="project root (default: the current directory)")


def _settings_from_args(args: argparse.Namespace):
    from autometrics_lsp.settings import load_settings

    given = {
        "prometheusUrl": args.prometheus_url,
        "window": args.window,
        "timeout": args.timeout,
    }
    settings, problems = load_settings({key: value for key, value in given.items() if value is not None}, env=os.environ)
    for problem in problems:
        print(f"autometrics-lsp: {problem}", file=sys.stderr)
    return settings


def _parse_location(location: str) -> tuple[Path, int, int]:
    try:
        file_name, line, column = location.rsplit(":", 2)
        return Path(file_name), int(line), int(column)
    except ValueError:
        raise SystemExit(f"autometrics-lsp: expected FILE:LINE:COL (1-based), got {location!r}") from None


def _run_hover(args: argparse.Namespace) -> int:
    from autometrics_lsp.engine import Engine

    path, line, column = _parse_location(args.location)
    if line < 1 or column < 1:
        raise SystemExit("autometrics-lsp: LINE and COL start at 1")
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise SystemExit(f"autometrics-lsp: cannot read {path}: {error.strerror}") from None
    root = (args.root or Path.cwd()).resolve()

    async def hover() -> str | None:
        engine = Engine(_settings_from_args(args), [root])
        try:
            return await engine.hover_markdown(path.resolve(), source, line - 1, column - 1)
        finally:
            await engine.aclose()

    markdown = asyncio.run(hover())
    if markdown is None:
        print(f"{args.location}: no function here", file=sys.stderr)
        return 1
    print(markdown)
    return 0


def _run_list(args: argparse.Namespace) -> int:
    from autometrics_lsp.engine import Engine
    from autometrics_lsp.listing import SortKey, render_text_table, sort_rows

    root = (args.root or Path.cwd()).resolve()

    async def rows():
        engine = Engine(_settings_from_args(args), [root])
        try:
            return await engine.function_rows()
        finally:
            await engine.aclose()

    found = sort_rows(asyncio.run(rows()), SortKey(args.sort))
    if not found:
        print(f"no instrumented functions under {root}", file=sys.stderr)
        return 1
    print(render_text_table(found, relative_to=root))
    problems = {row.figures.problem.message() for row in found if row.figures.problem is not None}
    for problem in sorted(problems):
        print(f"autometrics-lsp: {problem}", file=sys.stderr)
    return 0


def _run_rules(args: argparse.Namespace) -> int:
    from autometrics_lsp.rules import render_rules, workspace_objectives

    root = (args.root or Path.cwd()).resolve()
    objectives = workspace_objectives([root])
    text = render_rules(objectives)
    if args.output is None:
        sys.stdout.write(text)
    else:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as error:
            raise SystemExit(f"autometrics-lsp: cannot write {args.output}: {error.strerror}") from None
    if not objectives:
        print(f"autometrics-lsp: no objectives found under {root}", file=sys.stderr)
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from autometrics_lsp.demo.walkthrough import run_demo

    return run_demo(prometheus_port=args.port, once=args.once)


def _serve(tcp: str | None) -> int:
    from autometrics_lsp.server import create_server

    server = create_server()
    if tcp:
        host, _, port = tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return 0
