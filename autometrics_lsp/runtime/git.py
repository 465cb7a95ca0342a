"""Commit, branch and remote of a git checkout, read from the files under `.git` (no `git` program needed).

Handles plain checkouts, worktrees and submodules (a `.git` file pointing elsewhere, a `commondir`), loose and
packed refs, and detached heads. Anything unreadable gives empty values rather than an error: build
information is a nicety and must never stop a service from starting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True)
class GitCheckout:
    commit: str = ""
    branch: str = ""
    remote_url: str = ""


def read_git_checkout(start: Path) -> GitCheckout | None:
    """The checkout holding `start` (or one of its parents), or None outside a checkout."""
    try:
        git_dir = find_git_dir(start)
        if git_dir is None:
            return None
        common_dir = _common_dir(git_dir)
        commit, branch = _head(git_dir, common_dir)
        return GitCheckout(commit=commit, branch=branch, remote_url=_remote_url(common_dir))
    except (OSError, UnicodeDecodeError):
        return None


def find_git_dir(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            pointer = dot_git.read_text(encoding="utf-8").strip()
            if pointer.startswith("gitdir:"):
                return (directory / pointer.removeprefix("gitdir:").strip()).resolve()
    return None


def _common_dir(git_dir: Path) -> Path:
    """Where refs and config live: a worktree's git dir names the main one in `commondir`."""
    pointer = git_dir / "commondir"
    if pointer.is_file():
        return (git_dir / pointer.read_text(encoding="utf-8").strip()).resolve()
    return git_dir


def _head(git_dir: Path, common_dir: Path) -> tuple[str, str]:
    head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    if not head.startswith("ref:"):
        return head, ""  # detached
    ref = head.removeprefix("ref:").strip()
    branch = ref.removeprefix("refs/heads/")
    return _resolve_ref(ref, git_dir, common_dir), branch


def _resolve_ref(ref: str, git_dir: Path, common_dir: Path) -> str:
    for directory in (git_dir, common_dir):
        loose = directory / ref
        if loose.is_file():
            return loose.read_text(encoding="utf-8").strip()
    packed = common_dir / "packed-refs"
    if packed.is_file():
        return packed_ref(packed.read_text(encoding="utf-8"), ref)
    return ""  # a branch without commits yet


def packed_ref(packed_refs: str, ref: str) -> str:
    for line in packed_refs.splitlines():
        if line.startswith(("#", "^")):
            continue
        sha, _, name = line.partition(" ")
        if name.strip() == ref:
            return sha
    return ""


_SECTION = re.compile(r'^\s*\[\s*remote\s+"(?P<name>[^"]*)"\s*\]')
_OTHER_SECTION = re.compile(r"^\s*\[")
_URL = re.compile(r"^\s*url\s*=\s*(?P<url>.*?)\s*$")


def _remote_url(common_dir: Path) -> str:
    config = common_dir / "config"
    if not config.is_file():
        return ""
    return remote_url_from_config(config.read_text(encoding="utf-8"))


def remote_url_from_config(config_text: str) -> str:
    """The url of remote `origin`, else of the first remote that has one."""
    urls: dict[str, str] = {}
    remote: str | None = None
    for line in config_text.splitlines():
        if section := _SECTION.match(line):
            remote = section["name"]
        elif _OTHER_SECTION.match(line):
            remote = None
        elif remote is not None and (url := _URL.match(line)):
            urls.setdefault(remote, url["url"])
    return urls.get("origin") or next(iter(urls.values()), "")


_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>(?!//).+)$")


def browsable_repository_url(remote_url: str) -> str:
    """An https URL for a git remote: ssh forms rewritten, credentials dropped (they must never become labels)."""
    url = remote_url.strip()
    if not url:
        return ""
    if "://" not in url and (scp := _SCP_LIKE.match(url)):
        url = f"https://{scp['host']}/{scp['path']}"
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        if parts.port is not None and parts.scheme in ("http", "https"):
            host = f"{host}:{parts.port}"
    except ValueError:  # a malformed port
        return ""
    scheme = "https" if parts.scheme in ("ssh", "git", "git+ssh", "ssh+git") else parts.scheme
    path = parts.path.removesuffix("/").removesuffix(".git")
    return urlunsplit((scheme, host, path, "", ""))


_PROVIDERS = ("github", "gitlab", "bitbucket")


def repository_provider(repository_url: str) -> str:
    """`github`, `gitlab` or `bitbucket` when the URL's host says so, else ""."""
    host = (urlsplit(repository_url).hostname or "").lower()
    return next((provider for provider in _PROVIDERS if provider in host), "")
