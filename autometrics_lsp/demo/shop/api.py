"""The shop's public operations, the ones its web handlers would call (here: the traffic loop)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

from autometrics_lsp.demo.shop import inventory, notifications
from autometrics_lsp.demo.shop.orders import Ledger, Order
from autometrics_lsp.demo.shop.payments import PaymentDeclined
from autometrics_lsp.demo.shop.payments import charge as charge_card
from autometrics_lsp.runtime import Objective, ObjectiveLatency, ObjectivePercentile, autometrics, carry_caller

CATALOG_PAGE_SIZE = 3

CHECKOUT_OBJECTIVE = Objective(
    "checkout",
    success_rate=ObjectivePercentile.P99,
    latency=(ObjectiveLatency.Ms250, ObjectivePercentile.P99),
)

ledger = Ledger()
_order_ids = itertools.count(1)


@dataclass(frozen=True)
class Receipt:
    order_id: int
    paid: bool
    amount_cents: int


@autometrics(objective=CHECKOUT_OBJECTIVE)
async def checkout(sku: str, quantity: int) -> Receipt:
    """Reserve the goods, charge the card, book the order, e-mail the receipt.

    A declined card is an answer, not a failure. The e-mail goes out from a worker thread, which does not
    inherit this task's context: `carry_caller` keeps `checkout` recorded as the caller there.
    """
    order_id = next(_order_ids)
    reservation = inventory.reserve(sku, quantity)
    amount_cents = reservation.product.price_cents * quantity
    try:
        transaction_id = await charge_card(order_id, amount_cents)
    except PaymentDeclined:
        inventory.release(reservation)
        return Receipt(order_id, paid=False, amount_cents=0)
    ledger.record(Order(order_id, reservation, amount_cents, transaction_id))
    await asyncio.get_running_loop().run_in_executor(
        notifications.outbox, carry_caller(notifications.email_receipt), order_id, amount_cents
    )
    return Receipt(order_id, paid=True, amount_cents=amount_cents)


@autometrics
def browse_catalog(page: int) -> list[tuple[inventory.Product, int]]:
    """One page of the catalog (it wraps around), each product with the units still available."""
    first = page * CATALOG_PAGE_SIZE
    products = [inventory.CATALOG[(first + i) % len(inventory.CATALOG)] for i in range(CATALOG_PAGE_SIZE)]
    return [(product, inventory.stock_level(product.sku)) for product in products]
