"""The language server: thin LSP handlers over the Engine. Nothing imports this module but the CLI."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from autometrics_lsp import __version__
from autometrics_lsp.backend import BackendError
from autometrics_lsp.engine import Engine
from autometrics_lsp.features import hover
from autometrics_lsp.settings import Settings, load_settings

log = logging.getLogger(__name__)

SETTINGS_SECTION = "autometrics"
FEATURES = (hover,)


class AutometricsLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("autometrics-lsp", __version__)
        self.initialization_options: Any = None
        self.engine = Engine(
            Settings(), [], read_source=self.read_source, on_backend_error=self.report_backend_error
        )
        self._reported_problems: set[str] = set()

    # --- documents and roots -------------------------------------------------------------------

    def read_source(self, path: Path) -> str:
        """The editor's text of a file when it is open (unsaved edits included), else the file on disk."""
        return self.workspace.get_text_document(path.as_uri()).source

    def workspace_roots(self) -> list[Path]:
        roots = [Path(to_fs_path(folder.uri)) for folder in self.workspace.folders.values()]
        if not roots and self.workspace.root_path:
            roots = [Path(self.workspace.root_path)]
        return roots

    # --- settings and problems -----------------------------------------------------------------

    async def refresh_settings(self, pushed: Any = None) -> None:
        """Re-read settings: initializationOptions, then what the client pushed or answers for our section."""
        configured = pushed if pushed else await self.fetch_configuration()
        settings, problems = load_settings(self.initialization_options, configured)
        for problem in problems:
            self.warn_once(f"autometrics: {problem}")
        await self.engine.update_settings(settings)

    async def fetch_configuration(self) -> Any:
        workspace_capabilities = self.client_capabilities.workspace
        if not (workspace_capabilities and workspace_capabilities.configuration):
            return None
        try:
            answer = await self.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SETTINGS_SECTION)])
            )
        except Exception as error:  # a client may refuse or fail the request; settings then stay as they are
            log.info("workspace/configuration failed: %s", error)
            return None
        return answer[0] if answer else None

    def warn_once(self, message: str) -> None:
        """A problem is shown to the user once per server life, however often it recurs; always logged."""
        self.window_log_message(types.LogMessageParams(type=types.MessageType.Warning, message=message))
        if message in self._reported_problems:
            return
        self._reported_problems.add(message)
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=message))

    def report_backend_error(self, error: BackendError) -> None:
        self.warn_once(f"autometrics: {error.message()}")


def create_server() -> AutometricsLanguageServer:
    server = AutometricsLanguageServer()

    @server.feature(types.INITIALIZE)
    def on_initialize(ls: AutometricsLanguageServer, params: types.InitializeParams) -> None:
        ls.initialization_options = params.initialization_options
        ls.engine.set_roots(ls.workspace_roots())

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
        await ls.engine.aclose()

    for feature in FEATURES:
        feature.register(server)
    return server
