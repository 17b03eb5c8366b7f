"""Reviews on the built-in forge: approve, recheck, abandon; and listing changes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from zuulish.errors import ForgeError
from zuulish.store import ChangeRow, EventRow, Store
from zuulish.store import notify as channels
from zuulish.store.changes import newest_results

APPROVAL = {"Code-Review": 2, "Workflow": 1}


def _change(s: Any, connection: str, number: int) -> ChangeRow:
    row = s.scalars(select(ChangeRow).where(ChangeRow.connection == connection,
                                            ChangeRow.number == number)).first()
    if row is None:
        raise ForgeError(f"no change {number} on connection {connection!r}; "
                         "`zuulish changes` lists them")
    return row


def review(store: Store, connection: str, number: int, *, approve: bool = False,
           recheck: bool = False, abandon: bool = False, message: str | None = None,
           clock: Callable[[], float] = time.time, state_dir: Path | None = None) -> str:
    """Record a review as an event (the scheduler acts on it); returns a sentence."""
    return record_review(store, connection, number, approve=approve, recheck=recheck,
                         abandon=abandon, message=message, clock=clock)[0]


def record_review(store: Store, connection: str, number: int, *, approve: bool = False,
                  recheck: bool = False, abandon: bool = False, message: str | None = None,
                  clock: Callable[[], float] = time.time) -> tuple[str, int]:
    """:func:`review`, also returning the id of the event it recorded."""
    if sum((approve, recheck, abandon)) != 1:
        raise ForgeError("say exactly one of --approve, --recheck or --abandon")
    now = clock()
    with store.session() as s:
        row = _change(s, connection, number)
        if row.status != "NEW":
            raise ForgeError(f"change {number} is {row.status.lower()}; only open changes "
                             "can be reviewed")
        event = EventRow(connection=connection, project=row.project, branch=row.branch,
                         change_number=row.number, patchset=row.patchset, created_at=now,
                         type="comment-added", data={})
        if approve:
            row.approvals = {**(row.approvals or {}), **APPROVAL}
            event.data = {"comment": message or "Approved", "approvals": dict(APPROVAL)}
            said = f"approved change {number} (Code-Review+2, Workflow+1)"
        elif recheck:
            event.data = {"comment": message or "recheck", "approvals": {}}
            if not (message or "recheck").strip().lower().startswith("recheck"):
                event.data["comment"] = f"recheck\n\n{message}"
            said = f"asked for a recheck of change {number}"
        else:
            row.status = "ABANDONED"
            event.type = "change-abandoned"
            event.data = {"comment": message or "Abandoned"}
            said = f"abandoned change {number}"
        row.updated_at = now
        s.add(event)
        s.flush()
        event_id = event.id
    store.notifier.notify(channels.SCHEDULER)
    return said, event_id


#: what the scheduler's outcome adds when changes waiting on one enqueued entered too
_BEHIND = re.compile(r"\(and behind them: ([\d, ]+)\)")


def approval_outcome(number: int, outcome: str | None) -> list[str]:
    """What became of change ``number``'s approval, from the scheduler's outcome of
    its event (``tenant/pipeline: enqueued ...`` or ``...: not enqueued: <why>``)."""
    if outcome is None:
        return ["the scheduler has not acted on the approval yet; `zuulish changes` shows "
                "the change's state later"]
    lines = []
    for part in outcome.split("; "):
        where, _, what = part.partition(": ")
        if what.startswith("not enqueued: "):
            lines.append(f"change {number} will not enter {where}: "
                         f"{what.removeprefix('not enqueued: ')}")
        elif what.startswith("enqueued"):
            lines.append(f"change {number} entered {where}")
            behind = _BEHIND.search(what)
            if behind:
                lines.append(f"change(s) {behind.group(1)}, waiting on it, entered {where} "
                             "behind it")
    return lines or [f"change {number} entered no pipeline: {outcome}"]


def list_changes(store: Store, connection: str, web_url: str | None = None
                 ) -> list[dict[str, Any]]:
    """Every change on ``connection``, oldest first, with its newest result.

    ``url`` is the change's page when ``web_url`` (the server's) is given.
    """
    with store.read() as s:
        rows = s.scalars(select(ChangeRow).where(ChangeRow.connection == connection)
                         .order_by(ChangeRow.number)).all()
        last = newest_results(s, connection)
    out = []
    for row in rows:
        report = last.get(row.id)
        out.append({
            "number": row.number, "project": row.project, "branch": row.branch,
            "patchset": row.patchset, "status": row.status, "subject": row.subject,
            "approvals": row.approvals or {}, "commit": row.commit_sha,
            "last_result": f"{report.pipeline}: {report.result}" if report else None,
            "url": f"{web_url.rstrip('/')}/c/{row.project}/+/{row.number}" if web_url else None,
        })
    return out
