"""More reviews on the built-in forge: a Code-Review vote, a comment, a restore.

Each is recorded as the event Gerrit would send (``comment-added`` with the vote,
``change-restored``), which the scheduler matches against the pipelines' triggers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from zuulish.drivers.git.review import _change
from zuulish.errors import ForgeError
from zuulish.store import EventRow, Store
from zuulish.store import notify as channels

CODE_REVIEW = "Code-Review"
VOTES = (-2, -1, 0, 1, 2)


def parse_vote(text: str) -> int:
    """``-2``, ``-1``, ``0``, ``1``/``+1`` or ``2``/``+2``; anything else is refused."""
    try:
        value = int(text.strip())
    except ValueError:
        value = None
    if value not in VOTES:
        raise ForgeError(f"--code-review must be one of -2, -1, 0, +1, +2, not {text!r}")
    return value


def _open(s, connection: str, number: int, verb: str):
    row = _change(s, connection, number)
    if row.status != "NEW":
        raise ForgeError(f"change {number} is {row.status.lower()}; only open changes "
                         f"can be {verb}")
    return row


def vote(store: Store, connection: str, number: int, code_review: int | None,
         message: str | None = None, clock: Callable[[], float] = time.time) -> str:
    """Record a comment, with a Code-Review vote unless ``code_review`` is None.

    A vote of 0 removes the change's Code-Review vote, as in Gerrit.
    """
    if code_review is not None and code_review not in VOTES:
        raise ForgeError(f"--code-review must be one of -2, -1, 0, +1, +2, not {code_review}")
    if code_review is None and not (message or "").strip():
        raise ForgeError("say what to do: --approve, --recheck, --abandon, --restore, "
                         "--code-review N or --message TEXT")
    now = clock()
    with store.session() as s:
        row = _open(s, connection, number, "reviewed")
        approvals = {}
        if code_review is not None:
            approvals = {CODE_REVIEW: code_review}
            current = dict(row.approvals or {})
            if code_review == 0:
                current.pop(CODE_REVIEW, None)
            else:
                current[CODE_REVIEW] = code_review
            row.approvals = current
        default = f"Code-Review{code_review:+d}" if code_review else "Code-Review vote removed"
        s.add(EventRow(connection=connection, project=row.project, branch=row.branch,
                       change_number=row.number, patchset=row.patchset, created_at=now,
                       type="comment-added",
                       data={"comment": message or default, "approvals": approvals}))
        row.updated_at = now
    store.notifier.notify(channels.SCHEDULER)
    if code_review is None:
        return f"commented on change {number}"
    if code_review == 0:
        return f"removed the Code-Review vote on change {number}"
    return f"voted Code-Review{code_review:+d} on change {number}"


def restore(store: Store, connection: str, number: int, message: str | None = None,
            clock: Callable[[], float] = time.time) -> str:
    """Reopen an abandoned change (its votes are kept, as in Gerrit)."""
    now = clock()
    with store.session() as s:
        row = _change(s, connection, number)
        if row.status != "ABANDONED":
            raise ForgeError(f"change {number} is {row.status.lower()}; only abandoned "
                             "changes can be restored")
        row.status = "NEW"
        row.updated_at = now
        s.add(EventRow(connection=connection, project=row.project, branch=row.branch,
                       change_number=row.number, patchset=row.patchset, created_at=now,
                       type="change-restored", data={"comment": message or "Restored"}))
    store.notifier.notify(channels.SCHEDULER)
    return f"restored change {number}"
