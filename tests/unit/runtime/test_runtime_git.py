"""Reading commit, branch and remote from `.git` files, and turning remotes into repository URLs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from autometrics_lsp.runtime.git import (
    GitCheckout,
    browsable_repository_url,
    read_git_checkout,
    remote_url_from_config,
    repository_provider,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
CONFIG = """[core]
\trepositoryformatversion = 0
[remote "upstream"]
\turl = https://example.org/upstream/tool.git
\tfetch = +refs/heads/*:refs/remotes/upstream/*
[remote "origin"]
\turl = git@github.com:acme/shop.git
[branch "main"]
\tremote = origin
\turl = not-a-remote-url
"""


def make_git_dir(root: Path, head: str, refs: dict[str, str] | None = None, packed: str = "") -> Path:
    git_dir = root / ".git"
    git_dir.mkdir(parents=True)
    (git_dir / "HEAD").write_text(head + "\n")
    (git_dir / "config").write_text(CONFIG)
    for ref, sha in (refs or {}).items():
        (git_dir / ref).parent.mkdir(parents=True, exist_ok=True)
        (git_dir / ref).write_text(sha + "\n")
    if packed:
        (git_dir / "packed-refs").write_text(packed)
    return git_dir


def test_a_branch_with_a_loose_ref(tmp_path: Path) -> None:
    make_git_dir(tmp_path, "ref: refs/heads/main", {"refs/heads/main": COMMIT})
    nested = tmp_path / "src" / "pkg"
    nested.mkdir(parents=True)

    assert read_git_checkout(nested) == GitCheckout(COMMIT, "main", "git@github.com:acme/shop.git")


def test_a_branch_with_a_slash_found_in_packed_refs(tmp_path: Path) -> None:
    packed = (
        "# pack-refs with: peeled fully-peeled sorted\n"
        f"{OTHER_COMMIT} refs/heads/main\n"
        f"{COMMIT} refs/heads/feature/hover\n"
        f"^{OTHER_COMMIT}\n"
    )
    make_git_dir(tmp_path, "ref: refs/heads/feature/hover", packed=packed)

    checkout = read_git_checkout(tmp_path)

    assert checkout is not None
    assert (checkout.commit, checkout.branch) == (COMMIT, "feature/hover")


def test_a_detached_head_has_a_commit_and_no_branch(tmp_path: Path) -> None:
    make_git_dir(tmp_path, COMMIT)

    checkout = read_git_checkout(tmp_path)

    assert checkout is not None
    assert (checkout.commit, checkout.branch) == (COMMIT, "")


def test_a_branch_without_commits_has_an_empty_commit(tmp_path: Path) -> None:
    make_git_dir(tmp_path, "ref: refs/heads/main")

    checkout = read_git_checkout(tmp_path)

    assert checkout is not None
    assert (checkout.commit, checkout.branch) == ("", "main")


def test_a_worktree_reads_its_own_head_and_the_main_repository_refs(tmp_path: Path) -> None:
    main_git = make_git_dir(tmp_path / "main", "ref: refs/heads/main", {"refs/heads/hotfix": OTHER_COMMIT})
    worktree_git = main_git / "worktrees" / "hotfix"
    worktree_git.mkdir(parents=True)
    (worktree_git / "HEAD").write_text("ref: refs/heads/hotfix\n")
    (worktree_git / "commondir").write_text("../..\n")
    worktree = tmp_path / "hotfix"
    worktree.mkdir()
    (worktree / ".git").write_text(f"gitdir: {worktree_git}\n")

    assert read_git_checkout(worktree) == GitCheckout(OTHER_COMMIT, "hotfix", "git@github.com:acme/shop.git")


def test_outside_a_checkout_there_is_nothing(tmp_path: Path) -> None:
    assert read_git_checkout(tmp_path) is None


def test_an_unreadable_checkout_is_nothing_rather_than_an_error(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # no HEAD

    assert read_git_checkout(tmp_path) is None


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git program to build a real checkout")
def test_a_real_checkout_made_by_git(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
            cwd=tmp_path, check=True, capture_output=True, text=True,
        ).stdout.strip()

    git("init", "-q", "-b", "trunk")
    git("remote", "add", "origin", "https://gitlab.com/acme/shop.git")
    (tmp_path / "a.txt").write_text("a")
    git("add", "a.txt")
    git("commit", "-q", "-m", "first")
    git("pack-refs", "--all")  # the commit is now only in packed-refs

    checkout = read_git_checkout(tmp_path)

    assert checkout == GitCheckout(git("rev-parse", "HEAD"), "trunk", "https://gitlab.com/acme/shop.git")


def test_origin_is_preferred_over_other_remotes() -> None:
    assert remote_url_from_config(CONFIG) == "git@github.com:acme/shop.git"


def test_without_origin_the_first_remote_is_taken() -> None:
    assert remote_url_from_config(CONFIG.replace('"origin"', '"fork"')) == "https://example.org/upstream/tool.git"


def test_a_config_without_remotes_has_no_url() -> None:
    assert remote_url_from_config("[core]\n\tbare = false\n") == ""


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("git@github.com:acme/shop.git", "https://github.com/acme/shop"),
        ("ssh://git@gitlab.com:2222/acme/shop.git", "https://gitlab.com/acme/shop"),
        ("https://user:secret-token@github.com/acme/shop.git", "https://github.com/acme/shop"),
        ("https://git.example.org:8443/acme/shop/", "https://git.example.org:8443/acme/shop"),
        ("", ""),
    ],
)
def test_remotes_become_https_urls_without_credentials(remote: str, url: str) -> None:
    assert browsable_repository_url(remote) == url


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://github.com/acme/shop", "github"),
        ("https://gitlab.example.com/acme/shop", "gitlab"),
        ("https://bitbucket.org/acme/shop", "bitbucket"),
        ("https://git.example.org/acme/shop", ""),
        ("", ""),
    ],
)
def test_the_provider_comes_from_the_host(url: str, provider: str) -> None:
    assert repository_provider(url) == provider
