"""The checkouts a build's playbooks and roles are read from, outside its work dir.

As in Zuul, which state of a project a playbook reads its playbook file and roles
from depends on who runs them:

- an untrusted playbook reads an untrusted project at its tested state (the
  item's speculative state, the changes ahead included: ``repo_state``), in
  ``<build>/untrusted/<project>``; a config project at its branch tip (a config
  project's change takes effect once it has merged), from the same checkout as
  trusted playbooks;
- a trusted playbook reads every project at its branch tip, never at a state
  with changes that are not merged (Zuul's ``checkoutTrustedProject``: a config
  project's base job that lists an untrusted project's roles runs the roles
  that merged, never a proposed change's), in ``<build>/trusted/<project>``.

The branch tip of a project the item's state holds is the one the merger
recorded (its ``base``); of another, the cache's tip of the playbook's branch
(for its own project), else of the item's branch, else of the default branch.
Every checkout is made while the workspace is prepared, before anything of
the build runs, from repositories nothing of the build has touched yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zuulish.executor.workspace import (
    PreparedRepo,
    WorkspaceError,
    checkout_commit,
    playbook_checkout,
    prepare_branch_tip,
)
from zuulish.merger.repo_cache import RepoCache


class RepoCheckouts:
    """A build's checkouts of playbook and role projects, each made once."""

    def __init__(self, cache: RepoCache, build_dir: Path, repos: list[PreparedRepo],
                 params: dict[str, Any]):
        self.cache = cache
        self.build_dir = build_dir
        self.prepared = {r.project: r for r in repos}
        self.states: dict[str, Any] = params.get("repo_state") or {}
        self.urls: dict[str, str] = params.get("project_urls") or {}
        self.trusted_projects = set(params.get("trusted_projects") or ())
        self.branch: str | None = params.get("branch")
        self._made: dict[tuple[bool, str], Path] = {}

    def root(self, project: str, trusted_reader: bool, branch: str | None = None) -> Path:
        """The checkout of ``project`` that a (``trusted_reader``) playbook reads;
        ``branch``: the branch wanted when it is not the item's state (the
        playbook's own, for its own project)."""
        # a config project is read at its branch tip by every playbook: one checkout
        reader = trusted_reader or project in self.trusted_projects
        key = (reader, project)
        if key not in self._made:
            self._made[key] = self._checkout(project, reader, branch)
        return self._made[key]

    def _checkout(self, project: str, trusted_reader: bool, branch: str | None) -> Path:
        kind = "trusted" if trusted_reader else "untrusted"
        dest = self.build_dir / kind / project
        prepared = self.prepared.get(project)
        if prepared is not None and not trusted_reader \
                and project not in self.trusted_projects:
            return playbook_checkout(prepared, dest)  # the tested state
        state = self.states.get(project)
        if prepared is not None and isinstance(state, dict) and state.get("base") \
                and (branch is None or branch == state.get("branch")):
            return checkout_commit(prepared.path, str(state["base"]), dest)
        url = self.urls.get(project) or (state.get("url") if isinstance(state, dict)
                                         else None)
        if url is None:
            raise WorkspaceError(f"project {project!r} (of a playbook or role of this job) is "
                                 "not known to this tenant")
        return prepare_branch_tip(self.cache, project, url, dest, branch or self.branch)
