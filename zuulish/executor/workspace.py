"""Prepare a build's workspace: every involved repo at its speculative state.

The merger recorded, per project, the branch tip it started from and the
commits it applied. The executor re-applies them in its own clone and checks
that it arrives at the very same commit: the state a job tests is provably the
state the gate will merge. A mismatch fails the build loudly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zuulish.git_admin import CheckedGit, open_repo
from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.speculative import DEFAULT_MODE, MergeError, apply_commits, rev_parse

NO_ORIGIN = "file:///dev/null"  # the URL of ``origin`` in a build's repositories
LOOSE_LIMIT = 64  # loose objects in a cached repository before they are packed


class WorkspaceError(Exception):
    """The workspace cannot be prepared (reported as the build's ERROR)."""


@dataclass
class PreparedRepo:
    project: str
    path: Path
    src_dir: str  # relative to the node's work dir, as Zuul's ``src_dir``
    branch: str  # what is checked out: a branch, or a tag (``override-checkout``)
    commit: str
    description: str = "zuul branch"  # why that ref: Zuul's ``checkout_description``
    state_commit: str = ""  # the state of its branch (its playbooks'), when not ``commit``


class _Git(CheckedGit):
    """git for the workspace: a failure is the build's WorkspaceError."""

    error = WorkspaceError


def _clone_copy(source: Path, dest: Path) -> Path:
    """A self-contained ``git clone --no-checkout`` of ``source`` at ``dest``.

    The clone holds copies of ``source``'s objects: not borrowed through an
    alternate (``--shared``: the node's sandbox does not see the cache, so git in a
    playbook would find no objects), nor hardlinked (the build owns its work dir and
    could write through a link into the executor's cache). Cloned ``--shared``,
    then the packs and loose objects are copied in and the alternate removed: git's
    own ``--no-hardlinks`` copies the cache's 256 empty fan-out directories too,
    which costs more than the objects of most repositories.
    Not ``Repo.clone_from``: it expands ``$VARS`` in the source path and rewrites
    the new clone's configuration.
    """
    source_objects = _objects_dir(source)
    borrowed = source_objects / "info" / "alternates"
    if borrowed.exists():  # a source that does not hold its objects itself
        raise WorkspaceError(f"{source} borrows objects from elsewhere "
                             f"({' '.join(borrowed.read_text().split())}): refusing to "
                             "copy it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    _Git(dest.parent).clone("-q", "--shared", "--no-checkout", "--", str(source), str(dest))
    objects = dest / ".git" / "objects"
    _copy_objects(source_objects, objects)
    (objects / "info" / "alternates").unlink()
    return dest


def _objects_dir(repo: Path) -> Path:
    """The object directory of the (bare or not) repository at ``repo``."""
    inner = repo / ".git" / "objects"
    return inner if inner.is_dir() else repo / "objects"


def _copy_objects(source: Path, dest: Path) -> None:
    """Copy the packs and loose objects of ``source`` (an object directory) into
    ``dest``; empty fan-out directories are not made. Links are not followed."""
    for entry in os.scandir(source):
        if (entry.name == "pack" or len(entry.name) == 2) \
                and entry.is_dir(follow_symlinks=False):
            files = [f for f in os.scandir(entry.path) if f.is_file(follow_symlinks=False)]
            if files:
                (dest / entry.name).mkdir(exist_ok=True)
            for f in files:
                shutil.copyfile(f.path, dest / entry.name / f.name, follow_symlinks=False)


def clone_at(cache: RepoCache, project: str, url: str, dest: Path) -> Path:
    """A working clone of ``project``, holding its own copy of the cache's objects.

    The cache's fetch is the executor's only git command that reaches a remote (with
    the remote's credentials: ``RepoCache``); everything else works on local copies.
    """
    with cache.locked(project):
        try:
            cached = cache.ensure(project, url)
        except MergeError as exc:  # unreachable, authentication failed: the build's error
            raise WorkspaceError(str(exc)) from exc
        _pack_loose_objects(cached)
        return _clone_copy(cached, dest)


def _pack_loose_objects(repo: Path) -> None:
    """Pack the cache's loose objects once there are more than ``LOOSE_LIMIT``: each
    fetch leaves a change's few objects loose, and every clone copies every file
    (``git gc --auto`` waits for thousands). Exactly the loose objects, reachable or
    not, go into one new pack (``git pack-objects`` given their names), then
    ``git prune-packed`` removes them: the cost is that of the loose objects only."""
    objects = _objects_dir(repo)
    names = [entry.name + obj.name for entry in os.scandir(objects)
             if len(entry.name) == 2 and entry.is_dir(follow_symlinks=False)
             for obj in os.scandir(entry.path) if obj.is_file(follow_symlinks=False)]
    if len(names) <= LOOSE_LIMIT:
        return
    for command, given in ((["pack-objects", "-q", str(objects / "pack" / "pack")],
                            "\n".join(names) + "\n"), (["prune-packed", "-q"], None)):
        proc = subprocess.run(["git", *command], cwd=repo, input=given, text=True,
                              capture_output=True, env={**os.environ, "LC_ALL": "C"})
        if proc.returncode != 0:
            raise WorkspaceError(f"git {command[0]} failed in the repository cache of "
                                 f"{repo.name}: {proc.stderr.strip()}")


def prepare_repo(cache: RepoCache, project: str, state: dict[str, Any], work_dir: Path,
                 hostname: str, checkout: tuple[str, str] | None = None) -> PreparedRepo:
    """``project`` at its state in ``work_dir``, checked out on its branch or, with
    ``checkout`` (a ref and why: ``override-checkout``), on that ref's state where
    the merger recorded one (a ref the project does not have leaves the branch)."""
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
    repo = open_repo(dest, _Git)
    repo.git.checkout("-q", "-B", state["branch"], produced)
    # As in Zuul: origin/<branch> is the state before this item's own changes, so
    # ``git diff origin/<branch>..<branch>`` shows what is being tested, and the
    # origin URL leads nowhere (the local repository is the state to test).
    repo.git.update_ref(f"refs/remotes/origin/{state['branch']}", before)
    repo.remote("origin").set_url(NO_ORIGIN)
    prepared = PreparedRepo(project, dest, src_dir, state["branch"], produced)
    wanted = (state.get("checkouts") or {}).get(checkout[0]) if checkout else None
    if checkout and wanted:
        return _check_out_override(repo, prepared, checkout, wanted, mode, links)
    return prepared


def override_checkout(job: Any, project: str) -> tuple[str, str] | None:
    """The ref ``job`` checks out for ``project`` instead of its branch, and why (Zuul's
    ``checkout_description``): its required-projects entry's ``override-checkout``
    wins over the job's."""
    if project in job.project_checkouts:
        return job.project_checkouts[project], "project override ref"
    if job.override_checkout:
        return job.override_checkout, "job override ref"
    return None


def _check_out_override(repo: Any, prepared: PreparedRepo, checkout: tuple[str, str],
                        wanted: dict[str, Any], mode: str,
                        links: dict[str, str] | None) -> PreparedRepo:
    """``prepared``'s repository checked out on the ``override-checkout`` ref's
    recorded state (a branch's, with the state's changes on it, or a tag's commit),
    reproduced and checked as the branch's; the item's branch keeps its state."""
    ref, why = checkout
    project = prepared.project
    produced = _apply(prepared.path, project, wanted["base"], list(wanted.get("changes", [])),
                      mode, links)
    if produced != wanted["commit"]:
        raise WorkspaceError(
            f"reproduced state of {project} {ref} (override-checkout) is {produced} but "
            f"the merger recorded {wanted['commit']}")
    if wanted["kind"] == "tag":
        repo.git.checkout("-q", "--detach", produced)
    else:
        repo.git.checkout("-q", "-B", ref, produced)
        repo.git.update_ref(f"refs/remotes/origin/{ref}", wanted["base"])
    return PreparedRepo(project, prepared.path, prepared.src_dir, ref, produced, why,
                        prepared.commit)


def playbook_checkout(repo: PreparedRepo, dest: Path) -> Path:
    """A checkout of ``repo``'s tested commit at ``dest``, outside the work dir, for
    the project's own playbooks and roles.

    The work dir's checkout is the node's to change (a local node writes it, and
    keeps running between playbooks): one of its processes could swap the
    repository, or its ``roles``, for a link between the executor's checks and
    bubblewrap's binds, and bubblewrap follows links. Made while the workspace is
    prepared, before anything of the build has run; the node never sees ``dest``.
    """
    return checkout_commit(repo.path, repo.state_commit or repo.commit, dest)


def checkout_commit(source: Path, commit: str, dest: Path) -> Path:
    """A checkout of ``commit`` of the repository ``source`` at ``dest`` (detached;
    holding its own objects, see ``_clone_copy``)."""
    _clone_copy(source, dest)
    open_repo(dest, _Git).git.checkout("-q", "--detach", commit)
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
    repo = open_repo(dest, _Git)
    ref = branch if branch and rev_parse(dest, f"refs/remotes/origin/{branch}") else None
    if ref is None:
        head = repo.git.symbolic_ref("--short", "refs/remotes/origin/HEAD").strip() \
            if rev_parse(dest, "refs/remotes/origin/HEAD") else ""
        ref = head.removeprefix("origin/") or "main"
    repo.git.checkout("-q", "-B", ref, f"origin/{ref}")
    return dest
