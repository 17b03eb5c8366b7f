"""The repo cache: bare clones kept up to date, repaired when broken, locked per repo."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.gitrepo import Repo, git
from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.speculative import MergeError


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "upstream")


@pytest.fixture
def cache(tmp_path: Path) -> RepoCache:
    return RepoCache(tmp_path / "cache")


def test_first_use_clones_bare_under_the_repo_name(repo: Repo, cache: RepoCache,
                                                   tmp_path: Path) -> None:
    git(repo.path, "branch", "stable")
    git(repo.path, "update-ref", "refs/changes/01/1/1", "main")
    path = cache.ensure("org/proj", str(repo.path))
    assert path == tmp_path / "cache" / "org" / "proj.git"
    assert git(path, "rev-parse", "--is-bare-repository") == "true"
    refs = git(path, "for-each-ref", "--format=%(refname)").split()
    assert refs == ["refs/changes/01/1/1", "refs/heads/main", "refs/heads/stable"]
    assert git(path, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert [p.name for p in (tmp_path / "cache" / "org").iterdir()] == ["proj.git"]


def test_file_url_works_like_a_path(repo: Repo, cache: RepoCache) -> None:
    path = cache.ensure("proj", repo.path.as_uri())
    assert git(path, "rev-parse", "refs/heads/main") == git(repo.path, "rev-parse", "main")


def test_fetch_brings_new_commits_and_prunes_deleted_branches(repo: Repo,
                                                              cache: RepoCache) -> None:
    git(repo.path, "branch", "gone")
    path = cache.ensure("org/proj", str(repo.path))
    new = repo.commit({"n": "n\n"}, "New")
    git(repo.path, "branch", "-D", "gone")
    assert cache.fetch("org/proj", str(repo.path)) == path
    assert git(path, "rev-parse", "refs/heads/main") == new
    assert git(path, "for-each-ref", "--format=%(refname)", "refs/heads") == "refs/heads/main"


@pytest.mark.parametrize("damage", ["garbage HEAD", "no objects", "no packs"])
def test_corrupt_cache_recovers_on_next_fetch(repo: Repo, cache: RepoCache, damage: str) -> None:
    path = cache.ensure("org/proj", str(repo.path))
    git(path, "gc", "-q")
    if damage == "garbage HEAD":
        (path / "HEAD").write_text("garbage")
    elif damage == "no objects":
        shutil.rmtree(path / "objects")
    else:
        for pack in (path / "objects" / "pack").iterdir():
            pack.unlink()
    new = repo.commit({"n": "n\n"}, "New")
    cache.fetch("org/proj", str(repo.path))
    assert git(path, "rev-parse", "refs/heads/main") == new
    git(path, "fsck", "--connectivity-only")


def test_unreachable_remote_is_a_clear_error_and_keeps_the_cache(
        repo: Repo, cache: RepoCache, tmp_path: Path) -> None:
    path = cache.ensure("org/proj", str(repo.path))
    shutil.move(repo.path, tmp_path / "moved")
    with pytest.raises(MergeError, match="cannot fetch org/proj from"):
        cache.fetch("org/proj", str(repo.path))
    git(path, "rev-parse", "refs/heads/main")  # still usable


def test_failed_first_clone_leaves_nothing_behind(cache: RepoCache, tmp_path: Path) -> None:
    with pytest.raises(MergeError, match="cannot fetch org/gone"):
        cache.ensure("org/gone", str(tmp_path / "nowhere"))
    assert list((tmp_path / "cache" / "org").iterdir()) == []


@pytest.mark.parametrize("name", ["", "../evil", "org/../proj", "org//proj", "/abs",
                                  "org/proj.git/sub"])
def test_unsafe_repository_names_are_rejected(cache: RepoCache, name: str) -> None:
    with pytest.raises(MergeError, match="invalid repository name"):
        cache.path(name)


def test_lock_of_one_repo_does_not_block_another(cache: RepoCache, repo: Repo) -> None:
    other_done, same_done = threading.Event(), threading.Event()

    def work(name: str, done: threading.Event) -> None:
        with cache.locked(name):
            cache.ensure(name, str(repo.path))
            done.set()

    with cache.locked("org/a"):
        other = threading.Thread(target=work, args=("org/b", other_done))
        same = threading.Thread(target=work, args=("org/a", same_done))
        other.start()
        same.start()
        assert other_done.wait(30)
        assert not same_done.wait(0.2)  # waits for us
        cache.ensure("org/a", str(repo.path))  # the lock is re-entrant for its holder
    assert same_done.wait(30)
    other.join()
    same.join()


def test_failed_fetch_names_the_command_and_carries_gits_message(
        cache: RepoCache, tmp_path: Path) -> None:
    (tmp_path / "nowhere").mkdir()
    with pytest.raises(MergeError) as caught:
        cache.ensure("org/gone", str(tmp_path / "nowhere"))
    message = str(caught.value)
    assert "git fetch -q --prune --no-tags" in message
    assert "does not appear to be a git repository" in message
    assert "-c commit.gpgSign" not in message  # the pinned settings are not shown


def test_stray_git_variables_do_not_redirect_the_cache(
        repo: Repo, cache: RepoCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a hook's environment would have them: git must still work on the cache's clone."""
    decoy = tmp_path / "decoy.git"
    git(tmp_path, "init", "-q", "--bare", str(decoy))
    stray = {"GIT_DIR": str(decoy), "GIT_OBJECT_DIRECTORY": str(decoy / "objects"),
             "GIT_INDEX_FILE": str(tmp_path / "index")}

    def with_stray_variables(update: Callable[[str, str], Path]) -> Path:
        with monkeypatch.context() as env:
            for name, value in stray.items():
                env.setenv(name, value)
            return update("org/proj", str(repo.path))

    path = with_stray_variables(cache.ensure)  # the first clone
    new = repo.commit({"n": "n\n"}, "New")
    with_stray_variables(cache.fetch)
    assert git(path, "rev-parse", "refs/heads/main") == new
    git(path, "cat-file", "-e", new)
    assert git(decoy, "for-each-ref") == ""
    assert git(decoy, "count-objects") == "0 objects, 0 kilobytes"


def test_user_git_configuration_does_not_reach_the_cache(
        repo: Repo, cache: RepoCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's ``init.templateDir`` would put hooks into every clone."""
    template = tmp_path / "template"
    (template / "hooks").mkdir(parents=True)
    (template / "hooks" / "marker").write_text("from the user's template\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f"[init]\n\ttemplateDir = {template}\n"
                                     "\tdefaultBranch = from-user-config\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    path = cache.ensure("org/proj", str(repo.path))
    assert not (path / "hooks" / "marker").exists()
    assert git(path, "config", "--list", "--local").count("from-user-config") == 0
