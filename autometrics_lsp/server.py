"""The language server: `create_server()` wires the LSP handlers. Nothing imports this module but the CLI."""

from __future__ import annotations

from lsprotocol import types

from autometrics_lsp.features import call_hierarchy, code_lens, commands, diagnostics, hover, inlay_hints
from autometrics_lsp.language_server import SETTINGS_SECTION, AutometricsLanguageServer

FEATURES = (hover, code_lens, commands, call_hierarchy, inlay_hints, diagnostics)


def create_server() -> AutometricsLanguageServer:
    server = AutometricsLanguageServer()

    @server.feature(types.INITIALIZE)
    async def on_initialize(ls: AutometricsLanguageServer, params: types.InitializeParams) -> None:
        ls.engine.set_roots(ls.workspace_roots())
        await ls.apply_initialization_options(params.initialization_options)

    @server.feature(types.INITIALIZED)
    async def on_initialized(ls: AutometricsLanguageServer, params: types.InitializedParams) -> None:
        await ls.refresh_settings()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def on_configuration_changed(
        ls: AutometricsLanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        pushed = params.settings.get(SETTINGS_SECTION) if isinstance(params.settings, dict) else None
        await ls.refresh_settings(pushed)

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def on_folders_changed(
        ls: AutometricsLanguageServer, params: types.DidChangeWorkspaceFoldersParams
    ) -> None:
        ls.engine.set_roots(ls.workspace_roots())

    @server.feature(types.SHUTDOWN)
    async def on_shutdown(ls: AutometricsLanguageServer, params: None) -> None:
        ls.schedule_periodic_refresh(0)
        await ls.engine.aclose()

    for feature in FEATURES:
        feature.register(server)
    return server
