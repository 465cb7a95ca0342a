"""Backend faults through the real server: one long outage story on the fault server, one server process.

Refused connections, resets mid-body, 10 s stalls, 5xx storms, truncated JSON and an HTML login page each
come and go, with healthy spells between them. Every hover is answered within the time budget, the server
recovers by itself each time (same process, no restart), and each distinct failure is shown to the user
once per outage (window/showMessage), however many hovers and queries run into it: a storm of 503s and 502s
is two messages.
"""

from __future__ import annotations

import time

from lsprotocol import types

from autometrics_lsp import commands
from tests.e2e.robustness.conftest import INSTRUMENTED_MODULE, RobustSession, RobustSessionFactory
from tests.support.fault_server import (
    Behaviour,
    FaultServer,
    Healthy,
    HttpStatus,
    ResetMidBody,
    Stall,
    TruncatedJson,
    WrongContentType,
)

TIMEOUT_SECONDS = 1.0
SLACK_SECONDS = 1.5  # a loaded 2-core machine; far below the 10 s a stall would cost without the budget
HOVERS_PER_SPELL = 3
CHARGE = (6, 5)  # `charge`'s name in INSTRUMENTED_MODULE: instrumented, so its hover asks the backend

STORM = (HttpStatus(503), HttpStatus(502), HttpStatus(503), HttpStatus(502), HttpStatus(503))
# Each fault: what the hover says (after "Prometheus at URL"), and the distinct failures the user is shown.
OUTAGES: list[tuple[str, tuple[Behaviour, ...], str, tuple[str, ...]]] = [
    ("reset mid-body", (ResetMidBody(),), "closed the connection before the answer was complete", ()),
    ("10 s stall", (Stall(10.0),), f"did not answer within {TIMEOUT_SECONDS:.1f} s", ()),
    ("5xx storm", STORM, "answered HTTP 50", ("answered HTTP 503", "answered HTTP 502")),
    ("truncated JSON", (TruncatedJson(),), "invalid or truncated JSON", ()),
    ("wrong content type", (WrongContentType(),), "not Prometheus JSON (text/html)", ()),
]


async def hover_charge(session: RobustSession, uri: str) -> tuple[str, float]:
    started = time.monotonic()
    hover = await session.hover(uri, *CHARGE)
    seconds = time.monotonic() - started
    assert hover is not None
    assert isinstance(hover.contents, types.MarkupContent)
    return hover.contents.value, seconds


def shown(session: RobustSession, backend: FaultServer) -> list[str]:
    return [message.message for message in session.client.messages if backend.url in message.message]


def logged(session: RobustSession, backend: FaultServer) -> list[str]:
    return [message.message for message in session.client.log_messages if backend.url in message.message]


async def test_each_outage_is_reported_once_and_the_server_recovers_by_itself(
    robust_session: RobustSessionFactory, fault_backend: FaultServer
) -> None:
    async with robust_session(fault_backend.url, timeout=TIMEOUT_SECONDS) as session:
        uri = session.open("sample.py", INSTRUMENTED_MODULE)
        pid = session.pid
        healthy_hover, _ = await hover_charge(session, uri)
        assert shown(session, fault_backend) == []

        fault_backend.stop()
        await forget_cached_answers(session)
        for _ in range(HOVERS_PER_SPELL):
            markdown, seconds = await hover_charge(session, uri)
            assert "refused the connection" in markdown and seconds < TIMEOUT_SECONDS + SLACK_SECONDS
        fault_backend.start()
        await recover(session, uri, healthy_hover)

        for name, behaviours, problem, _ in OUTAGES:
            fault_backend.behave(*behaviours)
            await forget_cached_answers(session)
            for _ in range(HOVERS_PER_SPELL):
                markdown, seconds = await hover_charge(session, uri)
                assert problem in markdown, f"{name}: {markdown}"
                assert seconds < TIMEOUT_SECONDS + SLACK_SECONDS, f"{name}: a hover took {seconds:.1f} s"
            fault_backend.behave(Healthy())
            await recover(session, uri, healthy_hover)

        assert session.pid == pid and session.alive()
        messages = shown(session, fault_backend)
        assert logged(session, fault_backend) == messages

    expected = ["refused the connection"]
    for _, _, problem, distinct in OUTAGES:
        expected.extend(distinct or (problem,))
    assert len(messages) == len(expected), "\n".join(messages)
    for message, problem in zip(messages, expected, strict=True):
        assert problem in message


async def forget_cached_answers(session: RobustSession) -> None:
    """Answers are cached for a few seconds; the refresh command drops them, as a user would to see the outage now."""
    await session.command(commands.REFRESH)


async def recover(session: RobustSession, uri: str, healthy_hover: str) -> None:
    """The next hover after the backend is back shows figures again: failures are never cached."""
    markdown, _ = await hover_charge(session, uri)
    assert markdown == healthy_hover
