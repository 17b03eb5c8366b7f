"""The scheduler's imperative shell: events in, decisions applied through the store.

Each pass: handle new events (enqueue, dequeue, reconfigure), take in finished
merges and node requests, then ask each pipeline manager what to do and apply
it. Decisions come from the pure planners (``independent``, ``dependent``,
``serial``, ``supercedent``); everything here is bookkeeping in the store and
calls to driver interfaces.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, defer

from zuulish.clock import Clock
from zuulish.config.freeze import freeze_job_graph
from zuulish.config.layout import Layout
from zuulish.drivers.interfaces import Reporter, Source
from zuulish.errors import ConfigError, ForgeUnavailable, UserError
from zuulish.merger.speculative import DEFAULT_MODE
from zuulish.metrics import ProcessMetrics
from zuulish.model import (
    TIMER,
    BuildResult,
    BuildSet,
    BuildState,
    Change,
    ChangeKey,
    ChangeQueue,
    EventMeaning,
    MergeState,
    Pipeline,
    PipelineManager,
    QueueItem,
    Ref,
    RefKey,
    TriggerEvent,
    branch_of,
    change_name,
    is_null_rev,
)
from zuulish.model.job_graph import JobGraph
from zuulish.model.pipeline import TriggerFilter
from zuulish.model.requirements import trigger_refusal
from zuulish.model.returned_data import ParentBuild, inherited
from zuulish.nodepool.requests import (
    attempts_of,
    node_alternatives,
    retry_on_new_nodes,
    use_alternative,
)
from zuulish.nodepool.wants import want_of
from zuulish.scheduler import management
from zuulish.scheduler.actions import (
    Action,
    CancelJobs,
    DropAlternate,
    FailJobs,
    MarkVerified,
    Report,
    SetFailureRate,
    SkipJobs,
    StartBuildSet,
    StartJobs,
    Supersede,
    UseAlternate,
)
from zuulish.scheduler.batching import plan_batched
from zuulish.scheduler.behind import changes_behind
from zuulish.scheduler.dependent import plan_dependent
from zuulish.scheduler.dirty import DirtyQueues
from zuulish.scheduler.enqueue import plan_enqueue
from zuulish.scheduler.flakes import with_flaky_retries
from zuulish.scheduler.independent import plan_independent
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.scheduler.management import ChangeRef, ManagementError, parse_change
from zuulish.scheduler.priority import node_priority
from zuulish.scheduler.reporting import RESULTS, Returned, report_message, returned_for_report
from zuulish.scheduler.requirements import check_requirements, requirements_wanted
from zuulish.scheduler.semaphores import admit, count_holders, semaphores_wanted
from zuulish.scheduler.serial import plan_serial
from zuulish.scheduler.snapshot import StateCache, load_queues
from zuulish.scheduler.subqueues import Footprint
from zuulish.scheduler.supercedent import plan_supercedent
from zuulish.scheduler.topics import with_topic_needs
from zuulish.store import (
    BuildRow,
    BuildSetRow,
    ChangeQueueRow,
    EventRow,
    MergeRequestRow,
    NodeRequestRow,
    NodeRow,
    QueueItemRow,
    Store,
)
from zuulish.store import notify as channels
from zuulish.store.database import after_commit

log = logging.getLogger(__name__)

# Node request states that answer a build: nodes given, failed (the launcher could
# not launch them: asked again while attempts remain), or declined (no provider
# offers the labels: final at once).
ANSWERED = ("fulfilled", "failed", "declined")


@dataclass
class PassResult:
    """What one scheduler pass did (for tests, metrics and the loop)."""

    events: int = 0
    actions: list[Action] = field(default_factory=list)
    merges: int = 0
    node_requests: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.events or self.actions or self.merges or self.node_requests)


def _merged_via(item: QueueItem, via: QueueItem) -> str:
    """Why an item merged as another item's tested state (a batch, or a failing
    item forgiven by the passing state behind it)."""
    assert isinstance(via.change, Change)
    text = (f"Tested in the state of change {via.change.key.number},{via.change.patchset}, "
            "which holds this change and the changes ahead of it; that state passed and "
            "is what merged.")
    if item.buildset is not None and item.buildset.failing:
        text += (" This change's own state failed, but a bad change fails every state "
                 "that holds it, so that failure was taken for a flaky one.")
    return text


class Scheduler:
    def __init__(self, store: Store, clock: Clock, layouts: TenantLayouts,
                 sources: dict[str, Source], reporters: dict[str, Reporter], web_url: str,
                 metrics: ProcessMetrics | None = None):
        self.store = store
        self.metrics = metrics or ProcessMetrics()
        self.clock = clock
        self.layouts = layouts
        self.sources = sources
        self.reporters = reporters
        self.web_url = web_url
        self._seen: dict[int, frozenset[str]] = {}  # item id -> projects its jobs see
        self._states = StateCache()  # build set id -> repo state and job graph
        self._dirty = DirtyQueues()  # what the next pass plans (everything, at first)
        self._layout_seen: dict[str, int] = {}  # tenant -> id of the layout last planned
        # a forge that could not answer (ForgeUnavailable): connection -> when to ask again
        self._forge_waits: dict[str, float] = {}
        # items whose merge must wait for their forge: id -> (when, tenant, pipeline, queue)
        self._merge_waits: dict[int, tuple[float, str, str, str]] = {}
        # pipelines whose queues could not be read from their forge: -> when to try again
        self._plan_waits: dict[tuple[str, str], float] = {}

    # ------------------------------------------------------------------ loop
    def run_once(self) -> PassResult:
        result = PassResult()
        result.events = self.process_events()
        result.merges = self.process_merge_results()
        result.node_requests = self.process_node_requests()
        self._notice_finished_builds()
        for tenant, layout in list(self.layouts.layouts.items()):
            if self._layout_seen.get(tenant) != id(layout):
                self._layout_seen[tenant] = id(layout)
                self._dirty.mark_tenant(tenant)
        now = self.clock.now()
        for item_id, (when, tenant, pipeline_name, queue) in list(self._merge_waits.items()):
            if when <= now:  # its merge is due again
                del self._merge_waits[item_id]
                self._dirty.mark(tenant, pipeline_name, queue)
        for (tenant, pipeline_name), when in list(self._plan_waits.items()):
            if when <= now:
                del self._plan_waits[(tenant, pipeline_name)]
                self._dirty.mark_pipeline(tenant, pipeline_name)
        dirty = self._dirty.take()
        for tenant, layout in list(self.layouts.layouts.items()):
            for pipeline in layout.pipelines.values():
                result.actions.extend(self.process_pipeline(
                    tenant, layout, pipeline, dirty.of(tenant, pipeline.name)))
        return result

    def replan(self, tenant: str | None = None) -> None:
        """Plan every queue (of ``tenant``, or everywhere) in the next pass."""
        if tenant is None:
            self._dirty.everything = True
        else:
            self._dirty.mark_tenant(tenant)

    def _notice_finished_builds(self) -> None:
        """Mark the queues of builds that finished since the last pass (executors
        and launchers write results straight to the store) and note them seen."""
        with self.store.read() as s:
            if s.scalar(select(BuildRow.id).where(
                    BuildRow.noticed.is_(False),
                    BuildRow.state.in_((BuildState.COMPLETED, BuildState.CANCELED))
                    | BuildRow.paused.is_(True))
                    .limit(1)) is None:
                return  # nothing finished: no write transaction
        with self.store.session() as s:
            rows = s.execute(
                select(BuildRow.id, QueueItemRow.tenant, QueueItemRow.pipeline,
                       QueueItemRow.queue_name, BuildRow.frozen_job)
                .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                .where(BuildRow.noticed.is_(False),
                       BuildRow.state.in_((BuildState.COMPLETED, BuildState.CANCELED))
                       | BuildRow.paused.is_(True))).all()
            for _build, tenant, pipeline, queue, frozen in rows:
                self._dirty.mark(tenant, pipeline, queue)
                if (frozen or {}).get("semaphores"):
                    # a semaphore came free: a job of any pipeline may be waiting for it
                    self._dirty.mark_tenant(tenant)
            if rows:
                s.execute(update(BuildRow).where(BuildRow.id.in_([r[0] for r in rows]))
                          .values(noticed=True))

    # ---------------------------------------------------------------- events
    def process_events(self, limit: int = 100) -> int:
        """Handle stored events in order. An event whose forge cannot answer now
        (ForgeUnavailable) stays unprocessed, and so do its connection's later events
        (their order matters), until the forge's wait is over."""
        now = self.clock.now()
        waiting = {c for c, until in self._forge_waits.items() if until > now}
        query = select(EventRow).where(EventRow.processed_at.is_(None))
        if waiting:
            query = query.where(EventRow.connection.not_in(waiting))
        with self.store.read() as s:
            rows = s.scalars(query.order_by(EventRow.id).limit(limit)).all()
        handled = 0
        for row in rows:
            if row.connection in waiting:
                continue
            try:
                outcome = self.handle_event(row)
            except ForgeUnavailable as exc:
                self._forge_waits[row.connection] = self.clock.now() + exc.after
                waiting.add(row.connection)
                log.warning("event %s (%s): %s; it and the connection's later events are "
                            "handled again in %.0f s", row.id, row.connection, exc, exc.after)
                continue
            except UserError as exc:
                outcome = f"error: {exc}"
            except Exception as exc:  # a bug: log it, but never lose the queue
                log.exception("error handling event %s", row.id)
                outcome = f"internal error: {exc!r}"
            with self.store.session() as s:
                s.execute(update(EventRow).where(EventRow.id == row.id)
                          .values(processed_at=self.clock.now(), outcome=outcome))
            self.metrics.event_handled(row.connection, row.type, row.created_at, self.clock.now())
            handled += 1
        return handled

    def handle_event(self, row: EventRow) -> str:
        if row.connection == management.CONNECTION:
            return self.handle_management(row)
        if row.connection == TIMER:
            return self.handle_timer(row)
        data = row.data or {}
        event = TriggerEvent(
            id=row.id, connection=row.connection, type=row.type, project=row.project,
            branch=row.branch, change_number=row.change_number, patchset=row.patchset,
            comment=data.get("comment"), approvals=dict(data.get("approvals") or {}),
            ref=data.get("ref"), oldrev=data.get("oldrev"), newrev=data.get("newrev"),
            account=data.get("account"), action=data.get("action"), data=dict(data))
        tenants = self.layouts.tenants_for(event.connection, event.project)
        if not tenants:
            return f"ignored: no tenant includes project {event.project!r} on " \
                   f"connection {event.connection!r}"
        outcomes = []
        for tenant in tenants:
            meaning = event.meaning
            if meaning == EventMeaning.BRANCH_UPDATED:
                started = time.perf_counter()
                self.layouts.reload(tenant, event.project)
                self.metrics.reconfigured("project", time.perf_counter() - started)
                refused = self.layouts.refused.get(tenant)
                outcomes.append(f"{tenant}: reconfigured" if refused is None else
                                f"{tenant}: configuration not applied ({len(refused.errors)} "
                                "new error(s)); the last good layout stays")
            if meaning in (EventMeaning.BRANCH_UPDATED, EventMeaning.MERGED,
                           EventMeaning.ABANDONED, EventMeaning.TOPIC_CHANGED):
                # needs met or lost anywhere (a topic's changes need each other where
                # a queue sets dependencies-by-topic)
                self._dirty.mark_tenant(tenant)
            if event.change_number is not None and meaning in (
                    EventMeaning.NEW_PATCHSET, EventMeaning.ABANDONED, EventMeaning.MERGED):
                n = self._dequeue_change(tenant, event)
                if n:
                    outcomes.append(f"{tenant}: dequeued {n} item(s) of change "
                                    f"{event.change_number}")
            layout = self.layouts.layouts[tenant]
            for pipeline in layout.pipelines.values():
                matched = [f for f in pipeline.triggers if f.matches(event)]
                if matched:
                    outcomes.append(f"{tenant}/{pipeline.name}: "
                                    + self.enqueue(tenant, layout, pipeline, event, matched))
        return "; ".join(outcomes) or "no pipeline matched"

    def handle_timer(self, row: EventRow) -> str:
        """A periodic pipeline's tick for one project branch: enqueue the branch tip."""
        data = row.data or {}
        tenant, name = str(data.get("tenant")), str(data.get("pipeline"))
        layout = self.layouts.layouts.get(tenant)
        pipeline = layout.pipelines.get(name) if layout is not None else None
        if layout is None or pipeline is None:
            return f"ignored: tenant {tenant} has no pipeline {name!r} any more"
        if not any(f.connection == TIMER for f in pipeline.triggers):
            return f"ignored: pipeline {name} no longer has a timer trigger"
        tp = self.layouts.tenants[tenant].project(row.project or "")
        if tp is None:
            return f"ignored: tenant {tenant} has no project {row.project!r} any more"
        source = self.sources.get(tp.connection)
        tip = source.branch_tip(tp.name, row.branch or "") if source is not None else None
        if tip is None:
            return f"ignored: {tp.name} has no branch {row.branch!r} any more"
        event = TriggerEvent(id=row.id, connection=tp.connection, type=TIMER, project=tp.name,
                             branch=row.branch, ref=f"refs/heads/{row.branch}", newrev=tip)
        return f"{tenant}/{name}: " + self.enqueue(tenant, layout, pipeline, event)

    # ------------------------------------------------------------ management
    def handle_management(self, row: EventRow) -> str:
        """Carry out an enqueue, dequeue, promote or tenant-reconfigure request (see
        ``management``)."""
        data = row.data or {}
        if row.type == management.RECONFIGURE:
            return self._reconfigure(data.get("tenant"), data.get("account"))
        tenant = str(data.get("tenant"))
        layout = self.layouts.layouts.get(tenant)
        if layout is None:
            raise ManagementError(f"no tenant named {tenant!r}")
        name = str(data.get("pipeline"))
        pipeline = layout.pipelines.get(name)
        if pipeline is None:
            raise ManagementError(f"tenant {tenant} has no pipeline {name!r} (it has: "
                                  f"{', '.join(sorted(layout.pipelines)) or 'none'})")
        who = data.get("account") or "an administrator"
        if row.type == "promote":
            return self._promote(tenant, pipeline,
                                 [parse_change(c) for c in data.get("changes") or []])
        project = str(data.get("project"))
        tp = self.layouts.tenants[tenant].project(project)
        if tp is None:
            raise ManagementError(f"tenant {tenant} has no project {project!r}")
        if row.type == "enqueue" and data.get("ref"):
            return self._enqueue_ref_by_request(tenant, layout, pipeline, row, tp.connection,
                                                project, who)
        ref = parse_change(data.get("change"))
        if row.type == "dequeue":
            return self._dequeue_by_request(tenant, pipeline, tp.connection, ref, who)
        if row.type != "enqueue":
            raise ManagementError(f"unknown management command {row.type!r}")
        source = self.sources[tp.connection]
        change = source.get_change(ref.number)
        if change is None or change.project != project:
            raise ManagementError(f"project {project} has no change {ref.number}")
        if ref.patchset is not None and ref.patchset != change.patchset:
            raise ManagementError(f"change {ref.number} is at patch set {change.patchset}, "
                                  f"not {ref.patchset}; only the current one can be enqueued")
        event = TriggerEvent(id=row.id, connection=tp.connection, type="enqueue",
                             project=project, branch=change.branch,
                             change_number=change.key.number, patchset=change.patchset,
                             account=data.get("account"))
        outcome = self.enqueue(tenant, layout, pipeline, event)
        if not outcome.startswith("enqueued"):
            raise ManagementError(f"{tenant}/{pipeline.name}: {outcome}")
        return f"{tenant}/{pipeline.name}: {outcome} (by {who})"

    def _reconfigure(self, tenant: str | None, who: str | None) -> str:
        """Re-read the tenant file and every project's configuration; a tenant whose
        new configuration has errors keeps its running layout, and the answer is an
        error that says why."""
        started = time.perf_counter()
        results = self.layouts.reconfigure(tenant)  # ConfigError: the tenant file
        self.metrics.reconfigured("full", time.perf_counter() - started)
        for result in results:
            self.replan(result.tenant)
        text = "; ".join(r.describe() for r in results) or "no tenants"
        log.info("reconfiguration (by %s): %s", who or "an administrator", text)
        if any(not r.applied for r in results):
            raise ManagementError(text)
        return text

    def _enqueue_ref_by_request(self, tenant: str, layout: Layout, pipeline: Pipeline,
                                row: EventRow, connection: str, project: str,
                                who: str) -> str:
        """``zuulish enqueue --ref``: a ref at ``newrev``, by default its branch's tip."""
        data = row.data or {}
        ref, newrev = str(data["ref"]), data.get("newrev")
        branch = branch_of(ref)
        if newrev is None:
            if branch is None:
                raise ManagementError(f"{ref} is not a branch; name the commit to test "
                                      "(newrev)")
            newrev = self.sources[connection].branch_tip(project, branch)
            if newrev is None:
                raise ManagementError(f"project {project} has no branch {branch!r}")
        event = TriggerEvent(id=row.id, connection=connection, type="enqueue",
                             project=project, branch=branch or ref, ref=ref, newrev=newrev,
                             account=data.get("account"))
        outcome = self.enqueue(tenant, layout, pipeline, event)
        if not outcome.startswith("enqueued"):
            raise ManagementError(f"{tenant}/{pipeline.name}: {outcome}")
        return f"{tenant}/{pipeline.name}: {outcome} (by {who})"

    def _dequeue_by_request(self, tenant: str, pipeline: Pipeline, connection: str,
                            ref: ChangeRef, who: str) -> str:
        with self.store.session() as s:
            query = select(QueueItemRow).where(
                QueueItemRow.tenant == tenant, QueueItemRow.pipeline == pipeline.name,
                QueueItemRow.state == "queued", QueueItemRow.connection == connection,
                QueueItemRow.change_number == ref.number)
            if ref.patchset is not None:
                query = query.where(QueueItemRow.patchset == ref.patchset)
            rows = s.scalars(query).all()
            if not rows:
                raise ManagementError(f"change {ref} is not in {tenant}/{pipeline.name}")
            for item in rows:
                self._end_item(s, item, "dequeued", None, f"dequeued by {who}")
        change = self.sources[connection].get_change(ref.number)
        if change is not None and pipeline.dequeue:
            self._report_change(tenant, pipeline, change, "dequeue", f"Dequeued by {who}.")
        self.store.notifier.notify(channels.SCHEDULER)
        return f"{tenant}/{pipeline.name}: dequeued change {ref} (by {who})"

    def _promote(self, tenant: str, pipeline: Pipeline, refs: list[ChangeRef]) -> str:
        """Move the changes to the head of their queues, in the order given; every
        item's state is then rebuilt in the new order."""
        if pipeline.manager != PipelineManager.DEPENDENT:
            raise ManagementError(f"pipeline {pipeline.name} uses the {pipeline.manager} "
                                  "manager; only dependent pipelines can be promoted")
        if not refs:
            raise ManagementError("promote needs at least one change")
        with self.store.session() as s:
            rows = s.scalars(select(QueueItemRow).where(
                QueueItemRow.tenant == tenant, QueueItemRow.pipeline == pipeline.name,
                QueueItemRow.state == "queued")).all()
            by_number = {r.change_number: r for r in rows}
            missing = [str(r) for r in refs if r.number not in by_number
                       or (r.patchset is not None
                           and by_number[r.number].patchset != r.patchset)]
            if missing:
                raise ManagementError(f"not in {tenant}/{pipeline.name}: "
                                      f"{', '.join(missing)}; nothing was moved")
            low = min(r.sequence for r in rows)
            self._dirty.mark_pipeline(tenant, pipeline.name)
            for offset, ref in enumerate(refs):
                by_number[ref.number].sequence = low - len(refs) + offset
        self.store.notifier.notify(channels.SCHEDULER)
        return (f"{tenant}/{pipeline.name}: promoted "
                f"{', '.join(str(r) for r in refs)} to the head")

    def _dequeue_change(self, tenant: str, event: TriggerEvent) -> int:
        """A new patch set, an abandon or a merge elsewhere ends older items."""
        with self.store.session() as s:
            query = select(QueueItemRow).where(
                QueueItemRow.tenant == tenant, QueueItemRow.state == "queued",
                QueueItemRow.connection == event.connection,
                QueueItemRow.change_number == event.change_number)
            if event.meaning == EventMeaning.NEW_PATCHSET and event.patchset is not None:
                layout = self.layouts.layouts.get(tenant)
                keep = [p.name for p in layout.pipelines.values()
                        if not p.dequeue_on_new_patchset] if layout else []
                query = query.where(QueueItemRow.patchset < event.patchset,
                                    QueueItemRow.pipeline.not_in(keep))
            rows = [item for item in s.scalars(query).all()
                    if not (event.meaning == EventMeaning.MERGED
                            and _merged_by(s, item, event))]
            for item in rows:
                self._end_item(s, item, "dequeued", None,
                               f"dequeued by {event.type} of change {event.change_number}")
        layout = self.layouts.layouts.get(tenant)
        source = self.sources.get(event.connection)
        change = source.get_change(event.change_number) if source else None
        for item in rows:
            pipeline = layout.pipelines.get(item.pipeline) if layout else None
            if pipeline is not None and pipeline.dequeue and change is not None:
                change.patchset = item.patchset
                self._report_change(tenant, pipeline, change, "dequeue",
                                    f"Removed because of {event.type}.")
        return len(rows)

    # --------------------------------------------------------------- enqueue
    def enqueue(self, tenant: str, layout: Layout, pipeline: Pipeline,
                event: TriggerEvent, triggers: Sequence[TriggerFilter] = ()) -> str:
        """Enqueue what ``event`` is about; ``triggers`` are the pipeline's trigger
        entries that matched it (none for an administrator's request), of which one
        must also admit the change when they ask something of it."""
        if event.change_number is None:
            if event.ref and event.newrev is not None:
                refusal = trigger_refusal(triggers, None, self.clock.now())
                if refusal:
                    return f"not enqueued: {refusal}, and {event.ref} is not a change"
                return self._enqueue_ref(tenant, layout, pipeline, event)
            return "ignored: the event is not about a change"
        source = self.sources.get(event.connection)
        change = source.get_change(event.change_number) if source else None
        if change is None:
            return f"rejected: change {event.change_number} does not exist"
        refusal = trigger_refusal(triggers, change, self.clock.now())
        if refusal:
            return f"not enqueued: {refusal}"
        outcome, enqueued = self._enqueue_change(tenant, layout, pipeline, change, event.id)
        behind = self._enqueue_behind(tenant, layout, pipeline, enqueued, event.id)
        return outcome + (f" (and behind them: {behind})" if behind else "")

    def _enqueue_behind(self, tenant: str, layout: Layout, pipeline: Pipeline,
                        enqueued: list[Change], event_id: int) -> str:
        """Zuul's "enqueue changes behind" (dependent pipelines; see ``behind``): the
        changes that need one just enqueued enter behind it when they meet the
        pipeline's requirements; what they need in turn, likewise."""
        if pipeline.manager != PipelineManager.DEPENDENT:
            return ""
        tenant_config = self.layouts.tenants[tenant]
        pending, seen, entered = list(enqueued), {c.key for c in enqueued}, []
        while pending:
            for change in changes_behind(pending.pop(0), self.sources):
                if change.key in seen:
                    continue
                seen.add(change.key)
                tp = tenant_config.project(change.project)
                if tp is None or tp.connection != change.key.connection:
                    continue  # another tenant's change
                try:
                    outcome, more = self._enqueue_change(tenant, layout, pipeline, change,
                                                         event_id, quiet=True)
                except ForgeUnavailable as exc:
                    # the change ahead is in already; this one waits for its next event
                    log.warning("%s/%s: %s waits on a change just enqueued but cannot be "
                                "planned now: %s", tenant, pipeline.name,
                                change_name(change.key, change), exc)
                    continue
                log.info("%s/%s: %s waits on a change just enqueued: %s", tenant,
                         pipeline.name, change_name(change.key, change), outcome)
                entered += [c for c in more if c.key not in {e.key for e in entered}]
                pending.extend(more)
                seen.update(c.key for c in more)
        return ", ".join(str(c.key.number) for c in entered)

    def _enqueue_change(self, tenant: str, layout: Layout, pipeline: Pipeline,
                        change: Change, event_id: int,
                        quiet: bool = False) -> tuple[str, list[Change]]:
        """Plan and enqueue ``change`` with what it needs: the outcome and the changes
        enqueued. ``quiet``: a refusal is not reported on the change (a change behind
        one just enqueued, which nobody asked to enqueue now)."""
        query = select(QueueItemRow.connection, QueueItemRow.change_number,
                       QueueItemRow.patchset, QueueItemRow.queue_name).where(
            QueueItemRow.tenant == tenant, QueueItemRow.pipeline == pipeline.name,
            QueueItemRow.state == "queued")
        if pipeline.manager in (PipelineManager.INDEPENDENT, PipelineManager.SUPERCEDENT):
            # only the change itself matters: its needs are not items of their own
            query = query.where(QueueItemRow.connection == change.key.connection,
                                QueueItemRow.change_number == change.key.number)
        with self.store.read() as s:
            queued = s.execute(query).all()
        already = {ChangeKey(c, n) for c, n, p, _ in queued
                   if c != change.key.connection or n != change.key.number
                   or p == change.patchset}
        queue_of = {ChangeKey(c, n): q for c, n, _, q in queued}
        tenant_config = self.layouts.tenants[tenant]

        def in_tenant(connection: str, project: str) -> bool:
            tp = tenant_config.project(project)
            return tp is not None and tp.connection == connection

        plan = plan_enqueue(change, pipeline, layout, self.sources, already, queue_of,
                            in_tenant, now=self.clock.now())
        if plan.rejection:
            if not plan.silent and not quiet:
                self._report_change(tenant, pipeline, change, "rejected", plan.rejection)
            return f"not enqueued: {plan.rejection}", []
        with self.store.session() as s:
            for c in plan.changes:
                self._add_item(s, tenant, layout, pipeline, c, event_id)
            self._supercede(s, tenant, pipeline, plan.changes)
        for c in plan.changes:
            if pipeline.enqueue:
                self._report_change(tenant, pipeline, c, "enqueue", "")
        self.store.notifier.notify(channels.SCHEDULER)
        return "enqueued " + ", ".join(str(c.key.number) for c in plan.changes), plan.changes

    def _supercede(self, s: Session, tenant: str, pipeline: Pipeline,
                   changes: list[Change]) -> None:
        """Zuul's ``supercedes``: the changes just enqueued leave the pipelines named."""
        if not pipeline.supercedes or not changes:
            return
        for change in changes:
            rows = s.scalars(select(QueueItemRow).where(
                QueueItemRow.tenant == tenant, QueueItemRow.state == "queued",
                QueueItemRow.pipeline.in_(pipeline.supercedes),
                QueueItemRow.connection == change.key.connection,
                QueueItemRow.change_number == change.key.number)).all()
            for item in rows:
                self._end_item(s, item, "dequeued", None,
                               f"superseded by {pipeline.name} (supercedes)")

    def _enqueue_ref(self, tenant: str, layout: Layout, pipeline: Pipeline,
                     event: TriggerEvent) -> str:
        """A ref update (post, tag) or a branch tip (periodic): tested as it is."""
        if not event.ref or event.newrev is None or not event.project:
            return "ignored: the event names no project, ref and commit"
        if is_null_rev(event.newrev):
            return f"ignored: the event deletes {event.ref}; there is nothing to test"
        if pipeline.manager not in (PipelineManager.INDEPENDENT, PipelineManager.SUPERCEDENT):
            return (f"not enqueued: {event.ref} is a ref, not a change; refs run in "
                    f"independent or supercedent pipelines, not {pipeline.manager} ones")
        branch = event.branch or branch_of(event.ref) or event.ref
        ref = Ref(RefKey(event.connection, event.project, event.ref, event.newrev),
                  project=event.project, branch=branch, ref=event.ref, newrev=event.newrev,
                  oldrev=None if is_null_rev(event.oldrev) else event.oldrev)
        if not layout.project_pipeline_jobs(ref.project, pipeline.name, ref.branch):
            return f"not enqueued: project {ref.project!r} has no jobs in pipeline " \
                   f"{pipeline.name!r} on {ref.branch}"
        with self.store.session() as s:
            if s.scalar(select(QueueItemRow.id).where(
                    QueueItemRow.tenant == tenant, QueueItemRow.pipeline == pipeline.name,
                    QueueItemRow.state == "queued", QueueItemRow.change_number.is_(None),
                    QueueItemRow.connection == event.connection,
                    QueueItemRow.project == ref.project, QueueItemRow.ref == ref.ref,
                    QueueItemRow.commit_sha == ref.newrev)) is not None:
                return f"not enqueued: {ref.describe()} is already in {pipeline.name}"
            self._add_item(s, tenant, layout, pipeline, ref, event.id)
        self.store.notifier.notify(channels.SCHEDULER)
        return f"enqueued {ref.describe()}"

    def _add_item(self, s: Session, tenant: str, layout: Layout, pipeline: Pipeline,
                  change: Change | Ref, event_id: int) -> QueueItemRow:
        if pipeline.manager in (PipelineManager.DEPENDENT, PipelineManager.SERIAL):
            queue_name = layout.queue_name(change.project, change.branch)
            if layout.projects.get(change.project) and \
                    s.scalar(select(ChangeQueueRow.id).where(
                        ChangeQueueRow.tenant == tenant,
                        ChangeQueueRow.pipeline == pipeline.name,
                        ChangeQueueRow.name == queue_name)) is None:
                s.add(ChangeQueueRow(tenant=tenant, pipeline=pipeline.name, name=queue_name,
                                     window=pipeline.window.size))
        elif pipeline.manager == PipelineManager.SUPERCEDENT:
            queue_name = f"{change.project}@{change.branch}"
        elif isinstance(change, Ref):
            queue_name = f"{change.project}:{change.ref}@{change.newrev}"
        else:
            queue_name = f"{change.project}:{change.key.number}"
        sequence = self._next_sequence(s, tenant, pipeline)
        row = QueueItemRow(
            tenant=tenant, pipeline=pipeline.name, queue_name=queue_name,
            connection=change.key.connection, commit_sha=change.commit, project=change.project,
            branch=change.branch, live=True, state="queued", sequence=sequence,
            enqueued_at=self.clock.now(), event_id=event_id)
        if isinstance(change, Ref):
            row.ref, row.oldrev = change.ref, change.oldrev
        else:
            row.change_number, row.patchset = change.key.number, change.patchset
        s.add(row)
        s.flush()
        self._dirty.mark(tenant, pipeline.name, queue_name)
        return row

    # ------------------------------------------------------------- pipelines
    def process_pipeline(self, tenant: str, layout: Layout, pipeline: Pipeline,
                         dirty: frozenset[str] | None = None) -> list[Action]:
        """Plan the pipeline's ``dirty`` queues (``None``: all) and apply the
        actions; a queue that had actions is planned again next pass."""
        if dirty is not None and not dirty:
            return []
        try:
            with self.store.read() as s:
                queues = load_queues(s, tenant, pipeline.name, self.sources,
                                     pipeline.window.size, self._states, dirty)
        except ForgeUnavailable as exc:
            # the queues cannot be seen as they are: plan them when the forge answers
            self._plan_waits[(tenant, pipeline.name)] = self.clock.now() + exc.after
            log.warning("%s/%s: not planned now (%s); planned again in %.0f s", tenant,
                        pipeline.name, exc, exc.after)
            return []
        with self.store.read() as s:
            merged_items: set[int] = set()
            merged_changes: set[ChangeKey] = set()
            if pipeline.manager == PipelineManager.DEPENDENT and queues:
                ahead_ids = {a for q in queues for i in q.items if i.buildset
                             for a in i.buildset.ahead}
                if ahead_ids:
                    merged_items = set(s.scalars(select(QueueItemRow.id).where(
                        QueueItemRow.id.in_(ahead_ids), QueueItemRow.state == "merged")))
        actions: list[Action] = []
        items: dict[int, QueueItem] = {}
        for queue in queues:
            if pipeline.manager == PipelineManager.DEPENDENT:
                queue.options = layout.queue_options(queue.name)
                queue = with_flaky_retries(queue)
            if pipeline.manager in (PipelineManager.DEPENDENT, PipelineManager.INDEPENDENT):
                try:
                    queue = self._with_topics(layout, pipeline, queue)
                except ForgeUnavailable as exc:
                    self._plan_waits[(tenant, pipeline.name)] = self.clock.now() + exc.after
                    log.warning("%s/%s: not planned now (%s); planned again in %.0f s",
                                tenant, pipeline.name, exc, exc.after)
                    return []
            items.update({i.id: i for i in queue.items})
            if pipeline.manager == PipelineManager.DEPENDENT:
                for item in queue.items:
                    merged_changes.update(k for k in item.change.needs
                                          if self._is_merged(k))
                if queue.options.batch_size > 1 or queue.options.verify_first:
                    actions.extend(plan_batched(queue, merged_items, merged_changes,
                                                queue.options.batch_size,
                                                queue.options.verify_first))
                    continue
                footprints = self._footprints(layout, pipeline, queue.items) \
                    if queue.options.independent_subqueues else None
                actions.extend(plan_dependent(
                    queue, merged_items, merged_changes, footprints,
                    speculate_failures=queue.options.speculate_failures,
                    trust_later_passes=queue.options.trust_later_passes))
            elif pipeline.manager == PipelineManager.SERIAL:
                actions.extend(plan_serial(queue))
            elif pipeline.manager == PipelineManager.SUPERCEDENT:
                actions.extend(plan_supercedent(queue))
            else:
                actions.extend(plan_independent(queue.items))
        if requirements_wanted(actions, items):
            actions = check_requirements(actions, items)
        graphs = {i.buildset.id: i.buildset.job_graph for i in items.values()
                  if i.buildset is not None and i.buildset.job_graph is not None}
        if semaphores_wanted(actions, graphs):
            actions = admit(actions, graphs, self._semaphore_holders(tenant),
                            layout.semaphore_limits())
        if self._merge_waits:  # merges their forge asked to wait for are not due yet
            now = self.clock.now()
            actions = [a for a in actions if not (
                isinstance(a, Report) and a.merge
                and self._merge_waits.get(a.item_id, (0.0,))[0] > now)]
        for action in actions:
            self.apply(tenant, layout, pipeline, items[action.item_id], action, items)
            self._dirty.mark(tenant, pipeline.name, items[action.item_id].queue)
        return actions

    def _with_topics(self, layout: Layout, pipeline: Pipeline,
                     queue: ChangeQueue) -> ChangeQueue:
        """``queue`` with each change also needing the other open changes of its
        topic as they are now, where its queue sets ``dependencies-by-topic`` (see
        ``topics``). A dependent pipeline's shared queue says for all its items; in
        an independent one, each change's project's queue says, for the items whose
        state is still to be built (those it is tested with, as its Depends-On)."""
        def by_topic(name: str) -> bool:
            options = layout.queue_options(name)
            return options.dependencies_by_topic and options.allow_circular_dependencies

        dependent = pipeline.manager == PipelineManager.DEPENDENT
        if dependent and not by_topic(queue.name):
            return queue
        items = []
        for item in queue.items:
            change = item.change
            if isinstance(change, Change) and change.topic and (dependent or (
                    item.buildset is None
                    and by_topic(layout.queue_name(change.project, change.branch)))):
                item = dataclasses.replace(item, change=with_topic_needs(change,
                                                                         self.sources))
            items.append(item)
        return dataclasses.replace(queue, items=items)

    def _semaphore_holders(self, tenant: str) -> Counter[str]:
        """How many active builds of the tenant hold each semaphore, in any pipeline
        (read from the store: what earlier pipelines of this pass started counts)."""
        with self.store.read() as s:
            active = s.execute(
                select(BuildRow.buildset_id, BuildRow.job)
                .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                .where(QueueItemRow.tenant == tenant,
                       BuildRow.state.in_((BuildState.WAITING, BuildState.QUEUED,
                                           BuildState.RUNNING)))).all()
            ids = {bs_id for bs_id, _job in active}
            if ids:
                self._states.fill(s, list(s.scalars(
                    select(BuildSetRow).options(defer(BuildSetRow.repo_state),
                                                defer(BuildSetRow.job_graph))
                    .where(BuildSetRow.id.in_(ids)))))
        graphs = {bs_id: graph for bs_id in ids
                  if (graph := self._states.get(bs_id)[1]) is not None}
        return count_holders(active, graphs)

    @staticmethod
    def _next_sequence(s: Session, tenant: str, pipeline: Pipeline) -> int:
        """The place after every item of the pipeline: the end of each of its queues."""
        return (s.scalar(select(func.max(QueueItemRow.sequence)).where(
            QueueItemRow.tenant == tenant, QueueItemRow.pipeline == pipeline.name)) or 0) + 1

    def _mark_verified(self, tenant: str, pipeline: Pipeline, item_id: int,
                       keep: bool) -> None:
        """The item passed on its own: it moves to the end of its queue, as the newest
        member of the tested chain. Its state stays when ``keep`` and nothing merged
        since that state was made except what it holds; else it gets a new one."""
        with self.store.session() as s:
            row = s.get(QueueItemRow, item_id)
            if row is None or row.state != "queued" or row.verified_at is not None:
                return
            row.verified_at = self.clock.now()
            row.sequence = self._next_sequence(s, tenant, pipeline)
            bs = s.scalars(select(BuildSetRow).where(BuildSetRow.item_id == item_id,
                                                     BuildSetRow.current.is_(True))).first()
            if keep and bs is not None:
                moved = s.scalars(select(QueueItemRow.id).where(
                    QueueItemRow.tenant == tenant, QueueItemRow.pipeline == pipeline.name,
                    QueueItemRow.queue_name == row.queue_name,
                    QueueItemRow.state == "merged",
                    QueueItemRow.dequeued_at >= bs.created_at)).all()
                keep = set(moved) <= set(bs.ahead)
            if not keep:
                self._retire_buildset(s, item_id)
        self.store.notifier.notify(channels.SCHEDULER)

    def _footprints(self, layout: Layout, pipeline: Pipeline,
                    items: list[QueueItem]) -> dict[int, Footprint]:
        """What each item changes and sees, for independent sub-queues.

        What a job sees is first estimated from the change's own files and then
        widened by the job graph of each state built for it; it only ever grows
        (remembered here, and rebuilt from the current state after a restart), so
        an item is never re-based back and forth.
        """
        out: dict[int, Footprint] = {}
        for item in items:
            sees = set(self._seen.get(item.id, ()))
            if not sees:
                sees.add(item.change.project)
                try:
                    graph = freeze_job_graph(layout, item.change.project, item.change.branch,
                                             pipeline.name, item.change.files or None)
                    sees.update(p for job in graph.jobs.values()
                                for p in (*job.required_projects, *job.content_projects()))
                except ConfigError:
                    pass  # the merge result will say; until then it sees its own repo
            if item.buildset is not None and item.buildset.job_graph is not None:
                sees.update(p for job in item.buildset.job_graph.jobs.values()
                            for p in (*job.required_projects, *job.content_projects()))
            self._seen[item.id] = frozenset(sees)
            out[item.id] = Footprint(frozenset({item.change.project}), frozenset(sees))
        return out

    def _is_merged(self, key: ChangeKey) -> bool:
        source = self.sources.get(key.connection)
        change = source.get_change(key.number) if source else None
        return change is not None and change.is_merged

    def apply(self, tenant: str, layout: Layout, pipeline: Pipeline, item: QueueItem,
              action: Action, items: dict[int, QueueItem] | None = None) -> None:
        if isinstance(action, StartBuildSet):
            self._start_buildset(tenant, layout, pipeline, item, action.ahead, action.bundle,
                                 action.alternate)
        elif isinstance(action, UseAlternate):
            self._use_alternate(action)
        elif isinstance(action, DropAlternate):
            with self.store.session() as s:
                self._drop_alternates(s, action.item_id, only=action.buildset_id)
        elif isinstance(action, StartJobs):
            self._start_jobs(tenant, pipeline, item, action)
        elif isinstance(action, SkipJobs):
            self._skip_jobs(item, action)
        elif isinstance(action, CancelJobs):
            self._cancel_jobs(action)
        elif isinstance(action, FailJobs):
            self._record_unrun(item, action.buildset_id, action.jobs, BuildResult.FAILURE,
                               action.message)
        elif isinstance(action, Report):
            via = (items or {}).get(action.via) if action.via is not None else None
            self._report_item(tenant, pipeline, item, action, via)
        elif isinstance(action, MarkVerified):
            self._mark_verified(tenant, pipeline, item.id, action.keep)
        elif isinstance(action, SetFailureRate):
            with self.store.session() as s:
                queue = s.scalar(select(ChangeQueueRow).where(
                    ChangeQueueRow.tenant == tenant, ChangeQueueRow.pipeline == pipeline.name,
                    ChangeQueueRow.name == item.queue))
                if queue is not None:
                    queue.failure_rate = action.rate
        elif isinstance(action, Supersede):
            with self.store.session() as s:
                row = s.get(QueueItemRow, item.id)
                if row is not None and row.state == "queued":
                    self._end_item(s, row, "dequeued", None,
                                   f"superseded by change {action.by}"
                                   if isinstance(action.by, int)
                                   else f"superseded by {action.by}")

    # -------------------------------------------------------------- buildsets
    def _start_buildset(self, tenant: str, layout: Layout, pipeline: Pipeline,
                        item: QueueItem, ahead: tuple[int, ...],
                        bundle: tuple[int, ...] = (), alternate: bool = False) -> None:
        """Request the item's state on ``ahead`` (and, for a bundle, every member):
        its new current state, or (with ``alternate``) a second one beside it,
        replacing any earlier alternate."""
        changes = self._state_changes(pipeline, item, ahead, bundle)
        projects = {c["project"]: {"connection": c["connection"], "url": c["url"],
                                   "merge_mode": self._merge_mode(layout, c)}
                    for c in changes}
        try:
            graph = freeze_job_graph(layout, item.change.project, item.change.branch,
                                     pipeline.name)
            self._add_job_projects(tenant, projects, graph)
        except ConfigError:
            pass  # reported once the speculative state (and its layout) is known
        if item.buildset is None and pipeline.start and item.live and not alternate:
            self._report_change(tenant, pipeline, item.change, "start", "")
        with self.store.session() as s:
            if alternate:
                self._drop_alternates(s, item.id)
            else:
                self._retire_buildset(s, item.id)
            bs = BuildSetRow(uuid=uuid.uuid4().hex, item_id=item.id, current=not alternate,
                             alternate=alternate,
                             ahead=[*ahead, *(m for m in bundle if m != item.id)],
                             merge_state=MergeState.PENDING, created_at=self.clock.now())
            s.add(bs)
            s.flush()
            spec = {"changes": changes, "projects": projects, "branch": item.change.branch}
            after = self._merge_ahead(s, ahead)
            if after is not None:
                spec["after"] = after  # built on that state, once it is there
            s.add(MergeRequestRow(buildset_id=bs.id, state="requested", spec=spec,
                                  created_at=self.clock.now()))
            after_commit(s, self.metrics.merge_requested)
        self.store.notifier.notify(channels.MERGER)

    def _merge_mode(self, layout: Layout, change: dict[str, Any]) -> str:
        mode = layout.merge_mode(change["project"], change["branch"])
        if mode == "default":
            source = self.sources.get(change["connection"])
            mode = source.default_merge_mode(change["project"]) if source else DEFAULT_MODE
        return mode

    @staticmethod
    def _merge_ahead(s: Session, ahead: tuple[int, ...]) -> int | None:
        """The merge request of the nearest item ahead, whose state this one extends."""
        if not ahead:
            return None
        return s.scalars(select(MergeRequestRow.id)
                         .join(BuildSetRow, BuildSetRow.id == MergeRequestRow.buildset_id)
                         .where(BuildSetRow.item_id == ahead[-1], BuildSetRow.current.is_(True))
                         .order_by(MergeRequestRow.id.desc()).limit(1)).first()

    def _add_project(self, tenant: str, projects: dict, name: str) -> None:
        if name in projects:
            return
        tp = self.layouts.tenants[tenant].project(name)
        if tp is None:
            return
        projects[name] = {"connection": tp.connection,
                          "url": self.sources[tp.connection].project_url(name)}

    def _change_entry(self, change: Change, own: bool) -> dict[str, Any]:
        source = self.sources[change.key.connection]
        return {"connection": change.key.connection, "project": change.project,
                "branch": change.branch, "number": change.key.number,
                "patchset": change.patchset, "commit": change.commit,
                "url": source.project_url(change.project), "own": own,
                # named in the merge commit the change gets (Merge "<subject>")
                "change_url": source.change_url(change.project, change.key.number)}

    def _state_changes(self, pipeline: Pipeline, item: QueueItem, ahead: tuple[int, ...],
                       bundle: tuple[int, ...] = ()) -> list[dict[str, Any]]:
        """The changes whose commits make up the item's speculative state, in order:
        the items ahead, then the item itself, or every member of its bundle."""
        if isinstance(item.change, Ref):
            ref = item.change
            return [{"connection": ref.key.connection, "project": ref.project,
                     "branch": ref.branch, "number": None, "patchset": None,
                     "commit": ref.newrev, "ref": ref.ref, "oldrev": ref.oldrev,
                     "url": self.sources[ref.key.connection].project_url(ref.project),
                     "own": True}]
        entries: list[dict[str, Any]] = []
        order = (*ahead, *(bundle or (item.id,)))
        if pipeline.manager != PipelineManager.DEPENDENT:
            entries.extend(self._change_entry(needed, own=False)
                           for needed in self._open_needs(item.change, set()))
            order = (item.id,)
        with self.store.read() as s:
            rows = {r.id: r for r in s.scalars(
                select(QueueItemRow).where(QueueItemRow.id.in_(order)))}
        for item_id in order:
            row = rows.get(item_id)
            if item_id == item.id:
                own = item.change
                if row is not None:
                    own.patchset, own.commit = row.patchset, row.commit_sha
                entries.append(self._change_entry(own, own=True))
                continue
            if row is None or row.state == "merged":
                continue
            change = self.sources[row.connection].get_change(row.change_number)
            if change is not None:
                change.patchset, change.commit = row.patchset, row.commit_sha
                entries.append(self._change_entry(change, own=False))
        return entries

    def _open_needs(self, change: Change, seen: set[ChangeKey]) -> list[Change]:
        out: list[Change] = []
        for key in change.needs:
            if key in seen or key not in [k for k in change.needs]:
                continue
            seen.add(key)
            source = self.sources.get(key.connection)
            needed = source.get_change(key.number) if source else None
            if needed is None or not needed.is_open:
                continue
            out.extend(self._open_needs(needed, seen))
            out.append(needed)
        return out

    def _retire_buildset(self, s: Session, item_id: int) -> None:
        """The item's state (and any alternate of it) no longer counts."""
        old = s.scalars(select(BuildSetRow).where(BuildSetRow.item_id == item_id,
                                                  BuildSetRow.current.is_(True))).all()
        for bs in old:
            bs.current = False
            self._cancel_builds(s, bs.id)
        self._drop_alternates(s, item_id)

    def _drop_alternates(self, s: Session, item_id: int, only: int | None = None) -> None:
        """The item's alternate state (``only`` that one) is of no use: stop it."""
        query = select(BuildSetRow).where(BuildSetRow.item_id == item_id,
                                          BuildSetRow.alternate.is_(True))
        if only is not None:
            query = query.where(BuildSetRow.id == only)
        for bs in s.scalars(query).all():
            bs.alternate = False
            self._cancel_builds(s, bs.id)

    def _use_alternate(self, action: UseAlternate) -> None:
        """Make the item's alternate its current state, keeping its builds."""
        with self.store.session() as s:
            alt = s.get(BuildSetRow, action.buildset_id)
            if alt is None or not alt.alternate:
                return  # dropped since the plan was made (a merge it does not hold)
            for bs in s.scalars(select(BuildSetRow).where(
                    BuildSetRow.item_id == action.item_id, BuildSetRow.current.is_(True))):
                bs.current = False
                self._cancel_builds(s, bs.id)
            alt.alternate, alt.current = False, True
            s.execute(update(BuildRow).where(BuildRow.buildset_id == alt.id)
                      .values(priority=BuildRow.priority - 1))  # no longer spare
            s.execute(update(NodeRequestRow).where(
                NodeRequestRow.build_id.in_(select(BuildRow.id).where(
                    BuildRow.buildset_id == alt.id)), NodeRequestRow.state == "requested")
                      .values(priority=NodeRequestRow.priority - 1))
        self.store.notifier.notify(channels.SCHEDULER, channels.LAUNCHER)

    def _cancel_builds(self, s: Session, buildset_id: int) -> None:
        now = self.clock.now()
        for b in s.scalars(select(BuildRow).where(BuildRow.buildset_id == buildset_id)):
            if b.state in (BuildState.WAITING, BuildState.QUEUED):
                b.state, b.result, b.finished_at = BuildState.CANCELED, "CANCELED", now
                if b.node_request_id is not None:
                    self._release_request(s, b.node_request_id)
            elif b.state == BuildState.RUNNING:
                b.cancel_requested = True
        s.execute(update(MergeRequestRow).where(MergeRequestRow.buildset_id == buildset_id,
                                                MergeRequestRow.state == "requested")
                  .values(state="canceled"))
        self.store.notifier.notify(channels.EXECUTOR, channels.LAUNCHER)

    def _release_request(self, s: Session, request_id: int) -> None:
        req = s.get(NodeRequestRow, request_id)
        if req is None:
            return
        if req.state in ("requested", "pending"):
            req.state = "canceled"
            # nodes still booting for it serve other requests (or are deleted)
            s.execute(update(NodeRow).where(
                NodeRow.request_id == request_id,
                NodeRow.state.in_(("requested", "building", "ready")))
                .values(request_id=None, tenant=None))
        for node in s.scalars(select(NodeRow).where(NodeRow.request_id == request_id,
                                                    NodeRow.state == "in-use")):
            node.state, node.released_at = "used", self.clock.now()

    # ---------------------------------------------------------------- merges
    def process_merge_results(self) -> int:
        with self.store.read() as s:
            # the few build sets still waiting first: finished merge requests pile up
            pending = s.scalars(select(BuildSetRow.id).where(
                BuildSetRow.merge_state == MergeState.PENDING,
                BuildSetRow.current.is_(True) | BuildSetRow.alternate.is_(True))).all()
            if not pending:
                return 0
            rows = s.execute(
                select(MergeRequestRow, BuildSetRow, QueueItemRow)
                .join(BuildSetRow, BuildSetRow.id == MergeRequestRow.buildset_id)
                .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                .where(MergeRequestRow.buildset_id.in_(pending),
                       MergeRequestRow.state.in_(("done", "failed")))).all()
        for mr, bs, item in rows:
            state, message, repo_state, graph = self._evaluate_merge(item, mr.result or {})
            extra = self._missing_projects(item.tenant, mr.spec, graph) \
                if state == MergeState.MERGED else {}
            with self.store.session() as s:
                row = s.get(BuildSetRow, bs.id)
                if row is None or not (row.current or row.alternate) \
                        or row.merge_state != MergeState.PENDING:
                    continue
                if extra:
                    self._extend_merge(s, mr, extra)
                    continue
                row.merge_state, row.message = state, message
                row.repo_state = repo_state
                self._dirty.mark(item.tenant, item.pipeline, item.queue_name)
                row.job_graph = graph.to_dict() if graph is not None else None
        return len(rows)

    def _missing_projects(self, tenant: str, spec: dict[str, Any],
                          graph: JobGraph | None) -> dict[str, dict[str, Any]]:
        """The tenant's projects the jobs require that the state was not asked for, or
        whose ``override-checkout`` refs it was not asked for: a job the change's own
        configuration adds or alters may require them."""
        if graph is None:
            return {}
        asked = spec.get("projects", {})
        projects = {name: dict(info) for name, info in asked.items()}
        self._add_job_projects(tenant, projects, graph)
        return {name: info for name, info in projects.items() if asked.get(name) != info}

    def _add_job_projects(self, tenant: str, projects: dict[str, dict[str, Any]],
                          graph: JobGraph) -> None:
        """Add the projects ``graph``'s jobs require to ``projects``, each with the
        refs their ``override-checkout`` names for it (``checkouts``): the merger
        records those refs' states too. As Zuul, a job also gets the untrusted
        projects its playbooks and roles come from, required or not (their tested
        state for its untrusted playbooks; config projects' are their branch tips)."""
        config = self.layouts.tenants[tenant]
        for job in graph.jobs.values():
            for name in job.required_projects:
                self._add_project(tenant, projects, name)
            for name in job.content_projects():
                tp = config.project(name)
                if tp is not None and not tp.trusted:
                    self._add_project(tenant, projects, name)
            for name in list(projects):  # as Zuul: every project the job has
                wanted = job.project_checkouts.get(name) or job.override_checkout
                if wanted:
                    refs = projects[name].get("checkouts", [])
                    if wanted not in refs:
                        projects[name]["checkouts"] = sorted([*refs, wanted])

    def _extend_merge(self, s: Session, mr: MergeRequestRow,
                      extra: dict[str, dict[str, Any]]) -> None:
        """Ask again for the state of ``mr``'s build set, with the ``extra`` projects
        its speculative layout's jobs require; ``mr`` itself is set aside."""
        old = s.get(MergeRequestRow, mr.id)
        if old is not None:
            old.state = "extended"
        spec = {**mr.spec, "projects": {**mr.spec.get("projects", {}), **extra}}
        s.add(MergeRequestRow(buildset_id=mr.buildset_id, state="requested", spec=spec,
                              created_at=self.clock.now()))
        after_commit(s, self.metrics.merge_requested)
        self.store.notifier.notify(channels.MERGER)

    def _evaluate_merge(self, item: QueueItemRow, result: dict[str, Any]):
        status = result.get("status")
        if status == "conflict":
            return MergeState.CONFLICT, result.get("message"), {}, None
        if status != "merged":
            return MergeState.ERROR, result.get("message") or "the merger failed", {}, None
        repo_state = result.get("repo_state", {})
        layout = self.layouts.layouts.get(item.tenant)
        if layout is None:
            return MergeState.ERROR, f"tenant {item.tenant} is no longer configured", {}, None
        overrides = result.get("config_files") or {}
        previous = None  # the layout ahead of the item's own config updates
        if overrides:
            # Every proposed config is validated, config projects' too (as Zuul does);
            # jobs then run with the untrusted projects' proposals only: a config
            # project's change takes effect once it has merged.
            branches = {p: s.get("branch") for p, s in repo_state.items()
                        if isinstance(s, dict)}
            trusted = self.layouts.has_trusted(item.tenant, overrides)
            proposed = self.layouts.speculative(item.tenant, overrides, branches,
                                                trusted=True)
            errors = self.layouts.proposed_errors(item.tenant, proposed, overrides)
            if errors:
                return MergeState.CONFIG_ERROR, "\n".join(str(e) for e in errors), \
                    repo_state, None
            layout = self.layouts.speculative(item.tenant, overrides, branches) \
                if trusted else proposed
            previous = self._layout_ahead(item.tenant, result, branches)
        try:
            graph = freeze_job_graph(layout, item.project, item.branch, item.pipeline,
                                     result.get("changed_files"), previous)
        except ConfigError as exc:
            return MergeState.CONFIG_ERROR, str(exc), repo_state, None
        if not graph.jobs:
            return MergeState.NO_JOBS, "no jobs run for the files this change modifies", \
                repo_state, None
        for job in graph.jobs.values():
            # Secrets defined by config this very item proposes are never decrypted
            # for it: a change could otherwise point a secret at a job of its own.
            job.secrets = {var: secret for var, secret in job.secrets.items()
                           if secret["project"] not in overrides}
        return MergeState.MERGED, None, repo_state, graph

    def _layout_ahead(self, tenant: str, result: dict[str, Any],
                      branches: dict[str, str]) -> Layout | None:
        """The layout of the state ahead of an item whose own changes update the
        configuration (what ``match-on-config-updates`` compares its jobs with);
        None when they update none."""
        own = set(result.get("config_updated") or ())
        if not own:
            return None
        ahead = {p: f for p, f in (result.get("config_files") or {}).items() if p not in own}
        ahead.update(result.get("ahead_config_files") or {})
        return self.layouts.speculative(tenant, ahead, branches) if ahead \
            else self.layouts.layouts.get(tenant)

    # ---------------------------------------------------------- node requests
    def process_node_requests(self) -> int:
        done = 0
        with self.store.read() as s:
            # the builds waiting for nodes first: answered requests pile up
            waiting = s.scalars(select(BuildRow.node_request_id).where(
                BuildRow.state == BuildState.WAITING,
                BuildRow.node_request_id.is_not(None))).all()
            answered = s.scalars(select(NodeRequestRow.id).where(
                NodeRequestRow.id.in_(waiting),
                NodeRequestRow.state.in_(ANSWERED)).limit(1)).first() \
                if waiting else None
        if answered is None:
            return 0
        with self.store.session() as s:
            rows = s.execute(
                select(BuildRow, NodeRequestRow)
                .join(NodeRequestRow, NodeRequestRow.id == BuildRow.node_request_id)
                .where(BuildRow.state == BuildState.WAITING,
                       NodeRequestRow.id.in_(waiting),
                       NodeRequestRow.state.in_(ANSWERED))).all()
            for build, req in rows:
                done += 1
                if req.state == "fulfilled":
                    found = {n.id: n for n in s.scalars(
                        select(NodeRow).where(NodeRow.id.in_(req.node_ids)))}
                    nodes = [found[i] for i in req.node_ids if i in found]
                    use_alternative(build, req.alternative)
                    build.params = {**build.params, "nodes": [
                        {"id": n.id, "name": name, "label": n.label, "hostname": n.hostname,
                         "host_vars": n.host_vars, "host_keys": list(n.host_keys or []),
                         "provider": n.provider}
                        for n, name in zip(nodes, build.params.get("node_names", []),
                                           strict=False)]}
                    # the executors of its nodes' zone run it (a lab behind a firewall)
                    build.zone = next((n.zone for n in nodes if n.zone), None)
                    build.state = BuildState.QUEUED
                elif req.state in ("declined", "failed") or not retry_on_new_nodes(
                        s, build, self.clock.now(), req.error or "the node request failed"):
                    # Declined: no provider offers the labels, so new nodes cannot help;
                    # failed: the launcher already tried its launch-attempts.
                    build.state, build.result = BuildState.COMPLETED, BuildResult.NODE_FAILURE
                    build.message = req.error
                    if build.attempt > 1:
                        build.message = f"{req.error} (attempt {build.attempt} of " \
                                        f"{attempts_of(build)}; no attempts left)"
                    build.finished_at = self.clock.now()
        if done:  # builds to run, and perhaps requests asked again
            self.store.notifier.notify(channels.EXECUTOR, channels.LAUNCHER)
        return done

    # ------------------------------------------------------------------ jobs
    def _start_jobs(self, tenant: str, pipeline: Pipeline, item: QueueItem,
                    action: StartJobs) -> None:
        bs = item.buildset
        if item.alternate is not None and item.alternate.id == action.buildset_id:
            bs = item.alternate
        if bs is None or bs.id != action.buildset_id or bs.job_graph is None:
            return  # planned for a state that is no longer the item's
        now = self.clock.now()
        with self.store.session() as s:
            bs_row = s.get(BuildSetRow, action.buildset_id)
            if bs_row is None or not (bs_row.current or bs_row.alternate):
                return
            providers = dict(action.providers)
            priority = node_priority(pipeline.precedence,
                                     self._relative_priority(s, pipeline, item), action.spare)
            ahead = self._changes_ahead(s, bs)
            item_row = s.get(QueueItemRow, item.id)
            event_id = item_row.event_id if item_row is not None else None
            for name in action.jobs:
                job = bs.job_graph.jobs[name]
                build_id = uuid.uuid4().hex
                params = self._build_params(tenant, pipeline, item, bs, bs_row.uuid, job.name)
                params["changes_ahead"] = ahead
                if event_id is not None:  # zuul.event_id: the event that enqueued the item
                    params["event_id"] = str(event_id)
                params["node_names"] = [n.name for n in job.nodeset.nodes]
                params["requirements"] = [p.to_dict() for p in providers.get(name, ())]
                params.update(self._from_parents(s, bs, name))
                build = BuildRow(id=build_id, buildset_id=bs.id, job=name,
                                 voting=job.voting, frozen_job=job.to_dict(), params=params,
                                 priority=priority,
                                 created_at=now, state=BuildState.WAITING)
                if job.nodeset.nodes:
                    req = NodeRequestRow(build_id=build_id,
                                         labels=[want_of(n) for n in job.nodeset.nodes],
                                         alternatives=node_alternatives(job.nodeset),
                                         tenant=tenant, priority=build.priority,
                                         created_at=now)
                    s.add(req)
                    s.flush()
                    build.node_request_id = req.id
                else:
                    build.state = BuildState.QUEUED
                    build.params["nodes"] = []
                s.add(build)
        self.store.notifier.notify(channels.LAUNCHER, channels.EXECUTOR)

    def _from_parents(self, s: Session, bs: BuildSet, name: str) -> dict[str, Any]:
        """Build params from the jobs ``name`` depends on: the data their builds
        returned (``parent_data``, below the job's own vars), their artifacts, and
        the job's own children (``zuul.child_jobs``). See ``model.returned_data``."""
        assert bs.job_graph is not None
        ancestors = [bs.builds[job] for job in bs.job_graph.ancestors(name)
                     if job in bs.builds and (bs.builds[job].result == BuildResult.SUCCESS
                                              or bs.builds[job].paused)]
        rows = {row.id: row for row in s.execute(
            select(BuildRow.id, BuildRow.result_data, BuildRow.secret_result_data).where(
                BuildRow.id.in_([b.id for b in ancestors])))} if ancestors else {}
        data = {build_id: row.result_data for build_id, row in rows.items()}
        parent_data, artifacts = inherited(
            [ParentBuild(b.job, b.id, data.get(b.id)) for b in ancestors], self.web_url)
        # their zuul_return secret_data, still sealed (only an executor opens it),
        # farthest first as parent_data merges
        sealed = [rows[b.id].secret_result_data for b in ancestors
                  if b.id in rows and rows[b.id].secret_result_data]
        return {"parent_data": parent_data, "artifacts": artifacts,
                "parent_secret_data": sealed,
                "child_jobs": bs.job_graph.children(name),
                "descendants": bs.job_graph.descendants(name)}

    @staticmethod
    def _relative_priority(s: Session, pipeline: Pipeline, item: QueueItem) -> int:
        """The item's place: items ahead in its shared queue, or (pipelines without
        shared queues) earlier items of the same project."""
        if pipeline.manager in (PipelineManager.DEPENDENT, PipelineManager.SERIAL):
            return item.position
        row = s.get(QueueItemRow, item.id)
        if row is None:
            return 0
        return s.scalar(select(func.count()).select_from(QueueItemRow).where(
            QueueItemRow.tenant == row.tenant, QueueItemRow.pipeline == row.pipeline,
            QueueItemRow.state == "queued", QueueItemRow.project == row.project,
            QueueItemRow.sequence < row.sequence)) or 0

    def _changes_ahead(self, s: Session, bs: BuildSet) -> list[dict[str, Any]]:
        """The items the state holds ahead of its own, in order, as ``zuul.items`` lists
        them (project, branch, change, patchset, change URL; a ref's ref and revs)."""
        if not bs.ahead:
            return []
        rows = {r.id: r for r in s.scalars(select(QueueItemRow).where(
            QueueItemRow.id.in_(list(bs.ahead))))}
        out: list[dict[str, Any]] = []
        for item_id in bs.ahead:
            row = rows.get(item_id)
            if row is None:
                continue
            entry: dict[str, Any] = {"project": row.project, "branch": row.branch}
            if row.change_number is None:
                entry.update(ref=row.ref, oldrev=row.oldrev, newrev=row.commit_sha)
            else:
                source = self.sources.get(row.connection)
                entry.update(change=row.change_number, patchset=row.patchset,
                             change_url=source.change_url(row.project, row.change_number)
                             if source is not None else None)
            out.append(entry)
        return out

    def _build_params(self, tenant: str, pipeline: Pipeline, item: QueueItem, bs: BuildSet,
                      buildset_uuid: str, job: str) -> dict[str, Any]:
        change = item.change
        project_urls = {}
        for name in bs.repo_state:
            tp = self.layouts.tenants[tenant].project(name)
            if tp is not None:
                project_urls[name] = self.sources[tp.connection].project_url(name)
        for tp in self.layouts.tenants[tenant].projects:
            if tp.trusted:
                project_urls.setdefault(tp.name, self.sources[tp.connection].project_url(
                    tp.name))
        if isinstance(change, Ref):
            about: dict[str, Any] = {"ref": change.ref, "oldrev": change.oldrev,
                                     "newrev": change.newrev}
        else:
            about = {"change": change.key.number, "patchset": change.patchset,
                     "change_url": self.sources[change.key.connection].change_url(
                         change.project, change.key.number),
                     # what zuul.file_comments may comment on
                     "files": list(change.files)}
            if change.topic:
                about["topic"] = change.topic  # zuul.topic
        return {
            "tenant": tenant, "pipeline": pipeline.name, "job": job,
            "buildset": buildset_uuid, "project": change.project, "branch": change.branch,
            **about,
            "connection": change.key.connection, "message": change.message,
            "repo_state": bs.repo_state, "project_urls": project_urls,
            "trusted_projects": [tp.name for tp in self.layouts.tenants[tenant].projects
                                 if tp.trusted],
            "project_connections": {tp.name: tp.connection
                                    for tp in self.layouts.tenants[tenant].projects},
            "items_ahead": list(bs.ahead),
        }

    def _skip_jobs(self, item: QueueItem, action: SkipJobs) -> None:
        self._record_unrun(item, action.buildset_id, action.jobs, BuildResult.SKIPPED,
                           action.message or "skipped because a job it depends on did not "
                                             "succeed")

    def _record_unrun(self, item: QueueItem, buildset_id: int, jobs: tuple[str, ...],
                      result: str, message: str) -> None:
        """Builds that end with ``result`` without running (skipped, requirements)."""
        now = self.clock.now()
        graph = item.buildset.job_graph if item.buildset is not None else None
        with self.store.session() as s:
            for name in jobs:
                job = graph.jobs.get(name) if graph is not None else None
                s.add(BuildRow(id=uuid.uuid4().hex, buildset_id=buildset_id, job=name,
                               state=BuildState.COMPLETED, result=result,
                               voting=job.voting if job is not None else True,
                               created_at=now, finished_at=now, noticed=True,
                               message=message))

    def _cancel_jobs(self, action: CancelJobs) -> None:
        """The build set's verdict is known (fail-fast): its unfinished builds end as
        CANCELED now; running ones are stopped by their executors, and keep their nodes
        (and semaphores) until then."""
        now = self.clock.now()
        with self.store.session() as s:
            for b in s.scalars(select(BuildRow).where(BuildRow.buildset_id == action.buildset_id,
                                                      BuildRow.job.in_(action.jobs),
                                                      BuildRow.result.is_(None))):
                b.result, b.message = BuildResult.CANCELED, action.message
                if b.state in (BuildState.WAITING, BuildState.QUEUED):
                    b.state, b.finished_at = BuildState.CANCELED, now
                    if b.node_request_id is not None:
                        self._release_request(s, b.node_request_id)
                elif b.state == BuildState.RUNNING:
                    b.cancel_requested = True
        self.store.notifier.notify(channels.EXECUTOR, channels.LAUNCHER)

    # -------------------------------------------------------------- reports
    def _report_item(self, tenant: str, pipeline: Pipeline, item: QueueItem,
                     action: Report, via: QueueItem | None = None) -> None:
        """Report (and merge) the item; ``via`` is the item whose tested state holds it
        and is merged for it (a batch), else the item itself."""
        report_action, detail, merged, resumed = action.action, action.message, False, False
        tested = via or item
        if action.merge and tested.buildset is not None \
                and not self._still_current(tested.buildset):
            # The plan is applied action by action: a merge planned before this one
            # (another sub-queue's head, say) moved a repo this state holds and retired
            # it. It is no longer a state the branch can become, so it is not merged;
            # the queue is planned again next pass and the item rebuilt.
            return
        if action.merge:
            waiting = self._merge_waits.get(item.id)
            if waiting is not None and waiting[0] > self.clock.now():
                return  # its forge asked to wait; the queue is planned again then
            try:
                merged, failure, resumed = self._submit(tenant, pipeline, item,
                                                        tested.buildset)
            except ForgeUnavailable as exc:
                self._merge_waits[item.id] = (self.clock.now() + exc.after, tenant,
                                              pipeline.name, item.queue)
                log.warning("%s/%s: %s cannot be merged now (%s); trying again in %.0f s",
                            tenant, pipeline.name, item.change.describe(), exc, exc.after)
                return
            self._merge_waits.pop(item.id, None)
            if failure:
                report_action, detail = "failure", failure
        result = RESULTS.get(report_action)
        if item.live and not (resumed and self._reported(tenant, pipeline, item, report_action)):
            if via is not None and via is not item and report_action == "success" \
                    and isinstance(via.change, Change):
                detail = (_merged_via(item, via) + "\n" + detail).strip()
            returned = self._returned(tested.buildset, item.change, own=tested is item)
            message = report_message(report_action, pipeline.name, tested.buildset,
                                     self.web_url, detail, pipeline.messages,
                                     returned.warnings)
            self._send_reports(tenant, pipeline, item.change, report_action, result, message,
                               returned.file_comments)
        state = "merged" if merged else ("reported" if report_action == "success"
                                         else "failed")
        with self.store.session() as s:
            row = s.get(QueueItemRow, item.id)
            if row is None or row.state != "queued":
                return
            self._end_item(s, row, state, result, detail or None)
            if merged:
                layout = self.layouts.layouts.get(tenant)
                verify_first = layout is not None and \
                    layout.queue_options(row.queue_name).verify_first
                self._retire_states_without(s, row, verify_first)
            if pipeline.manager == PipelineManager.DEPENDENT and action.window:
                queue = s.scalar(select(ChangeQueueRow).where(
                    ChangeQueueRow.tenant == tenant, ChangeQueueRow.pipeline == pipeline.name,
                    ChangeQueueRow.name == row.queue_name))
                if queue is not None:
                    queue.window = (pipeline.window.after_success(queue.window)
                                    if report_action == "success"
                                    else pipeline.window.after_failure(queue.window))
        self.store.notifier.notify(channels.SCHEDULER)

    def _still_current(self, bs: BuildSet) -> bool:
        """Whether ``bs`` (as the plan saw it) is still its item's current state."""
        with self.store.read() as s:
            return bool(s.scalar(select(BuildSetRow.current).where(BuildSetRow.id == bs.id)))

    def _returned(self, bs: BuildSet | None, change: Change | Ref, own: bool) -> Returned:
        """The warnings and file comments the build set's builds returned, for the
        report on ``change`` (read only now: a pass never loads returned data)."""
        if bs is None or not bs.builds:
            return Returned()
        ids = [b.id for b in bs.builds.values()]
        with self.store.read() as s:
            data = dict(s.execute(select(BuildRow.id, BuildRow.result_data)
                                  .where(BuildRow.id.in_(ids))).all())
        files = change.files if isinstance(change, Change) else None
        origins = {name: {"job": name, "build": b.id, "buildset": bs.id}
                   for name, b in bs.builds.items()}
        return returned_for_report([(name, data.get(b.id)) for name, b in bs.builds.items()],
                                   files, own, origins)

    def _retire_states_without(self, s: Session, merged: QueueItemRow,
                               verify_first: bool) -> None:
        """``merged`` just moved its branch: a state of its queue that holds that
        project but not this change (built while it was failing, or outside the
        window) no longer matches the branch. It is retired, so it is rebuilt
        instead of being merged as a state that was never the branch's future.
        (In a verify-first queue, an item not verified yet keeps its state: only its
        verdict is used, and it joins the chain on a new state if the branch moved.)"""
        for item_id, ahead in s.execute(
                select(BuildSetRow.item_id, BuildSetRow.ahead)
                .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                .where(QueueItemRow.tenant == merged.tenant,
                       QueueItemRow.pipeline == merged.pipeline,
                       QueueItemRow.queue_name == merged.queue_name,
                       BuildSetRow.alternate.is_(True))).all():
            if merged.id not in (ahead or []):
                self._drop_alternates(s, item_id)  # built for a branch that is gone
        others = s.execute(
            select(BuildSetRow.item_id, BuildSetRow.id, BuildSetRow.ahead, QueueItemRow.project,
                   QueueItemRow.verified_at)
            .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
            .where(QueueItemRow.tenant == merged.tenant,
                   QueueItemRow.pipeline == merged.pipeline,
                   QueueItemRow.queue_name == merged.queue_name,
                   QueueItemRow.state == "queued", BuildSetRow.current.is_(True))).all()
        stale = [(item_id, bs_id, project, ahead or []) for item_id, bs_id, ahead, project,
                 verified in others if merged.id not in (ahead or [])
                 and not (verify_first and verified is None)]
        if not stale:
            return
        projects = {item_id: project for item_id, _bs, project, _ahead in stale}
        wanted = {a for *_rest, ahead in stale for a in ahead} - set(projects)
        if wanted:
            projects.update(s.execute(select(QueueItemRow.id, QueueItemRow.project)
                                      .where(QueueItemRow.id.in_(sorted(wanted)))).all())
        self._states.fill(s, list(s.scalars(select(BuildSetRow).where(
            BuildSetRow.id.in_([bs_id for _, bs_id, _, _ in stale])))))
        for item_id, bs_id, project, ahead in stale:
            _repo_state, graph = self._states.get(bs_id)
            if graph is None:
                self._retire_buildset(s, item_id)  # not known yet what its jobs see
                continue
            # What its jobs see, and the repos of the items it holds (a batch or a
            # verification group merges those to this state too).
            holds = {project, *(projects[a] for a in ahead if a in projects)}
            holds.update(p for job in graph.jobs.values()
                         for p in (*job.required_projects, *job.content_projects()))
            if merged.project in holds:
                self._retire_buildset(s, item_id)

    def _submit(self, tenant: str, pipeline: Pipeline, item: QueueItem,
                bs: BuildSet | None) -> tuple[bool, str | None, bool]:
        """Merge the item, as tested in ``bs``, through every submitting reporter;
        (merged, failure reason, merged already: before a restart interrupted the
        item's report)."""
        assert bs is not None
        submitters = [spec for spec in pipeline.success if spec.submit]
        if not submitters or isinstance(item.change, Ref):
            return False, None, False  # a ref is already where it is; nothing to merge
        current = self.sources[item.change.key.connection].get_change(item.change.key.number)
        if current is not None and current.is_merged:
            return True, None, True
        for spec in submitters:
            if spec.connection != item.change.key.connection:
                continue
            try:
                self.reporters[spec.connection].submit(
                    item.change.key.number, bs.repo_state, tenant=tenant,
                    pipeline=pipeline.name, options=dict(spec.options),
                    votes=dict(spec.votes))
            except ForgeUnavailable:
                raise  # not a refusal: the merge is tried again later
            except UserError as exc:
                return False, f"The change could not be merged: {exc}", False
        return True, None, False

    def _reported(self, tenant: str, pipeline: Pipeline, item: QueueItem, action: str) -> bool:
        """The item's change already has this pipeline's ``action`` report on the tested
        patch set (a restart came after the report, before the item ended): each
        reporter knows what it reported."""
        if isinstance(item.change, Ref):
            return False
        key = item.change.key
        reporter = self.reporters.get(key.connection)
        return reporter is not None and reporter.reported(
            key.number, tenant=tenant, pipeline=pipeline.name, patchset=item.change.patchset,
            action=action)

    def _send_reports(self, tenant: str, pipeline: Pipeline, change: Change | Ref,
                      action: str, result: str | None, message: str,
                      file_comments: dict[str, list[dict[str, Any]]] | None = None) -> None:
        if isinstance(change, Ref):
            self._report_ref(tenant, pipeline, change, action, result, message)
            return
        for spec in pipeline.reporters_for(action):
            if spec.connection != change.key.connection:
                continue
            votes = dict(spec.votes) if action != "rejected" else {}
            try:
                self.reporters[spec.connection].report(
                    change.key.number, tenant=tenant, pipeline=pipeline.name, action=action,
                    result=result, votes=votes, message=message, patchset=change.patchset,
                    file_comments=file_comments or {}, options=dict(spec.options),
                    comment=spec.comment)
            except UserError as exc:
                log.warning("could not report on %s: %s", change.describe(), exc)

    def _report_ref(self, tenant: str, pipeline: Pipeline, ref: Ref, action: str,
                    result: str | None, message: str) -> None:
        """A ref has no change to comment on: each reporter of the pipeline's action
        that can report on refs (``report_ref``) does; the result is on the dashboard
        and in the build history either way."""
        for spec in pipeline.reporters_for(action):
            if spec.connection != ref.key.connection:
                continue
            reporter = self.reporters.get(spec.connection)
            report_ref = getattr(reporter, "report_ref", None)
            if report_ref is None:
                log.info("%s/%s: %s of %s has no change to report on",
                         tenant, pipeline.name, action, ref.describe())
                continue
            try:
                report_ref(ref, tenant=tenant, pipeline=pipeline.name, action=action,
                           result=result, message=message)
            except UserError as exc:
                log.warning("could not report on %s: %s", ref.describe(), exc)

    def _report_change(self, tenant: str, pipeline: Pipeline, change: Change | Ref,
                       action: str, detail: str) -> None:
        """A report that is not an item's result: rejected, enqueue, start, dequeue."""
        message = report_message(action, pipeline.name, None, self.web_url, detail,
                                 pipeline.messages)
        if action == "rejected" and isinstance(change, Change):
            reporter = self.reporters.get(change.key.connection)
            if reporter is not None:
                reporter.report(change.key.number, tenant=tenant, pipeline=pipeline.name,
                                action=action, result=None, votes={}, message=message,
                                patchset=change.patchset)
            return
        self._send_reports(tenant, pipeline, change, action, RESULTS.get(action), message)

    def _end_item(self, s: Session, row: QueueItemRow, state: str, result: str | None,
                  message: str | None) -> None:
        row.state, row.result, row.message = state, result, message
        row.dequeued_at = self.clock.now()
        # counted once the item's end is written (a pass rolled back ends nothing)
        after_commit(s, self.metrics.item_ended, row.tenant, row.pipeline, state,
                     row.enqueued_at, row.dequeued_at)
        self._seen.pop(row.id, None)
        self._dirty.mark(row.tenant, row.pipeline, row.queue_name)
        self._retire_buildset_keep(s, row.id)

    def _retire_buildset_keep(self, s: Session, item_id: int) -> None:
        """Stop whatever still runs for an item leaving the queue (history stays)."""
        for bs in s.scalars(select(BuildSetRow).where(BuildSetRow.item_id == item_id,
                                                      BuildSetRow.current.is_(True))):
            self._cancel_builds(s, bs.id)
        self._drop_alternates(s, item_id)


RunHook = Callable[[PassResult], None]


def _merged_by(s: Session, item: QueueItemRow, event: TriggerEvent) -> bool:
    """The change-merged ``event`` is the merge of ``item``'s own tested state: the gate
    merged it and a restart came before the item was reported and ended. Such an item
    is reported and ended as merged, not dequeued for a merge made elsewhere."""
    row = s.get(EventRow, event.id)
    commit = (row.data or {}).get("commit") if row is not None else None
    buildset = s.scalar(select(BuildSetRow).where(BuildSetRow.item_id == item.id,
                                                  BuildSetRow.current.is_(True),
                                                  BuildSetRow.alternate.is_(False))
                        .order_by(BuildSetRow.id.desc()).limit(1))
    state = (buildset.repo_state or {}).get(item.project) if buildset is not None else None
    return bool(commit) and isinstance(state, dict) and state.get("commit") == commit
