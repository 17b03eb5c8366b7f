"""The rules a playbook's paths must keep before the executor uses them.

The executor hands bubblewrap the playbook's repository and its ``roles``
directory to bind into the sandbox, and bubblewrap follows links in the paths
it binds: a committed ``roles`` link to ``/etc`` or to the state directory
would put those into the sandbox. An untrusted project's playbooks run from a
checkout of the tested state outside the work directory
(``workspace.playbook_checkout``: the node may rewrite the work dir at any
time), but any playbook path is checked, right before each playbook:

- below the work directory (when the playbook is in it), no directory on the
  way to the playbook's repository is a link;
- the playbook may be reached through links only when they stay inside its
  repository (it is an error when the playbook resolves outside it);
- ``roles`` (Zuul adds the repository's ``roles/`` to the roles path) is a
  directory, not a link, reached from the repository without links; a role
  in it that is a link must resolve inside the repository.

The repositories of a job's ``roles`` (``job_roles.py``) keep the same rules
(``check_role_repo``): their ``roles/``, or the ``tasks/`` of a repository that is
itself a role, is no link out of it.

A broken rule is an ``UnsafePath`` naming the rule.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from zuulish.executor import safe_files
from zuulish.executor.safe_files import UnsafePath
from zuulish.executor.sandbox import playbook_root


def describe(root: Path, work_dir: Path | None) -> str:
    """A short name for the repository at ``root``: its project name when it is a
    checkout of the work dir (``src/<host>/<project>``), else its path."""
    if work_dir is not None:
        try:
            rel = root.absolute().relative_to((work_dir / "src").absolute())
            if len(rel.parts) > 1:
                return "/".join(rel.parts[1:])
        except ValueError:
            pass
        for kind in ("untrusted", "trusted"):  # the build's playbook checkouts
            with contextlib.suppress(ValueError):
                rel = root.absolute().relative_to((work_dir.parent / kind).absolute())
                if rel.parts:
                    return "/".join(rel.parts)
    return str(root)


def _within(path: Path, root: Path) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([real, top]) == top


def check_playbook(playbook: Path, work_dir: Path | None) -> list[Path]:
    """Check ``playbook``'s paths (see the module); its roles path (empty or the
    repository's ``roles``). Raises UnsafePath naming the broken rule."""
    playbook = playbook.absolute()
    root = playbook_root(playbook)
    name = describe(root, work_dir)
    if work_dir is not None and root.is_relative_to(work_dir.absolute()):
        rel = safe_files.inside(work_dir, root)
        try:
            fd = safe_files.open_dir(work_dir, rel)
        except safe_files.Missing:
            raise UnsafePath(f"the repository {name} is missing from the work "
                             "directory") from None
        except UnsafePath as exc:
            raise UnsafePath(f"the repository {name} is reached through a symbolic link in "
                             f"the work directory ({exc}): refused") from None
        os.close(fd)
    if not _within(playbook, root):
        raise UnsafePath(f"the playbook {safe_files.inside(root, playbook)} in {name} is a "
                         "symbolic link leading out of its repository: refused")
    return _roles(playbook, root, name)


def _roles(playbook: Path, root: Path, name: str) -> list[Path]:
    """Zuul adds the playbook's repository ``roles/`` directory to the roles path."""
    for parent in playbook.parents:
        if not parent.is_relative_to(root):
            break
        rel = safe_files.inside(root, parent / "roles")
        try:
            found = safe_files.lstat_below(root, rel)
        except UnsafePath as exc:
            raise UnsafePath(f"roles in {name} is reached through a symbolic link "
                             f"({exc}): refused") from None
        if found is None:
            continue
        where = "roles" if rel == "roles" else rel
        if stat.S_ISLNK(found.st_mode):
            raise UnsafePath(f"{where} in {name} is a symbolic link: refused")
        if not stat.S_ISDIR(found.st_mode):
            continue
        roles = parent / "roles"
        check_roles_dir(roles, root, name, where)
        return [roles]
    return []


def check_roles_dir(roles: Path, root: Path, name: str, where: str = "roles") -> None:
    """A role in ``roles`` (of the repository ``root``, called ``name``; ``where`` as
    users know the directory) that is a link must resolve inside the repository."""
    for role in sorted(roles.iterdir()):
        if role.is_symlink() and not _within(role, root):
            raise UnsafePath(f"the role {where}/{role.name} in {name} is a symbolic "
                             "link leading out of its repository: refused")


def check_role_repo(root: Path, name: str) -> str | None:
    """Zuul's rule for where a role repository ``root`` (the project ``name``) holds
    roles: ``tasks/`` at its root makes the repository itself a role ("bare"), else
    its ``roles/`` directory holds them ("roles"); None when it has neither. Each is
    a directory of the repository reached without links; a role in ``roles/`` that
    is a link resolves inside the repository. Raises UnsafePath naming the rule."""
    for entry in ("tasks", "roles"):
        found = safe_files.lstat_below(root, entry)
        if found is None:
            continue
        if stat.S_ISLNK(found.st_mode):
            if entry == "tasks" and _within(root / entry, root) and (root / entry).is_dir():
                return "bare"  # a link to a directory of its own repository
            raise UnsafePath(f"{entry} in {name} is a symbolic link"
                             + (" leading out of its repository" if entry == "tasks" else "")
                             + ": refused")
        if not stat.S_ISDIR(found.st_mode):
            continue
        if entry == "tasks":
            return "bare"
        check_roles_dir(root / "roles", root, name)
        return "roles"
    return None
