"""A minimal LSP client over a server's stdio: the same code drives every server the benchmark compares.

It speaks JSON-RPC 2.0 with `Content-Length` framing and answers the requests servers send to clients with
null (capability registration, progress tokens, refreshes); it claims no `workspace/configuration` support,
so servers take their settings from initializationOptions. Nothing is parsed beyond what matching a
response to its request needs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
from pathlib import Path
from typing import Any

MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class LspError(RuntimeError):
    """The server answered a request with a JSON-RPC error, or went away."""


class LspClient:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader = asyncio.create_task(self._read_messages())
        self.shown_messages: list[str] = []

    @classmethod
    async def start(
        cls,
        command: list[str],
        *,
        cwd: Path,
        stderr_path: Path,
    ) -> LspClient:
        """Start the server in a session of its own; settings go in `initialize`'s initializationOptions."""
        with stderr_path.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                cwd=cwd,
                start_new_session=True,
                limit=MAX_MESSAGE_BYTES,
            )
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def initialize(self, root: Path, initialization_options: Any = None) -> dict[str, Any]:
        """`initialize` + `initialized` for one workspace folder; returns the server's capabilities."""
        result = await self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root.as_uri(),
                "rootPath": str(root),
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                "initializationOptions": initialization_options,
                "capabilities": {
                    "textDocument": {
                        "hover": {"contentFormat": ["markdown", "plaintext"]},
                        "codeLens": {},
                        "synchronization": {"didSave": True},
                    },
                    "workspace": {"workspaceFolders": True},
                },
            },
        )
        self.notify("initialized", {})
        capabilities: dict[str, Any] = result.get("capabilities", {})
        return capabilities

    def open_document(self, path: Path, text: str) -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": path.as_uri(), "languageId": "python", "version": 1, "text": text}},
        )

    async def hover(self, path: Path, line: int, character: int) -> Any:
        return await self.request(
            "textDocument/hover",
            {"textDocument": {"uri": path.as_uri()}, "position": {"line": line, "character": character}},
        )

    async def request(self, method: str, params: Any, timeout: float = 60.0) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def close(self) -> None:
        """`shutdown` + `exit`, then the process group is terminated if the server lingers."""
        try:
            if self.process.returncode is None:
                await self.request("shutdown", None, timeout=5.0)
                self.notify("exit", None)
                await asyncio.wait_for(self.process.wait(), 5.0)
        except (LspError, OSError, asyncio.TimeoutError):
            pass
        finally:
            await self._stop_group()
            self._reader.cancel()

    async def _stop_group(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                await asyncio.wait_for(self.process.wait(), 5.0)
                return
            except asyncio.TimeoutError:
                continue

    def _send(self, message: dict[str, Any]) -> None:
        if self.process.stdin is None or self.process.stdin.is_closing():
            raise LspError("the server's stdin is closed")
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def _read_messages(self) -> None:
        assert self.process.stdout is not None
        stream = self.process.stdout
        try:
            while True:
                length = 0
                while (header := await stream.readline()) not in (b"\r\n", b"\n"):
                    if not header:
                        raise EOFError
                    name, _, value = header.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                self._dispatch(json.loads(await stream.readexactly(length)))
        except (EOFError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(LspError("the server closed its output"))

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" not in message:
            future = self._pending.get(message.get("id"))  # type: ignore[arg-type]
            if future is None or future.done():
                return
            if "error" in message:
                future.set_exception(LspError(f"{message['error'].get('code')}: {message['error'].get('message')}"))
            else:
                future.set_result(message.get("result"))
            return
        if message["method"] == "window/showMessage":
            self.shown_messages.append(message["params"].get("message", ""))
        if "id" in message:
            self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
