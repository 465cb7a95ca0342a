"""Start the real server (`python -m autometrics_lsp`) over stdio with pytest-lsp's client, as an editor would."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER_COMMAND = [sys.executable, "-m", "autometrics_lsp"]
SHUTDOWN_SECONDS = 10

LspSession = Callable[..., AbstractAsyncContextManager[LanguageClient]]


@pytest.fixture
def lsp_session(workspace_root: Path) -> LspSession:
    """`async with lsp_session(init_options={...}) as client:` a server initialised on the repository root.

    `configuration` answers the server's `workspace/configuration` requests (section `autometrics`);
    `env` is added to this process's environment for the server (PROMETHEUS_URL removed unless given);
    `capabilities` replaces VS Code's; `server_args` go after `python -m autometrics_lsp`.
    """

    @asynccontextmanager
    async def session(
        init_options: dict[str, Any] | None = None,
        *,
        configuration: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        root: Path = workspace_root,
        capabilities: types.ClientCapabilities | None = None,
        server_args: Sequence[str] = (),
    ) -> AsyncIterator[LanguageClient]:
        server_env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_URL"}
        config = ClientServerConfig(
            server_command=[*SERVER_COMMAND, *server_args], server_env={**server_env, **(env or {})}
        )
        client = await config.start()
        if configuration is not None:
            client.set_configuration(configuration, section="autometrics")
        try:
            await client.initialize_session(
                types.InitializeParams(
                    capabilities=capabilities or client_capabilities("visual-studio-code"),
                    root_uri=root.as_uri(),
                    workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
                    initialization_options=init_options,
                )
            )
            yield client
        finally:
            # Shut down even after a failed assertion; stop() waits for the server to exit, so a server that
            # would not (the client's private handle is the only way to reach it) is ended here.
            try:
                await asyncio.wait_for(client.shutdown_session(), SHUTDOWN_SECONDS)
            except Exception:
                server = client._server
                if server is not None and server.returncode is None:
                    server.kill()
            await client.stop()

    return session
