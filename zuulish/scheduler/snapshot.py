"""Read a pipeline's queues from the store into model objects."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

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
    Ref,
    RefKey,
)
from zuulish.store import BuildRow, BuildSetRow, ChangeQueueRow, QueueItemRow

# What a pass reads of each build: never the frozen job or the parameters (large JSON).
BUILD_COLUMNS = (BuildRow.id, BuildRow.buildset_id, BuildRow.job, BuildRow.state,
                 BuildRow.voting, BuildRow.result, BuildRow.started_at, BuildRow.finished_at,
                 BuildRow.message, BuildRow.child_jobs, BuildRow.paused)


class StateCache:
    """Repo states and job graphs of build sets, kept across passes.

    Both are written once, when the merge result is taken in, and never change,
    so a pass decodes only those of build sets it has not seen yet.
    """

    def __init__(self, limit: int = 100_000):
        self.limit = limit
        self.states: dict[int, tuple[dict[str, Any], JobGraph | None]] = {}

    def fill(self, session: Session, rows: list[BuildSetRow]) -> None:
        wanted = [r.id for r in rows
                  if r.merge_state != MergeState.PENDING and r.id not in self.states]
        if not wanted:
            return
        if len(self.states) + len(wanted) > self.limit:
            self.states.clear()
        for bs_id, repo_state, graph in session.execute(
                select(BuildSetRow.id, BuildSetRow.repo_state, BuildSetRow.job_graph)
                .where(BuildSetRow.id.in_(wanted))):
            self.states[bs_id] = (repo_state or {},
                                  JobGraph.from_dict(graph) if graph is not None else None)

    def get(self, bs_id: int) -> tuple[dict[str, Any], JobGraph | None]:
        return self.states.get(bs_id, ({}, None))


def buildset_from_row(row: BuildSetRow, builds: list[Any], cache: StateCache) -> BuildSet:
    repo_state, graph = cache.get(row.id)
    bs = BuildSet(
        id=row.id,
        item_id=row.item_id,
        ahead=tuple(row.ahead),
        merge_state=MergeState(row.merge_state),
        message=row.message,
        repo_state=repo_state,
        job_graph=graph,
    )
    for b in builds:
        if b.state == BuildState.CANCELED and b.result is None:
            continue
        if b.job in bs.builds:  # run again (a retried failure): the newest counts
            bs.retried[b.job] = bs.retried.get(b.job, 0) + 1
        bs.builds[b.job] = Build(id=b.id, buildset_id=b.buildset_id, job=b.job,
                                 state=BuildState(b.state), voting=b.voting, result=b.result,
                                 started_at=b.started_at, finished_at=b.finished_at,
                                 message=b.message,
                                 child_jobs=None if b.child_jobs is None
                                 else tuple(b.child_jobs), paused=b.paused)
    return bs


def load_queues(session: Session, tenant: str, pipeline: str,
                sources: dict[str, Source], default_window: int,
                cache: StateCache | None = None,
                names: Collection[str] | None = None) -> list[ChangeQueue]:
    """The pipeline's queues (those in ``names``, or all) with their items in order,
    current build sets attached."""
    cache = cache if cache is not None else StateCache()
    query = select(QueueItemRow).where(QueueItemRow.tenant == tenant,
                                       QueueItemRow.pipeline == pipeline,
                                       QueueItemRow.state == "queued")
    if names is not None:
        query = query.where(QueueItemRow.queue_name.in_(sorted(names)))
    items = session.scalars(query.order_by(QueueItemRow.queue_name, QueueItemRow.sequence)).all()
    if not items:
        return []
    ids = [i.id for i in items]
    buildsets: dict[int, BuildSetRow] = {}
    alternates: dict[int, BuildSetRow] = {}
    for bs in session.scalars(
            select(BuildSetRow).options(defer(BuildSetRow.repo_state),
                                        defer(BuildSetRow.job_graph))
            .where(BuildSetRow.item_id.in_(ids),
                   BuildSetRow.current.is_(True) | BuildSetRow.alternate.is_(True))):
        (buildsets if bs.current else alternates)[bs.item_id] = bs
    cache.fill(session, [*buildsets.values(), *alternates.values()])
    builds: dict[int, list[Any]] = defaultdict(list)
    if buildsets or alternates:
        bs_ids = [bs.id for bs in (*buildsets.values(), *alternates.values())]
        for b in session.execute(select(*BUILD_COLUMNS).where(BuildRow.buildset_id.in_(bs_ids))
                                 .order_by(BuildRow.created_at)):
            builds[b.buildset_id].append(b)
    window_query = select(ChangeQueueRow).where(ChangeQueueRow.tenant == tenant,
                                                ChangeQueueRow.pipeline == pipeline)
    if names is not None:
        window_query = window_query.where(ChangeQueueRow.name.in_(sorted(names)))
    rows = {q.name: q for q in session.scalars(window_query)}
    windows = {name: q.window for name, q in rows.items()}
    queues: dict[str, ChangeQueue] = {}
    for row in items:
        queue = queues.get(row.queue_name)
        if queue is None:
            queue = ChangeQueue(pipeline, row.queue_name,
                                windows.get(row.queue_name, default_window))
            if row.queue_name in rows:
                queue.failure_rate = rows[row.queue_name].failure_rate
            queues[row.queue_name] = queue
        change: Change | Ref | None
        if row.change_number is None:  # a ref update or a branch tip
            ref = row.ref or f"refs/heads/{row.branch}"
            change = Ref(RefKey(row.connection, row.project, ref, row.commit_sha),
                         project=row.project, branch=row.branch, ref=ref,
                         newrev=row.commit_sha, oldrev=row.oldrev)
        else:
            change = sources[row.connection].get_change(row.change_number)
        if change is None:  # vanished from the source; keep a minimal record
            change = Change(ChangeKey(row.connection, row.change_number), row.project,
                            row.branch, row.patchset or 0, "")
        bs_row = buildsets.get(row.id)
        alt_row = alternates.get(row.id)
        queue.items.append(QueueItem(
            id=row.id, pipeline=pipeline, queue=row.queue_name, change=change,
            enqueued_at=row.enqueued_at, live=row.live,
            buildset=buildset_from_row(bs_row, builds[bs_row.id], cache) if bs_row else None,
            position=len(queue.items), verified_at=row.verified_at,
            alternate=buildset_from_row(alt_row, builds[alt_row.id], cache) if alt_row
            else None))
    return list(queues.values())
