"""`zuulish project create NAME --from DIR`: a git repository's history as it is, or a
directory's files byte for byte with their modes; bad sources are refused and leave
no repository behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fakes.gitrepo import git
from tests.functional.test_cli import config
from zuulish.cli import main

pytestmark = pytest.mark.store

BINARY = bytes(range(256)) * 4  # not UTF-8: the old import crashed on it


def _refs(repo: Path) -> dict[str, str]:
    lines = git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    return dict(line.split() for line in lines)


def _tree(repo: Path, ref: str) -> dict[str, str]:
    """path -> mode of every entry at ``ref``."""
    out = git(repo, "ls-tree", "-r", "--full-tree", ref).splitlines()
    return {line.split("\t", 1)[1]: line.split()[0] for line in out}


def _cat(repo: Path, spec: str) -> bytes:
    import subprocess
    return subprocess.run(["git", "cat-file", "blob", spec], cwd=repo, check=True,
                          capture_output=True).stdout


def _forge_repo(tmp: Path, name: str) -> Path:
    return tmp / "state" / "git" / f"{name}.git"


@pytest.fixture
def cfg(tmp_path: Path, database_url: str) -> str:
    return str(config(tmp_path, database_url))


def test_a_git_repository_is_imported_with_its_history_branches_and_tags(
        tmp_path: Path, cfg: str, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    git(src, "init", "-q", "-b", "trunk")
    (src / "data.bin").write_bytes(BINARY)
    (src / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (src / "run.sh").chmod(0o755)
    os.symlink("run.sh", src / "link")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "First")
    git(src, "tag", "-a", "v1", "-m", "Release 1")
    git(src, "checkout", "-q", "-b", "stable")
    (src / "more.txt").write_text("more\n")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "Second")
    git(src, "tag", "light")
    git(src, "checkout", "-q", "trunk")
    (src / "uncommitted.txt").write_text("not imported\n")
    assert main(["-c", cfg, "project", "create", "org/app", "--from", str(src)]) == 0
    err = capsys.readouterr().err
    assert "imported the git history of 2 branch(es) (stable, trunk) and 2 tag(s)" in err
    repo = _forge_repo(tmp_path, "org/app")
    wanted = {ref: sha for ref, sha in _refs(src).items() if ref.startswith(("refs/heads/",
                                                                             "refs/tags/"))}
    assert _refs(repo) == wanted  # every commit and tag object unchanged
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/trunk"  # the source's branch
    assert _tree(repo, "trunk") == {"data.bin": "100644", "link": "120000",
                                    "run.sh": "100755"}
    assert _cat(repo, "trunk:data.bin") == BINARY
    assert "uncommitted.txt" not in _tree(repo, "trunk")
    # the imported repository works as any other: the forge's hooks are in place
    assert (repo / "hooks" / "proc-receive").is_file()
    assert main(["-c", cfg, "project", "list", "--json"]) == 0
    assert '"default_branch": "trunk"' in capsys.readouterr().out


def test_a_directory_is_imported_byte_for_byte_with_modes_and_links(
        tmp_path: Path, cfg: str, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "plain"
    (src / "bin").mkdir(parents=True)
    (src / "data.bin").write_bytes(BINARY)
    (src / "bin" / "tool").write_bytes(b"#!/bin/sh\nexit 0\n")
    (src / "bin" / "tool").chmod(0o750)
    (src / "crlf.txt").write_bytes(b"line\r\n")
    os.symlink("bin/tool", src / "relative-link")
    os.symlink("/etc/passwd", src / "absolute-link")  # stored as a link, not followed
    os.symlink("missing", src / "dangling")
    (src / "empty" / "deeper").mkdir(parents=True)
    (src / "keep").mkdir()
    (src / "keep" / "empty-too").mkdir()
    (src / "keep" / "file").write_text("x\n")
    assert main(["-c", cfg, "project", "create", "org/plain", "--from", str(src)]) == 0
    err = capsys.readouterr().err
    assert "imported 7 file(s) as one commit on main" in err
    assert "empty directories are not kept (git stores files only): empty/deeper/, " \
           "keep/empty-too/" in err
    repo = _forge_repo(tmp_path, "org/plain")
    assert _tree(repo, "main") == {
        "absolute-link": "120000", "bin/tool": "100755", "crlf.txt": "100644",
        "dangling": "120000", "data.bin": "100644", "keep/file": "100644",
        "relative-link": "120000"}
    assert _cat(repo, "main:data.bin") == BINARY
    assert _cat(repo, "main:crlf.txt") == b"line\r\n"
    assert _cat(repo, "main:absolute-link") == b"/etc/passwd"
    assert _cat(repo, "main:relative-link") == b"bin/tool"


def test_a_folder_inside_a_git_repository_is_a_plain_directory(
        tmp_path: Path, cfg: str, capsys: pytest.CaptureFixture[str]) -> None:
    """As `project create zuulish-jobs --from jobs` in this repository: its files, not
    the history of the repository around it."""
    src = tmp_path / "outer"
    (src / "jobs").mkdir(parents=True)
    git(src, "init", "-q", "-b", "main")
    (src / "jobs" / "zuul.yaml").write_text("- job:\n    name: a\n")
    (src / "top.txt").write_text("top\n")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "Outer")
    assert main(["-c", cfg, "project", "create", "jobs", "--from", str(src / "jobs")]) == 0
    assert _tree(_forge_repo(tmp_path, "jobs"), "main") == {"zuul.yaml": "100644"}
    assert "Initial commit of jobs" in git(_forge_repo(tmp_path, "jobs"), "log", "main")


@pytest.mark.parametrize("case, message", [
    ("only-empty-dirs", "holds no files to import (git keeps no empty directories)"),
    ("fifo", "is neither a file, a symbolic link nor a directory: git cannot store it"),
    ("not-a-dir", "is not a directory"),
    ("git-without-commits", "is a git repository without any branch: nothing to import"),
    ("missing-branch", "has no branch 'nope' (it has: main)"),
])
def test_bad_sources_are_refused_and_leave_no_repository(
        tmp_path: Path, cfg: str, capsys: pytest.CaptureFixture[str], case: str,
        message: str) -> None:
    src = tmp_path / "src"
    extra: list[str] = []
    if case == "only-empty-dirs":
        (src / "a" / "b").mkdir(parents=True)
    elif case == "fifo":
        src.mkdir()
        (src / "ok.txt").write_text("ok\n")
        os.mkfifo(src / "pipe")
    elif case == "not-a-dir":
        src.write_text("a file\n")
    else:
        src.mkdir()
        git(src, "init", "-q", "-b", "main")
        if case == "missing-branch":
            (src / "f").write_text("f\n")
            git(src, "add", "-A")
            git(src, "commit", "-q", "-m", "F")
            extra = ["--branch", "nope"]
    assert main(["-c", cfg, "project", "create", "org/bad", "--from", str(src),
                 *extra]) == 1
    err = capsys.readouterr().err
    assert "zuulish: error: " in err and message in err, err
    assert not _forge_repo(tmp_path, "org/bad").exists()
    assert main(["-c", cfg, "project", "list", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
