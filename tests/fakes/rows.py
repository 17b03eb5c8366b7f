"""Store rows for tests that need a build: one queued item and its current build set."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from zuulish.store import BuildSetRow, QueueItemRow


def item_with_buildset(s: Session, **item: Any) -> int:
    """Add a queued change item (change 1 of ``org/app`` in ``gate``, unless ``item``
    says otherwise) with a merged current build set; return the build set's id."""
    fields: dict[str, Any] = dict(
        tenant="t", pipeline="gate", queue_name="q", connection="c", change_number=1,
        patchset=1, commit_sha="0" * 40, project="org/app", branch="main", live=True,
        state="queued", sequence=1, enqueued_at=0.0, event_id=0)
    fields.update(item)
    row = QueueItemRow(**fields)
    s.add(row)
    s.flush()
    bs = BuildSetRow(uuid="bs", item_id=row.id, current=True, ahead=[],
                     merge_state="merged", created_at=0.0)
    s.add(bs)
    s.flush()
    return bs.id
