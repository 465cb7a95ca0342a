"""Behaviour that needs a runtime of its own: a fresh interpreter per test (see `run_isolated`)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

from tests.unit.runtime.runtime_samples import run_isolated

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def environment(**variables: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOMETRICS_", "OTEL_", "PROMETHEUS_MULTIPROC"))}
    return {**base, **variables}


def test_importing_the_runtime_loads_none_of_the_server_s_dependencies() -> None:
    printed = run_isolated(
        """
        import sys
        import autometrics_lsp.runtime
        from autometrics_lsp.runtime import autometrics, init, start_http_server, make_wsgi_app, make_asgi_app
        server_side = {"pygls", "lsprotocol", "jedi", "parso", "httpx", "httpcore", "cattrs"}
        print(sorted(server_side & {name.partition(".")[0] for name in sys.modules}))
        """
    )

    assert printed.strip() == "[]"


def test_calls_before_init_are_reported_after_it_in_the_new_layout() -> None:
    printed = run_isolated(
        """
        import json
        from prometheus_client import CollectorRegistry
        from autometrics_lsp.runtime import autometrics, init

        @autometrics
        def early(fail=False):
            if fail:
                raise ValueError

        @autometrics
        def outer():
            early()

        outer()
        early()
        try:
            early(fail=True)
        except ValueError:
            pass

        registry = CollectorRegistry()
        init(registry=registry, service_name="late", buckets=[0.001, 0.25, 1.0])
        early()
        print(json.dumps([
            [s.name, s.labels, s.value]
            for family in registry.collect() for s in family.samples
            if s.labels.get("function") == "early"
        ]))
        """,
        env=environment(),
    )
    found = json.loads(printed)

    calls = {
        (labels["result"], labels["caller_function"]): value
        for name, labels, value in found
        if name == "function_calls_total"
    }
    buckets = {labels["le"]: value for name, labels, value in found if name.endswith("_bucket")}
    assert calls == {("ok", ""): 2, ("error", ""): 1, ("ok", "outer"): 1}
    # The three early calls were under 5 ms (the first default bound), which the new layout can only place
    # under 0.25 s; the call after init() is placed exactly.
    assert buckets == {"0.001": 1, "0.25": 4, "1.0": 4, "+Inf": 4}
    assert {labels["service_name"] for _, labels, _ in found} == {"late"}


def test_without_init_the_default_registry_shows_the_calls() -> None:
    printed = run_isolated(
        """
        from prometheus_client import generate_latest
        from autometrics_lsp.runtime import autometrics

        @autometrics
        def uninitialised():
            pass

        uninitialised()
        print(generate_latest().decode())
        """,
        env=environment(),
    )

    assert 'function="uninitialised"' in printed
    assert "build_info{" in printed


def write_package(root: Path) -> None:
    package = root / "teashop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "api.py").write_text(
        "from autometrics_lsp.runtime import autometrics\n@autometrics\ndef brew():\n    return 'tea'\n"
    )


SERVICE_NAME_PROBE = """
    import sys
    sys.path.insert(0, {root!r})
    import teashop.api
    from prometheus_client import CollectorRegistry
    from autometrics_lsp.runtime import init

    registry = CollectorRegistry()
    init(registry=registry{argument})
    [info] = [s for family in registry.collect() for s in family.samples if s.name == "build_info"]
    print(info.labels["service_name"])
"""


def service_name(root: Path, argument: str = "", **variables: str) -> str:
    return run_isolated(SERVICE_NAME_PROBE.format(root=str(root), argument=argument), env=environment(**variables))


def test_the_service_name_resolution_order(tmp_path: Path) -> None:
    write_package(tmp_path)
    both = {"AUTOMETRICS_SERVICE_NAME": "from-autometrics", "OTEL_SERVICE_NAME": "from-otel"}

    assert service_name(tmp_path, ', service_name="from-init"', **both).strip() == "from-init"
    assert service_name(tmp_path, **both).strip() == "from-autometrics"
    assert service_name(tmp_path, OTEL_SERVICE_NAME="from-otel").strip() == "from-otel"
    assert service_name(tmp_path).strip() == "teashop"


def test_build_info_reads_the_checkout_around_the_working_directory(tmp_path: Path) -> None:
    git_dir = tmp_path / ".git"
    (git_dir / "refs" / "heads").mkdir(parents=True)
    (git_dir / "HEAD").write_text("ref: refs/heads/release\n")
    (git_dir / "refs" / "heads" / "release").write_text(COMMIT + "\n")
    (git_dir / "config").write_text('[remote "origin"]\n\turl = git@github.com:acme/teashop.git\n')

    printed = run_isolated(
        f"""
        import json, os
        os.chdir({str(tmp_path)!r})
        from prometheus_client import CollectorRegistry
        from autometrics_lsp.runtime import init

        registry = CollectorRegistry()
        init(registry=registry, service_name="teashop", version="3.0.0")
        [info] = [s for family in registry.collect() for s in family.samples if s.name == "build_info"]
        print(json.dumps(info.labels))
        """,
        env=environment(),
    )

    assert json.loads(printed) == {
        "service_name": "teashop",
        "autometrics_version": "1.0.0",
        "version": "3.0.0",
        "commit": COMMIT,
        "branch": "release",
        "repository_url": "https://github.com/acme/teashop",
        "repository_provider": "github",
    }


MULTIPROCESS_BEFORE_INIT = """
    import json, os
    from prometheus_client import CollectorRegistry
    from autometrics_lsp.runtime import autometrics, init

    @autometrics(track_concurrency=True)
    def early(fail=False):
        if fail:
            raise KeyError

    early()
    try:
        early(fail=True)
    except KeyError:
        pass

    def scrape(registry):
        return sorted(
            [s.name, s.labels.get("result", ""), s.value]
            for family in registry.collect() for s in family.samples
            if s.labels.get("function") == "early" and not s.name.endswith(("_bucket", "_sum"))
        )

    {between}
    registry = CollectorRegistry()
    init(registry=registry, service_name="multi", record_error_type=True)
    print(json.dumps(scrape(registry)))
"""


def test_in_multiprocess_mode_calls_before_init_are_written_at_init(tmp_path: Path) -> None:
    printed = run_isolated(
        MULTIPROCESS_BEFORE_INIT.format(between=""), env=environment(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    )

    assert json.loads(printed) == [
        ["function_calls_concurrent", "", 0.0],
        ["function_calls_duration_seconds_count", "", 2.0],
        ["function_calls_total", "error", 0.0],
        ["function_calls_total", "error", 1.0],
        ["function_calls_total", "ok", 1.0],
    ]


def test_a_forked_child_leaves_its_parent_s_early_calls_to_the_parent(tmp_path: Path) -> None:
    # The child writes its own files and exits; the parent then reports, over both processes' files.
    child_reports_nothing_of_its_own = """
    child = os.fork()
    if child == 0:
        init(service_name="multi")
        os._exit(0)
    os.waitpid(child, 0)
    """
    printed = run_isolated(
        MULTIPROCESS_BEFORE_INIT.format(between=textwrap.indent(textwrap.dedent(child_reports_nothing_of_its_own), "    ")),
        env=environment(PROMETHEUS_MULTIPROC_DIR=str(tmp_path)),
    )

    counts = {(name, result): value for name, result, value in json.loads(printed) if value}
    assert counts == {
        ("function_calls_duration_seconds_count", ""): 2.0,
        ("function_calls_total", "error"): 1.0,
        ("function_calls_total", "ok"): 1.0,
    }


def test_a_name_clash_in_the_default_registry_does_not_break_importing_decorated_code() -> None:
    printed = run_isolated(
        """
        from prometheus_client import CollectorRegistry, Gauge
        from autometrics_lsp.runtime import autometrics, init

        Gauge("build_info", "the application's own build_info")

        @autometrics
        def still_works():
            return "yes"

        print(still_works())
        registry = CollectorRegistry()
        init(registry=registry, service_name="clash")
        print(registry.get_sample_value("function_calls_total", {
            "function": "still_works", "module": "__main__", "service_name": "clash", "result": "ok",
            "caller_function": "", "caller_module": "", "objective_name": "", "objective_percentile": "",
        }))
        """,
        env=environment(),
    )

    assert printed.split() == ["yes", "1"]
