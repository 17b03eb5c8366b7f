"""``zuulish project create --from``, ``project list`` and ``project branch create``:
the forge's projects."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import Any

from zuulish.drivers.git.connection import ZERO, GitForge
from zuulish.errors import ForgeError
from zuulish.project_import import (
    Imported,
    default_branch,
    import_directory,
    import_history,
    source_repository,
)


def _forge(args: argparse.Namespace, upgrade: bool = False) -> GitForge:
    from zuulish.cli import _forge_connection, _load
    from zuulish.drivers.registry import make_connections
    from zuulish.store import Store

    config = _load(args)
    store = Store(config.database)
    if upgrade:
        store.upgrade()
    else:
        store.check()
    return make_connections(config, store).forges[_forge_connection(config, args.connection)]


def list_projects(forge: GitForge) -> list[dict[str, Any]]:
    """Each repository of the forge with its default branch, branches and clone URL."""
    return [{"name": name, "default_branch": forge.default_branch(name),
             "branches": sorted(forge.branches(name)), "clone_url": forge.clone_url(name)}
            for name in forge.projects()]


def create_branch(forge: GitForge, project: str, branch: str, start: str | None) -> str:
    """Create ``branch`` of ``project`` at ``start`` (default: the default branch's tip).

    The branch is recorded as a ``ref-updated`` event, as an administrator's push
    of a new branch is, so the scheduler loads the branch's configuration.
    """
    from zuulish.drivers.git.hook import record_ref_update

    if not forge.exists(project):
        known = ", ".join(forge.projects()) or "none"
        raise ForgeError(f"no project {project!r} on the forge; projects: {known}")
    path = forge.repo_path(project)
    ref = f"refs/heads/{branch}"
    check = subprocess.run(["git", "check-ref-format", ref], capture_output=True)
    if check.returncode != 0:
        raise ForgeError(f"{branch!r} is not a valid branch name")
    if branch in forge.branches(project):
        raise ForgeError(f"branch {branch!r} of {project!r} already exists")
    start = start or forge.default_branch(project)
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{start}^{{commit}}"],
                           cwd=path, capture_output=True, text=True)
    if found.returncode != 0:
        raise ForgeError(f"{start!r} names no commit of {project!r}")
    sha = found.stdout.strip()
    made = subprocess.run(["git", "update-ref", ref, sha, ZERO], cwd=path, capture_output=True,
                          text=True)
    if made.returncode != 0:
        raise ForgeError(f"could not create {ref} in {project!r}: {made.stderr.strip()}")
    record_ref_update(forge, project, ZERO, sha, ref)
    return f"created branch {branch} of {project} at {sha[:12]}"


def create_from(forge: GitForge, name: str, root: Path,
                branch: str | None) -> tuple[Path, Imported]:
    """Create ``name`` on the forge from ``root``: a git repository's history as it
    is, or a directory's files byte for byte with their modes (``project_import``)."""
    if not root.is_dir():
        raise ForgeError(f"{root} is not a directory")
    source = source_repository(root)
    chosen = default_branch(root, source, branch)
    done: list[Imported] = []

    def fill(dest: Path) -> None:
        if source is not None:
            done.append(import_history(dest, root, chosen))
        else:
            done.append(import_directory(dest, root, chosen, name))

    try:
        path = forge.create_project(name, branch=chosen, fill=fill)
    except OSError as exc:
        raise ForgeError(f"cannot read {root}: {exc}") from exc
    return path, done[0]


def cmd_project_list(args: argparse.Namespace) -> int:
    import json

    projects = list_projects(_forge(args))
    if args.json:
        print(json.dumps(projects, indent=2))
    elif not projects:
        print("no projects; `zuulish project create NAME --from DIR` creates one")
    else:
        width = max(len(p["name"]) for p in projects)
        print(f"{'PROJECT':<{width}}  {'BRANCHES':<20}  CLONE URL")
        for p in projects:
            print(f"{p['name']:<{width}}  {','.join(p['branches']):<20}  {p['clone_url']}")
    return 0


def cmd_branch_create(args: argparse.Namespace) -> int:
    print(create_branch(_forge(args), args.project, args.branch, args.start))
    return 0
