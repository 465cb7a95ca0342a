"""Card payments through an imaginary gateway: a network round trip of 20-40 ms, and every fourth card declined.

Both are deterministic (a call counter, not chance), so the demo's error ratio and latency are known exactly.
"""

from __future__ import annotations

import asyncio
import itertools

from autometrics_lsp.runtime import Objective, ObjectivePercentile, autometrics

DECLINE_EVERY = 4
DECLINE_SHARE = 1 / DECLINE_EVERY
# Round trips of successive charges, cycled. Five values against a decline every fourth call, so declined
# and accepted charges see every latency.
GATEWAY_ROUND_TRIPS_SECONDS = (0.020, 0.025, 0.030, 0.035, 0.040)

# The gateway's declines count as failures here, so this objective is violated on purpose: 75 % success is
# far below 95 %, which gives the editor an objective to flag.
PAYMENTS_OBJECTIVE = Objective("payments", success_rate=ObjectivePercentile.P95)


class PaymentDeclined(Exception):
    """The gateway refused the card."""


_charge_numbers = itertools.count()


@autometrics(objective=PAYMENTS_OBJECTIVE, track_concurrency=True)
async def charge(order_id: int, amount_cents: int) -> str:
    """Charge the customer's card; returns the gateway's transaction id."""
    number = next(_charge_numbers)
    await asyncio.sleep(GATEWAY_ROUND_TRIPS_SECONDS[number % len(GATEWAY_ROUND_TRIPS_SECONDS)])
    if number % DECLINE_EVERY == DECLINE_EVERY - 1:
        raise PaymentDeclined(f"order {order_id}: card declined ({amount_cents} cents)")
    return f"txn-{order_id}-{number}"
