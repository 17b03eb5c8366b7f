"""Read a pipeline's queues from the store into model objects."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from zuulish.drivers.interfaces import Source
from zuulish.model import (
    Build,
    BuildSet,
    BuildState,
    Change,
    ChangeKey,
    ChangeQueue,
    JobGraph,
    MergeState,
    QueueItem,
)
from zuulish.store import BuildRow, BuildSetRow, ChangeQueueRow, QueueItemRow


def buildset_from_row(row: BuildSetRow, builds: list[BuildRow]) -> BuildSet:
    bs = BuildSet(
        id=row.id,
        item_id=row.item_id,
        ahead=tuple(row.ahead),
        merge_state=MergeState(row.merge_state),
        message=row.message,
        repo_state=row.repo_state or {},
        job_graph=JobGraph.from_dict(row.job_graph) if row.job_graph is not None else None,
    )
    for b in builds:
        if b.state == BuildState.CANCELED and b.result is None:
            continue
        bs.builds[b.job] = Build(id=b.id, buildset_id=b.buildset_id, job=b.job,
                                 state=BuildState(b.state), voting=b.voting, result=b.result,
                                 started_at=b.started_at, finished_at=b.finished_at,
                                 message=b.message)
    return bs


def load_queues(session: Session, tenant: str, pipeline: str,
                sources: dict[str, Source], default_window: int) -> list[ChangeQueue]:
    """Every queue of the pipeline with its items in order, current build sets attached."""
    items = session.scalars(
        select(QueueItemRow)
        .where(QueueItemRow.tenant == tenant, QueueItemRow.pipeline == pipeline,
               QueueItemRow.state == "queued")
        .order_by(QueueItemRow.queue_name, QueueItemRow.sequence)
    ).all()
    if not items:
        return []
    ids = [i.id for i in items]
    buildsets = {bs.item_id: bs for bs in session.scalars(
        select(BuildSetRow).where(BuildSetRow.item_id.in_(ids), BuildSetRow.current.is_(True)))}
    builds: dict[int, list[BuildRow]] = defaultdict(list)
    if buildsets:
        bs_ids = [bs.id for bs in buildsets.values()]
        for b in session.scalars(select(BuildRow).where(BuildRow.buildset_id.in_(bs_ids))
                                 .order_by(BuildRow.created_at)):
            builds[b.buildset_id].append(b)
    windows = {q.name: q.window for q in session.scalars(
        select(ChangeQueueRow).where(ChangeQueueRow.tenant == tenant,
                                     ChangeQueueRow.pipeline == pipeline))}
    queues: dict[str, ChangeQueue] = {}
    for row in items:
        queue = queues.get(row.queue_name)
        if queue is None:
            queue = ChangeQueue(pipeline, row.queue_name,
                                windows.get(row.queue_name, default_window))
            queues[row.queue_name] = queue
        change = sources[row.connection].get_change(row.change_number)
        if change is None:  # vanished from the source; keep a minimal record
            change = Change(ChangeKey(row.connection, row.change_number), row.project,
                            row.branch, row.patchset, "")
        bs_row = buildsets.get(row.id)
        queue.items.append(QueueItem(
            id=row.id, pipeline=pipeline, queue=row.queue_name, change=change,
            enqueued_at=row.enqueued_at, live=row.live,
            buildset=buildset_from_row(bs_row, builds[bs_row.id]) if bs_row else None,
            position=len(queue.items)))
    return list(queues.values())
