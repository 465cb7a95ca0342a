"""The server object every feature handler receives: the Engine plus what LSP adds (documents, messages, settings)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from autometrics_lsp import __version__
from autometrics_lsp.backend import BackendError
from autometrics_lsp.engine import Engine
from autometrics_lsp.settings import UNKNOWN_KEY_PROBLEM, Settings, load_settings

log = logging.getLogger(__name__)

SETTINGS_SECTION = "autometrics"
# How long a request waits for the client's first workspace/configuration answer before going ahead
# with initializationOptions alone (a client may never answer).
SETTINGS_WAIT_SECONDS = 2.0


class AutometricsLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("autometrics-lsp", __version__)
        self.initialization_options: Any = None
        self.engine = Engine(
            Settings(), [], read_source=self.read_source, on_backend_error=self.report_backend_error
        )
        self._reported_problems: set[str] = set()
        self._periodic_refresh: asyncio.Task[None] | None = None
        self._settings_loaded = asyncio.Event()
        self._settings_generation = 0

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

    async def settings_ready(self) -> None:
        """Wait until the first settings are in: requests sent right after `initialized` must not use defaults."""
        try:
            await asyncio.wait_for(self._settings_loaded.wait(), SETTINGS_WAIT_SECONDS)
        except asyncio.TimeoutError:
            log.info("no workspace/configuration answer yet: going on with initializationOptions")

    async def apply_initialization_options(self, options: Any) -> None:
        self.initialization_options = options
        await self.apply_settings(None)

    async def refresh_settings(self, pushed: Any = None) -> None:
        """Re-read settings: initializationOptions, then what the client pushed or answers for our section."""
        self._settings_generation += 1
        generation = self._settings_generation
        configured = pushed if pushed else await self.fetch_configuration()
        if generation != self._settings_generation:
            return  # a newer change arrived while the client answered; it wins
        await self.apply_settings(configured)
        self._settings_loaded.set()
        self.refresh_client_views()

    async def apply_settings(self, configured: Any) -> None:
        settings, problems = load_settings(self.initialization_options, configured)
        for problem in problems:
            if problem.startswith(UNKNOWN_KEY_PROBLEM):
                self.log(types.MessageType.Info, f"autometrics: {problem}")
            else:
                self.warn_once(f"autometrics: {problem}")
        await self.engine.update_settings(settings)
        self.schedule_periodic_refresh(settings.refresh_interval)

    def refresh_client_views(self) -> None:
        """Ask the client to re-request what shows live figures (lenses, inlay hints), where it can."""
        workspace = self.client_capabilities.workspace
        if workspace and workspace.code_lens and workspace.code_lens.refresh_support:
            self.workspace_code_lens_refresh(None)
        if workspace and workspace.inlay_hint and workspace.inlay_hint.refresh_support:
            self.workspace_inlay_hint_refresh(None)

    def schedule_periodic_refresh(self, interval: float) -> None:
        if self._periodic_refresh is not None:
            self._periodic_refresh.cancel()
            self._periodic_refresh = None
        if interval > 0:
            self._periodic_refresh = asyncio.ensure_future(self._refresh_every(interval))

    async def _refresh_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.engine.forget_answers()
            self.refresh_client_views()

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

    def log(self, level: types.MessageType, message: str) -> None:
        self.window_log_message(types.LogMessageParams(type=level, message=message))

    def warn(self, message: str) -> None:
        self.log(types.MessageType.Warning, message)
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=message))

    def warn_once(self, message: str) -> None:
        """A settings problem is shown once per server life, however often the settings are re-read."""
        if message in self._reported_problems:
            self.log(types.MessageType.Warning, message)
            return
        self._reported_problems.add(message)
        self.warn(message)

    def report_backend_error(self, error: BackendError) -> None:
        # The backend calls this once per distinct failure until it answers again: show each such outage.
        self.warn(f"autometrics: {error.message()}")
