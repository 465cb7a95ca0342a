"""Customer e-mails. Sending one is blocking I/O (SMTP), so it runs on a small pool of worker threads."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from autometrics_lsp.runtime import autometrics

SMTP_ROUND_TRIP_SECONDS = 0.005

outbox = ThreadPoolExecutor(max_workers=2, thread_name_prefix="outbox")


@autometrics
def email_receipt(order_id: int, amount_cents: int) -> None:
    time.sleep(SMTP_ROUND_TRIP_SECONDS)
