"""Inlay hints end to end: the real server over stdio, a real Prometheus scraping the shop under known traffic."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from autometrics_lsp.demo.shop import api, inventory, orders, payments
from autometrics_lsp.demo.shop.plan import identity_of
from tests.support.hover_text import parse_percent, parse_rate
from tests.support.lsp import open_document, position_of

SERVER_COMMAND = [sys.executable, "-m", "autometrics_lsp"]
SHOP = Path(api.__file__).parent
API = SHOP / "api.py"

# As in test_hover.py: a short window's rates jitter with scrape timing; the shop's edges differ by factors.
RATE_TOLERANCE = 0.25
ERROR_RATIO_TOLERANCE = 0.06

# Each instrumented call in api.py, written out in full: its hint goes right after it.
CALLS_IN_API = {
    "inventory.reserve(sku, quantity)": (api.checkout, inventory.reserve),
    "charge_card(order_id, amount_cents)": (api.checkout, payments.charge),
    "inventory.release(reservation)": (api.checkout, inventory.release),
    "ledger.record(Order(order_id, reservation, amount_cents, transaction_id))": (api.checkout, orders.Ledger.record),
    "inventory.stock_level(product.sku)": (api.browse_catalog, inventory.stock_level),
}


@pytest.fixture
def shop_settings(prometheus, metrics_window) -> dict:
    return {"prometheusUrl": prometheus.url, "window": metrics_window, "timeout": 5.0}


def end_of(path: Path, call: str) -> types.Position:
    return position_of(path, call, offset=len(call))


def at(position: types.Position) -> tuple[int, int]:
    return position.line, position.character


def whole(path: Path) -> types.Range:
    end = types.Position(line=len(path.read_text().splitlines()), character=0)
    return types.Range(start=types.Position(line=0, character=0), end=end)


@dataclass
class HintingSession:
    client: LanguageClient
    refreshes: asyncio.Queue[None]

    async def next_refresh(self) -> None:
        await asyncio.wait_for(self.refreshes.get(), timeout=10)

    async def change_settings(self, settings: dict) -> None:
        """Push new settings; returns once the server has taken them in and asked for fresh hints."""
        self.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"autometrics": settings})
        )
        await self.next_refresh()


@pytest.fixture
def hinting_session(lsp_session):
    """`async with hinting_session(root, settings) as session:` a server whose client, like VS Code 1.67+, handles
    `workspace/inlayHint/refresh`.

    Settings reach the server after `initialized`, asynchronously; it then asks the client for fresh hints, and
    an editor asks again. So does this session: it is handed out once the first refresh has come in.
    """

    @asynccontextmanager
    async def session(root: Path, settings: dict) -> AsyncIterator[HintingSession]:
        capabilities = client_capabilities("visual-studio-code")
        assert capabilities.workspace is not None
        capabilities.workspace.inlay_hint = types.InlayHintWorkspaceClientCapabilities(refresh_support=True)
        refreshes: asyncio.Queue[None] = asyncio.Queue()
        async with lsp_session(settings, root=root, capabilities=capabilities) as client:
            client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)(lambda params: refreshes.put_nowait(None))
            hinting = HintingSession(client, refreshes)
            await hinting.next_refresh()
            yield hinting

    return session


async def inlay_hints(client: LanguageClient, path: Path, area: types.Range) -> list[types.InlayHint]:
    uri = open_document(client, path)
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(text_document=types.TextDocumentIdentifier(uri=uri), range=area)
    )
    return hints or []


def edge_rate(shop_service, caller, callee) -> float:
    (edge,) = [
        edge for edge in shop_service.plan.callees_of(identity_of(caller)) if edge.callee == identity_of(callee)
    ]
    return edge.calls_per_second


async def test_each_instrumented_call_shows_the_live_rate_of_its_edge(hinting_session, workspace_root, shop_settings, shop_service):
    async with hinting_session(workspace_root, {**shop_settings, "inlayHints": True}) as session:
        hints = await inlay_hints(session.client, API, whole(API))

    by_position = {at(hint.position): hint for hint in hints}
    expected = {call: at(end_of(API, call)) for call in CALLS_IN_API}
    # Plain calls (`next(...)`, `carry_caller(...)`, `Receipt(...)`, the event loop's methods) get none.
    assert sorted(by_position) == sorted(expected.values())
    for call, (caller, callee) in CALLS_IN_API.items():
        hint = by_position[expected[call]]
        assert isinstance(hint.label, str) and hint.padding_left
        planned = edge_rate(shop_service, caller, callee)
        assert parse_rate(hint.label) == pytest.approx(planned, rel=RATE_TOLERANCE), call

    charge = by_position[expected["charge_card(order_id, amount_cents)"]]
    assert isinstance(charge.tooltip, types.MarkupContent) and charge.tooltip.kind == types.MarkupKind.Markdown
    tooltip = charge.tooltip.value
    assert "**`checkout`** → **`autometrics_lsp.demo.shop.payments.charge`**" in tooltip
    shown_errors = tooltip.split(" · ")[1].split(" errors")[0]
    assert parse_percent(shown_errors) == pytest.approx(payments.DECLINE_SHARE, abs=ERROR_RATIO_TOLERANCE), tooltip
    assert f"[calls]({shop_settings['prometheusUrl']}/graph?g0.expr=" in tooltip


async def test_only_the_requested_range_gets_hints(hinting_session, workspace_root, shop_settings):
    start = position_of(API, "def browse_catalog")
    area = types.Range(start=types.Position(line=start.line, character=0), end=whole(API).end)
    async with hinting_session(workspace_root, {**shop_settings, "inlayHints": True}) as session:
        hints = await inlay_hints(session.client, API, area)

    assert [hint.position for hint in hints] == [end_of(API, "inventory.stock_level(product.sku)")]


async def test_off_by_default_and_on_when_the_setting_changes(hinting_session, workspace_root, shop_settings):
    async with hinting_session(workspace_root, shop_settings) as session:
        off = await inlay_hints(session.client, API, whole(API))
        await session.change_settings({**shop_settings, "inlayHints": True})
        on = await inlay_hints(session.client, API, whole(API))

    assert off == []
    assert len(on) == len(CALLS_IN_API)


async def test_an_edge_without_traffic_shows_zero(hinting_session, shop_settings, tmp_path):
    source = tmp_path / "jobs.py"
    source.write_text(
        "from autometrics_lsp.demo.shop import inventory\n"
        "from autometrics_lsp.runtime import autometrics\n\n\n"
        "@autometrics\ndef restock(reservation):\n    inventory.commit(reservation)\n"
    )
    async with hinting_session(tmp_path, {**shop_settings, "inlayHints": True}) as session:
        (hint,) = await inlay_hints(session.client, source, whole(source))

    assert hint.position == end_of(source, "inventory.commit(reservation)")
    assert hint.label == "0/s"
    assert isinstance(hint.tooltip, types.MarkupContent)
    assert f"No calls along this edge in the last {shop_settings['window']}" in hint.tooltip.value


async def test_no_hints_when_the_backend_is_unreachable(hinting_session, workspace_root, unused_tcp_port):
    settings = {"prometheusUrl": f"http://127.0.0.1:{unused_tcp_port}", "timeout": 1.0, "inlayHints": True}
    async with hinting_session(workspace_root, settings) as session:
        assert await inlay_hints(session.client, API, whole(API)) == []
