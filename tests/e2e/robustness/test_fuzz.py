"""Fuzz the real server: random edits and random requests at random (also out-of-range) positions.

A seeded generator (set AUTOMETRICS_FUZZ_SEED to replay another run) builds documents that are broken in the ways
editors produce: syntax errors, half-typed code, huge lines, odd unicode and bytes that were not UTF-8 (lone
surrogates, as `surrogateescape` decoding gives), a 10,000-function file and empty files. Between edits it sends
hovers, code lenses and their resolves, call hierarchy (prepare, incoming, outgoing), inlay hints and every
`autometrics.server.*` command with random arguments, several at a time.

Every request must be answered — with a result or a JSON-RPC error response — within ANSWER_SECONDS, the
server must still be running at the end, still answer a plain hover quickly, and its peak resident memory
(VmHWM) stays bounded.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from autometrics_lsp import commands
from tests.e2e.robustness.conftest import (
    ANSWER_SECONDS,
    INSTRUMENTED_MODULE,
    RobustSession,
    RobustSessionFactory,
    ten_thousand_functions,
)
from tests.support.fault_server import FaultServer

SEED = int(os.environ.get("AUTOMETRICS_FUZZ_SEED", "7"))
ROUNDS = 100
REQUESTS_PER_ROUND = 6
FUZZ_SECONDS = 75.0  # the run stops early past this, whatever the round
PEAK_RSS_LIMIT_MIB = 1024
RESPONSIVE_SECONDS = 5.0

ODD_TEXTS = (
    "\udcff\udcfe",  # bytes 0xff 0xfe of a file that is not UTF-8, decoded with surrogateescape
    "\x00",
    "\r",
    "\u2028",
    "\u202e",
    "\ufeff",
    "🐍",
    "e\u0301",
    "𝔘𝔫𝔦",
    "\t\t\t",
    "'''",
    '"',
    "\\",
)
TOKENS = (
    "def ", "async def ", "class ", "@autometrics", "@autometrics(", "lambda", "await ", "return ", "yield ",
    "(", ")", "[", "]", "{", "}", ":", ",", ".", "=", "->", "\n", "    ", "charge", "refund", "Ledger", "self",
    "import ", "from ", " as ", "#", "f'{", "0x", "1e", "...",
)  # fmt: skip


class Fuzzer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def text(self) -> str:
        maker = self.rng.choice(
            (self.garbage, self.half_typed, self.huge_line, self.odd_unicode, self.valid, lambda: "")
        )
        return maker()

    def garbage(self) -> str:
        return "".join(self.rng.choice(TOKENS + ODD_TEXTS) for _ in range(self.rng.randrange(1, 400)))

    def half_typed(self) -> str:
        cut = self.rng.randrange(len(INSTRUMENTED_MODULE))
        return INSTRUMENTED_MODULE[:cut] + self.rng.choice(("", "(", "charge(", "@autometrics\ndef ", "\n    "))

    def huge_line(self) -> str:
        return "x = " + "charge(1) + " * self.rng.randrange(1_000, 25_000) + "0\n" + INSTRUMENTED_MODULE

    def odd_unicode(self) -> str:
        lines = INSTRUMENTED_MODULE.splitlines(keepends=True)
        for _ in range(self.rng.randrange(1, 12)):
            index = self.rng.randrange(len(lines))
            column = self.rng.randrange(len(lines[index]) + 1)
            lines[index] = lines[index][:column] + self.rng.choice(ODD_TEXTS) + lines[index][column:]
        return "".join(lines)

    def valid(self) -> str:
        return INSTRUMENTED_MODULE

    def position(self, text: str) -> types.Position:
        lines = text.split("\n")
        line = self.rng.choice((self.rng.randrange(len(lines) + 3), self.rng.randrange(2**31 - 1)))
        width = len(lines[line]) if line < len(lines) else 0
        character = self.rng.choice((self.rng.randrange(width + 5), self.rng.randrange(2**31 - 1)))
        return types.Position(line=line, character=character)

    def range(self, text: str) -> types.Range:
        start, end = sorted(
            (self.position(text), self.position(text)), key=lambda position: (position.line, position.character)
        )
        return types.Range(start=start, end=end)

    def json_value(self, depth: int = 0) -> Any:
        kinds = ["none", "int", "str", "bool"] + (["list", "dict", "target"] if depth < 2 else [])
        kind = self.rng.choice(kinds)
        if kind == "int":
            return self.rng.choice((0, -1, 2**31, self.rng.randrange(100)))
        if kind == "str":
            return self.rng.choice(("", "charge", "rate", "p99", "nope", 'a"b\\c\nd', "\udcff", "x" * 5000))
        if kind == "bool":
            return self.rng.random() < 0.5
        if kind == "list":
            return [self.json_value(depth + 1) for _ in range(self.rng.randrange(3))]
        if kind == "dict":
            return {self.rng.choice(("module", "function", "figure", "uri", "position", "sort", "x")): self.json_value(
                depth + 1
            ) for _ in range(self.rng.randrange(4))}  # fmt: skip
        if kind == "target":
            return {
                "module": self.rng.choice(("sample", "", "a\"b", self.json_value(depth + 1))),
                "function": self.rng.choice(("charge", "Ledger.record", "x\ny", self.json_value(depth + 1))),
                "figure": self.rng.choice(("rate", "error_ratio", "p99", "callers", "rate_history", "bad")),
                "uri": self.rng.choice(("file:///nowhere.py", "not a uri", "")),
                "position": {"line": self.json_value(depth + 1), "character": self.json_value(depth + 1)},
            }
        return None


class Run:
    """The fuzz run against one server: the documents it holds, the answers it gave."""

    def __init__(self, session: RobustSession, fuzzer: Fuzzer) -> None:
        self.session = session
        self.fuzzer = fuzzer
        self.documents: dict[str, tuple[str, int]] = {}  # uri -> (text, version)
        self.lenses: list[types.CodeLens] = []
        self.items: list[types.CallHierarchyItem] = []
        self.outcomes: Counter[str] = Counter()
        self.unanswered: list[str] = []

    @property
    def client(self) -> Any:
        return self.session.client

    def open(self, name: str, text: str) -> None:
        self.documents[self.session.open(name, text)] = (text, 1)

    def edit(self) -> None:
        uri = self.fuzzer.rng.choice(list(self.documents))
        old, version = self.documents[uri]
        if self.fuzzer.rng.random() < 0.5:
            new = self.fuzzer.text()
            change: types.TextDocumentContentChangeEvent = types.TextDocumentContentChangeWholeDocument(text=new)
        else:
            inserted = self.fuzzer.rng.choice((self.fuzzer.garbage(), self.fuzzer.rng.choice(ODD_TEXTS), ""))
            change = types.TextDocumentContentChangePartial(range=self.fuzzer.range(old), text=inserted)
            new = old  # the server's idea of the text after an odd range is its own; positions stay random anyway
        self.documents[uri] = (new, version + 1)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version + 1),
                content_changes=[change],
            )
        )

    def request(self) -> tuple[str, Awaitable[Any]]:
        rng = self.fuzzer.rng
        uri = rng.choice(list(self.documents))
        text = self.documents[uri][0]
        document = types.TextDocumentIdentifier(uri=uri)
        makers: dict[str, Callable[[], Awaitable[Any]]] = {
            "hover": lambda: self.client.text_document_hover_async(
                types.HoverParams(text_document=document, position=self.fuzzer.position(text))
            ),
            "codeLens": lambda: self._lenses(document),
            "codeLens/resolve": lambda: self.client.code_lens_resolve_async(self._lens()),
            "prepareCallHierarchy": lambda: self._prepare(document, text),
            "incomingCalls": lambda: self.client.call_hierarchy_incoming_calls_async(
                types.CallHierarchyIncomingCallsParams(item=self._item(uri, text))
            ),
            "outgoingCalls": lambda: self.client.call_hierarchy_outgoing_calls_async(
                types.CallHierarchyOutgoingCallsParams(item=self._item(uri, text))
            ),
            "inlayHint": lambda: self.client.text_document_inlay_hint_async(
                types.InlayHintParams(text_document=document, range=self.fuzzer.range(text))
            ),
            "executeCommand": lambda: self.client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command=rng.choice(commands.ALL),
                    arguments=[self.fuzzer.json_value() for _ in range(rng.randrange(3))],
                )
            ),
        }
        method = rng.choice(list(makers))
        return method, makers[method]()

    async def _lenses(self, document: types.TextDocumentIdentifier) -> Any:
        lenses = await self.client.text_document_code_lens_async(types.CodeLensParams(text_document=document))
        self.lenses.extend((lenses or [])[:20])
        return lenses

    def _lens(self) -> types.CodeLens:
        if self.lenses and self.fuzzer.rng.random() < 0.6:
            return self.fuzzer.rng.choice(self.lenses)
        text = INSTRUMENTED_MODULE
        return types.CodeLens(range=self.fuzzer.range(text), data=self.fuzzer.json_value())

    async def _prepare(self, document: types.TextDocumentIdentifier, text: str) -> Any:
        items = await self.client.text_document_prepare_call_hierarchy_async(
            types.CallHierarchyPrepareParams(text_document=document, position=self.fuzzer.position(text))
        )
        self.items.extend(items or [])
        return items

    def _item(self, uri: str, text: str) -> types.CallHierarchyItem:
        if self.items and self.fuzzer.rng.random() < 0.6:
            return self.fuzzer.rng.choice(self.items)
        selection = self.fuzzer.range(text)
        return types.CallHierarchyItem(
            name="x",
            kind=types.SymbolKind.Function,
            uri=self.fuzzer.rng.choice((uri, "file:///nowhere/at/all.py")),
            range=selection,
            selection_range=selection,
            data=self.fuzzer.json_value(),
        )

    async def answer(self, method: str, request: Awaitable[Any]) -> None:
        try:
            await asyncio.wait_for(request, ANSWER_SECONDS)
        except JsonRpcException:
            self.outcomes[f"{method}: error response"] += 1
        except Exception as failure:  # a timeout, a dead server, a reply the client could not read
            self.unanswered.append(f"{method}: {type(failure).__name__}: {failure}")
        else:
            self.outcomes[f"{method}: result"] += 1


async def test_random_edits_and_requests_are_all_answered_and_the_server_stays_up(
    robust_session: RobustSessionFactory, fault_backend: FaultServer
) -> None:
    fuzzer = Fuzzer(random.Random(SEED))
    async with robust_session(fault_backend.url, timeout=2.0) as session:
        run = Run(session, fuzzer)
        run.open("sample.py", INSTRUMENTED_MODULE)
        run.open("empty.py", "")
        run.open("many.py", ten_thousand_functions())
        run.open("broken.py", fuzzer.garbage())
        started = time.monotonic()
        rounds = 0
        while rounds < ROUNDS and time.monotonic() - started < FUZZ_SECONDS:
            rounds += 1
            for _ in range(fuzzer.rng.randrange(1, 3)):
                run.edit()
            requests = [run.request() for _ in range(REQUESTS_PER_ROUND)]
            await asyncio.gather(*(run.answer(method, request) for method, request in requests))
            assert session.alive(), f"the server died in round {rounds} (seed {SEED})"

        elapsed = time.monotonic() - started
        session.open("untouched.py", INSTRUMENTED_MODULE)
        hover_started = time.monotonic()
        hover = await session.hover(session.uri("untouched.py"), 6, 5)
        hover_seconds = time.monotonic() - hover_started
        peak = session.peak_rss_mib()

    answered = sum(run.outcomes.values())
    print(f"\nfuzz (seed {SEED}): {rounds} rounds, {answered} requests answered in {elapsed:.1f} s, "
          f"peak RSS (VmHWM) {peak:.0f} MiB, last hover {1000 * hover_seconds:.0f} ms")  # fmt: skip
    for outcome, count in sorted(run.outcomes.items()):
        print(f"  {outcome:40} {count}")
    assert run.unanswered == [], f"seed {SEED}: unanswered requests: {run.unanswered[:10]}"
    assert rounds >= 10, f"only {rounds} rounds in {FUZZ_SECONDS} s"
    assert hover is not None and "charge" in hover.contents.value  # type: ignore[union-attr]
    assert hover_seconds < RESPONSIVE_SECONDS
    assert peak < PEAK_RSS_LIMIT_MIB
