"""GitPython for repository administration: errors with git's message, nowhere else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fakes.gitrepo import Repo, git
from zuulish.git_admin import CheckedGit, init_bare, open_repo


class Refused(Exception):
    pass


class _Git(CheckedGit):
    error = Refused


def test_a_failed_command_raises_the_error_with_gits_message(tmp_path: Path) -> None:
    repo = open_repo(Repo(tmp_path / "r").path, _Git)
    with pytest.raises(Refused) as caught:
        repo.git.rev_parse("--verify", "no-such-branch")
    assert str(caught.value) == (f"git rev-parse --verify no-such-branch failed in {tmp_path / 'r'}"
                                 ": fatal: Needed a single revision")


def test_git_never_runs_in_another_directory_than_the_one_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GitPython runs git in the current directory when its working directory is gone."""
    current = Repo(tmp_path / "current").path
    monkeypatch.chdir(current)
    gone = tmp_path / "gone"
    with pytest.raises(Refused, match=f"cannot run git in {gone}: no such directory"):
        _Git(gone).update_ref("refs/heads/planted", "HEAD")
    assert git(current, "for-each-ref", "refs/heads/") .count("planted") == 0


def test_no_repository_is_the_error(tmp_path: Path) -> None:
    with pytest.raises(Refused, match=f"{tmp_path} is no git repository"):
        open_repo(tmp_path, _Git)
    with pytest.raises(Refused, match="is no git repository"):
        open_repo(tmp_path / "missing", _Git)


def test_variables_in_paths_are_not_expanded(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = Repo(tmp_path / "elsewhere").path
    monkeypatch.setenv("ZUULISH_TEST_TARGET", str(elsewhere))
    literal = tmp_path / "$ZUULISH_TEST_TARGET"
    with pytest.raises(Refused, match="is no git repository"):
        open_repo(literal, _Git)
    made = init_bare(literal, _Git)
    assert Path(made.git_dir) == literal
    assert (literal / "HEAD").exists()
    assert git(elsewhere, "rev-parse", "--is-bare-repository") == "false"
    assert os.path.exists(elsewhere / ".git" / "HEAD")
