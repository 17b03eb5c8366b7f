"""The merger: claims merge requests from the store and builds speculative states.

A request lists the changes that make up an item's state (those of the items
ahead, then the item's own) and the other projects its jobs need. The result
is a repo state per project — branch tip used (``base``), the state with the
changes ahead (``pre``) and with the item's own changes (``commit``) — that
any executor or the forge can reproduce byte for byte.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from sqlalchemy import select, update

from zuulish.clock import Clock
from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.speculative import (
    MergeError,
    apply_commits,
    changed_files,
    read_files,
    rev_parse,
)
from zuulish.store import MergeRequestRow, Store
from zuulish.store import notify as channels

log = logging.getLogger(__name__)

CONFIG_PREFIXES = ("zuul.yaml", ".zuul.yaml", ".zuulish.yaml", "zuul.d/", ".zuul.d/",
                   "zuulish.d/")


def touches_config(paths: list[str]) -> bool:
    return any(p == c or (c.endswith("/") and p.startswith(c))
               for p in paths for c in CONFIG_PREFIXES)


class MergerWorker:
    def __init__(self, store: Store, cache: RepoCache, clock: Clock, name: str | None = None):
        self.store = store
        self.cache = cache
        self.clock = clock
        self.name = name or f"merger@{socket.gethostname()}"

    def run_once(self) -> bool:
        request = self._claim()
        if request is None:
            return False
        try:
            result = build_state(self.cache, request.spec)
        except MergeError as exc:
            result = {"status": "error", "message": str(exc)}
        except Exception as exc:  # a bug: record it on the item, keep serving
            log.exception("merge request %s failed", request.id)
            result = {"status": "error", "message": f"internal merger error: {exc!r}"}
        with self.store.session() as s:
            s.execute(update(MergeRequestRow).where(MergeRequestRow.id == request.id)
                      .values(state="done", result=result, finished_at=self.clock.now()))
        self.store.notifier.notify(channels.SCHEDULER)
        return True

    def _claim(self) -> MergeRequestRow | None:
        with self.store.session() as s:
            row = s.scalars(select(MergeRequestRow).where(MergeRequestRow.state == "requested")
                            .order_by(MergeRequestRow.id).limit(1)
                            .with_for_update(skip_locked=True)).first()
            if row is None:
                return None
            row.state, row.worker, row.heartbeat_at = "running", self.name, self.clock.now()
            return row


def _branch_for(path: Any, wanted: str) -> str:
    if rev_parse(path, f"refs/heads/{wanted}"):
        return wanted
    for candidate in ("main", "master"):
        if rev_parse(path, f"refs/heads/{candidate}"):
            return candidate
    raise MergeError(f"repository has no branch {wanted!r}")


def build_state(cache: RepoCache, spec: dict[str, Any]) -> dict[str, Any]:
    """Build the speculative state described by ``spec`` (see the module docstring)."""
    changes: list[dict[str, Any]] = spec.get("changes", [])
    projects: dict[str, dict[str, Any]] = dict(spec.get("projects", {}))
    for c in changes:
        projects.setdefault(c["project"], {"connection": c["connection"], "url": c["url"]})
    repo_state: dict[str, Any] = {}
    config_files: dict[str, dict[str, str]] = {}
    changed: set[str] = set()  # what the item's own changes modify (file matchers)
    for project, info in projects.items():
        mine = [c for c in changes if c["project"] == project]
        with cache.locked(project):
            path = cache.ensure(project, info["url"])
            branch = mine[0]["branch"] if mine else _branch_for(path, spec.get("branch", "main"))
            base = rev_parse(path, f"refs/heads/{branch}")
            if base is None:
                raise MergeError(f"project {project} has no branch {branch!r}")
            ahead = [c for c in mine if not c["own"]]
            own = [c for c in mine if c["own"]]
            pre = apply_commits(path, base, [c["commit"] for c in ahead])
            if not pre.ok:
                culprit = next((c for c in ahead if c["commit"] == pre.conflict_commit), None)
                who = f"change {culprit['number']}" if culprit else "a change ahead"
                return {"status": "conflict",
                        "message": f"{who} ahead of this one does not merge into {project} "
                                   f"{branch}: conflicting paths: "
                                   f"{', '.join(pre.conflict_paths) or '(unknown)'}"}
            final = apply_commits(path, pre.commit or base, [c["commit"] for c in own])
            if not final.ok:
                return {"status": "conflict",
                        "message": f"this change does not merge into {project} {branch} "
                                   "on top of the changes ahead of it: conflicting paths: "
                                   f"{', '.join(final.conflict_paths) or '(unknown)'}"}
            commit = final.commit or base
            repo_state[project] = {
                "connection": info["connection"], "url": info["url"], "branch": branch,
                "base": base, "pre": pre.commit or base, "commit": commit,
                "ahead_changes": [c["commit"] for c in ahead],
                "changes": [c["commit"] for c in own],
            }
            if own:
                changed.update(changed_files(path, pre.commit or base, commit))
            if mine and touches_config(changed_files(path, base, commit)):
                config_files[project] = read_files(path, commit)
    return {"status": "merged", "repo_state": repo_state, "config_files": config_files,
            "changed_files": sorted(changed)}
