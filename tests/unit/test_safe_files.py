"""safe_files: reading below a root never follows a link, reads only regular
files, and stops at its limit; and the rules of a playbook's paths."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from zuulish.executor import safe_files
from zuulish.executor.playbook_paths import check_playbook
from zuulish.executor.safe_files import Missing, TooLarge, UnsafePath

SECRET = "outside-secret-77c1"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "sub" / "ok.txt").write_text("fine")
    (work / "file-link").symlink_to(outside / "secret.txt")
    (work / "dir-link").symlink_to(outside)
    (work / "sub" / "relative-link").symlink_to("../../outside/secret.txt")
    (work / "inner-link").symlink_to("sub/ok.txt")  # even a link that stays inside
    os.mkfifo(work / "fifo")
    return work


def test_a_regular_file_below_the_root_is_read(root: Path) -> None:
    assert safe_files.read_bytes(root, "sub/ok.txt", 100) == b"fine"
    assert safe_files.read_bytes(root, "./sub//ok.txt", 100) == b"fine"


@pytest.mark.parametrize(("rel", "message"), [
    ("file-link", "file-link is a symbolic link: refused"),
    ("inner-link", "inner-link is a symbolic link: refused"),
    ("sub/relative-link", "sub/relative-link is a symbolic link: refused"),
    ("dir-link/secret.txt", "dir-link is a symbolic link: refused"),
    ("sub/ok.txt/x", "sub/ok.txt is not a directory: refused"),
    ("fifo", "fifo is not a regular file: refused"),
    ("sub", "sub is not a regular file: refused"),
    ("../outside/secret.txt", "../outside/secret.txt goes up with '..': refused"),
    ("/etc/passwd", "'/etc/passwd' is not a relative path"),
])
def test_links_and_other_files_are_refused_with_the_rule(root: Path, rel: str,
                                                         message: str) -> None:
    with pytest.raises(UnsafePath) as caught:
        safe_files.read_bytes(root, rel, 100)
    assert str(caught.value) == message
    assert SECRET not in str(caught.value)


def test_missing_files_and_the_limit(root: Path) -> None:
    with pytest.raises(Missing, match="nothing.txt does not exist"):
        safe_files.read_bytes(root, "nothing.txt", 100)
    with pytest.raises(TooLarge, match="sub/ok.txt is larger than the limit of 3 bytes"):
        safe_files.read_bytes(root, "sub/ok.txt", 3)
    assert safe_files.read_bytes(root, "sub/ok.txt", 4) == b"fine"


def test_directories_and_lstat_below(root: Path) -> None:
    assert safe_files.is_dir(root, "sub") and not safe_files.is_dir(root, "none")
    with pytest.raises(UnsafePath, match="dir-link is a symbolic link"):
        safe_files.is_dir(root, "dir-link")
    found = safe_files.lstat_below(root, "dir-link")
    assert found is not None and found.st_size < 100  # the link itself
    assert safe_files.lstat_below(root, "none/x") is None
    with pytest.raises(UnsafePath):
        safe_files.lstat_below(root, "dir-link/secret.txt")


def _repo(path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def test_a_normal_roles_dir_is_the_roles_path(tmp_path: Path) -> None:
    work = tmp_path / "work"
    repo = _repo(work / "src" / "forge" / "org" / "app",
                 {"playbooks/run.yaml": "[]", "roles/greet/tasks/main.yaml": "[]"})
    assert check_playbook(repo / "playbooks" / "run.yaml", work) == [repo / "roles"]
    bare = _repo(tmp_path / "bare", {"run.yaml": "[]"})
    assert check_playbook(bare / "run.yaml", work) == []


@pytest.mark.parametrize(("target", "message"), [
    ("/etc", "roles in org/app is a symbolic link: refused"),
    ("../../../../..", "roles in org/app is a symbolic link: refused"),
    ("playbooks", "roles in org/app is a symbolic link: refused"),
])
def test_a_roles_link_is_refused_wherever_it_points(tmp_path: Path, target: str,
                                                     message: str) -> None:
    work = tmp_path / "work"
    repo = _repo(work / "src" / "forge" / "org" / "app", {"playbooks/run.yaml": "[]"})
    (repo / "roles").symlink_to(target)
    with pytest.raises(UnsafePath) as caught:
        check_playbook(repo / "playbooks" / "run.yaml", work)
    assert str(caught.value) == message


def test_a_role_or_playbook_leading_out_of_the_repo_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    repo = _repo(work / "src" / "forge" / "org" / "app",
                 {"playbooks/run.yaml": "[]", "roles/ok/tasks/main.yaml": "[]"})
    (repo / "roles" / "etc").symlink_to("/etc")
    with pytest.raises(UnsafePath, match="the role roles/etc in org/app is a symbolic link "
                                         "leading out of its repository: refused"):
        check_playbook(repo / "playbooks" / "run.yaml", work)
    (repo / "roles" / "etc").unlink()
    (repo / "roles" / "inner").symlink_to("ok")  # stays inside: allowed
    assert check_playbook(repo / "playbooks" / "run.yaml", work) == [repo / "roles"]
    (repo / "playbooks" / "shadow.yaml").symlink_to("/etc/passwd")
    with pytest.raises(UnsafePath, match="the playbook playbooks/shadow.yaml in org/app is a "
                                         "symbolic link leading out of its repository"):
        check_playbook(repo / "playbooks" / "shadow.yaml", work)


def test_a_repository_swapped_for_a_link_in_the_work_dir_is_refused(tmp_path: Path) -> None:
    """An earlier playbook may rewrite the work dir: the checkout's own path is
    checked for links too, before each playbook."""
    work = tmp_path / "work"
    elsewhere = _repo(tmp_path / "elsewhere", {"playbooks/run.yaml": "[]"})
    (work / "src" / "forge").mkdir(parents=True)
    (work / "src" / "forge" / "org").symlink_to(elsewhere.parent)
    with pytest.raises(UnsafePath, match="reached through a symbolic link in the work "
                                         "directory"):
        check_playbook(work / "src" / "forge" / "org" / "elsewhere" / "playbooks" / "run.yaml",
                       work)
