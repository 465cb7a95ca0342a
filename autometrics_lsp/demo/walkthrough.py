"""`autometrics-lsp demo`: the sample shop under traffic, a real Prometheus scraping it, live hovers in the terminal.

Afterwards the stack keeps running, for an editor or `autometrics-lsp hover`, until Ctrl+C.
"""

from __future__ import annotations

import ast
import asyncio
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import autometrics_lsp
from autometrics_lsp.demo import shop
from autometrics_lsp.demo.stack import StackError, start_prometheus, start_service, wait_for_shop_traffic

# Short, so the figures are exact as soon as the stack is up: a rate reads low until its window is full of
# samples, and the editor's default window (5m) would take five minutes to fill.
DEMO_WINDOW = "10s"


@dataclass(frozen=True)
class HoverSite:
    symbol: str
    """The name at the position (qualified, for a method)."""
    note: str
    path: Path
    line: int
    """0-based, like an LSP position."""
    column: int


def definition_position(source: str, qualname: str) -> tuple[int, int]:
    """0-based line and column of the name in the `def` of the function `qualname` (`Ledger.record`)."""
    scopes: list[tuple[str, list[ast.stmt]]] = [("", ast.parse(source).body)]
    while scopes:
        prefix, body = scopes.pop()
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{node.name}"
                if name == qualname and not isinstance(node, ast.ClassDef):
                    def_line = source.splitlines()[node.lineno - 1]
                    return node.lineno - 1, def_line.index(node.name, node.col_offset)
                scopes.append((f"{name}.", node.body))
    raise LookupError(f"no function {qualname!r} is defined in this source")


def call_position(source: str, callee: str) -> tuple[int, int]:
    """0-based line and column of the first call of the plain name `callee`."""
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == callee
    ]
    if not calls:
        raise LookupError(f"{callee!r} is never called in this source")
    first = min(calls, key=lambda node: (node.lineno, node.col_offset))
    return first.lineno - 1, first.col_offset


def hover_sites() -> list[HoverSite]:
    """Places worth a hover in the shop: definitions, a method, a call through an alias, a plain function."""
    shop_dir = Path(shop.__file__).parent
    api, orders, payments, inventory = (shop_dir / f"{name}.py" for name in ("api", "orders", "payments", "inventory"))
    api_source = api.read_text()

    def definition(path: Path, qualname: str, note: str) -> HoverSite:
        source = api_source if path == api else path.read_text()
        return HoverSite(qualname, note, path, *definition_position(source, qualname))

    return [
        definition(api, "checkout", "an objective, calls across modules"),
        HoverSite("charge_card", "payments.charge imported under another name; 1 call in 4 declined", api,
                  *call_position(api_source, "charge_card")),  # fmt: skip
        definition(payments, "charge", "its definition: concurrency tracked"),
        definition(orders, "Ledger.record", "a method"),
        definition(inventory, "find_product", "not instrumented"),
    ]


def workspace_root() -> Path:
    """The directory holding the `autometrics_lsp` package: module names resolve from there as the runtime sees them."""
    return Path(autometrics_lsp.__file__).resolve().parent.parent


async def print_hovers(prometheus_url: str, window: str, out: TextIO) -> None:
    """Each hover site's markdown, as `autometrics-lsp hover` would print it, with that command line."""
    from autometrics_lsp.engine import Engine
    from autometrics_lsp.settings import load_settings

    settings, problems = load_settings({"prometheusUrl": prometheus_url, "window": window}, env={})
    if problems:
        raise ValueError(f"demo settings rejected: {problems}")
    root = workspace_root()
    engine = Engine(settings, [root])
    try:
        for site in hover_sites():
            markdown = await engine.hover_markdown(site.path, site.path.read_text(), site.line, site.column)
            location = f"{site.path.relative_to(root)}:{site.line + 1}:{site.column + 1}"
            print(f"\n=== {site.symbol}: {site.note}", file=out)
            print(f"    autometrics-lsp hover {location} --prometheus-url {prometheus_url} --window {window}\n", file=out)
            print(markdown if markdown is not None else "(no hover here)", file=out)
    finally:
        await engine.aclose()


def run_demo(*, prometheus_port: int = 0, once: bool = False, out: TextIO = sys.stdout) -> int:
    """Start the stack, print live hovers, then keep it running until Ctrl+C (or return at once with `once`)."""
    try:
        with _stop_on_sigterm(), start_service() as service:
            print(f"shop: {service.rate:g} calls/s, metrics at {service.metrics_url}", file=out)
            with start_prometheus([service.target], port=prometheus_port) as prometheus:
                print(
                    f"Prometheus: {prometheus.url}, waiting for its first scrape and a full {DEMO_WINDOW} of data "
                    "(about 15 s)...",
                    file=out,
                    flush=True,
                )
                waited = wait_for_shop_traffic(prometheus, DEMO_WINDOW)
                print(f"data after {waited:.0f} s; the hovers an editor would show now:", file=out)
                asyncio.run(print_hovers(prometheus.url, DEMO_WINDOW, out))
                if not once:
                    _keep_running(prometheus.url, out)
    except KeyboardInterrupt:
        pass
    except StackError as error:
        print(f"autometrics-lsp demo: {error}", file=sys.stderr)
        return 1
    return 0


def _keep_running(prometheus_url: str, out: TextIO) -> None:
    print(
        f"\nThe stack keeps running. In your editor, set the autometrics settings prometheusUrl to {prometheus_url} "
        f"and window to {DEMO_WINDOW}, open {workspace_root()} and hover the shop's functions in "
        "autometrics_lsp/demo/shop/. Ctrl+C stops everything.",
        file=out,
        flush=True,
    )
    threading.Event().wait()  # until Ctrl+C or SIGTERM raises KeyboardInterrupt


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, so the stack's processes are stopped on the way out either way."""

    def interrupt(signal_number: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
