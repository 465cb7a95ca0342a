"""The real server under load: 200 hovers in flight with half of them cancelled, and a backend that stalls.

jedi runs one request at a time on one worker thread, so hovers of call sites queue. A request cancelled while
it waits there must never start jedi (jedi-based servers are known to run every queued request, cancelled or
not, and fall behind). The server's debug log names each jedi run (`jedi: goto PATH:LINE:COLUMN`); every hover
here is on its own line, so the log tells exactly which requests reached jedi.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from tests.e2e.robustness.conftest import (
    ANSWER_SECONDS,
    INSTRUMENTED_MODULE,
    RobustSessionFactory,
    ten_thousand_functions,
)
from tests.support.fault_server import FaultServer, Healthy, Stall

IN_FLIGHT = 200
# The one job jedi is running when a cancel arrives finishes (jedi cannot be interrupted); allow one more for
# the cancel landing between the queue check and the lock.
CANCELLED_BUT_RAN_AT_MOST = 2
STALL_SECONDS = 10.0
QUICK_SECONDS = 1.0

_JEDI_GOTO = re.compile(r"jedi: goto (?P<path>.+):(?P<line>\d+):(?P<column>\d+)$", re.MULTILINE)


def call_sites(text: str, count: int) -> list[types.Position]:
    """Positions of `f<N>(x)` calls in `return f<N>(x)` lines, one per line."""
    positions = []
    for number, line in enumerate(text.split("\n")):
        if line.startswith("    return f"):
            positions.append(types.Position(line=number, character=line.index("f") + 1))
            if len(positions) == count:
                break
    return positions


async def test_cancelled_hovers_never_reach_jedi_and_the_others_all_answer(
    robust_session: RobustSessionFactory, fault_backend: FaultServer
) -> None:
    text = ten_thousand_functions()
    positions = call_sites(text, IN_FLIGHT)
    async with robust_session(fault_backend.url) as session:
        uri = session.open("many.py", text)
        protocol: Any = session.client.protocol
        ids = [str(uuid.uuid4()) for _ in positions]
        started = time.monotonic()
        answers = [
            asyncio.ensure_future(protocol.send_request_async(
                types.TEXT_DOCUMENT_HOVER,
                types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=position),
                msg_id=msg_id,
            ))
            for msg_id, position in zip(ids, positions, strict=True)
        ]
        await asyncio.sleep(0)  # each task sends its request at its first step
        cancelled = set(range(1, IN_FLIGHT, 2))
        for index in sorted(cancelled):
            protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=ids[index]))
        outcomes = await asyncio.wait_for(asyncio.gather(*answers, return_exceptions=True), ANSWER_SECONDS * 2)
        elapsed = time.monotonic() - started
        log = session.log_text()

    jedi_lines = {int(match["line"]) for match in _JEDI_GOTO.finditer(log) if match["path"].endswith("many.py")}
    kept = [index for index in range(IN_FLIGHT) if index not in cancelled]
    answered_cancelled = [index for index in cancelled if isinstance(outcomes[index], JsonRpcRequestCancelled)]
    ran_anyway = [index for index in answered_cancelled if positions[index].line in jedi_lines]
    print(
        f"\n{IN_FLIGHT} hovers in {elapsed:.1f} s: {len(answered_cancelled)} of {len(cancelled)} cancels took effect; "
        f"jedi ran {len(jedi_lines)} times, for {len(ran_anyway)} of the cancelled"
    )
    for index in kept:
        hover = outcomes[index]
        assert isinstance(hover, types.Hover), f"hover {index}: {hover!r}"
        called = re.search(r"f\d+", text.split("\n")[positions[index].line])
        assert called is not None and f"`{called.group()}`" in hover.contents.value  # type: ignore[union-attr]
        assert positions[index].line in jedi_lines
    assert len(answered_cancelled) >= len(cancelled) // 2, "most cancels arrive while their hovers still queue"
    assert len(ran_anyway) <= CANCELLED_BUT_RAN_AT_MOST, f"cancelled hovers that still ran jedi: {ran_anyway}"


async def test_a_stalled_backend_does_not_hold_up_requests_that_do_not_need_it(
    robust_session: RobustSessionFactory, fault_backend: FaultServer
) -> None:
    async with robust_session(fault_backend.url, timeout=STALL_SECONDS + 5) as session:
        uri = session.open("sample.py", INSTRUMENTED_MODULE)
        fault_backend.behave(Stall(STALL_SECONDS, then=Healthy()))
        slow_started = time.monotonic()
        slow_hover = asyncio.ensure_future(session.hover(uri, 6, 5))  # `charge`: instrumented, asks the backend
        while not fault_backend.requests:
            await asyncio.sleep(0.01)

        quick_started = time.monotonic()
        plain = await session.hover(uri, 15, 6)  # `plain_helper`: not instrumented, no backend
        lenses = await asyncio.wait_for(
            session.client.text_document_code_lens_async(
                types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
            ),
            ANSWER_SECONDS,
        )
        quick_seconds = time.monotonic() - quick_started
        assert not slow_hover.done(), "the backend stall should still be holding the first hover"

        hover = await slow_hover
        slow_seconds = time.monotonic() - slow_started

    assert plain is not None and "plain_helper" in plain.contents.value  # type: ignore[union-attr]
    assert [lens.data["function"] for lens in lenses] == ["charge", "refund", "Ledger.record"]
    assert quick_seconds < QUICK_SECONDS, f"requests without the backend took {quick_seconds:.2f} s"
    assert hover is not None and "charge" in hover.contents.value  # type: ignore[union-attr]
    assert slow_seconds >= STALL_SECONDS - 0.5
