"""The real server (`python -m autometrics_lsp`, stdio, debug logging to a file) against a real fault server.

`robust_session(backend_url)` starts the server with a workspace of its own (`tmp_path`), settings pointing at
`backend_url`, and its log written to a file the test can read (`session.log_text()`): the debug lines say when
jedi ran, so a test can tell cancelled work from work done. The session always shuts the server down and
checks nothing was left running.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.support.fault_server import FaultServer

SHUTDOWN_SECONDS = 10
# Every request of these tests must be answered within this; a server that needs longer counts as stalled.
ANSWER_SECONDS = 30.0

# The server's own entry point, with stderr (its logging) sent to a file instead of through pytest-lsp.
_SERVER_WITH_LOG_FILE = (
    "import sys\n"
    "sys.stderr = open(sys.argv[1], 'w', buffering=1, encoding='utf-8', errors='backslashreplace')\n"
    "from autometrics_lsp.cli import main\n"
    "sys.exit(main(['--log-level', 'debug']))\n"
)

INSTRUMENTED_MODULE = '''\
"""Sample service code for the robustness tests."""

from autometrics_lsp.runtime import autometrics


@autometrics
def charge(amount: int) -> int:
    return refund(amount) + amount


@autometrics
def refund(amount: int) -> int:
    return -amount


def plain_helper(value: int) -> int:
    return charge(value) + refund(value)


class Ledger:
    @autometrics
    def record(self, amount: int) -> int:
        return charge(amount)
'''


def ten_thousand_functions() -> str:
    parts = ["from autometrics_lsp.runtime import autometrics\n"]
    parts.append("@autometrics\ndef f0(x):\n    return x\n")
    parts.extend(f"@autometrics\ndef f{index}(x):\n    return f{index - 1}(x)\n" for index in range(1, 10_000))
    return "\n".join(parts)


@dataclass
class RobustSession:
    client: LanguageClient
    root: Path
    log_path: Path

    @property
    def pid(self) -> int:
        server = self.client._server  # pytest-lsp keeps the server process here; no public accessor
        assert server is not None
        return server.pid

    def alive(self) -> bool:
        server = self.client._server
        return server is not None and server.returncode is None

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def peak_rss_mib(self) -> float:
        return read_status_kib(self.pid, "VmHWM") / 1024

    def rss_mib(self) -> float:
        return read_status_kib(self.pid, "VmRSS") / 1024

    def uri(self, name: str) -> str:
        return (self.root / name).as_uri()

    def open(self, name: str, text: str, version: int = 1) -> str:
        """didOpen of a document (written to disk too, so jedi finds it from other files)."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        uri = path.as_uri()
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
            )
        )
        return uri

    async def hover(self, uri: str, line: int, character: int) -> types.Hover | None:
        return await asyncio.wait_for(
            self.client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=line, character=character),
                )
            ),
            ANSWER_SECONDS,
        )

    async def command(self, command: str, *arguments: Any) -> Any:
        return await asyncio.wait_for(
            self.client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=command, arguments=list(arguments))
            ),
            ANSWER_SECONDS,
        )


def read_status_kib(pid: int, field: str) -> int:
    """A `kB` field of /proc/PID/status (VmRSS: resident now; VmHWM: the peak resident size so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


RobustSessionFactory = Callable[..., AbstractAsyncContextManager[RobustSession]]


@pytest.fixture
def fault_backend() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
def robust_session(tmp_path: Path) -> RobustSessionFactory:
    """`async with robust_session(backend_url, timeout=...) as session:` a server on a fresh workspace."""

    @asynccontextmanager
    async def session(backend_url: str, **settings: Any) -> AsyncIterator[RobustSession]:
        root = tmp_path / "workspace"
        root.mkdir(exist_ok=True)
        log_path = tmp_path / "server.log"
        environment = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_URL"}
        config = ClientServerConfig(
            server_command=[sys.executable, "-c", _SERVER_WITH_LOG_FILE, str(log_path)], server_env=environment
        )
        client = await config.start()
        options = {"prometheusUrl": backend_url, **settings}
        client.set_configuration(options, section="autometrics")
        running = RobustSession(client, root, log_path)
        try:
            await client.initialize_session(
                types.InitializeParams(
                    capabilities=client_capabilities("visual-studio-code"),
                    root_uri=root.as_uri(),
                    workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
                    initialization_options=options,
                )
            )
            yield running
        finally:
            try:
                if running.alive():
                    await asyncio.wait_for(client.shutdown_session(), SHUTDOWN_SECONDS)
            finally:
                # A server that did not exit on `exit` (the failure under test) is killed: stop() waits for it.
                if running.alive():
                    client._server.kill()  # type: ignore[union-attr]
                await client.stop()

    return session
