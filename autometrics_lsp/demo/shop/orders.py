"""Orders and the ledger that books them."""

from __future__ import annotations

from dataclasses import dataclass

from autometrics_lsp.demo.shop import inventory
from autometrics_lsp.runtime import autometrics


@dataclass(frozen=True)
class Order:
    order_id: int
    reservation: inventory.Reservation
    amount_cents: int
    transaction_id: str


class Ledger:
    """The shop's books: running totals only, so a demo that runs for days does not grow."""

    def __init__(self) -> None:
        self.orders_booked = 0
        self.revenue_cents = 0

    @autometrics
    def record(self, order: Order) -> None:
        """Book a paid order; booking it takes the reserved goods off the shelf."""
        inventory.commit(order.reservation)
        self.orders_booked += 1
        self.revenue_cents += order.amount_cents
