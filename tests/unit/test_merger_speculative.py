"""Speculative states with git plumbing, compared with what plain git does."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.gitrepo import Repo, git
from zuulish.merger.speculative import (
    MERGER_EMAIL,
    MERGER_NAME,
    MergeError,
    MergeMemo,
    apply_commits,
    changed_files,
    is_ancestor,
    read_files,
    rev_parse,
)

FIXED_DATE = "@1700000000 +0100"


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def tip(repo: Repo, ref: str = "main") -> str:
    return git(repo.path, "rev-parse", ref)


def test_fast_forward_when_the_change_is_based_on_the_tip(repo: Repo) -> None:
    base = tip(repo)
    change = repo.commit({"a": "a\n"}, "A", branch="a")
    assert apply_commits(repo.path, base, [change]).commit == change


def test_merge_commit_when_the_branch_moved(repo: Repo) -> None:
    base = tip(repo)
    moved = repo.commit({"m": "m\n"}, "Moved", branch="main")
    change = repo.commit({"a": "a\n"}, "Add a\n\nbody", branch="a", start=base,
                         date="@1600000000 +0200")
    result = apply_commits(repo.path, moved, [change])
    assert result.ok and result.commit not in (moved, change)
    show = git(repo.path, "show", "-s", "--format=%P%n%an <%ae>%n%cn <%ce>%n%ad%n%cd%n%B",
               "--date=raw", result.commit)
    parents, author, committer, adate, cdate, *message = show.split("\n")
    assert parents.split() == [moved, change]
    assert author == committer == f"{MERGER_NAME} <{MERGER_EMAIL}>"
    assert adate == cdate == "1600000000 +0200"  # the merged commit's committer date
    assert message == [f"Merge commit '{change}' into speculative state", "", "Add a"]
    # as the merger builds gate states now: Gerrit's message
    result = apply_commits(repo.path, moved, [change], links={})
    assert git(repo.path, "show", "-s", "--format=%B", result.commit) == 'Merge "Add a"'


def test_merge_commit_names_the_change_page_it_is_given_deterministically(
        repo: Repo) -> None:
    base = tip(repo)
    moved = repo.commit({"m": "m\n"}, "Moved", branch="main")
    change = repo.commit({"a": "a\n"}, 'Add "a"\n\nbody', branch="a", start=base)
    url = "http://zuulish.test/c/org/app/+/7"
    memo = MergeMemo()
    plain = apply_commits(repo.path, moved, [change], memo=memo, links={}).commit
    linked = apply_commits(repo.path, moved, [change], memo=memo, links={change: url}).commit
    assert linked not in (None, plain)  # the memo keeps them apart
    assert apply_commits(repo.path, moved, [change], links={change: url}).commit == linked
    assert git(repo.path, "show", "-s", "--format=%B", linked).split("\n") == [
        'Merge "Add "a""', "", f"Reviewed-on: {url}"]


def test_merge_commit_tree_matches_plain_git_merge(repo: Repo) -> None:
    base = repo.commit({"lib.py": "".join(f"line {i}\n" for i in range(20))}, "Lib")
    one = repo.commit({"lib.py": None, "pkg/lib.py": "".join(f"line {i}\n" for i in range(20))},
                      "Move lib", branch="one", start=base)
    two = repo.commit({"lib.py": "".join(f"line {i}\n" for i in range(19)) + "changed\n",
                       "b": "b\n"}, "Edit lib", branch="two", start=base)
    result = apply_commits(repo.path, base, [one, two], mode="merge-recursive")
    assert result.ok
    git(repo.path, "checkout", "-q", "-B", "expected", one)
    git(repo.path, "merge", "-q", "--no-edit", two)
    assert repo.tree(result.commit) == repo.tree("expected")
    assert "changed" in git(repo.path, "show", f"{result.commit}:pkg/lib.py")


def test_merge_mode_always_creates_a_merge_commit(repo: Repo) -> None:
    base = tip(repo)
    change = repo.commit({"a": "a\n"}, "A", branch="a")
    result = apply_commits(repo.path, base, [change], mode="merge")
    assert result.commit != change and repo.tree(result.commit) == repo.tree(change)
    assert git(repo.path, "show", "-s", "--format=%P", result.commit).split() == [base, change]


def test_unknown_merge_mode_is_rejected(repo: Repo) -> None:
    with pytest.raises(ValueError, match="unknown merge mode 'octopus'"):
        apply_commits(repo.path, tip(repo), [], mode="octopus")


def test_conflict_names_the_paths_and_the_commit(repo: Repo) -> None:
    base = tip(repo)
    one = repo.commit({"README": "one\n", "x": "1\n"}, "One", branch="a", start=base)
    two = repo.commit({"README": "two\n", "x": "2\n", "y": "y\n"}, "Two", branch="b",
                      start=base)
    result = apply_commits(repo.path, base, [one, two])
    assert not result.ok and result.commit is None
    assert result.conflict_paths == ["README", "x"] and result.conflict_commit == two
    assert "README, x" in result.message and two[:12] in result.message


def test_commit_already_contained_is_skipped(repo: Repo) -> None:
    base = tip(repo)
    ahead = repo.commit({"a": "a\n"}, "A", branch="a", start=base)
    repo.commit({"m": "m\n"}, "Moved", branch="main")
    git(repo.path, "merge", "-q", "--no-edit", ahead)  # the item ahead merged meanwhile
    merged = tip(repo)
    assert apply_commits(repo.path, merged, [ahead]).commit == merged
    assert apply_commits(repo.path, ahead, [ahead]).commit == ahead


def test_same_inputs_give_the_same_sha_in_independent_clones(
        repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tip(repo)
    one = repo.commit({"a": "a\n"}, "A", branch="a", start=base)
    two = repo.commit({"b": "b\n"}, "B", branch="b", start=base)
    results = []
    for who in ("Alice", "Bob"):
        clone = tmp_path / f"clone-{who}"
        git(tmp_path, "clone", "-q", "--mirror", str(repo.path), str(clone))
        # Whoever runs the merger, whatever their git identity and settings, the SHA is
        # the same (commit.gpgsign would even fail here, with no key to sign with).
        home = tmp_path / f"home-{who}"
        home.mkdir()
        (home / ".gitconfig").write_text(
            f"[user]\n\tname = {who}\n\temail = {who}@example.org\n"
            "[commit]\n\tgpgsign = true\n[i18n]\n\tcommitEncoding = ISO-8859-1\n")
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("GIT_AUTHOR_NAME", who)
        monkeypatch.setenv("GIT_COMMITTER_DATE", "@1 +0000")
        results.append(apply_commits(clone, base, [one, two]).commit)
    assert results[0] is not None and results[0] == results[1]


def test_merge_commit_sha_is_pinned_for_fixed_inputs(tmp_path: Path) -> None:
    # Mergers, executors and the forge of different versions must agree: changing how
    # merge commits are written is a compatibility break, and must show up here.
    repo = Repo(tmp_path / "repo", date=FIXED_DATE)
    base = tip(repo)
    one = repo.commit({"a": "a\n"}, "A", branch="a", start=base)
    two = repo.commit({"b": "b\n"}, "B", branch="b", start=base, date="@1700000500 -0700")
    result = apply_commits(repo.path, base, [one, two])
    assert result.commit == "ace8cfe434128b07f19aeff68e7356ba28ee19ac"  # states without links
    linked = apply_commits(repo.path, base, [one, two], links={two: "http://z.test/c/p/+/2"})
    assert linked.commit == "fbd7c9bca84553900bea2bf9319a1179c5f60403"  # the gate's now


def test_unknown_commit_is_a_clear_error(repo: Repo) -> None:
    with pytest.raises(MergeError, match="commit deadbeef(deadbeef)* does not exist"):
        apply_commits(repo.path, tip(repo), ["deadbeef" * 5])
    with pytest.raises(MergeError, match="commit nope does not exist"):
        apply_commits(repo.path, "nope", [])


def test_option_like_commit_name_is_rejected(repo: Repo) -> None:
    with pytest.raises(MergeError, match="invalid commit name '--output=x'"):
        apply_commits(repo.path, tip(repo), ["--output=x"])


def test_directory_that_is_not_a_repository_is_an_error_not_its_parent(repo: Repo) -> None:
    inner = repo.path / "inner"
    inner.mkdir()
    with pytest.raises(MergeError, match="does not exist|not a git repository"):
        apply_commits(inner, tip(repo), [])


def test_unrelated_history_is_reported_as_a_failed_merge(repo: Repo) -> None:
    base = tip(repo)
    git(repo.path, "checkout", "-q", "--orphan", "other")
    orphan = repo.commit({"o": "o\n"}, "Orphan")
    result = apply_commits(repo.path, base, [orphan])
    assert not result.ok and result.conflict_commit == orphan
    assert "shares no history" in result.message


def test_changed_files_include_both_sides_of_a_rename(repo: Repo) -> None:
    base = tip(repo)
    git(repo.path, "mv", "README", "README.md")
    head = repo.commit({"new": "n\n"}, "Rename")
    assert changed_files(repo.path, base, head) == ["README", "README.md", "new"]
    assert changed_files(repo.path, head, head) == []


def test_read_files_returns_only_zuul_config(repo: Repo) -> None:
    config = {".zuul.yaml": "- job: {name: a}\n", "zuul.d/b.yaml": "[]\n",
              "zuul.d/deep/c.yaml": "[]\n", "zuulish.d/d.yaml": "[]\n", "zuul.yaml": "[]\n"}
    head = repo.commit({**config, "zuul.d/notes.txt": "x", "other.yaml": "[]\n",
                        "src/zuul.d/e.yaml": "[]\n", "zuul.dx/f.yaml": "[]\n"}, "Config")
    assert read_files(repo.path, head) == config


def test_read_files_of_given_paths(repo: Repo) -> None:
    head = repo.commit({"docs/a.md": "A\n", "docs/b.txt": "B\n", "c": "C\n"}, "Docs")
    assert read_files(repo.path, head, ["c", "docs/"], dir_suffix=".md") == {
        "c": "C\n", "docs/a.md": "A\n"}
    assert read_files(repo.path, head, ["missing"]) == {}


def test_rev_parse_and_is_ancestor(repo: Repo) -> None:
    base = tip(repo)
    change = repo.commit({"a": "a\n"}, "A")
    assert rev_parse(repo.path, "main") == change
    assert rev_parse(repo.path, "refs/heads/nope") is None
    assert is_ancestor(repo.path, base, change) and not is_ancestor(repo.path, change, base)
    with pytest.raises(MergeError, match="cannot compare"):
        is_ancestor(repo.path, base, "0" * 40)
