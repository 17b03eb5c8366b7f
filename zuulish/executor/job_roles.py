"""A playbook's roles path: Zuul's ``job.roles``.

Each playbook of a frozen job carries the roles of its level of inheritance and
of the levels above it (``PlaybookRef.roles``, ``config/freeze.py``), its job's
own project first (implicitly). Each becomes one directory on the roles path,
after the ``roles/`` beside the playbook (``playbook_paths.check_playbook``), in
that order, following Zuul's rules for where a repository holds roles:

- ``tasks/`` at its root: the repository is itself a role, installed under the
  entry's ``name`` (default: the project's short name); a checkout of it named
  so is made in ``<build>/roles/<n>/`` and that directory goes on the path;
- else its ``roles/`` directory goes on the path;
- else, for a listed project, the build ends in ERROR naming the repository and
  the rule; the implicit entry of a job's own project is skipped (as in Zuul).

Which state of the project is read (tested or branch tip) is
``repo_checkouts.py``'s rule. The paths keep ``playbook_paths``' rules
(``check_role_repo``), checked when the roles are prepared and again before each
playbook; an untrusted playbook gets them read-only in its sandbox, and refuses
to run with a plugin directory in any of them (``sandbox.shipped_plugins``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zuulish.executor.playbook_paths import check_role_repo
from zuulish.executor.repo_checkouts import RepoCheckouts
from zuulish.executor.safe_files import UnsafePath
from zuulish.executor.workspace import WorkspaceError, checkout_commit
from zuulish.model import PlaybookRef, RoleRef

MISSING_ROLE = re.compile(r"the role '([^']*)' was not found in \S*")


@dataclass(frozen=True)
class RoleSource:
    """One directory on a playbook's roles path, and where it comes from."""

    path: Path  # the directory Ansible searches
    repo: Path  # the checkout it lies in
    project: str
    kind: str  # "roles": the repository's roles/; "bare": the repository is the role
    shown: str  # what users are told: "roles/ of org/roles at 0123abcd4567"

    def check(self) -> None:
        """``playbook_paths``' rules for the repository; UnsafePath when one is broken
        (or the repository no longer holds its roles where it did)."""
        if check_role_repo(self.repo, self.project) != self.kind:
            raise UnsafePath(f"the roles of {self.project} are no longer where they were "
                             "prepared: refused")


class JobRoles:
    """The roles paths of one build's playbooks (each repository prepared once)."""

    def __init__(self, checkouts: RepoCheckouts, build_dir: Path,
                 head: Callable[[Path], str | None]):
        self.checkouts = checkouts
        self.install_root = build_dir / "roles"
        self.head = head
        self._sources: dict[tuple[bool, str, str], RoleSource | None] = {}

    def for_playbook(self, book: PlaybookRef) -> tuple[RoleSource, ...]:
        """The role sources of ``book``, in roles path order (once each). Raises
        WorkspaceError for a listed repository without roles or one that breaks a
        path rule."""
        out: list[RoleSource] = []
        for role in book.roles:
            branch = book.branch if role.project == book.project else None
            source = self._source(role, book.trusted, branch)
            if source is not None and all(s.path != source.path for s in out):
                out.append(source)
        return tuple(out)

    def _source(self, role: RoleRef, trusted: bool, branch: str | None) -> RoleSource | None:
        key = (trusted, role.project, role.name)
        if key not in self._sources:
            self._sources[key] = self._prepare(role, trusted, branch)
        return self._sources[key]

    def _prepare(self, role: RoleRef, trusted: bool, branch: str | None) -> RoleSource | None:
        root = self.checkouts.root(role.project, trusted, branch)
        commit = self.head(root)
        at = f" at {commit[:12]}" if commit else ""
        try:
            kind = check_role_repo(root, role.project)
        except UnsafePath as exc:
            raise WorkspaceError(f"roles of {role.project}: {exc}") from None
        if kind is None:
            if role.implicit:
                return None
            raise WorkspaceError(
                f"the roles repository {role.project}{at} (a 'roles' entry of the job) has "
                "no roles: Zuul's rule is a roles/ directory in the repository, or tasks/ "
                "at its root (the repository is then itself the role "
                f"{role.name!r})")
        if kind == "roles":
            return RoleSource(root / "roles", root, role.project, kind,
                              f"roles/ of {role.project}{at}")
        install = self.install_root / str(len(self._sources))
        copy = checkout_commit(root, commit or "HEAD", install / role.name)
        return RoleSource(install, copy, role.project, kind,
                          f"{role.project}{at} (itself the role {role.name!r})")


def check_sources(sources: tuple[RoleSource, ...]) -> list[Path]:
    """The roles path directories of ``sources``, each checked again (UnsafePath)."""
    for source in sources:
        source.check()
    return [source.path for source in sources]


def explain_missing_role(detail: str, own: list[Path], sources: tuple[RoleSource, ...],
                         shown_own: str) -> str:
    """Ansible's "the role 'x' was not found in <executor paths>" told as users know
    the places it looked: the ``roles/`` beside the playbook (``shown_own``) and each
    role source, in order. Other messages are returned unchanged."""
    found = MISSING_ROLE.search(detail)
    if found is None:
        return detail
    places = [shown_own for _ in own[:1]] + [s.shown for s in sources]
    where = "; ".join(places) if places else "no roles directory (the job has no roles)"
    return (f"the role {found[1]!r} was not found: not a role of the playbook's roles path "
            f"({where})")


def shown_location(where: str, repos: list[tuple[Path, str]]) -> str:
    """Ansible's ``<path>:<line>:<column>`` of an error told as users know it: a file
    of one of ``repos`` (its checkout, its project) as ``<project>/<path in it>``."""
    for root, project in repos:
        prefix = str(root.absolute()) + "/"
        if where.startswith(prefix):
            return f"{project}/{where[len(prefix):]}"
    return where
