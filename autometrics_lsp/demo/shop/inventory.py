"""The warehouse: the catalog, stock levels and the reservations that hold stock while a card is charged."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from autometrics_lsp.runtime import autometrics


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int


CATALOG: tuple[Product, ...] = (
    Product("tea-green", "Green tea, 100 g", 650),
    Product("tea-black", "Black tea, 100 g", 550),
    Product("mug-blue", "Blue mug", 1200),
    Product("pot-cast-iron", "Cast-iron teapot", 4900),
)

# A delivery tops a product up to its full shelf as soon as it runs low, so a checkout never finds it sold out
# and the demo's traffic (and thus its metrics) stays exactly as planned.
FULL_SHELF = 1000
REORDER_LEVEL = 100


@dataclass(frozen=True)
class Reservation:
    reservation_id: int
    product: Product
    quantity: int


class UnknownProduct(LookupError):
    """No product in the catalog has this SKU."""


_products_by_sku = {product.sku: product for product in CATALOG}
_on_shelf = {product.sku: FULL_SHELF for product in CATALOG}
_held = {product.sku: 0 for product in CATALOG}
_reservation_ids = itertools.count(1)


def find_product(sku: str) -> Product:
    """Deliberately not instrumented: the editor shows no metrics here, only a hint."""
    try:
        return _products_by_sku[sku]
    except KeyError:
        raise UnknownProduct(sku) from None


@autometrics
def stock_level(sku: str) -> int:
    """Units a customer can still buy: on the shelf and not held by an open reservation."""
    find_product(sku)
    return _on_shelf[sku] - _held[sku]


@autometrics
def reserve(sku: str, quantity: int) -> Reservation:
    product = find_product(sku)
    _held[sku] += quantity
    return Reservation(next(_reservation_ids), product, quantity)


@autometrics
def release(reservation: Reservation) -> None:
    """Give held stock back, e.g. when the payment failed."""
    _held[reservation.product.sku] -= reservation.quantity


@autometrics
def commit(reservation: Reservation) -> None:
    """The sale went through: the held units leave the shelf."""
    sku = reservation.product.sku
    _held[sku] -= reservation.quantity
    _on_shelf[sku] -= reservation.quantity
    if _on_shelf[sku] < REORDER_LEVEL:
        _on_shelf[sku] = FULL_SHELF
