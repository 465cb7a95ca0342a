"""The VS Code extension in a real VS Code: code-server, driven by headless Chromium (vscode/drive.mjs).

One code-server for the module, with the .vsix that `scripts/setup.sh --editors` built installed into a fresh
extensions directory. Each scenario is a window of its own (its own extension host), on a folder whose settings
set the scene:
- the repository with the user settings a real user would write: live numbers in the hover at a call site of an
  instrumented function of the demo shop, which runs under a known traffic plan scraped by a real Prometheus;
- bad input: a Python without the server, a server that dies at start, a server that keeps crashing, a wrong
  Prometheus URL. Each must give one notification that says how to fix it, and no endless restart loop.

The screenshot of the hover goes to test-artifacts/vscode-hover.png, and to docs/images/vscode-hover.png when
UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from autometrics_lsp.demo.shop import api, payments
from autometrics_lsp.demo.stack import RunningBackend, free_port
from tests.support.hover_text import parse_percent, parse_rate

if TYPE_CHECKING:
    from tests.conftest import ShopUnderTraffic

REPO = Path(__file__).resolve().parents[3]
EXTENSION_DIR = REPO / "vscode-extension"
VSIX = EXTENSION_DIR / "autometrics-lsp.vsix"
DRIVER = Path(__file__).with_name("vscode") / "drive.mjs"
CODE_SERVER_VERSION = "4.100.3"
CODE_SERVER = (
    REPO / ".cache" / "editors" / f"code-server-{CODE_SERVER_VERSION}" / "node_modules" / ".bin" / "code-server"
)
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
DOCS_SCREENSHOT = REPO / "docs" / "images" / "vscode-hover.png"
SETUP_HINT = "run scripts/setup.sh --editors (it installs code-server, puppeteer-core and builds the .vsix)"

# Settings only the extension reads (how to start the server); every other contributed key is the server's.
EXTENSION_ONLY_SETTINGS = {"pythonPath", "serverSource", "trace.server"}

RATE_TOLERANCE = 0.1  # relative: the same 10 s window as the stack's own end-to-end test
ERROR_RATIO_TOLERANCE = 0.03  # absolute: ±1 decline at the window's edges
SCENARIO_TIMEOUT_MS = 60_000
# Long enough for a restart loop or a repeated report to show itself after the expected notification.
SETTLE_MS = 3_000
# What the test changes the rate window to while the editor runs.
CHANGED_WINDOW = "20s"
# Windows open at once. Each runs an extension host and a language server: two cores serve two of them well.
WINDOWS_AT_ONCE = 2

pytestmark = pytest.mark.editor


def contributed_settings() -> dict[str, dict[str, Any]]:
    package = json.loads((EXTENSION_DIR / "package.json").read_text())
    properties: dict[str, dict[str, Any]] = package["contributes"]["configuration"]["properties"]
    return {name.removeprefix("autometrics."): spec for name, spec in properties.items()}


def test_contributed_settings_are_the_server_settings() -> None:
    from autometrics_lsp.settings import SETTING_KEYS

    contributed = contributed_settings()
    assert EXTENSION_ONLY_SETTINGS <= contributed.keys()
    assert sorted(contributed.keys() - EXTENSION_ONLY_SETTINGS) == sorted(SETTING_KEYS)


def test_contributed_defaults_are_the_server_defaults() -> None:
    from autometrics_lsp.settings import load_settings

    server_view = {
        key: spec["default"]
        for key, spec in contributed_settings().items()
        if key not in EXTENSION_ONLY_SETTINGS and spec["default"] is not None
    }
    # The contributed defaults, sent as the client sends them, must leave the server at its own defaults.
    from_contributed, problems = load_settings(server_view, env={})
    assert problems == []
    assert from_contributed == load_settings(env={})[0]


def test_extension_unit_tests() -> None:
    """The pure modules of the extension (launch decisions, restart budget, ping, messages), under node's runner."""
    if not (EXTENSION_DIR / "node_modules" / ".bin" / "esbuild").exists():
        pytest.fail(f"the extension's npm packages are missing: {SETUP_HINT}")
    completed = subprocess.run(
        ["npm", "test", "--silent"], cwd=EXTENSION_DIR, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    assert re.search(r"^# fail 0$", completed.stdout, re.MULTILINE), completed.stdout[-2000:]


# --- the real editor -------------------------------------------------------------------------------------------


def _isolated_environment(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "TMPDIR": str(home / "tmp"),
    }


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """code-server leaves extension hosts and language servers behind: stop its whole process group."""
    for signal_number, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, signal_number)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # children may outlive the leader for a moment
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"code-server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"code-server did not answer {url} within {timeout} s:\n{log.read_text()[-3000:]}")


@dataclass(frozen=True)
class CodeServer:
    url: str
    user_settings: Path


@pytest.fixture(scope="module")
def code_server(
    tmp_path_factory: pytest.TempPathFactory, prometheus: RunningBackend, metrics_window: str
) -> Iterator[CodeServer]:
    """A code-server with the extension installed and user settings pointing at the test Prometheus."""
    for needed in (CODE_SERVER, VSIX, DRIVER.parent / "node_modules" / "puppeteer-core", CHROMIUM):
        if not needed.exists():
            pytest.fail(f"{needed} is missing: {SETUP_HINT}")
    root = tmp_path_factory.mktemp("code-server")
    home, user_data, extensions = root / "home", root / "user-data", root / "extensions"
    for directory in (home / "tmp", user_data / "User", extensions):
        directory.mkdir(parents=True)
    user_settings = user_data / "User" / "settings.json"
    user_settings.write_text(
        json.dumps(
            {
                "autometrics.prometheusUrl": prometheus.url,
                "autometrics.pythonPath": sys.executable,
                "autometrics.window": metrics_window,
                "workbench.startupEditor": "none",
                "workbench.tips.enabled": False,
                "git.enabled": False,
                "telemetry.telemetryLevel": "off",
                "extensions.autoCheckUpdates": False,
                "extensions.autoUpdate": False,
            },
            indent=2,
        )
    )
    environment = _isolated_environment(home)
    common = ["--user-data-dir", str(user_data), "--extensions-dir", str(extensions)]
    subprocess.run(
        [str(CODE_SERVER), *common, "--install-extension", str(VSIX)],
        env=environment,
        check=True,
        capture_output=True,
        timeout=120,
    )
    config = root / "config.yaml"
    config.write_text("auth: none\ncert: false\n")
    port = free_port()
    log = root / "code-server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                str(CODE_SERVER),
                *common,
                "--config",
                str(config),
                "--bind-addr",
                f"127.0.0.1:{port}",
                "--auth",
                "none",
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-workspace-trust",
            ],
            env=environment,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_http(f"{url}/healthz", process, log, timeout=30)
        yield CodeServer(url, user_settings)
    finally:
        _stop_group(process)


def _line_and_column(path: Path, call: str) -> tuple[int, int]:
    """1-based line and column of the middle of the first `call` in the file (Ctrl+G takes `line:column`)."""
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        index = text.find(call)
        if index >= 0:
            return number, index + len(call) // 2 + 1
    raise AssertionError(f"{call!r} is not in {path}")


def _write_executable(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    path.chmod(0o755)
    return path


def _bad_input_folder(root: Path, name: str, settings: dict[str, Any]) -> Path:
    """A workspace folder with one instrumented function and the given workspace settings."""
    folder = root / name
    (folder / ".vscode").mkdir(parents=True)
    (folder / ".vscode" / "settings.json").write_text(json.dumps(settings, indent=2))
    (folder / "app.py").write_text(
        "from autometrics_lsp.runtime import autometrics\n\n\n@autometrics\ndef handle() -> int:\n    return 1\n"
    )
    return folder


@pytest.fixture(scope="module")
def bad_input(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Folders, interpreters and counters of the bad-input scenarios."""
    root = tmp_path_factory.mktemp("bad-input")
    # A real interpreter without the server: a bare venv (no pip) is made in a fraction of a second.
    bare_venv = root / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare_venv)], check=True, timeout=60)
    starts_at_start_crash, starts_of_flaky = root / "crashing-starts.log", root / "flaky-starts.log"
    crashing_python = _write_executable(
        root / "crashing-python",
        f"""
        #!/bin/sh
        # The import probe passes; the server itself dies before it answers `initialize`.
        case "$*" in *"-m autometrics_lsp"*)
            echo start >> {starts_at_start_crash}
            echo "simulated start-up failure: no config" >&2
            exit 3;;
        esac
        exec {sys.executable} "$@"
        """,
    )
    flaky_python = _write_executable(
        root / "flaky-python",
        f"""
        #!{sys.executable}
        # The server starts and answers `initialize`, then dies a moment after `initialized`, every time.
        import os, subprocess, sys, time

        if sys.argv[1:] != ["-m", "autometrics_lsp"]:
            os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
        with open({str(starts_of_flaky)!r}, "a") as starts:
            starts.write("start\\n")
        server = subprocess.Popen([sys.executable, "-m", "autometrics_lsp"], stdin=subprocess.PIPE)
        recent = b""
        while chunk := os.read(0, 65536):
            server.stdin.write(chunk)
            server.stdin.flush()
            recent = (recent + chunk)[-8192:]
            if b'"initialized"' in recent:
                time.sleep(0.5)
                server.kill()
                sys.exit(1)
        """,
    )
    closed_port_url = f"http://127.0.0.1:{free_port()}"
    return {
        "bare_python": str(bare_venv / "bin" / "python"),
        "closed_port_url": closed_port_url,
        "starts_at_start_crash": starts_at_start_crash,
        "starts_of_flaky": starts_of_flaky,
        "folders": {
            "missing-server": _bad_input_folder(
                root,
                "missing-server",
                {
                    "autometrics.pythonPath": str(bare_venv / "bin" / "python"),
                    "autometrics.serverSource": "environment",
                },
            ),
            "bundled-wrong-url": _bad_input_folder(
                root,
                "bundled-wrong-url",
                {
                    "autometrics.pythonPath": str(bare_venv / "bin" / "python"),
                    "autometrics.prometheusUrl": closed_port_url,
                },
            ),
            "crash-at-start": _bad_input_folder(
                root, "crash-at-start", {"autometrics.pythonPath": str(crashing_python)}
            ),
            "keeps-crashing": _bad_input_folder(root, "keeps-crashing", {"autometrics.pythonPath": str(flaky_python)}),
        },
    }


@pytest.fixture(scope="module")
def observed(
    code_server: CodeServer, bad_input: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """What a person would see in each scenario's window, as the driver read it from the page."""
    ARTIFACTS.mkdir(exist_ok=True)
    api_path = Path(api.__file__)
    line, column = _line_and_column(api_path, "charge_card(")
    folders = bad_input["folders"]
    common = {"file": ["app.py"], "timeoutMs": SCENARIO_TIMEOUT_MS, "settleMs": SETTLE_MS}
    # The longest scenario first: it mostly waits for restarts, while the others take their turns beside it.
    sessions = [
        {
            **common,
            "name": "keeps-crashing",
            "folder": str(folders["keeps-crashing"]),
            "notificationPatterns": ["will not be restarted"],
            "statusPattern": "server stopped",
        },
        {
            "name": "hover",
            "folder": str(REPO),
            "file": list(api_path.relative_to(REPO).parts),
            "hover": {"line": line, "column": column, "pattern": r"\d/s"},
            "chartCommand": "Autometrics: Open Chart of Function at Cursor",
            "lensPattern": r"\d/s",
            "statusPattern": "Prometheus: up",
            "showOutputCommand": "Autometrics: Show Output",
            "outputPattern": "Opening http",
            "settingsChange": {
                "file": str(code_server.user_settings),
                "values": {"autometrics.window": CHANGED_WINDOW},
                "hoverPattern": f"last {CHANGED_WINDOW}",
            },
            "timeoutMs": SCENARIO_TIMEOUT_MS,
            "screenshot": str(ARTIFACTS / "vscode-hover.png"),
            "failureScreenshot": str(ARTIFACTS / "vscode-hover-failure.png"),
        },
        {
            **common,
            "name": "missing-server",
            "folder": str(folders["missing-server"]),
            "notificationPatterns": ["not installed"],
            "statusPattern": "server stopped",
        },
        {
            **common,
            "name": "bundled-wrong-url",
            "folder": str(folders["bundled-wrong-url"]),
            "hover": {"line": 5, "column": 6, "pattern": "handle"},
            "notificationPatterns": ["does not answer"],
            "statusPattern": "Prometheus: down",
        },
        {
            **common,
            "name": "crash-at-start",
            "folder": str(folders["crash-at-start"]),
            "notificationPatterns": ["exited while starting"],
            "statusPattern": "server stopped",
            "showOutputCommand": "Autometrics: Show Output",
            "outputPattern": "simulated start-up failure",
            "commandAtEnd": "Autometrics: Restart Server",
        },
    ]
    for session in sessions:
        session.setdefault("failureScreenshot", str(ARTIFACTS / f"vscode-{session['name']}-failure.png"))
    plan_path = tmp_path_factory.mktemp("driver") / "plan.json"
    plan = {
        "baseUrl": code_server.url,
        "chromium": str(CHROMIUM),
        "windowsAtOnce": WINDOWS_AT_ONCE,
        "sessions": sessions,
    }
    plan_path.write_text(json.dumps(plan))
    completed = subprocess.run(
        ["node", str(DRIVER), str(plan_path)],
        cwd=DRIVER.parent,
        capture_output=True,
        text=True,
        timeout=60 + len(sessions) * SCENARIO_TIMEOUT_MS / 1000,
    )
    assert completed.returncode == 0, f"driver failed:\n{completed.stderr[-4000:]}"
    by_name = {session["name"]: session for session in json.loads(completed.stdout)["sessions"]}
    (ARTIFACTS / "vscode-observations.json").write_text(json.dumps(by_name, indent=2))
    return by_name


def _log_lines(output: str) -> list[str]:
    """The output channel's entries: the panel wraps long ones, and every entry starts with its timestamp."""
    entries: list[str] = []
    for line in output.splitlines():
        if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line) or not entries:
            entries.append(line)
        else:
            entries[-1] += line
    return entries


def _figures(hover: str) -> dict[str, str]:
    """The hover's figures table as the browser renders it: a header line of tab-separated names, then values."""
    lines = hover.splitlines()
    for index, text in enumerate(lines[:-1]):
        cells = text.split("\t")
        if cells[:2] == ["calls", "errors"]:
            return dict(zip(cells, lines[index + 1].split("\t"), strict=True))
    raise AssertionError(f"no figures table in the hover:\n{hover}")


def test_hover_at_a_call_site_shows_live_numbers(observed: dict[str, Any], shop_service: ShopUnderTraffic) -> None:
    session = observed["hover"]
    assert "error" not in session, session
    hover = session["hover"]
    assert hover.startswith("charge in autometrics_lsp.demo.shop.payments"), hover
    figures = _figures(hover)
    expected = shop_service.plan.of(payments.charge)
    assert parse_rate(figures["calls"]) == pytest.approx(expected.calls_per_second, rel=RATE_TOLERANCE)
    assert parse_percent(figures["errors"]) == pytest.approx(expected.error_ratio, abs=ERROR_RATIO_TOLERANCE)
    assert "caller" in hover and "autometrics_lsp.demo.shop.api.checkout" in hover
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / "vscode-hover.png", DOCS_SCREENSHOT)


def test_chart_command_opens_the_function_in_prometheus(observed: dict[str, Any], prometheus: RunningBackend) -> None:
    session = observed["hover"]
    assert "error" not in session, session
    links = [
        match.group(1)
        for entry in _log_lines(session["output"])
        if (match := re.search(rf"Opening ({re.escape(prometheus.url)}/\S+)", entry))
    ]
    assert len(links) == 1, session["output"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(links[0]).query)
    expression = query["g0.expr"][0]
    assert 'function="charge"' in expression and 'module="autometrics_lsp.demo.shop.payments"' in expression
    # code-server sends links to loopback through its port proxy, and 4.100 drops their path and query on the way
    # (code-server issue 7668): the window opens on the right Prometheus, not on the chart.
    prometheus_port = urllib.parse.urlsplit(prometheus.url).port
    assert any(
        f"/proxy/{prometheus_port}/" in url or url.startswith(prometheus.url) for url in session["openedWindows"]
    )


def _server_offers_code_lenses() -> bool:
    from lsprotocol import types

    from autometrics_lsp.server import create_server

    return types.TEXT_DOCUMENT_CODE_LENS in create_server().protocol.fm.features


def test_code_lenses_show_live_numbers(observed: dict[str, Any], shop_service: ShopUnderTraffic) -> None:
    if not _server_offers_code_lenses():
        pytest.skip("the language server does not offer code lenses yet")
    session = observed["hover"]
    assert "lensError" not in session, session
    checkout_rate = shop_service.plan.of(api.checkout).calls_per_second
    rates = [parse_rate(match) for text in session["lenses"] for match in re.findall(r"[\d.,]+\s*[kM]?/s", text)]
    assert any(rate == pytest.approx(checkout_rate, rel=RATE_TOLERANCE) for rate in rates), session["lenses"]


def test_status_bar_says_prometheus_answers(observed: dict[str, Any]) -> None:
    assert observed["hover"]["status"] == "Prometheus: up"


def test_settings_changes_reach_the_running_server(observed: dict[str, Any]) -> None:
    session = observed["hover"]
    assert "error" not in session, session
    assert session["hoverAfterSettingsChange"].startswith(
        f"charge in autometrics_lsp.demo.shop.payments · last {CHANGED_WINDOW}"
    )
    # Only the server's own keys reach it: the extension's (pythonPath, serverSource, trace) are none of its business.
    assert not [entry for entry in _log_lines(session["output"]) if "unknown setting" in entry]


def _matching(notifications: list[str], pattern: str) -> list[str]:
    return [text for text in notifications if re.search(pattern, text)]


def _one_notification(session: dict[str, Any], pattern: str) -> str:
    assert "error" not in session and "notificationError" not in session, session
    found = _matching(session["notifications"], pattern)
    assert len(found) == 1, session["notifications"]
    return found[0]


def test_python_without_the_server(observed: dict[str, Any], bad_input: dict[str, Any]) -> None:
    session = observed["missing-server"]
    message = _one_notification(session, "not installed")
    assert f'"{bad_input["bare_python"]}" -m pip install "autometrics-lsp[server]"' in message
    assert len(session["notifications"]) == 1, session["notifications"]
    assert session["status"] == "Autometrics: server stopped"


def test_bundled_server_runs_and_a_wrong_prometheus_url_is_reported(
    observed: dict[str, Any], bad_input: dict[str, Any]
) -> None:
    session = observed["bundled-wrong-url"]
    # The bare venv has no server, so "auto" fell back to the bundled one, which answers hovers.
    assert session["hover"].startswith("handle in app"), session
    message = _one_notification(session, "does not answer")
    assert bad_input["closed_port_url"] in message and "autometrics.prometheusUrl" in message
    assert session["status"] == "Prometheus: down"


def test_server_dying_at_start_is_reported_once_and_not_restarted(
    observed: dict[str, Any], bad_input: dict[str, Any]
) -> None:
    session = observed["crash-at-start"]
    _one_notification(session, "exited while starting")
    assert any("simulated start-up failure: no config" in entry for entry in _log_lines(session["output"]))
    assert session["status"] == "Autometrics: server stopped"
    # Only "Restart Server" tries again, once; the same problem again is still one notification.
    assert bad_input["starts_at_start_crash"].read_text().count("start") == 2
    assert len(_matching(session["notificationsAtEnd"], "exited while starting")) == 1


def test_server_that_keeps_crashing_is_restarted_a_few_times_then_reported(
    observed: dict[str, Any], bad_input: dict[str, Any]
) -> None:
    session = observed["keeps-crashing"]
    _one_notification(session, "will not be restarted")
    # The first start and three restarts, then no more.
    assert bad_input["starts_of_flaky"].read_text().count("start") == 4
    assert session["status"] == "Autometrics: server stopped"
