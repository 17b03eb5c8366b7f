"""Building an item's state: chains, repo states, conflicts and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fakes.gitrepo import Repo, git
from zuulish.clock import SimulatedClock
from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.speculative import MergeError, MergeMemo, apply_commits
from zuulish.merger.worker import MergerWorker, build_state
from zuulish.store import BuildSetRow, MergeRequestRow, QueueItemRow, Store

LINES = "".join(f"line {i}\n" for i in range(30))


@pytest.fixture
def upstream(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "upstream", date="@1700000000 +0000")
    repo.commit({f"f{n}": LINES for n in range(30)}, "Files")
    return repo


def make_changes(repo: Repo, count: int, start: str = "main") -> list[str]:
    base = git(repo.path, "rev-parse", start)
    shas = []
    for n in range(count):
        sha = repo.commit({f"f{n}": LINES + f"change {n}\n", f"new/{n}": f"{n}\n"},
                          f"Change {n + 1}", branch=f"change{n}", start=base,
                          date=f"@17000{n:05d} +0000")
        git(repo.path, "update-ref", f"refs/changes/{n + 1:02d}/{n + 1}/1", sha)
        shas.append(sha)
    git(repo.path, "checkout", "-q", "main")
    return shas


def entry(repo: Repo, number: int, sha: str, own: bool, project: str = "org/p") -> dict:
    return {"connection": "git", "project": project, "branch": "main", "number": number,
            "patchset": 1, "commit": sha, "url": str(repo.path), "own": own,
            "change_url": f"http://zuulish.test/c/{project}/+/{number}"}


def queue_specs(repo: Repo, shas: list[str], mode: str = "merge-resolve") -> list[dict]:
    """The merge request of each item of a queue, as the scheduler writes them."""
    specs = []
    for k in range(len(shas)):
        changes = [entry(repo, n + 1, shas[n], own=(n == k)) for n in range(k + 1)]
        specs.append({"changes": changes, "branch": "main", "projects": {
            "org/p": {"connection": "git", "url": str(repo.path), "merge_mode": mode}}})
    return specs


def test_a_queue_of_n_items_costs_n_merges(upstream: Repo, tmp_path: Path) -> None:
    shas = make_changes(upstream, 8)
    cache, memo = RepoCache(tmp_path / "cache"), MergeMemo()
    results = [build_state(cache, spec, memo=memo) for spec in queue_specs(upstream, shas)]
    assert [r["status"] for r in results] == ["merged"] * 8
    assert sum(r["merges"] for r in results) == 8
    for before, after in zip(results, results[1:], strict=False):  # item k starts at k-1's
        assert after["repo_state"]["org/p"]["pre"] == before["repo_state"]["org/p"]["commit"]
    # a merger that remembers nothing re-merges what is ahead of each item: n(n+1)/2
    fresh = [build_state(cache, spec) for spec in queue_specs(upstream, shas)]
    assert sum(r["merges"] for r in fresh) == 36
    assert [r["repo_state"] for r in fresh] == [r["repo_state"] for r in results]


@pytest.mark.parametrize("mode", ["merge", "merge-resolve", "squash-merge", "cherry-pick",
                                  "rebase"])
def test_states_are_the_same_from_two_separate_caches(upstream: Repo, tmp_path: Path,
                                                      mode: str) -> None:
    shas = make_changes(upstream, 4)
    upstream.commit({"moved": "m\n"}, "Branch moved", branch="main")
    states = []
    for name in ("one", "two"):
        cache = RepoCache(tmp_path / name)
        states.append([build_state(cache, spec, memo=MergeMemo())["repo_state"]
                       for spec in queue_specs(upstream, shas, mode)])
    assert states[0] == states[1]
    last = states[0][-1]["org/p"]
    assert last["merge_mode"] == mode and last["base"] == git(upstream.path, "rev-parse", "main")
    # and a plain clone (an executor's) reproduces it byte for byte from the record
    clone = tmp_path / "executor"
    git(tmp_path, "clone", "-q", "--mirror", str(upstream.path), str(clone))
    again = apply_commits(clone, last["base"], last["ahead_changes"] + last["changes"], mode,
                          links=last["links"])
    assert again.commit == last["commit"]


def test_conflict_names_the_paths_and_the_item_ahead(upstream: Repo, tmp_path: Path) -> None:
    base = git(upstream.path, "rev-parse", "main")
    one = upstream.commit({"f1": LINES + "one\n"}, "One", branch="a", start=base)
    two = upstream.commit({"f2": LINES + "two\n"}, "Two", branch="b", start=base)
    three = upstream.commit({"f1": LINES + "three\n", "f3": "x\n"}, "Three", branch="c",
                            start=base)
    spec = {"changes": [entry(upstream, 1, one, False), entry(upstream, 2, two, False),
                        entry(upstream, 3, three, True)], "branch": "main"}
    result = build_state(RepoCache(tmp_path / "cache"), spec)
    assert result["status"] == "conflict"
    assert result["conflict_paths"] == ["f1"] and result["conflict_changes"] == [1]
    assert "with change 1,1 ahead of it" in result["message"] and "f1" in result["message"]


def test_conflict_with_the_branch_tip_says_so(upstream: Repo, tmp_path: Path) -> None:
    base = git(upstream.path, "rev-parse", "main")
    mine = upstream.commit({"f1": LINES + "mine\n"}, "Mine", branch="a", start=base)
    upstream.commit({"f1": LINES + "landed\n"}, "Landed", branch="main", start=base)
    result = build_state(RepoCache(tmp_path / "cache"),
                         {"changes": [entry(upstream, 1, mine, True)], "branch": "main"})
    assert result["status"] == "conflict" and result["conflict_changes"] == []
    assert "with the tip of main" in result["message"]


def test_missing_commit_is_an_error_for_that_item(upstream: Repo, tmp_path: Path) -> None:
    cache = RepoCache(tmp_path / "cache")
    spec = {"changes": [entry(upstream, 1, "ab" * 20, True)], "branch": "main"}
    with pytest.raises(MergeError, match="does not exist .*force-pushed"):
        build_state(cache, spec)
    (good,) = make_changes(upstream, 1)
    assert build_state(cache, queue_specs(upstream, [good])[0])["status"] == "merged"


def test_force_pushed_branch_is_built_from_its_new_tip(upstream: Repo, tmp_path: Path) -> None:
    shas = make_changes(upstream, 2)
    cache, memo = RepoCache(tmp_path / "cache"), MergeMemo()
    first = build_state(cache, queue_specs(upstream, shas)[1], memo=memo)
    git(upstream.path, "checkout", "-q", "main")
    git(upstream.path, "reset", "-q", "--hard", "HEAD~1")  # force-push the branch back
    upstream.commit({"rewritten": "r\n"}, "Rewritten history")
    second = build_state(cache, queue_specs(upstream, shas)[1], memo=memo)
    tip = git(upstream.path, "rev-parse", "main")
    assert second["repo_state"]["org/p"]["base"] == tip != first["repo_state"]["org/p"]["base"]
    assert second["merges"] == 2  # nothing reused from the old base


def test_corrupt_cache_is_cloned_again_and_the_merge_goes_on(upstream: Repo,
                                                             tmp_path: Path) -> None:
    (sha,) = make_changes(upstream, 1)
    cache = RepoCache(tmp_path / "cache")
    path = cache.ensure("org/p", str(upstream.path))
    for pack in (path / "objects" / "pack").glob("*.pack"):
        pack.write_bytes(b"PACK" + b"\0" * 64)  # fetch still succeeds: refs are current
    result = build_state(cache, queue_specs(upstream, [sha])[0])
    assert result["status"] == "merged"


def test_unreachable_repository_is_a_clear_error(tmp_path: Path) -> None:
    spec = {"changes": [{"connection": "git", "project": "org/gone", "branch": "main",
                         "number": 1, "patchset": 1, "commit": "ab" * 20,
                         "url": str(tmp_path / "nowhere"), "own": True}]}
    with pytest.raises(MergeError, match="cannot fetch org/gone from"):
        build_state(RepoCache(tmp_path / "cache"), spec)


def test_a_merge_past_its_time_limit_fails_that_item(upstream: Repo, tmp_path: Path) -> None:
    shas = make_changes(upstream, 3)
    cache = RepoCache(tmp_path / "cache")
    with pytest.raises(MergeError, match="time limit|did not finish"):
        build_state(cache, queue_specs(upstream, shas)[2], timeout=0)
    assert build_state(cache, queue_specs(upstream, shas)[2], timeout=60)["status"] == "merged"


def test_deleted_change_ref_is_pruned_from_the_cache(upstream: Repo, tmp_path: Path) -> None:
    make_changes(upstream, 2)
    cache = RepoCache(tmp_path / "cache")
    path = cache.ensure("org/p", str(upstream.path))
    git(upstream.path, "update-ref", "-d", "refs/changes/01/1/1")
    cache.ensure("org/p", str(upstream.path))
    assert git(path, "for-each-ref", "--format=%(refname)", "refs/changes") == \
        "refs/changes/02/2/1"


def test_cache_size_bound_removes_the_least_recently_used(tmp_path: Path) -> None:
    repos = [Repo(tmp_path / f"up{n}") for n in range(3)]
    for n, repo in enumerate(repos):
        repo.commit({"big": f"{n}\n" * 20000}, "Big")
    probe = RepoCache(tmp_path / "probe")
    one = sum(f.stat().st_size for f in probe.ensure("p0", str(repos[0].path)).rglob("*")
              if f.is_file())
    cache = RepoCache(tmp_path / "cache", max_bytes=int(one * 2.5), bound_every=1)
    paths = [cache.ensure(f"p{n}", str(r.path)) for n, r in enumerate(repos[:2])]
    cache.ensure("p0", str(repos[0].path))  # p0 used last: p1 is the oldest now
    cache.ensure("p2", str(repos[2].path))
    assert paths[0].exists() and not paths[1].exists()
    assert cache.ensure("p1", str(repos[1].path)).exists()  # cloned again on demand


def test_clones_have_their_loose_object_directories(upstream: Repo, tmp_path: Path) -> None:
    path = RepoCache(tmp_path / "cache").ensure("org/p", str(upstream.path))
    assert len([d for d in (path / "objects").iterdir() if len(d.name) == 2]) == 256
    shutil.rmtree(tmp_path / "cache")


def _requests(store: Store, count: int) -> list[int]:
    """``count`` merge requests of a queue, each after the one before it."""
    ids: list[int] = []
    with store.session() as s:
        for n in range(count):
            item = QueueItemRow(tenant="t", pipeline="gate", queue_name="q", connection="git",
                                change_number=n + 1, patchset=1,
                                commit_sha="0" * 40, project="org/p", branch="main",
                                sequence=n, enqueued_at=0.0)
            s.add(item)
            s.flush()
            bs = BuildSetRow(uuid=f"bs{n}", item_id=item.id, created_at=0.0)
            s.add(bs)
            s.flush()
            request = MergeRequestRow(buildset_id=bs.id, created_at=0.0,
                                      spec={"after": ids[-1]} if ids else {})
            s.add(request)
            s.flush()
            ids.append(request.id)
    return ids


def test_a_request_waits_for_the_state_of_the_item_ahead(store: Store, tmp_path: Path) -> None:
    first, second, third = _requests(store, 3)
    worker = MergerWorker(store, RepoCache(tmp_path / "cache"), SimulatedClock(), name="m1")
    other = MergerWorker(store, RepoCache(tmp_path / "cache2"), SimulatedClock(), name="m2")
    claimed = worker._claim()
    assert claimed is not None and claimed.id == first
    assert other._claim() is None  # the second waits for the first, the third for it
    with store.session() as s:
        s.get(MergeRequestRow, first).state = "done"
    assert other._claim().id == second  # type: ignore[union-attr]
    with store.session() as s:
        s.get(MergeRequestRow, second).state = "canceled"  # item ahead gone: go on alone
    assert worker._claim().id == third  # type: ignore[union-attr]


def test_a_change_ahead_on_another_branch_stays_out_of_the_items_branch(
        upstream: Repo, tmp_path: Path) -> None:
    """One project's changes to two branches share a gate queue (as in Zuul, a queue
    is per project, not per branch). The item on ``stable`` is built on ``stable``
    with only its own branch's changes; the change ahead on ``main`` is not merged
    into it (it was: every change of the project went onto the first one's branch,
    so ``stable`` would have been tested, and moved, with ``main``'s content)."""
    tip = git(upstream.path, "rev-parse", "main").strip()
    git(upstream.path, "branch", "stable", tip)
    main_sha = upstream.commit({"only-on-main": "m\n"}, "On main", branch="main-change",
                               start=tip, date="@1700000100 +0000")
    stable_sha = upstream.commit({"f1": LINES + "backport\n"}, "On stable",
                                 branch="stable-change", start=tip, date="@1700000200 +0000")
    git(upstream.path, "checkout", "-q", "main")
    on_main = entry(upstream, 1, main_sha, own=False)
    on_stable = {**entry(upstream, 2, stable_sha, own=True), "branch": "stable"}
    spec = {"changes": [on_main, on_stable], "branch": "stable", "projects": {
        "org/p": {"connection": "git", "url": str(upstream.path)}}}
    result = build_state(RepoCache(tmp_path / "cache"), spec)
    assert result["status"] == "merged"
    state = result["repo_state"]["org/p"]
    assert state["branch"] == "stable" and state["base"] == tip
    assert state["ahead_changes"] == [] and state["changes"] == [stable_sha]
    files = git(upstream.path, "ls-tree", "-r", "--name-only", state["commit"]).split()
    assert "only-on-main" not in files
    assert "backport" in git(upstream.path, "show", f"{state['commit']}:f1")
    # independent pipelines put a needed change first too (a backport that Depends-On
    # the fix on main): the same holds
    check = build_state(RepoCache(tmp_path / "cache2"), {**spec, "changes": [
        {**on_main, "own": False}, on_stable]})
    assert check["repo_state"]["org/p"]["commit"] == state["commit"]


def test_an_items_own_changes_on_two_branches_of_a_project_are_refused(
        upstream: Repo, tmp_path: Path) -> None:
    tip = git(upstream.path, "rev-parse", "main").strip()
    git(upstream.path, "branch", "stable", tip)
    [main_sha] = make_changes(upstream, 1)
    stable_sha = upstream.commit({"s": "s\n"}, "On stable", branch="stable-change",
                                 start=tip, date="@1700000200 +0000")
    git(upstream.path, "checkout", "-q", "main")
    spec = {"changes": [entry(upstream, 1, main_sha, own=True),
                        {**entry(upstream, 2, stable_sha, own=True), "branch": "stable"}],
            "branch": "main", "projects": {
                "org/p": {"connection": "git", "url": str(upstream.path)}}}
    with pytest.raises(MergeError, match="org/p.*main.*stable"):
        build_state(RepoCache(tmp_path / "cache"), spec)
