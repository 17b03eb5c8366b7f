"""Every merge mode against what plain git does in a worktree: the same trees.

Each scenario has a branch that moved (``current``) and a change made on the
old tip. The merger's state must have exactly the tree that ``git merge``,
``git merge -s resolve``, ``git merge --squash``, ``git cherry-pick`` or ``git
rebase`` in a checkout gives, or conflict where git conflicts.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.gitrepo import Repo, git
from zuulish.merger.speculative import MODES, apply_commits, open_repo
from zuulish.merger.treemerge import NeedsGit, TreeConflict, TreeMerger

LINES = "".join(f"line {i}\n" for i in range(30))


def edit(text: str, line: int, new: str) -> str:
    lines = text.split("\n")
    lines[line] = new
    return "\n".join(lines)


Scenario = Callable[[Repo], tuple[str, list[dict]]]


def _mode(repo: Repo, path: str, executable: bool) -> None:
    git(repo.path, "update-index", "--chmod=" + ("+x" if executable else "-x"), path)


# Each scenario: files of the base, of the moved branch, and of the change's commits.
SCENARIOS: dict[str, tuple[dict, dict, list[dict]]] = {
    "disjoint files": ({"a": LINES, "d/b": LINES}, {"a": edit(LINES, 3, "main")},
                       [{"d/b": edit(LINES, 3, "change"), "new/c": "c\n"}]),
    "same file, other lines": ({"a": LINES}, {"a": edit(LINES, 2, "main")},
                               [{"a": edit(LINES, 25, "change")}]),
    "same line": ({"a": LINES}, {"a": edit(LINES, 2, "main")}, [{"a": edit(LINES, 2, "chg")}]),
    "rename against an edit": ({"lib.py": LINES}, {"lib.py": None, "pkg/lib.py": LINES},
                               [{"lib.py": edit(LINES, 20, "edited")}]),
    "directory renamed, file added to it": (
        {"old/x": LINES, "old/y": LINES + "y\n"},
        {"old/x": None, "old/y": None, "new/x": LINES, "new/y": LINES + "y\n"},
        [{"old/z": "z\n"}]),
    "delete against an unrelated edit": ({"a": LINES, "b": LINES}, {"a": None},
                                         [{"b": edit(LINES, 1, "b")}]),
    "both delete, one adds": ({"a": LINES, "b": "b\n"}, {"a": None},
                              [{"a": None, "c": LINES}]),
    "modify against delete": ({"a": LINES}, {"a": None}, [{"a": edit(LINES, 1, "x")}]),
    "added in both, differently": ({"r": "r\n"}, {"n": "one\n"}, [{"n": "two\n"}]),
    "added in both, the same": ({"r": "r\n"}, {"n": "same\n", "m": "m\n"},
                                [{"n": "same\n"}]),
    "file against directory": ({"r": "r\n"}, {"p": "file\n"}, [{"p/q": "dir\n"}]),
    "several commits": ({"a": LINES, "b": LINES}, {"a": edit(LINES, 0, "main")},
                        [{"b": edit(LINES, 5, "one")}, {"b": edit(LINES, 9, "two")},
                         {"c": "three\n"}]),
    "several commits, later ones undo": ({"a": LINES}, {"m": "m\n"},
                                         [{"x": "x\n"}, {"x": None}, {"y": "y\n"}]),
    "both rename a file, to different names": (
        {"d/x": LINES, "d/keep": "k\n"}, {"d/x": None, "e/one": LINES},
        [{"d/x": None, "e/two": LINES}]),
    "both empty a directory": ({"d/a": "a\n", "d/b": "b\n", "e": "e\n"}, {"d/a": None},
                               [{"d/b": None}]),
}


def build(tmp_path: Path, name: str) -> tuple[Repo, str, str, str]:
    """The repository, the base, the moved branch tip and the change's tip."""
    base_files, main_files, change_commits = SCENARIOS[name]
    repo = Repo(tmp_path / "repo", date="@1700000000 +0000")
    base = repo.commit(base_files, "Base")
    current = repo.commit(main_files, "Main moved", branch="main")
    git(repo.path, "checkout", "-q", "-B", "change", base)
    for n, files in enumerate(change_commits):
        change = repo.commit(files, f"Change part {n}\n\nbody {n}\n", date=f"@17000{n:05d} +0100")
    return repo, base, current, change


def git_result(repo: Repo, mode: str, current: str, change: str) -> str | None:
    """The tree git makes in a worktree, or None when git reports a conflict."""
    work = repo.path
    env = {"GIT_CONFIG_GLOBAL": os.devnull}

    def ok(*args: str) -> bool:
        try:
            git(work, *args, env=env)
            return True
        except AssertionError:
            return False

    git(work, "reset", "-q", "--hard")
    git(work, "checkout", "-q", "-f", "--detach", current)
    if mode in ("merge", "merge-recursive", "merge-resolve", "squash-merge"):
        args = {"merge": ["--no-ff"], "merge-recursive": [], "merge-resolve": ["-s", "resolve"],
                "squash-merge": ["--squash"]}[mode]
        if not ok("merge", "-q", "--no-edit", *args, change):
            if mode != "squash-merge":  # a squash leaves no merge to abort
                git(work, "merge", "--abort")
            return None
        if mode == "squash-merge":
            return git(work, "write-tree")
    elif mode == "cherry-pick":
        if not ok("cherry-pick", "--allow-empty", "--keep-redundant-commits", change):
            git(work, "cherry-pick", "--abort")
            return None
    else:
        git(work, "checkout", "-q", "-f", "--detach", change)
        if not ok("rebase", "-q", current):
            git(work, "rebase", "--abort")
            return None
    return repo.tree("HEAD")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_mode_gives_the_tree_git_gives(tmp_path: Path, scenario: str, mode: str) -> None:
    repo, _base, current, change = build(tmp_path, scenario)
    if mode == "cherry-pick" and len(SCENARIOS[scenario][2]) > 1:
        pytest.skip("cherry-pick takes one commit; several are rebase's")
    ours = apply_commits(repo.path, current, [change], mode=mode)
    expected = git_result(repo, mode, current, change)
    if expected is None:
        assert not ours.ok, f"git conflicts but the merger built {ours.commit}"
        assert ours.conflict_commit == change and ours.message
    else:
        assert ours.ok, ours.message
        assert repo.tree(ours.commit) == expected


def test_modes_fast_forward_as_git_would(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    base = git(repo.path, "rev-parse", "HEAD")
    change = repo.commit({"a": "a\n"}, "A", branch="a", start=base)
    for mode in ("merge-recursive", "merge-resolve", "cherry-pick", "rebase"):
        assert apply_commits(repo.path, base, [change], mode=mode).commit == change
    for mode in ("merge", "squash-merge"):
        result = apply_commits(repo.path, base, [change], mode=mode)
        assert result.commit != change and repo.tree(result.commit) == repo.tree(change)


def test_picks_keep_the_author_and_message(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    base = git(repo.path, "rev-parse", "HEAD")
    moved = repo.commit({"m": "m\n"}, "Moved", branch="main")
    change = repo.commit({"a": "a\n"}, "Add a\n\nWith a body.\n", branch="a", start=base,
                         date="@1600000000 +0200")
    fmt = "--format=%P%n%an <%ae> %ad%n%cn <%ce> %cd%n%B"
    for mode in ("cherry-pick", "squash-merge", "rebase"):
        result = apply_commits(repo.path, moved, [change], mode=mode)
        parents, author, committer, *message = git(
            repo.path, "show", "-s", "--date=raw", fmt, result.commit).split("\n")
        assert parents == moved, mode
        assert author == "Dev <dev@example.org> 1600000000 +0200"
        assert committer == "zuulish <zuulish@localhost> 1600000000 +0200"
        assert message == ["Add a", "", "With a body."]


def test_cherry_pick_of_a_merge_commit_uses_its_first_parent(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    base = git(repo.path, "rev-parse", "HEAD")
    moved = repo.commit({"m": "m\n"}, "Moved", branch="main")
    side = repo.commit({"s": "s\n"}, "Side", branch="side", start=base)
    repo.commit({"t": "t\n"}, "Topic", branch="topic", start=base)
    git(repo.path, "merge", "-q", "--no-edit", side)
    merge = git(repo.path, "rev-parse", "HEAD")
    result = apply_commits(repo.path, moved, [merge], mode="cherry-pick")
    git(repo.path, "checkout", "-q", "--detach", moved)
    git(repo.path, "cherry-pick", "-m", "1", merge)
    assert repo.tree(result.commit) == repo.tree("HEAD")


def test_criss_cross_merges_are_left_to_git(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo", date="@1700000000 +0000")
    base = repo.commit({"a": LINES, "b": LINES}, "Base")
    x = repo.commit({"a": edit(LINES, 1, "x")}, "X", branch="x", start=base)
    y = repo.commit({"b": edit(LINES, 1, "y")}, "Y", branch="y", start=base)
    git(repo.path, "checkout", "-q", "x")
    git(repo.path, "merge", "-q", "--no-edit", y)
    left = repo.commit({"a": edit(edit(LINES, 1, "x"), 20, "left")}, "Left")
    git(repo.path, "checkout", "-q", "y")
    git(repo.path, "merge", "-q", "--no-edit", x)
    right = repo.commit({"b": edit(edit(LINES, 1, "y"), 20, "right")}, "Right")
    result = apply_commits(repo.path, left, [right], mode="merge-recursive")
    git(repo.path, "checkout", "-q", "--detach", left)
    git(repo.path, "merge", "-q", "--no-edit", right)
    assert repo.tree(result.commit) == repo.tree("HEAD")


# ------------------------------------------------------------------ fuzzing
def _random_side(rng: random.Random, files: dict[str, str]) -> dict[str, str | None]:
    """Random edits: content changes, deletions, additions, renames, directory moves."""
    changes: dict[str, str | None] = {}
    names = sorted(files)
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["edit", "edit", "delete", "add", "rename", "move-dir"])
        victim = rng.choice(names)
        if kind == "edit":
            changes[victim] = edit(files[victim], rng.randrange(30), f"edit {rng.random()}")
        elif kind == "delete":
            changes[victim] = None
        elif kind == "add":
            changes[f"{rng.choice(['d1', 'd2', 'd3'])}/new{rng.randrange(5)}"] = \
                f"{rng.random()}\n"
        elif kind == "rename":
            changes[victim] = None
            changes[f"{rng.choice(['d1', 'd2', 'd4'])}/moved{rng.randrange(5)}"] = files[victim]
        else:
            folder = victim.split("/")[0]
            for name in names:
                if name.startswith(folder + "/"):
                    changes[name] = None
                    changes[name.replace(folder, "d9", 1)] = files[name]
    return changes


@pytest.mark.parametrize("seed", range(80))
def test_in_process_merges_equal_git_on_random_histories(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    files = {f"d{d}/f{n}": "".join(f"{d} {n} line {i}\n" for i in range(30))
             for d in range(1, 4) for n in range(3)}
    repo = Repo(tmp_path / "repo", date="@1700000000 +0000")
    base = repo.commit(files, "Base")
    current = repo.commit(_random_side(rng, files), "Ours", branch="main")
    change = repo.commit(_random_side(rng, files), "Theirs", branch="change", start=base)
    for mode in ("merge-recursive", "merge-resolve"):
        ours = apply_commits(repo.path, current, [change], mode=mode)
        expected = git_result(repo, mode, current, change)
        assert ours.ok == (expected is not None), (mode, ours.message)
        if expected is not None:
            assert repo.tree(ours.commit) == expected, mode


def test_tree_merger_hands_renames_and_content_merges_to_git(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    base = repo.commit({"a": LINES, "b": LINES}, "Base")
    ours = repo.commit({"a": edit(LINES, 1, "x"), "b": None}, "Ours", branch="o", start=base)
    theirs = repo.commit({"a": edit(LINES, 9, "y"), "b": None}, "Theirs", branch="t",
                         start=base)
    pg = open_repo(repo.path)
    trees = [pg[sha].tree_id for sha in (base, ours, theirs)]
    with pytest.raises(NeedsGit):
        TreeMerger(pg, "ort").merge(*trees)
    merged = pg[TreeMerger(pg, "resolve").merge(*trees)]  # resolve decides alone
    assert sorted(e.name for e in merged) == ["README", "a"]
    assert pg[merged["a"].id].data.decode() == edit(edit(LINES, 1, "x"), 9, "y")
    conflicting = repo.commit({"a": edit(LINES, 1, "z")}, "Clash", branch="c", start=base)
    with pytest.raises(TreeConflict) as caught:
        TreeMerger(pg, "resolve").merge(trees[0], trees[1], pg[conflicting].tree_id)
    assert caught.value.paths == ["a"]
