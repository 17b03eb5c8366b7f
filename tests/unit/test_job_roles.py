"""Zuul's rules for where a role repository holds its roles, the link rules they keep,
and how a missing role is told (``job_roles``, ``playbook_paths.check_role_repo``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zuulish.executor.job_roles import RoleSource, explain_missing_role, shown_location
from zuulish.executor.playbook_paths import check_role_repo
from zuulish.executor.safe_files import UnsafePath


def repo(tmp_path: Path, *dirs: str) -> Path:
    root = tmp_path / "repo"
    for d in dirs:
        (root / d).mkdir(parents=True)
    root.mkdir(exist_ok=True)
    return root


def test_tasks_at_the_root_make_the_repository_a_role_before_its_roles_dir(
        tmp_path: Path) -> None:
    assert check_role_repo(repo(tmp_path, "tasks", "roles/r"), "org/x") == "bare"


def test_a_roles_dir_holds_the_roles(tmp_path: Path) -> None:
    assert check_role_repo(repo(tmp_path, "roles/r/tasks"), "org/x") == "roles"


def test_a_repository_with_neither_has_no_roles(tmp_path: Path) -> None:
    root = repo(tmp_path, "playbooks")
    (root / "tasks").write_text("a file, not a directory\n")
    assert check_role_repo(root, "org/x") is None


@pytest.mark.parametrize("link, target, message", [
    ("roles", "/etc", "roles in org/x is a symbolic link: refused"),
    ("tasks", "/etc", "tasks in org/x is a symbolic link leading out of its repository"),
    ("roles/escape", "/etc", "the role roles/escape in org/x is a symbolic link leading "
                             "out of its repository"),
])
def test_links_out_of_a_role_repository_are_refused(tmp_path: Path, link: str, target: str,
                                                    message: str) -> None:
    root = repo(tmp_path, "roles/r") if link != "roles" else repo(tmp_path)
    (root / link).symlink_to(target)
    with pytest.raises(UnsafePath, match=message):
        check_role_repo(root, "org/x")


def test_tasks_linking_inside_the_repository_is_a_role(tmp_path: Path) -> None:
    root = repo(tmp_path, "src/tasks")
    (root / "tasks").symlink_to("src/tasks")
    assert check_role_repo(root, "org/x") == "bare"


def test_a_source_that_changed_since_it_was_prepared_is_refused(tmp_path: Path) -> None:
    root = repo(tmp_path, "roles/r")
    source = RoleSource(root / "roles", root, "org/x", "roles", "roles/ of org/x")
    source.check()
    (root / "roles").rename(root / "old")
    (root / "roles").symlink_to("/etc")
    with pytest.raises(UnsafePath):
        source.check()


def test_a_missing_role_is_told_with_the_places_looked_in(tmp_path: Path) -> None:
    sources = (RoleSource(tmp_path / "a" / "roles", tmp_path / "a", "org/a", "roles",
                          "roles/ of org/a at 0123456789ab"),
               RoleSource(tmp_path / "b", tmp_path / "b" / "r", "org/b", "bare",
                          "org/b at ba9876543210 (itself the role 'r')"))
    detail = f"ERROR! the role 'nope' was not found in {tmp_path}/x/roles:{tmp_path}/a/roles"
    told = explain_missing_role(detail, [tmp_path / "x" / "roles"], sources,
                                "roles/ beside the playbook in org/app")
    assert told == ("the role 'nope' was not found: not a role of the playbook's roles path "
                    "(roles/ beside the playbook in org/app; roles/ of org/a at 0123456789ab; "
                    "org/b at ba9876543210 (itself the role 'r'))")
    assert str(tmp_path) not in told
    assert explain_missing_role("ERROR! something else", [], sources, "x") == \
        "ERROR! something else"


def test_error_locations_name_the_project(tmp_path: Path) -> None:
    known = [(tmp_path / "checkout", "org/roles")]
    assert shown_location(f"{tmp_path}/checkout/roles/r/tasks/main.yaml:3:5", known) == \
        "org/roles/roles/r/tasks/main.yaml:3:5"
    assert shown_location("/elsewhere/x.yaml:1:1", known) == "/elsewhere/x.yaml:1:1"
