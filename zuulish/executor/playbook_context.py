"""Zuul's ``zuul.playbook_context``: which playbooks a build runs, from which
checkouts, with which roles path.

As Zuul gives it, every path is relative to the build's directory (one level
above ``zuul.executor.work_root``):

- ``playbook_projects``: by checkout path (``trusted/<project>``, or
  ``untrusted/<project>`` for an untrusted project's checkout of the tested
  state), its ``canonical_name``, ``checkout`` (the branch) and ``commit``;
- ``pre_playbooks``, ``playbooks`` (the run phase) and ``post_playbooks``
  (post-run, then cleanup-run, as Zuul lists cleanup playbooks with post-run):
  each playbook's ``path`` and its ``roles``, one entry per directory of its roles
  path (``role_path``, with the ``checkout`` and ``checkout_description`` of the
  repository it lies in). Zuul puts a link per role repository in the path
  (``link_name``, ``link_target``); zuulish puts the directories themselves,
  so those two are null.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pygit2

from zuulish.executor.ansible_run import PlaybookRun
from zuulish.executor.sandbox import playbook_root
from zuulish.executor.workspace import PreparedRepo

PHASE_KEYS = {"pre-run": "pre_playbooks", "run": "playbooks", "post-run": "post_playbooks",
              "cleanup-run": "post_playbooks"}


def _relative(path: Path, build_dir: Path) -> str:
    """``path`` relative to the build's directory (as it is, when outside it)."""
    try:
        return str(path.absolute().relative_to(build_dir.absolute()))
    except ValueError:
        return str(path)


def _branch(root: Path) -> str | None:
    """The branch checked out at ``root`` (None: detached, or not a repository)."""
    with contextlib.suppress(pygit2.GitError, KeyError, ValueError):
        repo = pygit2.Repository(str(root))
        if not repo.head_is_detached:
            return repo.head.shorthand
    return None


def playbook_context(books: Iterable[PlaybookRun], build_dir: Path, hostname: str,
                     repos: Iterable[PreparedRepo] = (),
                     roles_of: Callable[[PlaybookRun], list[Path]] = lambda _book: []
                     ) -> dict[str, Any]:
    """``zuul.playbook_context`` for ``books`` (see the module). ``repos`` are the
    build's prepared repositories (an untrusted project's playbook checkout is of
    their tested state, on their branch); ``roles_of`` gives a playbook's roles path."""
    branches = {r.project: r.branch for r in repos}
    projects: dict[str, dict[str, Any]] = {}
    described: dict[Path, dict[str, Any]] = {}

    def project_of(book: PlaybookRun, root: Path) -> dict[str, Any]:
        if root not in described:
            name = book.project or root.name
            trusted = book.trusted or book.project not in branches
            described[root] = {
                "canonical_name": f"{hostname}/{name}",
                "checkout": (_branch(root) if trusted else None) or branches.get(name),
                "commit": book.commit,
            }
            projects[_relative(root, build_dir)] = described[root]
        return described[root]

    context: dict[str, Any] = {"playbook_projects": projects, "pre_playbooks": [],
                               "playbooks": [], "post_playbooks": []}
    for book in books:
        project = project_of(book, playbook_root(book.playbook))
        roles = []
        for path in roles_of(book):
            root = playbook_root(path / "_")  # the repository the roles lie in
            own = described.get(root)
            roles.append({"role_path": _relative(path, build_dir), "link_name": None,
                          "link_target": None,
                          "checkout": own["checkout"] if own else _branch(root),
                          "checkout_description": "playbook branch" if own is project
                          else "role repository branch"})
        context[PHASE_KEYS.get(book.phase, "playbooks")].append(
            {"path": _relative(book.playbook, build_dir), "roles": roles})
    return context
