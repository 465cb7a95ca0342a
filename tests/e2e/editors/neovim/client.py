"""Drive Debian's Neovim headless as an LSP client of autometrics-lsp (see hover.lua)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HOVER_SCRIPT = Path(__file__).with_name("hover.lua")


def neovim_hover(
    file: Path, line: int, character: int, *, root: Path, settings: dict[str, Any], timeout: float = 60
) -> dict[str, Any]:
    """Open `file` in a real Neovim, hover at the 0-based position, return {"result": ..., "error": ...}."""
    nvim = shutil.which("nvim")
    if nvim is None:
        raise RuntimeError("nvim not found: run scripts/setup.sh --editors (apt-get install neovim)")
    with tempfile.TemporaryDirectory(prefix="nvim-hover-") as scratch:
        out = Path(scratch) / "hover.json"
        env = {
            **os.environ,
            "XDG_CACHE_HOME": scratch,
            "XDG_STATE_HOME": scratch,
            "XDG_DATA_HOME": scratch,
            "HOVER_OUT": str(out),
            "HOVER_LINE": str(line),
            "HOVER_CHARACTER": str(character),
            "AUTOMETRICS_ROOT": str(root),
            "AUTOMETRICS_SETTINGS": json.dumps(settings),
            "AUTOMETRICS_LSP_CMD": json.dumps([sys.executable, "-m", "autometrics_lsp"]),
        }
        completed = subprocess.run(
            [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {HOVER_SCRIPT}", str(file)],
            env=env,
            cwd=root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
        if not out.exists():
            raise RuntimeError(
                f"Neovim wrote no hover (exit {completed.returncode}): {completed.stderr.decode(errors='replace')[-2000:]}"
            )
        return json.loads(out.read_text())
