"""Call hierarchy: the pure merge of code and production edges, their details, placing functions, LSP items, and the
use cases over real jedi on a small workspace with a backend that records what it is asked."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lsprotocol import types

from autometrics_lsp.backend import BackendError, BackendErrorKind, Sample
from autometrics_lsp.call_hierarchy import (
    FILE_START,
    MODULE_LEVEL,
    CallHierarchy,
    CodeCalls,
    HierarchyCall,
    HierarchyFunction,
    Place,
    describe_call,
    merge_calls,
    module_file,
)
from autometrics_lsp.engine import Engine, read_file_source
from autometrics_lsp.features.call_hierarchy import function_of_item, hierarchy_item
from autometrics_lsp.figures import Edge
from tests.support.backends import RecordingBackend, answering
from autometrics_lsp.settings import Settings

WINDOW = "5m"
API_FILE = Path("/ws/svc/api.py")
HANDLE = HierarchyFunction("svc.api", "handle", True, Place(API_FILE, (3, 0, 6, 10), (4, 4, 4, 10)))
JOB = HierarchyFunction("svc.jobs", "nightly", True, Place(Path("/ws/svc/jobs.py"), (0, 0, 2, 0), (0, 4, 0, 11)))
HELPER = HierarchyFunction("svc.util", "helper", False, Place(Path("/ws/svc/util.py"), (0, 0, 1, 0), (0, 4, 0, 10)))


def nowhere(module: str, function: str) -> HierarchyFunction:
    return HierarchyFunction(module, function, True, None)


def by_name(calls: list[HierarchyCall]) -> dict[str, HierarchyCall]:
    return {call.other.function: call for call in calls}


# --- merge_calls -------------------------------------------------------------------------------------------------


def test_an_edge_in_both_sources_keeps_the_code_place_and_gains_the_traffic() -> None:
    code = [CodeCalls(HANDLE, ((10, 4, 10, 10), (12, 4, 12, 10)))]
    live = [Edge("handle", "svc.api", 2.5, 0.1)]

    (call,) = merge_calls(code, live, nowhere)

    assert call == HierarchyCall(
        HANDLE, ((10, 4, 10, 10), (12, 4, 12, 10)), live[0], in_code=True, code_known=True, live_known=True
    )
    assert describe_call(call, WINDOW) == "2.5/s · 10% errors · svc.api"


def test_edges_only_in_code_or_only_in_production_are_marked() -> None:
    located = HierarchyFunction("svc.mail", "send", True, Place(Path("/ws/svc/mail.py"), (5, 0, 9, 0), (5, 4, 5, 8)))
    calls = by_name(
        merge_calls(
            [CodeCalls(HANDLE, ((1, 0, 1, 6),)), CodeCalls(JOB, ((2, 0, 2, 7),)), CodeCalls(HELPER, ((3, 0, 3, 6),))],
            [Edge("handle", "svc.api", 1.0, 0.0), Edge("send", "svc.mail", 0.5, 0.004)],
            lambda module, function: located if function == "send" else nowhere(module, function),
        )
    )

    assert describe_call(calls["nightly"], WINDOW) == "not seen in production (last 5m) · svc.jobs"
    assert describe_call(calls["helper"], WINDOW) == "not instrumented · svc.util"
    send = calls["send"]
    assert send.other == located and send.call_ranges == () and not send.in_code
    assert describe_call(send, WINDOW) == "30/min · 0.4% errors · not found in code · svc.mail"


def test_a_function_production_knows_but_the_workspace_does_not_is_marked_so() -> None:
    (call,) = merge_calls([], [Edge("charge", "billing.api", 12.3, 0.0)], nowhere)

    assert call.other.place is None
    assert describe_call(call, WINDOW) == (
        "12.3/s · 0% errors · not found in code · not in this workspace · billing.api"
    )


def test_unknown_sources_mark_nothing() -> None:
    """No live answer: code edges carry no traffic claim. Code not searchable: live edges are not 'not in code'."""
    (code_only,) = merge_calls([CodeCalls(JOB, ((2, 0, 2, 7),))], None, nowhere)
    (live_only,) = merge_calls(None, [Edge("nightly", "svc.jobs", 0.2, 0.5)], lambda module, function: JOB)

    assert describe_call(code_only, WINDOW) == "svc.jobs"
    assert describe_call(live_only, WINDOW) == "12/min · 50% errors · svc.jobs"


def test_busiest_edges_first_then_the_silent_ones_by_name() -> None:
    calls = merge_calls(
        [CodeCalls(JOB, ((0, 0, 0, 1),)), CodeCalls(HELPER, ((1, 0, 1, 1),)), CodeCalls(HANDLE, ((2, 0, 2, 1),))],
        [Edge("handle", "svc.api", 0.5, 0.0), Edge("x", "other", 3.0, 0.0)],
        nowhere,
    )

    assert [call.other.function for call in calls] == ["x", "handle", "nightly", "helper"]


def test_an_older_callers_edge_without_module_joins_the_one_code_edge_of_that_name() -> None:
    (joined,) = merge_calls([CodeCalls(JOB, ((0, 0, 0, 1),))], [Edge("nightly", "", 1.0, 0.0)], nowhere)
    ambiguous = merge_calls(
        [CodeCalls(JOB, ((0, 0, 0, 1),)), CodeCalls(HierarchyFunction("svc.other", "nightly", True, JOB.place), ())],
        [Edge("nightly", "", 1.0, 0.0)],
        nowhere,
    )

    assert joined.other == JOB and joined.live is not None and joined.in_code
    assert len(ambiguous) == 3, "with two candidates the old edge stays on its own"


# --- module_file ---------------------------------------------------------------------------------------------------


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_module_files_are_found_as_python_would_load_them(tmp_path: Path) -> None:
    write(tmp_path / "svc" / "__init__.py")
    api = write(tmp_path / "svc" / "api.py")
    package = write(tmp_path / "svc" / "jobs" / "__init__.py")
    write(tmp_path / "src" / "lib" / "__init__.py")
    in_src = write(tmp_path / "src" / "lib" / "core.py")
    script = write(tmp_path / "tool.py")

    assert module_file("svc.api", [tmp_path]) == api
    assert module_file("svc.jobs", [tmp_path]) == package
    assert module_file("lib.core", [tmp_path]) == in_src
    assert module_file("tool", [tmp_path]) == script
    assert module_file("svc.missing", [tmp_path]) is None
    assert module_file("", [tmp_path]) is None
    assert module_file("../etc", [tmp_path]) is None


def test_a_file_python_would_name_otherwise_is_not_the_module(tmp_path: Path) -> None:
    """`api.py` inside the package `svc` is `svc.api`, never `api`, whatever the roots say."""
    write(tmp_path / "svc" / "__init__.py")
    write(tmp_path / "svc" / "api.py")

    assert module_file("api", [tmp_path, tmp_path / "svc"]) is None


# --- LSP items -------------------------------------------------------------------------------------------------------


def test_an_item_carries_its_function_and_reads_back_the_same() -> None:
    item = hierarchy_item(HANDLE, "svc.api")

    assert item.name == "handle" and item.kind == types.SymbolKind.Function and item.uri == API_FILE.as_uri()
    assert item.selection_range == types.Range(start=types.Position(4, 4), end=types.Position(4, 10))
    assert function_of_item(item) == HANDLE


def test_a_function_without_place_borrows_the_item_it_was_reached_from() -> None:
    reached_from = hierarchy_item(HANDLE, "svc.api")
    item = hierarchy_item(nowhere("billing.api", "Gateway.charge"), "1/s", reached_from)

    assert (item.uri, item.range, item.selection_range) == (
        reached_from.uri,
        reached_from.range,
        reached_from.selection_range,
    )
    assert item.kind == types.SymbolKind.Method
    assert function_of_item(item) == nowhere("billing.api", "Gateway.charge")


def test_kinds_of_items() -> None:
    nested = HierarchyFunction("m", "outer.<locals>.inner", True, HANDLE.place)
    module_code = HierarchyFunction("svc.api", MODULE_LEVEL, False, Place(API_FILE, FILE_START, FILE_START))

    assert hierarchy_item(nested, "").kind == types.SymbolKind.Function
    module_item = hierarchy_item(module_code, "")
    assert module_item.kind == types.SymbolKind.Module and module_item.name == "svc.api"


@pytest.mark.parametrize(
    "data",
    [None, "handle", {"module": "svc.api"}, {"module": "svc.api", "function": 3, "instrumented": True, "located": True},
     {"module": "svc.api", "function": "handle", "instrumented": "yes", "located": True}],
)
def test_items_with_foreign_or_broken_data_are_not_ours(data: object) -> None:
    item = hierarchy_item(HANDLE, "svc.api")
    item.data = data

    assert function_of_item(item) is None


# --- the use cases, over real jedi ----------------------------------------------------------------------------------

WORKSPACE_FILES = {
    "svc/__init__.py": "",
    "svc/db.py": """\
        from autometrics_lsp.runtime import autometrics


        @autometrics
        def load(key):
            return key


        @autometrics
        def save(value):
            return value
        """,
    "svc/api.py": """\
        from autometrics_lsp.runtime import autometrics
        from svc import db
        from svc.db import save as store


        def helper():
            return db.load(1)


        @autometrics
        def handle(x):
            db.load(x)
            store(x)
            helper()
            db.load(2)
            return len([x])


        @autometrics
        def idle():
            return store(0)


        handle(1)
        """,
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    for name, text in WORKSPACE_FILES.items():
        write(tmp_path / name, text)
    return tmp_path


@pytest.fixture
async def engine(workspace: Path) -> AsyncIterator[Engine]:
    engine = Engine(Settings(window=WINDOW), [workspace])
    real_backend = engine.backend
    yield engine
    await real_backend.aclose()
    await engine.symbols.close()


def line_of(path: Path, needle: str) -> tuple[int, int]:
    for number, line in enumerate(path.read_text().splitlines()):
        if needle in line:
            return number, line.index(needle)
    raise AssertionError(f"{needle!r} not in {path}")


async def prepared(engine: Engine, path: Path, needle: str, offset: int = 0) -> HierarchyFunction | None:
    line, column = line_of(path, needle)
    return await CallHierarchy(engine, read_file_source).prepare(path, path.read_text(), line, column + offset)


def callee(function: str, module: str, result: str, rate: float) -> Sample:
    return Sample({"function": function, "module": module, "result": result}, rate)


async def test_outgoing_calls_merge_jedis_calls_with_one_query_for_all_live_callees(
    engine: Engine, workspace: Path
) -> None:
    api = workspace / "svc" / "api.py"
    backend = answering(
        engine,
        RecordingBackend(
            [
                callee("load", "svc.db", "ok", 2.0),
                callee("save", "svc.db", "ok", 0.75),
                callee("save", "svc.db", "error", 0.25),
                callee("renamed", "svc.db", "ok", 0.5),
                callee("send", "mail.smtp", "ok", 0.1),
            ]
        ),
    )
    handle = await prepared(engine, api, "def handle", offset=len("def "))
    assert handle is not None

    calls = by_name(await CallHierarchy(engine, read_file_source).outgoing(handle))

    assert len(backend.rounds) == 1 and len(backend.rounds[0]) == 1
    (query,) = backend.rounds[0].values()
    assert 'caller_function="handle"' in query.expr and 'caller_module="svc.api"' in query.expr
    assert sorted(calls) == ["helper", "load", "renamed", "save", "send"], "len() is a builtin: left out"
    load_line, load_column = line_of(api, "db.load(x)")
    second_line, second_column = line_of(api, "db.load(2)")
    assert calls["load"].call_ranges == (
        (load_line, load_column + 3, load_line, load_column + 7),
        (second_line, second_column + 3, second_line, second_column + 7),
    )
    assert describe_call(calls["save"], WINDOW) == "1/s · 25% errors · svc.db", "called through the alias `store`"
    assert describe_call(calls["helper"], WINDOW) == "not instrumented · svc.api"
    db = workspace / "svc" / "db.py"
    assert calls["renamed"].other.place == Place(db, FILE_START, FILE_START), "module found, function not"
    assert describe_call(calls["send"], WINDOW).endswith("not found in code · not in this workspace · mail.smtp")


async def test_incoming_calls_from_functions_and_module_code(engine: Engine, workspace: Path) -> None:
    api = workspace / "svc" / "api.py"
    backend = answering(
        engine,
        RecordingBackend([Sample({"caller_function": "idle", "caller_module": "svc.api", "result": "ok"}, 4.0)]),
    )
    save = await prepared(engine, api, "store(x)")  # the alias leads to svc.db.save
    handle = await prepared(engine, api, "def handle", offset=len("def "))
    assert save is not None and handle is not None
    hierarchy = CallHierarchy(engine, read_file_source)

    callers_of_save = by_name(await hierarchy.incoming(save))
    callers_of_handle = by_name(await hierarchy.incoming(handle))

    assert (save.module, save.function) == ("svc.db", "save")
    assert describe_call(callers_of_save["idle"], WINDOW) == "4/s · 0% errors · svc.api"
    assert describe_call(callers_of_save["handle"], WINDOW) == "not seen in production (last 5m) · svc.api"
    module_code = callers_of_handle[MODULE_LEVEL]
    call_line, call_column = line_of(api, "handle(1)")
    assert module_code.call_ranges == ((call_line, call_column, call_line, call_column + len("handle")),)
    assert describe_call(module_code, WINDOW) == "not instrumented · svc.api"
    assert len(backend.rounds) == 2, "one query per request, whatever the number of edges"


async def test_a_failing_backend_leaves_the_code_edges(engine: Engine, workspace: Path) -> None:
    failure = BackendError(BackendErrorKind.UNREACHABLE, "http://127.0.0.1:9", "is unreachable: connection refused")
    answering(engine, RecordingBackend([], failure))
    handle = await prepared(engine, workspace / "svc" / "api.py", "def handle", offset=len("def "))
    assert handle is not None

    calls = by_name(await CallHierarchy(engine, read_file_source).outgoing(handle))

    assert sorted(calls) == ["helper", "load", "save"]
    assert describe_call(calls["load"], WINDOW) == "svc.db"


async def test_only_instrumented_functions_prepare_and_plain_ones_cost_no_query(
    engine: Engine, workspace: Path
) -> None:
    api = workspace / "svc" / "api.py"
    backend = answering(engine, RecordingBackend([]))

    assert await prepared(engine, api, "def helper", offset=len("def ")) is None
    assert await prepared(engine, api, "from svc import db") is None
    helper = HierarchyFunction("svc.api", "helper", False, None)
    hierarchy = CallHierarchy(engine, read_file_source)
    assert await hierarchy.incoming(helper) == [] and await hierarchy.outgoing(helper) == []
    assert backend.rounds == []
