"""Reporting on the built-in forge: votes and comments, and merging on green."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from zuulish.drivers.git.connection import GitForge
from zuulish.errors import ForgeError
from zuulish.merger.speculative import DEFAULT_MODE, MergeError, apply_commits
from zuulish.model import Ref
from zuulish.model.file_comments import comment_lines
from zuulish.store import ChangeRow, EventRow, ReportRow, Store
from zuulish.store import notify as channels

log = logging.getLogger(__name__)


class GitReporter:
    """Votes, comments and merges on the built-in forge."""

    def __init__(self, forge: GitForge, store: Store):
        self.forge = forge
        self.store = store

    def _row(self, s: Any, number: int) -> ChangeRow:
        row = s.scalars(select(ChangeRow).where(ChangeRow.connection == self.forge.name,
                                                ChangeRow.number == number)).first()
        if row is None:
            raise ForgeError(f"no change {number} on connection {self.forge.name!r}")
        return row

    def report(self, number: int, *, tenant: str, pipeline: str, action: str,
               result: str | None, votes: dict[str, int], message: str,
               patchset: int | None = None,
               file_comments: dict[str, list[dict[str, Any]]] | None = None,
               options: Mapping[str, Any] | None = None, comment: bool = True) -> None:
        """Leave a report on the patch set that was tested (default: the current one).

        Votes count only on the current patch set: a result for an older patch
        set is kept as a comment on it, and its votes are not applied. The forge
        has no inline comments: ``file_comments`` are listed at the end of the
        comment as ``path:line: message`` lines. With ``comment`` false (the
        pipeline's ``comment: false``) the report carries the votes and no text.
        The forge's reporter has no options of its own.
        """
        lines = comment_lines(file_comments or {})
        if not comment:
            message = ""
        elif lines:
            message = message.rstrip("\n") + "\n\nFile comments:\n" + "\n".join(lines) + "\n"
        now = time.time()
        with self.store.session() as s:
            row = self._row(s, number)
            tested = patchset if patchset is not None else row.patchset
            stale = tested != row.patchset
            s.add(ReportRow(change_id=row.id, patchset=tested, tenant=tenant,
                            pipeline=pipeline, action=action, result=result,
                            votes={} if stale else votes, message=message, created_at=now))
            if votes and not stale:
                row.approvals = {**(row.approvals or {}), **votes}
                row.updated_at = now

    def reported(self, number: int, *, tenant: str, pipeline: str, patchset: int,
                 action: str) -> bool:
        with self.store.read() as s:
            return s.scalar(select(ReportRow.id).join(ChangeRow,
                                                      ChangeRow.id == ReportRow.change_id)
                            .where(ChangeRow.connection == self.forge.name,
                                   ChangeRow.number == number,
                                   ReportRow.tenant == tenant,
                                   ReportRow.pipeline == pipeline,
                                   ReportRow.patchset == patchset,
                                   ReportRow.action == action).limit(1)) is not None

    def report_ref(self, ref: Ref, *, tenant: str, pipeline: str, action: str,
                   result: str | None, message: str) -> None:
        """A ref update or a periodic run has no change to comment on; the forge keeps
        no page for refs, so the report goes to the log (the dashboard and the build
        history show the result too)."""
        log.info("%s/%s %s of %s: %s\n%s", tenant, pipeline, action, ref.describe(),
                 result or "-", message.strip())

    def submit(self, number: int, repo_state: dict[str, Any], *, tenant: str = "",
               pipeline: str = "", options: Mapping[str, Any] | None = None,
               votes: Mapping[str, int] | None = None) -> str:
        """Merge exactly the tested state; returns the merged commit.

        The state is reproduced in the forge's repository from the commit the
        item was tested on (``pre``) and the item's own ``changes``; if that does
        not give the tested ``commit`` byte for byte, nothing is merged. The
        branch then moves from ``pre`` to ``commit`` with a compare-and-swap.
        """
        with self.store.read() as s:
            row = self._row(s, number)
            project, branch, status = row.project, row.branch, row.status
            current, patchset, merged_sha = row.commit_sha, row.patchset, row.merged_sha
        if status == "MERGED":
            return merged_sha or ""
        if status != "NEW":
            raise ForgeError(f"change {number} is {status.lower()}; it cannot be merged")
        state = repo_state.get(project)
        if state is None:
            raise ForgeError(f"no tested state for {project} in this item")
        if state.get("branch", branch) != branch:
            raise ForgeError(f"the tested state is for branch {state['branch']!r} but change "
                             f"{number} is for {branch!r}")
        if current not in state["changes"]:
            raise ForgeError(f"change {number} has a new patch set ({patchset}) that was not "
                             "tested; it will be tested again")
        path = self.forge.repo_path(project)
        mode = state.get("merge_mode", DEFAULT_MODE)  # the merger's mode, when it says
        try:
            reproduced = apply_commits(path, state["pre"], state["changes"], mode=mode,
                                       links=state.get("links"))
        except (MergeError, ValueError) as exc:
            raise ForgeError(f"cannot reproduce the tested state: {exc}") from exc
        if not reproduced.ok:
            raise ForgeError(f"cannot reproduce the tested state: {reproduced.message}")
        if reproduced.commit != state["commit"]:
            raise ForgeError(f"reproduced state {reproduced.commit} differs from the tested "
                             f"state {state['commit']}; refusing to merge what was not tested")
        self.forge.merge(project, branch, state["commit"], expected_old=state["pre"])
        now = time.time()
        with self.store.session() as s:
            row = self._row(s, number)
            row.status, row.merged_sha, row.updated_at = "MERGED", state["commit"], now
            s.add(EventRow(connection=self.forge.name, type="change-merged", project=project,
                           branch=branch, change_number=number, patchset=row.patchset,
                           data={"commit": state["commit"]}, created_at=now))
            s.add(EventRow(connection=self.forge.name, type="ref-updated", project=project,
                           branch=branch, data={"ref": f"refs/heads/{branch}",
                                                "oldrev": state["pre"],
                                                "newrev": state["commit"]},
                           created_at=now))
        self.store.notifier.notify(channels.SCHEDULER)
        return state["commit"]
