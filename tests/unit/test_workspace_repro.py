"""The executor rebuilds the merger's state and refuses to run on anything else."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fakes.gitrepo import Repo, git
from zuulish.executor.shown_paths import for_users
from zuulish.executor.workspace import (
    WorkspaceError,
    _Git,
    playbook_checkout,
    prepare_repo,
)
from zuulish.git_admin import open_repo
from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.worker import build_state


def _state(upstream: Repo, tmp_path: Path, mode: str) -> dict:
    base = git(upstream.path, "rev-parse", "main")
    ahead = upstream.commit({"a": "a\n"}, "Ahead", branch="a", start=base)
    own = upstream.commit({"b": "b\n"}, "Own", branch="b", start=base)
    changes = [{"connection": "git", "project": "org/p", "branch": "main", "number": n,
                "patchset": 1, "commit": sha, "url": str(upstream.path), "own": own_}
               for n, sha, own_ in ((1, ahead, False), (2, own, True))]
    spec = {"changes": changes, "projects": {"org/p": {
        "connection": "git", "url": str(upstream.path), "merge_mode": mode}}}
    return build_state(RepoCache(tmp_path / "merger"), spec)["repo_state"]["org/p"]


@pytest.mark.parametrize("mode", ["merge-resolve", "squash-merge", "rebase"])
def test_executor_reproduces_the_merger_state(tmp_path: Path, mode: str) -> None:
    upstream = Repo(tmp_path / "upstream", date="@1700000000 +0000")
    state = _state(upstream, tmp_path, mode)
    repo = prepare_repo(RepoCache(tmp_path / "executor"), "org/p", state, tmp_path / "w", "h")
    assert repo.commit == state["commit"]
    assert git(repo.path, "rev-parse", "HEAD") == state["commit"]
    assert (repo.path / "a").read_text() == "a\n" and (repo.path / "b").read_text() == "b\n"


def test_executor_fails_loudly_on_a_different_sha(tmp_path: Path) -> None:
    upstream = Repo(tmp_path / "upstream", date="@1700000000 +0000")
    state = _state(upstream, tmp_path, "merge-resolve")
    wrong = {**state, "merge_mode": "merge"}  # e.g. a merger and executor that disagree
    with pytest.raises(WorkspaceError, match=f"merger tested {state['commit']}.*refusing"):
        prepare_repo(RepoCache(tmp_path / "executor"), "org/p", wrong, tmp_path / "w", "h")


@pytest.mark.parametrize("mode", ["merge-resolve", "cherry-pick"])
def test_origin_branch_is_the_state_before_the_items_own_change(tmp_path: Path,
                                                                 mode: str) -> None:
    upstream = Repo(tmp_path / "upstream", date="@1700000000 +0000")
    state = _state(upstream, tmp_path, mode)
    repo = prepare_repo(RepoCache(tmp_path / "executor"), "org/p", state, tmp_path / "w", "h")
    # as in Zuul: the diff from origin/main is exactly what this item changes
    assert git(repo.path, "diff", "--name-only", "origin/main..main") == "b"
    assert (tmp_path / "w" / "src" / "h" / "org" / "p" / "a").is_file()  # ahead: in the state
    assert git(repo.path, "remote", "get-url", "origin") == "file:///dev/null"


def test_a_failed_git_command_is_a_workspace_error_with_gits_message(tmp_path: Path) -> None:
    upstream = Repo(tmp_path / "upstream", date="@1700000000 +0000")
    state = _state(upstream, tmp_path, "merge-resolve")
    occupied = tmp_path / "w" / "src" / "h" / "org" / "p"
    occupied.mkdir(parents=True)
    (occupied / "left-over").write_text("x\n")
    with pytest.raises(WorkspaceError, match=r"git clone -q --shared --no-checkout -- .* failed "
                                             r"in .*: fatal: destination path .* already exists"):
        prepare_repo(RepoCache(tmp_path / "executor"), "org/p", state, tmp_path / "w", "h")
    assert [p.name for p in occupied.iterdir()] == ["left-over"]


def test_the_origin_of_a_prepared_repository_leads_nowhere(tmp_path: Path) -> None:
    upstream = Repo(tmp_path / "upstream", date="@1700000000 +0000")
    state = _state(upstream, tmp_path, "merge-resolve")
    repo = prepare_repo(RepoCache(tmp_path / "executor"), "org/p", state, tmp_path / "w", "h")
    assert git(repo.path, "remote", "get-url", "origin") == "file:///dev/null"
    assert git(repo.path, "symbolic-ref", "HEAD") == "refs/heads/main"


def test_a_workspace_error_is_shown_to_users_without_the_executors_paths(
        tmp_path: Path) -> None:
    """git's message names the directory it ran in: users read it as the job's
    ``src_dir`` (and the state dir as ``<state>``), never the executor's paths."""
    state = tmp_path / "state"
    build_dir = state / "builds" / "b1"
    src = build_dir / "work" / "src" / "localhost" / "org" / "app"
    src.mkdir(parents=True)
    git(src, "init", "-q")
    with pytest.raises(WorkspaceError) as raised:
        open_repo(src, _Git).git.checkout("-q", "no-such-branch")
    shown = for_users(str(raised.value), build_dir, state)
    assert str(tmp_path) not in shown
    assert "failed in src/localhost/org/app: " in shown
    assert for_users(f"cannot read {state}/keys/x and {build_dir}/node/agent.sock",
                     build_dir, state) == "cannot read <state>/keys/x and <build>/node/agent.sock"


def test_prepared_repositories_hold_their_own_objects(tmp_path: Path) -> None:
    """No alternates and no hardlinks into the cache: git works in the workspace (and in
    the playbook checkout) with the cache gone, and a build that writes its object
    files cannot change the cache's."""
    upstream = Repo(tmp_path / "upstream", date="@1700000000 +0000")
    state = _state(upstream, tmp_path, "merge-resolve")
    cache = RepoCache(tmp_path / "executor")
    repo = prepare_repo(cache, "org/p", state, tmp_path / "w", "h")
    checkout = playbook_checkout(repo, tmp_path / "untrusted" / "org" / "p")
    cached_inodes = {p.stat().st_ino for p in (tmp_path / "executor").rglob("*") if p.is_file()}
    shutil.rmtree(tmp_path / "executor")
    for path in (repo.path, checkout):
        assert not (path / ".git" / "objects" / "info" / "alternates").exists()
        assert not cached_inodes & {p.stat().st_ino for p in
                                    (path / ".git" / "objects").rglob("*") if p.is_file()}
        git(path, "fsck", "--no-progress", "--connectivity-only")
        assert git(path, "log", "--format=%s", "-1", "HEAD") != ""
    assert git(checkout, "rev-parse", "HEAD") == state["commit"]
    assert git(repo.path, "diff", "--name-only", "origin/main..main") == "b"


def test_a_source_that_borrows_objects_is_refused(tmp_path: Path) -> None:
    """A playbook checkout is copied from the workspace; were that ever to borrow its
    objects from elsewhere, the copy would lack them: refused, naming the alternate."""
    upstream = Repo(tmp_path / "upstream", date="@1700000000 +0000")
    state = _state(upstream, tmp_path, "merge-resolve")
    repo = prepare_repo(RepoCache(tmp_path / "executor"), "org/p", state, tmp_path / "w", "h")
    borrowed = tmp_path / "borrowed"
    git(tmp_path, "clone", "-q", "--shared", str(repo.path), str(borrowed))
    with pytest.raises(WorkspaceError, match=r"borrowed borrows objects from elsewhere "
                                             r"\(.*/w/src/h/org/p/.git/objects\): refusing"):
        playbook_checkout(replace(repo, path=borrowed), tmp_path / "copy")


def test_the_caches_loose_objects_are_packed_before_they_pile_up(tmp_path: Path) -> None:
    """Each fetch leaves a few loose objects in the cache and each clone copies every
    file: beyond LOOSE_LIMIT they are packed, so a clone copies a few packs."""
    from zuulish.executor.workspace import LOOSE_LIMIT

    upstream = Repo(tmp_path / "upstream", date="@1700000000 +0000")
    state = _state(upstream, tmp_path, "merge-resolve")
    cache = RepoCache(tmp_path / "executor")
    prepare_repo(cache, "org/p", state, tmp_path / "w1", "h")
    cached = cache.path("org/p")
    blobs = [tmp_path / f"blob{n}" for n in range(LOOSE_LIMIT + 1)]
    for n, blob in enumerate(blobs):  # as many fetches would leave them
        blob.write_text(f"object {n}\n")
    git(cached, "hash-object", "-w", *map(str, blobs))

    def loose(objects: Path) -> int:
        return sum(1 for d in objects.iterdir() if len(d.name) == 2 for _ in d.iterdir())

    assert loose(cached / "objects") > LOOSE_LIMIT
    repo = prepare_repo(cache, "org/p", state, tmp_path / "w2", "h")
    assert loose(cached / "objects") == 0
    assert git(repo.path, "rev-parse", "HEAD") == state["commit"]
    git(repo.path, "fsck", "--no-progress", "--connectivity-only")
