"""Prepare a build's workspace: every involved repo at its speculative state.

The merger recorded, per project, the branch tip it started from and the
commits it applied. The executor re-applies them in its own clone and checks
that it arrives at the very same commit: the state a job tests is provably the
state the gate will merge. A mismatch fails the build loudly.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.speculative import DEFAULT_MODE, MergeError, apply_commits, rev_parse

NO_ORIGIN = "file:///dev/null"  # the URL of ``origin`` in a build's repositories


class WorkspaceError(Exception):
    """The workspace cannot be prepared (reported as the build's ERROR)."""


@dataclass
class PreparedRepo:
    project: str
    path: Path
    src_dir: str  # relative to the node's work dir, as Zuul's ``src_dir``
    branch: str
    commit: str


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise WorkspaceError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()}")
    return proc.stdout


def clone_at(cache: RepoCache, project: str, url: str, dest: Path) -> Path:
    """A working clone of ``project`` (objects shared with the cache)."""
    with cache.locked(project):
        cached = cache.ensure(project, url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _git(dest.parent, "clone", "-q", "--shared", "--no-checkout", str(cached), str(dest))
    return dest


def prepare_repo(cache: RepoCache, project: str, state: dict[str, Any], work_dir: Path,
                 hostname: str) -> PreparedRepo:
    src_dir = f"src/{hostname}/{project}"
    dest = clone_at(cache, project, state["url"], work_dir / src_dir)
    mode = state.get("merge_mode", DEFAULT_MODE)
    ahead = list(state.get("ahead_changes", []))
    links = state.get("links")  # None: a state recorded before them
    before = _apply(dest, project, state["base"], ahead, mode, links) if ahead \
        else state["base"]
    produced = _apply(dest, project, before, list(state.get("changes", [])), mode, links)
    if produced != state["commit"]:
        raise WorkspaceError(
            f"reproduced state of {project} is {produced} but the merger tested "
            f"{state['commit']}: refusing to run on a state that differs from the one "
            "that would merge")
    _git(dest, "checkout", "-q", "-B", state["branch"], produced)
    # As in Zuul: origin/<branch> is the state before this item's own changes, so
    # ``git diff origin/<branch>..<branch>`` shows what is being tested, and the
    # origin URL leads nowhere (the local repository is the state to test).
    _git(dest, "update-ref", f"refs/remotes/origin/{state['branch']}", before)
    _git(dest, "remote", "set-url", "origin", NO_ORIGIN)
    return PreparedRepo(project, dest, src_dir, state["branch"], produced)


def playbook_checkout(repo: PreparedRepo, dest: Path) -> Path:
    """A checkout of ``repo``'s tested commit at ``dest``, outside the work dir, for
    the project's own playbooks and roles.

    The work dir's checkout is the node's to change (a local node writes it, and
    keeps running between playbooks): one of its processes could swap the
    repository, or its ``roles``, for a link between the executor's checks and
    bubblewrap's binds, and bubblewrap follows links. Made while the workspace is
    prepared, before anything of the build has run; the node never sees ``dest``.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    _git(dest.parent, "clone", "-q", "--shared", "--no-checkout", str(repo.path), str(dest))
    _git(dest, "checkout", "-q", "--detach", repo.commit)
    return dest


def _apply(dest: Path, project: str, base: str, commits: list[str], mode: str,
           links: dict[str, str] | None = None) -> str:
    """The commit ``commits`` make on ``base`` (``base`` itself when there are none)."""
    try:
        result = apply_commits(dest, base, commits, mode, links=links)
    except (MergeError, ValueError) as exc:
        raise WorkspaceError(f"cannot reproduce the state of {project}: {exc}") from exc
    if not result.ok:
        raise WorkspaceError(f"cannot reproduce the state of {project}: {result.message}")
    return result.commit or base


def prepare_branch_tip(cache: RepoCache, project: str, url: str, dest: Path,
                       branch: str | None = None) -> Path:
    """A checkout of a (trusted) project's branch tip, for its playbooks and roles."""
    clone_at(cache, project, url, dest)
    ref = branch if branch and rev_parse(dest, f"refs/remotes/origin/{branch}") else None
    if ref is None:
        head = _git(dest, "symbolic-ref", "--short", "refs/remotes/origin/HEAD").strip() \
            if rev_parse(dest, "refs/remotes/origin/HEAD") else ""
        ref = head.removeprefix("origin/") or "main"
    _git(dest, "checkout", "-q", "-B", ref, f"origin/{ref}")
    return dest
