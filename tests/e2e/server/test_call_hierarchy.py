"""Call hierarchy end to end: the real server over stdio, a real Prometheus scraping the shop under known traffic."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from autometrics_lsp.demo.shop import api, inventory, notifications, orders, payments
from autometrics_lsp.demo.shop.plan import Edge, identity_of
from tests.support.hover_text import parse_percent, parse_rate
from tests.support.lsp import open_document, position_of

SHOP = Path(api.__file__).parent
API = SHOP / "api.py"
PAYMENTS = SHOP / "payments.py"
NOTIFICATIONS = SHOP / "notifications.py"

# As in test_hover.py: a short window's rates jitter with scrape timing; the shop's edges differ by factors.
RATE_TOLERANCE = 0.25
ERROR_RATIO_TOLERANCE = 0.06


@pytest.fixture
def shop_settings(prometheus, metrics_window) -> dict:
    return {"prometheusUrl": prometheus.url, "window": metrics_window, "timeout": 5.0}


async def prepare(client: LanguageClient, path: Path, position: types.Position) -> list[types.CallHierarchyItem]:
    uri = open_document(client, path)
    items = await client.text_document_prepare_call_hierarchy_async(
        types.CallHierarchyPrepareParams(text_document=types.TextDocumentIdentifier(uri=uri), position=position)
    )
    return items or []


async def incoming(client: LanguageClient, item: types.CallHierarchyItem) -> list[types.CallHierarchyIncomingCall]:
    return await client.call_hierarchy_incoming_calls_async(types.CallHierarchyIncomingCallsParams(item=item)) or []


async def outgoing(client: LanguageClient, item: types.CallHierarchyItem) -> list[types.CallHierarchyOutgoingCall]:
    return await client.call_hierarchy_outgoing_calls_async(types.CallHierarchyOutgoingCallsParams(item=item)) or []


def labelled(item: types.CallHierarchyItem) -> tuple[str, str]:
    return item.data["module"], item.data["function"]


def name_range(path: Path, needle: str, name: str, occurrence: int = 1) -> types.Range:
    """The range of `name`, which starts `needle`'s occurrence in the file."""
    start = position_of(path, needle, occurrence=occurrence)
    return types.Range(start=start, end=types.Position(line=start.line, character=start.character + len(name)))


def assert_edge_figures(detail: str, edge: Edge) -> None:
    rate, errors = detail.split(" · ")[:2]
    assert parse_rate(rate) == pytest.approx(edge.calls_per_second, rel=RATE_TOLERANCE), detail
    assert errors.endswith(" errors"), detail
    assert parse_percent(errors.removesuffix(" errors")) == pytest.approx(edge.error_ratio, abs=ERROR_RATIO_TOLERANCE)


def plan_edge(shop_service, caller, callee) -> Edge:
    (edge,) = [
        edge
        for edge in shop_service.plan.callees_of(identity_of(caller))
        if edge.callee == identity_of(callee)
    ]
    return edge


async def test_charge_is_called_by_checkout_at_the_plans_rate(lsp_session, shop_settings, shop_service):
    async with lsp_session(shop_settings) as client:
        (item,) = await prepare(client, PAYMENTS, position_of(PAYMENTS, "def charge", offset=len("def ")))
        calls = await incoming(client, item)

    assert item.name == "charge" and labelled(item) == (payments.__name__, "charge")
    assert item.uri == PAYMENTS.as_uri() and item.selection_range == name_range(PAYMENTS, "charge(order_id", "charge")
    by_caller = {labelled(call.from_): call for call in calls}
    checkout = by_caller[(api.__name__, "checkout")]
    assert checkout.from_.uri == API.as_uri()
    assert checkout.from_.selection_range == name_range(API, "checkout(sku", "checkout")
    # The call site in api.py, written under the import alias.
    assert list(checkout.from_ranges) == [name_range(API, "charge_card(order_id", "charge_card")]
    assert_edge_figures(checkout.from_.detail, plan_edge(shop_service, api.checkout, payments.charge))
    assert "not found in code" not in checkout.from_.detail


async def test_a_call_site_prepares_the_function_it_calls(lsp_session, shop_settings):
    async with lsp_session(shop_settings) as client:
        at_call = await prepare(client, API, position_of(API, "charge_card(order_id", offset=2))
        at_definition = await prepare(client, PAYMENTS, position_of(PAYMENTS, "def charge", offset=len("def ")))
        on_plain_code = await prepare(client, API, position_of(API, "CATALOG_PAGE_SIZE = 3"))

    assert at_call == at_definition and len(at_call) == 1
    assert on_plain_code == []


async def test_checkout_calls_what_the_plan_says_live_and_in_code(lsp_session, shop_settings, shop_service):
    async with lsp_session(shop_settings) as client:
        (item,) = await prepare(client, API, position_of(API, "def checkout", offset=len("def ")))
        calls = {labelled(call.to): call for call in await outgoing(client, item)}

    for edge in shop_service.plan.callees_of(identity_of(api.checkout)):
        call = calls[(edge.callee.module, edge.callee.function)]
        assert_edge_figures(call.to.detail, edge)

    reserve = calls[(inventory.__name__, "reserve")]
    assert list(reserve.from_ranges) == [name_range(API, "reserve(sku", "reserve")]
    assert reserve.to.uri == (SHOP / "inventory.py").as_uri()
    assert calls[(orders.__name__, "Ledger.record")].to.kind == types.SymbolKind.Method

    # Handed to a worker thread as a value, never called by name: production sees the edge, the code does not.
    email = calls[(notifications.__name__, "email_receipt")]
    assert "not found in code" in email.to.detail and not email.from_ranges
    assert email.to.uri == NOTIFICATIONS.as_uri()
    assert email.to.selection_range == name_range(NOTIFICATIONS, "email_receipt(", "email_receipt")

    carry_caller = calls[("autometrics_lsp.runtime.caller", "carry_caller")]
    assert carry_caller.to.detail.startswith("not instrumented")


CODE_ONLY_CALLER = """\
from autometrics_lsp.demo.shop import api, inventory
from autometrics_lsp.runtime import autometrics


@autometrics
def restock(reservation):
    inventory.commit(reservation)


@autometrics
async def replay_checkout():
    await api.checkout("tea-green", 1)
"""


async def test_an_edge_only_in_code_is_marked(lsp_session, shop_settings, tmp_path):
    source = tmp_path / "jobs.py"
    source.write_text(CODE_ONLY_CALLER)
    async with lsp_session(shop_settings, root=tmp_path) as client:
        (item,) = await prepare(client, source, position_of(source, "def restock", offset=len("def ")))
        (call,) = await outgoing(client, item)

    assert labelled(item) == ("jobs", "restock")
    assert labelled(call.to) == (inventory.__name__, "commit")
    assert call.to.detail == f"not seen in production (last {shop_settings['window']}) · {inventory.__name__}"
    assert list(call.from_ranges) == [name_range(source, "commit(reservation)", "commit")]


async def test_functions_outside_the_workspace_borrow_the_place_they_were_reached_from(
    lsp_session, shop_settings, shop_service, tmp_path
):
    """The shop is not in this workspace: jedi still finds checkout's code, but the e-mail edge is live only."""
    source = tmp_path / "jobs.py"
    source.write_text(CODE_ONLY_CALLER)
    async with lsp_session(shop_settings, root=tmp_path) as client:
        (checkout,) = await prepare(client, source, position_of(source, "api.checkout(", offset=len("api.c")))
        callees = {labelled(call.to): call for call in await outgoing(client, checkout)}
        email = callees[(notifications.__name__, "email_receipt")].to
        callers_of_email = await incoming(client, email)

    assert checkout.uri == API.as_uri()
    assert email.uri == checkout.uri and email.range == checkout.range
    assert email.data["located"] is False
    assert "not found in code · not in this workspace" in email.detail
    # Expanding it walks production's graph on: checkout is the caller, itself placed where it was reached from.
    (caller,) = callers_of_email
    assert labelled(caller.from_) == (api.__name__, "checkout")
    assert caller.from_.uri == email.uri and not caller.from_ranges
    assert "not in this workspace" in caller.from_.detail and "not found in code" not in caller.from_.detail
    assert_edge_figures(caller.from_.detail, plan_edge(shop_service, api.checkout, notifications.email_receipt))


async def test_an_unreachable_backend_leaves_the_code_edges_unmarked(lsp_session, unused_tcp_port):
    async with lsp_session({"prometheusUrl": f"http://127.0.0.1:{unused_tcp_port}", "timeout": 1.0}) as client:
        (item,) = await prepare(client, API, position_of(API, "def checkout", offset=len("def ")))
        calls = {labelled(call.to): call for call in await outgoing(client, item)}

    reserve = calls[(inventory.__name__, "reserve")]
    assert reserve.to.detail == inventory.__name__, "unknown traffic is neither a rate nor 'not seen'"
    assert (notifications.__name__, "email_receipt") not in calls
