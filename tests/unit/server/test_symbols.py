"""jedi behind Symbols, against the real fixture workspace: every way a call site leads to its definition."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from autometrics_lsp.instrumentation import analyze_module, definition_at, utf16_column
from autometrics_lsp.symbols import CallPosition, DefinitionSite, Symbols, find_calls

WORKSPACE = Path(__file__).resolve().parents[2] / "fixtures" / "workspace"
SHOPKIT = WORKSPACE / "shopkit"
CHECKOUT = SHOPKIT / "checkout.py"


@pytest.fixture
async def symbols() -> AsyncIterator[Symbols]:
    symbols = Symbols([WORKSPACE])
    yield symbols
    await symbols.close()


def position_of(path: Path, needle: str, occurrence: int = 0, offset: int = 0) -> tuple[int, int]:
    """The LSP position (UTF-16 column) of the `occurrence`-th `needle` in a file, plus `offset` characters."""
    seen = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        start = line.find(needle)
        while start >= 0:
            if seen == occurrence:
                return number, utf16_column(line, start + offset)
            seen += 1
            start = line.find(needle, start + 1)
    raise AssertionError(f"{needle!r} not in {path}")


def function_at(site: DefinitionSite | None) -> str | None:
    """The qualname of the function a site points at, read back through the static analysis."""
    if site is None:
        return None
    source = site.path.read_text(encoding="utf-8")
    found = definition_at(analyze_module(source, site.module_name), site.line, site.column)
    assert found is not None, f"no definition at {site}"
    return f"{site.module_name}:{found.identity.function}"


async def resolve(symbols: Symbols, path: Path, needle: str, occurrence: int = 0, offset: int = 0) -> str | None:
    line, column = position_of(path, needle, occurrence, offset)
    return function_at(await symbols.definition_at(path, path.read_text(encoding="utf-8"), line, column))


# --- definition_at ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, needle, occurrence, expected",
    [
        # At a definition: the definition itself.
        (CHECKOUT, "def checkout(", 0, "shopkit.checkout:checkout"),
        (SHOPKIT / "ledger.py", "def record", 0, "shopkit.ledger:Ledger.record"),
        # `import shopkit.pricing as pricing_module` + `pricing_module.quote(...)`: a module alias, `module.func`.
        (CHECKOUT, "quote(", 0, "shopkit.pricing:quote"),
        # `from shopkit.orders import place_order as order`: a function alias.
        (CHECKOUT, "order(item, 2)", 0, "shopkit.orders:place_order"),
        # `from shopkit import place_order`: re-exported by shopkit/__init__.py.
        (CHECKOUT, "place_order(item)", 0, "shopkit.orders:place_order"),
        # `from shopkit import cancel`: re-exported under another name (`cancel_order as cancel`).
        (CHECKOUT, "cancel(item)", 0, "shopkit.orders:cancel_order"),
        # Methods: on a new instance, on a variable jedi infers, on the class, and on self.
        (CHECKOUT, "record(3)", 0, "shopkit.ledger:Ledger.record"),
        (CHECKOUT, "record(1)", 0, "shopkit.ledger:Ledger.record"),
        (CHECKOUT, "opened()", 0, "shopkit.ledger:Ledger.opened"),
        (SHOPKIT / "ledger.py", "record(amount)", 0, "shopkit.ledger:Ledger.record"),
        # An awaited call.
        (CHECKOUT, "refund(item)", 0, "shopkit.orders:refund"),
        # Relative imports: `from . import authorize` (a package's __init__.py) and `from .. import place_order`.
        (SHOPKIT / "payments" / "cards.py", "authorize(amount)", 0, "shopkit.payments:authorize"),
        (SHOPKIT / "payments" / "cards.py", "place_order(", 0, "shopkit.orders:place_order"),
        # Nested definitions called from their enclosing function.
        (SHOPKIT / "pricing.py", "round_cents(net", 0, "shopkit.pricing:price_with_tax.<locals>.round_cents"),
        (SHOPKIT / "pricing.py", "cheapest()", 1, "shopkit.pricing:price_table.<locals>.cheapest"),
    ],
)
async def test_definition_at_resolves_every_kind_of_reference(
    symbols: Symbols, path: Path, needle: str, occurrence: int, expected: str
) -> None:
    offset = 4 if needle.startswith("def ") else 0
    assert await resolve(symbols, path, needle, occurrence, offset) == expected


async def test_columns_are_utf16_on_lines_with_astral_characters(symbols: Symbols) -> None:
    # Six emoji precede the call: read as code points, the column would point six characters further right.
    line, column = position_of(CHECKOUT, 'order("thé")')
    source = CHECKOUT.read_text(encoding="utf-8")
    assert source.splitlines()[line].find('order("thé")') != column  # the test means something only if they differ
    for inside in range(5):  # every character of the name
        site = await symbols.definition_at(CHECKOUT, source, line, column + inside)
        assert function_at(site) == "shopkit.orders:place_order"
    assert await symbols.definition_at(CHECKOUT, source, line, column + 6) is None  # the string argument


async def test_the_site_is_the_name_of_the_definition(symbols: Symbols) -> None:
    line, column = position_of(CHECKOUT, "order(item, 2)")
    site = await symbols.definition_at(CHECKOUT, CHECKOUT.read_text(encoding="utf-8"), line, column)
    assert site == DefinitionSite(
        path=SHOPKIT / "orders.py", module_name="shopkit.orders", line=position_of(SHOPKIT / "orders.py",
        "def place_order")[0], column=4,
    )


@pytest.mark.parametrize(
    "needle, offset",
    [
        ("pricing_module.quote", 0),  # a module
        ("Ledger()", 0),  # a class
        ("label", 0),  # a variable
        ("return label", 0),  # a keyword
        ("str:", 0),  # a builtin
        ("    order(item", 0),  # whitespace
    ],
)
async def test_definition_at_answers_none_off_functions(symbols: Symbols, needle: str, offset: int) -> None:
    assert await resolve(symbols, CHECKOUT, needle, offset=offset) is None


async def test_positions_outside_the_text_answer_none(symbols: Symbols) -> None:
    source = CHECKOUT.read_text(encoding="utf-8")
    assert await symbols.definition_at(CHECKOUT, source, 10_000, 0) is None
    assert await symbols.definition_at(CHECKOUT, source, -1, 0) is None
    line, _ = position_of(CHECKOUT, "place_order(item)")
    assert function_at(await symbols.definition_at(CHECKOUT, source, line, 10_000)) is None  # clamped: end of line


async def test_the_editor_buffer_wins_over_the_file_and_may_be_broken(symbols: Symbols) -> None:
    source = CHECKOUT.read_text(encoding="utf-8") + (
        "\n\ndef only_in_the_buffer():\n    return 1\n\n\ndef draft(:\n    only_in_the_buffer(\n"
    )
    lines = source.splitlines()
    site = await symbols.definition_at(CHECKOUT, source, len(lines) - 1, 4)
    assert site == DefinitionSite(CHECKOUT, "shopkit.checkout", lines.index("def only_in_the_buffer():"), 4)


async def test_a_library_function_keeps_its_own_module_name(symbols: Symbols, tmp_path: Path) -> None:
    script = tmp_path / "tool.py"
    source = "import json\n\njson.dumps({})\n"
    site = await symbols.definition_at(script, source, 2, 6)
    assert site is not None
    assert site.module_name == "json"
    assert site.path.name == "__init__.py"


async def test_roots_decide_projects_and_module_names(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    helper = tmp_path / "app" / "helpers.py"  # a namespace package: only the root makes it `app.helpers`
    helper.write_text("def shout(text):\n    return text.upper()\n", encoding="utf-8")
    main = tmp_path / "main.py"
    source = "from app.helpers import shout\n\nshout('hi')\n"
    main.write_text(source, encoding="utf-8")
    symbols = Symbols([])
    try:
        assert symbols.roots == ()
        symbols.set_roots([WORKSPACE, tmp_path])
        assert symbols.roots == (WORKSPACE, tmp_path)
        site = await symbols.definition_at(main, source, 2, 0)
        assert site == DefinitionSite(helper, "app.helpers", 0, 4)
        symbols.set_roots([WORKSPACE])
        assert symbols.roots == (WORKSPACE,)
        assert await resolve(symbols, CHECKOUT, "quote(") == "shopkit.pricing:quote"
    finally:
        await symbols.close()


# --- calls_in -----------------------------------------------------------------------------------------------


async def test_calls_in_a_function_resolve_to_their_definitions(symbols: Symbols) -> None:
    source = CHECKOUT.read_text(encoding="utf-8")
    checkout = next(d for d in analyze_module(source, "shopkit.checkout") if d.identity.function == "checkout")
    calls = await symbols.calls_in(CHECKOUT, source, checkout.def_range)
    assert [(function_at(call.target), call.name_range) for call in calls] == [
        ("shopkit.pricing:quote", (12, 27, 12, 32)),
        ("shopkit.orders:place_order", (13, 4, 13, 9)),
        ("shopkit.orders:place_order", (14, 4, 14, 15)),
        ("shopkit.ledger:Ledger.record", (15, 13, 15, 19)),
        ("shopkit.payments.cards:charge_card", (16, 4, 16, 15)),
    ]  # `Ledger()` constructs a class: no function to point at
    assert calls[3].call_range == (15, 4, 15, 22)  # `Ledger().record(3)`


async def test_calls_on_a_line_with_astral_characters(symbols: Symbols) -> None:
    source = CHECKOUT.read_text(encoding="utf-8")
    receipt = next(d for d in analyze_module(source, "shopkit.checkout") if d.identity.function == "receipt")
    calls = await symbols.calls_in(CHECKOUT, source, receipt.def_range)
    line, column = position_of(CHECKOUT, 'order("thé")')
    assert [(function_at(call.target), call.name_range, call.call_range) for call in calls] == [
        ("shopkit.orders:place_order", (line, column, line, column + 5), (line, column, line, column + 12))
    ]


def test_find_calls_keeps_what_runs_now_and_leaves_nested_bodies() -> None:
    source = (
        "def outer(items):\n"  # 0
        "    first(items).second()\n"  # 1
        "    @decorate(option())\n"  # 2
        "    def nested(value=default()):\n"  # 3
        "        inside()\n"  # 4
        "    handler = lambda: later()\n"  # 5
        "    class Local:\n"  # 6
        "        attribute = at_class_creation()\n"  # 7
        "        def method(self):\n"  # 8
        "            in_method()\n"  # 9
        "    factory()()\n"  # 10
        "    table[0]()\n"  # 11
        "    return [convert(item) for item in items]\n"  # 12
        "\n"
        "async def other():\n"  # 14
        "    await fetch()\n"  # 15
    )
    names = [source.splitlines()[call.name_range[0]][call.name_range[1] : call.name_range[3]]
             for call in find_calls(source, (0, 0, 12, 44))]
    assert names == ["first", "second", "decorate", "option", "default", "at_class_creation", "factory", "convert"]
    assert find_calls(source, (14, 0, 15, 17)) == [CallPosition((15, 10, 15, 15), (15, 10, 15, 17))]  # after `await`
    assert find_calls(source, (13, 0, 13, 0)) == []  # no function starts there


def test_find_calls_finds_decorated_functions_by_their_first_decorator_line() -> None:
    source = "@first\n@second(1)\nasync def handler():\n    work()\n"
    assert find_calls(source, (0, 0, 3, 10)) == [CallPosition((3, 4, 3, 8), (3, 4, 3, 10))]


def test_find_calls_tolerates_broken_code() -> None:
    source = "def broken(:\n    call_one()\n\ndef fine():\n    call_two(\n"
    assert [call.name_range for call in find_calls(source, (3, 0, 4, 13))] == [(4, 4, 4, 12)]
    assert isinstance(find_calls(source, (0, 0, 1, 14)), list)


# --- references_to -------------------------------------------------------------------------------------------


async def test_references_follow_aliases_reexports_and_relative_imports(symbols: Symbols) -> None:
    source = CHECKOUT.read_text(encoding="utf-8")
    site = await symbols.definition_at(CHECKOUT, source, *position_of(CHECKOUT, "place_order(item)"))
    assert site is not None
    references = await symbols.references_to(site)
    found = [(ref.module_name, ref.name_range[:2], function_at(ref.caller)) for ref in references]
    astral_line, astral_column = position_of(CHECKOUT, 'order("thé")')
    assert found == [
        ("shopkit.checkout", position_of(CHECKOUT, "order(item, 2)"), "shopkit.checkout:checkout"),
        ("shopkit.checkout", position_of(CHECKOUT, "place_order(item)"), "shopkit.checkout:checkout"),
        ("shopkit.checkout", (astral_line, astral_column), "shopkit.checkout:receipt"),
        ("shopkit.payments", position_of(SHOPKIT / "payments" / "__init__.py", "place_order(", 0),
         "shopkit.payments:authorize"),
        ("shopkit.payments.cards", position_of(SHOPKIT / "payments" / "cards.py", "place_order(", 0),
         "shopkit.payments.cards:charge_card"),
    ]
    assert all(ref.name_range[3] - ref.name_range[1] in (5, 11) for ref in references)  # `order` / `place_order`


async def test_references_to_a_method_and_to_a_function_renamed_by_a_reexport(symbols: Symbols) -> None:
    ledger = SHOPKIT / "ledger.py"
    record = DefinitionSite(ledger, "shopkit.ledger", *position_of(ledger, "def record", offset=4))
    callers = [function_at(ref.caller) for ref in await symbols.references_to(record)]
    assert callers == [
        "shopkit.checkout:checkout",
        "shopkit.checkout:checkout_later",
        "shopkit.ledger:Ledger.__call__",
        "shopkit.ledger:Ledger.record_twice",
        "shopkit.ledger:Ledger.record_twice",
    ]
    orders = SHOPKIT / "orders.py"
    cancel_order = DefinitionSite(orders, "shopkit.orders", *position_of(orders, "def cancel_order", offset=4))
    references = await symbols.references_to(cancel_order)
    assert [(ref.name_range[:2], function_at(ref.caller)) for ref in references] == [
        (position_of(CHECKOUT, "cancel(item)"), "shopkit.checkout:checkout_later")
    ]


async def test_a_call_at_module_level_has_no_caller(tmp_path: Path) -> None:
    (tmp_path / "lib.py").write_text("def helper():\n    return 1\n", encoding="utf-8")
    (tmp_path / "script.py").write_text("from lib import helper\n\nVALUE = helper()\n", encoding="utf-8")
    symbols = Symbols([tmp_path])
    try:
        references = await symbols.references_to(DefinitionSite(tmp_path / "lib.py", "lib", 0, 4))
        assert [(ref.path.name, ref.name_range, ref.caller) for ref in references] == [
            ("script.py", (2, 8, 2, 14), None)
        ]
    finally:
        await symbols.close()


# --- the worker ----------------------------------------------------------------------------------------------


async def test_jedi_runs_on_the_worker_thread_and_never_raises(
    symbols: Symbols, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="autometrics_lsp.symbols")
    missing = DefinitionSite(WORKSPACE / "nowhere.py", "nowhere", 0, 0)
    assert await symbols.references_to(missing) == []
    assert await symbols.calls_in(WORKSPACE / "nowhere.py", "def f(): g()\n", (0, 0, 0, 12)) == []
    assert any("jedi failed: references to" in record.getMessage() for record in caplog.records)
    worker_threads = {record.threadName for record in caplog.records if record.name == "autometrics_lsp.symbols"}
    assert worker_threads and all(name.startswith("autometrics-jedi") for name in worker_threads)
    assert threading.current_thread().name not in worker_threads


async def test_concurrent_requests_are_served_one_at_a_time_and_all_answered(symbols: Symbols) -> None:
    source = CHECKOUT.read_text(encoding="utf-8")
    positions = [position_of(CHECKOUT, needle) for needle in ("quote(", "order(item, 2)", "record(3)", "cancel(item)")]
    results = await asyncio.gather(*(symbols.definition_at(CHECKOUT, source, *position) for position in positions * 5))
    assert [function_at(site) for site in results[:4]] == [
        "shopkit.pricing:quote", "shopkit.orders:place_order", "shopkit.ledger:Ledger.record",
        "shopkit.orders:cancel_order",
    ]
    assert results[4:] == results[:4] * 4


async def test_a_request_cancelled_while_queued_never_runs_jedi(
    symbols: Symbols, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="autometrics_lsp.symbols")
    source = CHECKOUT.read_text(encoding="utf-8")
    line, column = position_of(CHECKOUT, "quote(")
    # Hold the worker inside its first job (the lock every job takes), so the second one waits in the queue.
    symbols._lock.acquire()
    try:
        running = asyncio.create_task(symbols.definition_at(CHECKOUT, source, line, column))
        queued = asyncio.create_task(symbols.definition_at(CHECKOUT, source, line + 1, 4))
        await asyncio.sleep(0.05)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
    finally:
        symbols._lock.release()
    assert function_at(await running) == "shopkit.pricing:quote"
    # The worker is free again and the cancelled job left no trace in jedi.
    assert await resolve(symbols, CHECKOUT, "charge_card(3)") == "shopkit.payments.cards:charge_card"
    started = [record.getMessage() for record in caplog.records if record.getMessage().startswith("jedi: goto")]
    assert f"jedi: goto {CHECKOUT}:{line + 1}:4" not in started
    assert f"jedi: goto {CHECKOUT}:{line}:{column}" in started


async def test_close_answers_queued_and_later_requests_with_nothing() -> None:
    symbols = Symbols([WORKSPACE])
    source = CHECKOUT.read_text(encoding="utf-8")
    line, column = position_of(CHECKOUT, "quote(")
    symbols._lock.acquire()
    try:
        running = asyncio.create_task(symbols.definition_at(CHECKOUT, source, line, column))
        queued = asyncio.create_task(symbols.definition_at(CHECKOUT, source, line, column))
        await asyncio.sleep(0.05)
        closing = asyncio.create_task(symbols.close())
        await asyncio.sleep(0.05)
    finally:
        symbols._lock.release()
    await closing
    assert function_at(await running) == "shopkit.pricing:quote"  # the job already running finishes
    assert await queued is None
    assert await symbols.definition_at(CHECKOUT, source, line, column) is None
    assert await symbols.references_to(DefinitionSite(CHECKOUT, "shopkit.checkout", 11, 4)) == []
    await symbols.close()  # twice is fine


def test_symbols_is_the_only_module_importing_jedi() -> None:
    package = Path(__file__).resolve().parents[3] / "autometrics_lsp"
    importers = sorted(
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if any(line.strip().startswith(("import jedi", "from jedi")) for line in path.read_text().splitlines())
    )
    assert importers == ["symbols.py"]
