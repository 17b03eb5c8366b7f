"""The merger: claims merge requests from the store and builds speculative states.

A request lists the changes that make up an item's state (those of the items
ahead, then the item's own), the other projects its jobs need, each project's
merge mode, and (``after``) the request of the item ahead. The result is a repo
state per project — branch tip used (``base``), the state with the changes
ahead (``pre``) and with the item's own changes (``commit``), and the mode —
that any executor or the forge can reproduce byte for byte. With it: the files
changed, the config files of projects whose state changes them
(``config_files``), the projects whose configuration the item's own changes
touch (``config_updated``) and of those, where the changes ahead touch it too,
the config files of the state ahead (``ahead_config_files``): the layout the
item's jobs compare with, for ``match-on-config-updates``.

Chains: a request waits until the one it comes ``after`` is done, and states
already built are remembered (``MergeMemo``), so item k starts from item k-1's
state and a queue of n items costs n merges, not n²/2. A memo hit is exact:
the same inputs always give the same commit.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import pygit2
from sqlalchemy import select, update

from zuulish.clock import Clock
from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.speculative import (
    CONFIG_PATHS,
    DEFAULT_MODE,
    MergeError,
    MergeMemo,
    MergeTimeout,
    apply_commits,
    changed_files,
    commit_paths,
    read_files,
    rev_parse,
    tree_of,
)
from zuulish.metrics import ProcessMetrics
from zuulish.store import MergeRequestRow, Store
from zuulish.store import notify as channels

log = logging.getLogger(__name__)

#: Requests looked at per claim when some wait for the item ahead.
CLAIM_WINDOW = 50


def touches_config(paths: list[str]) -> bool:
    return any(p == c or (c.endswith("/") and p.startswith(c))
               for p in paths for c in CONFIG_PATHS)


class MergerWorker:
    def __init__(self, store: Store, cache: RepoCache, clock: Clock, name: str | None = None,
                 timeout: float = 300.0, memo: MergeMemo | None = None,
                 metrics: ProcessMetrics | None = None):
        self.store = store
        self.metrics = metrics or ProcessMetrics()
        self.cache = cache
        self.clock = clock
        self.name = name or f"merger@{socket.gethostname()}"
        self.timeout = timeout
        self.memo = memo or MergeMemo()

    def run_once(self) -> bool:
        request = self._claim()
        if request is None:
            return False
        started = time.monotonic()
        try:
            result = build_state(self.cache, request.spec, memo=self.memo,
                                 timeout=self.timeout)
        except MergeTimeout as exc:
            result = {"status": "error", "message": f"merging took too long: {exc} "
                                                    f"(limit {self.timeout:.0f}s)"}
        except MergeError as exc:
            result = {"status": "error", "message": str(exc)}
        except Exception as exc:  # a bug: record it on the item, keep serving
            log.exception("merge request %s failed", request.id)
            result = {"status": "error", "message": f"internal merger error: {exc!r}"}
        with self.store.session() as s:
            done = s.execute(update(MergeRequestRow).where(
                MergeRequestRow.id == request.id, MergeRequestRow.worker == request.worker,
                MergeRequestRow.state == "running")
                .values(state="done", result=result, finished_at=self.clock.now())).rowcount
        if done:
            self.metrics.merge_finished(result.get("status"), time.monotonic() - started)
        if not done:  # declared dead while merging: asked of another merger meanwhile
            log.warning("merge request %s was taken from %s while it merged; its result "
                        "is discarded", request.id, request.worker)
        self.store.notifier.notify(channels.SCHEDULER, channels.MERGER)
        return True

    def _claim(self) -> MergeRequestRow | None:
        """The oldest request whose item ahead (if any) has its state built."""
        with self.store.session() as s:
            rows = s.scalars(select(MergeRequestRow).where(MergeRequestRow.state == "requested")
                             .order_by(MergeRequestRow.id).limit(CLAIM_WINDOW)
                             .with_for_update(skip_locked=True)).all()
            afters = {r.spec.get("after") for r in rows if r.spec.get("after")}
            waiting = set(s.scalars(select(MergeRequestRow.id).where(
                MergeRequestRow.id.in_(afters),
                MergeRequestRow.state.in_(("requested", "running"))))) if afters else set()
            for row in rows:
                if row.spec.get("after") in waiting:
                    continue
                row.state, row.worker, row.heartbeat_at = "running", self.name, self.clock.now()
                return row
            return None


def _branch_for(path: Any, wanted: str) -> str:
    if rev_parse(path, f"refs/heads/{wanted}"):
        return wanted
    for candidate in ("main", "master"):
        if rev_parse(path, f"refs/heads/{candidate}"):
            return candidate
    raise MergeError(f"repository has no branch {wanted!r}")


def _state_branch(path: Any, project: str, mine: list[dict[str, Any]],
                  spec: dict[str, Any]) -> str:
    """The branch whose state is built for ``project``: that of the item's own
    changes there, else the item's branch where the project has it (else its default
    branch), as Zuul checks out a project the item does not change."""
    own = sorted({c["branch"] for c in mine if c["own"]})
    if len(own) > 1:
        raise MergeError(f"the item changes {project} on branches {' and '.join(own)}: "
                         "one item's state holds one branch of each project")
    return own[0] if own else _branch_for(path, spec.get("branch", "main"))


def _who(change: dict[str, Any] | None) -> str:
    if change and change.get("ref"):
        return f"{change['ref']} at {change['commit'][:12]}"
    return f"change {change['number']},{change.get('patchset', '?')}" if change else \
        "a change ahead"


def build_state(cache: RepoCache, spec: dict[str, Any], *, memo: MergeMemo | None = None,
                timeout: float | None = None) -> dict[str, Any]:
    """Build the speculative state described by ``spec`` (see the module docstring)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    memo = memo if memo is not None else MergeMemo()  # at least: own changes on ``pre``
    changes: list[dict[str, Any]] = spec.get("changes", [])
    projects: dict[str, dict[str, Any]] = dict(spec.get("projects", {}))
    for c in changes:
        projects.setdefault(c["project"], {"connection": c["connection"], "url": c["url"]})
    result: dict[str, Any] = {"status": "merged", "repo_state": {}, "config_files": {},
                              "ahead_config_files": {}, "config_updated": [],
                              "changed_files": [], "merges": 0}
    changed: set[str] = set()  # what the item's own changes modify (file matchers)
    for project, info in projects.items():
        mine = [c for c in changes if c["project"] == project]
        with cache.locked(project):
            for attempt in (1, 2):
                try:
                    conflict = _build_project(cache, project, info, mine, spec, result,
                                              changed, memo, deadline)
                    break
                except pygit2.GitError as exc:  # objects git cannot read: a corrupt clone
                    if attempt == 2:
                        raise MergeError(f"the cache of {project} is unreadable even after "
                                         f"cloning it again: {exc}") from exc
                    log.warning("repo cache of %s is corrupt (%s); cloning it again",
                                project, exc)
                    cache.reclone(project, info["url"])
        if conflict is not None:
            return {**conflict, "merges": result["merges"]}
    result["changed_files"] = None if result.pop("files_unknown", False) else sorted(changed)
    return result


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _build_project(cache: RepoCache, project: str, info: dict[str, Any],
                   mine: list[dict[str, Any]], spec: dict[str, Any], result: dict[str, Any],
                   changed: set[str], memo: MergeMemo | None,
                   deadline: float | None) -> dict[str, Any] | None:
    """Add ``project``'s state to ``result``; a conflict result instead if it does not merge."""
    mode = info.get("merge_mode") or DEFAULT_MODE
    path = cache.ensure(project, info["url"])
    if mine and mine[0].get("ref"):
        _pin_project(path, project, info, mine[0], mode, result, changed)
        _record_checkouts(path, project, info, mine, mode, result, deadline)
        return None
    branch = _state_branch(path, project, mine, spec)
    base = rev_parse(path, f"refs/heads/{branch}")
    if base is None:
        raise MergeError(f"project {project} has no branch {branch!r}")
    # changes of the project on other branches (ahead in a shared queue, or needed by
    # a Depends-On) are not in this branch's state; override-checkout's are recorded
    # beside it (_record_checkouts)
    ahead = [c for c in mine if not c["own"] and c["branch"] == branch]
    own = [c for c in mine if c["own"]]
    # each change's page, in its merge commit; recorded so the state reproduces
    links = {c["commit"]: c["change_url"] for c in mine if c.get("change_url")}
    pre = apply_commits(path, base, [c["commit"] for c in ahead], mode, memo=memo,
                        timeout=_left(deadline), links=links)
    result["merges"] += pre.merges
    if not pre.ok:
        culprit = next((c for c in ahead if c["commit"] == pre.conflict_commit), None)
        return {"status": "conflict", "project": project, "conflict_paths": pre.conflict_paths,
                "conflict_changes": [culprit["number"]] if culprit else [],
                "message": f"{_who(culprit)} ahead of this one does not merge into "
                           f"{project} {branch}: conflicting paths: "
                           f"{', '.join(pre.conflict_paths) or '(unknown)'}"}
    final = apply_commits(path, base, [c["commit"] for c in ahead + own], mode, memo=memo,
                          timeout=_left(deadline), links=links)
    result["merges"] += final.merges
    if not final.ok:
        culprits = [c for c in ahead
                    if set(commit_paths(path, c["commit"])) & set(final.conflict_paths)]
        return {"status": "conflict", "project": project,
                "conflict_paths": final.conflict_paths,
                "conflict_changes": [c["number"] for c in culprits],
                "message": _own_conflict(project, branch, culprits, final.conflict_paths)}
    commit = final.commit or base
    result["repo_state"][project] = {
        "connection": info["connection"], "url": info["url"], "branch": branch,
        "base": base, "pre": pre.commit or base, "commit": commit, "merge_mode": mode,
        "tree": tree_of(path, commit), "pre_tree": tree_of(path, pre.commit or base),
        "ahead_changes": [c["commit"] for c in ahead],
        "changes": [c["commit"] for c in own], "links": links,
    }
    _record_checkouts(path, project, info, mine, mode, result, deadline)
    own_files = changed_files(path, pre.commit or base, commit) if own else []
    changed.update(own_files)
    if mine:
        # with nothing ahead, the item's own diff is the whole diff from the branch
        whole = own_files if not ahead else changed_files(path, base, commit)
        if touches_config(whole):
            result["config_files"][project] = read_files(path, commit)
        if touches_config(own_files):
            # the item updates the configuration itself: what the state ahead of it
            # had is the layout its jobs compare with (match-on-config-updates)
            result["config_updated"].append(project)
            if ahead and touches_config(changed_files(path, base, pre.commit or base)):
                result["ahead_config_files"][project] = read_files(path, pre.commit or base)
    return None


def _record_checkouts(path: Any, project: str, info: dict[str, Any],
                      mine: list[dict[str, Any]], mode: str, result: dict[str, Any],
                      deadline: float | None) -> None:
    """The state of each ref a job's ``override-checkout`` names for ``project``
    (``info["checkouts"]``), beside its branch's: a branch's tip with the changes of
    the state that are on that branch merged, or a tag's commit. A ref the project
    does not have is left out: the job then checks out the usual branch, as in Zuul."""
    state = result["repo_state"][project]
    found: dict[str, dict[str, Any]] = {}
    for ref in info.get("checkouts") or ():
        if ref == state["branch"] and not state.get("ref"):
            continue  # the state itself
        tip = rev_parse(path, f"refs/heads/{ref}")
        if tip is not None:
            on_branch = [c["commit"] for c in mine if c["branch"] == ref and not c.get("ref")]
            merged = apply_commits(path, tip, on_branch, mode, timeout=_left(deadline),
                                   links=state.get("links")) if on_branch else None
            if merged is not None and not merged.ok:
                raise MergeError(f"the changes on {project} {ref} (override-checkout) do not "
                                 f"merge: {merged.message}")
            result["merges"] += merged.merges if merged is not None else 0
            found[ref] = {"kind": "branch", "base": tip, "changes": on_branch,
                          "commit": (merged.commit if merged is not None else None) or tip}
            continue
        tag = rev_parse(path, f"refs/tags/{ref}")
        if tag is not None:
            found[ref] = {"kind": "tag", "base": tag, "changes": [], "commit": tag}
    if found:
        state["checkouts"] = found


def _pin_project(path: Any, project: str, info: dict[str, Any], entry: dict[str, Any],
                 mode: str, result: dict[str, Any], changed: set[str]) -> None:
    """A ref item's state: its commit exactly, nothing merged onto it. Its changed
    files are those between ``oldrev`` and the commit (unknown without one: a
    periodic run or a new branch, so every job runs)."""
    commit = rev_parse(path, entry["commit"])
    if commit is None:
        raise MergeError(f"{project} has no commit {entry['commit'][:12]} (of {entry['ref']}); "
                         "was it pushed over before it could be tested?")
    oldrev = entry.get("oldrev")
    if oldrev and rev_parse(path, oldrev):
        changed.update(changed_files(path, oldrev, commit))
    else:
        result["files_unknown"] = True
    result["repo_state"][project] = {
        "connection": info["connection"], "url": info["url"], "branch": entry["branch"],
        "base": commit, "pre": commit, "commit": commit, "merge_mode": mode,
        "ahead_changes": [], "changes": [], "ref": entry["ref"],
    }


def _own_conflict(project: str, branch: str, culprits: list[dict[str, Any]],
                  paths: list[str]) -> str:
    where = "with " + ", ".join(_who(c) for c in culprits) + " ahead of it" if culprits \
        else f"with the tip of {branch}"
    return (f"this change does not merge into {project} {branch} {where}: conflicting "
            f"paths: {', '.join(paths) or '(unknown)'}")
