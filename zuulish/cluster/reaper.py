"""Work held by components that stopped heartbeating is released, to be redone once.

Run by the active scheduler only (its writes are fenced by its lease). A component
whose heartbeat is older than ``dead_after`` (by the database's clock) is declared
``dead``; every build and merge request held by a component that is not live
(dead, stopped, or never registered) goes back to its queue: builds to ``queued``
(the same attempt: the dead run can no longer record a result, see the executor's
``_finish``), merge requests to ``requested``. Nothing is reaped until this
scheduler has itself reached the database for ``dead_after`` seconds in a row:
after the database was away (for the lease or during a pass), every component gets
its chance to beat first. (A
component that ended without stopping is found sooner by the next one started on
its machine, see ``registry.py``; its work is released at the next pass.)
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select, true, update
from sqlalchemy.orm import Session

from zuulish.cluster.db_time import db_now
from zuulish.cluster.registry import DEAD, RUNNING, STOPPING, machine
from zuulish.cluster.timing import Timing
from zuulish.model import BuildState
from zuulish.store import BuildRow, ComponentRow, MergeRequestRow, Store
from zuulish.store import notify as channels

log = logging.getLogger(__name__)


class Reaper:
    def __init__(self, store: Store, timing: Timing, every: float = 1.0):
        self.store = store
        self.timing = timing
        self.every = every
        self.connected_since: float | None = None  # db time; None: not known connected
        self._last = 0.0
        self._zones_warned: set[str | None] = set()

    def note_connected(self, now: float | None) -> None:
        """``now`` (db time) when the database answered; None when it did not."""
        if now is None:
            self.connected_since = None
        elif self.connected_since is None:
            self.connected_since = now

    def run_once(self) -> int:
        """Release the work of dead components; how many things were released."""
        if time.monotonic() - self._last < self.every:
            return 0
        self._last = time.monotonic()
        released = 0
        with self.store.session() as s:
            now = db_now(s)
            self.note_connected(now)
            assert self.connected_since is not None
            cutoff = now - self.timing.dead_after
            # a row locked by its component's open transaction (paused mid-heartbeat) is
            # skipped, not waited on: the pass goes on, and PostgreSQL ends that
            # transaction once it has been idle dead_after (Store's idle timeout)
            silent = [] if now - self.connected_since < self.timing.dead_after else \
                s.execute(select(ComponentRow.id, ComponentRow.heartbeat_at).where(
                    ComponentRow.state.in_((RUNNING, STOPPING)),
                    ComponentRow.heartbeat_at < cutoff)
                    .with_for_update(skip_locked=True)).all()
            for cid, beat in silent:
                log.error("component %s has not heartbeated for %.0fs (limit %.0fs): "
                          "declared dead; its work will be redone", cid, now - beat,
                          self.timing.dead_after)
            if silent:
                s.execute(update(ComponentRow).where(
                    ComponentRow.id.in_([c for c, _ in silent])).values(state=DEAD))
            builds, merges = _release(s)
            released = builds + merges
            self._warn_unserved_zones(s, cutoff)
        _wake(self.store, builds, merges)
        return released

    def _warn_unserved_zones(self, s, cutoff: float) -> None:  # type: ignore[no-untyped-def]
        """One log line per zone whose queued builds no live executor serves."""
        wanted = set(s.scalars(select(BuildRow.zone).where(
            BuildRow.state == BuildState.QUEUED).distinct()).all())
        if not wanted:
            self._zones_warned.clear()
            return
        executors = s.execute(select(ComponentRow.zone, ComponentRow.address).where(
            ComponentRow.kind == "executor", ComponentRow.state.in_((RUNNING, STOPPING)),
            ComponentRow.heartbeat_at >= cutoff)).all()
        served = {zone for zone, _ in executors}
        for zone in wanted - served:
            if zone not in self._zones_warned:
                log.warning("builds wait for an executor of zone %s, and none is running",
                            zone or "(none: unzoned)")
                self._zones_warned.add(zone)
        self._zones_warned &= wanted - served


def _release(s: Session) -> tuple[int, int]:
    """Queue again the builds and merge requests held by components not live."""
    alive = select(ComponentRow.id).where(ComponentRow.state.in_((RUNNING, STOPPING)))
    builds = s.execute(select(BuildRow.id, BuildRow.worker).where(
        BuildRow.state == BuildState.RUNNING,
        (BuildRow.worker.is_(None)) | BuildRow.worker.not_in(alive))
        .with_for_update(skip_locked=True)).all()
    for build_id, worker in builds:
        log.warning("build %s: its executor %s is gone; queued to run again", build_id, worker)
    if builds:
        s.execute(update(BuildRow).where(BuildRow.id.in_([b for b, _ in builds]))
                  .values(state=BuildState.QUEUED, worker=None, started_at=None,
                          heartbeat_at=None, paused=False,
                          message="its executor stopped answering; will run again"))
    merges = s.execute(select(MergeRequestRow.id, MergeRequestRow.worker).where(
        MergeRequestRow.state == "running",
        (MergeRequestRow.worker.is_(None)) | MergeRequestRow.worker.not_in(alive))
        .with_for_update(skip_locked=True)).all()
    for merge_id, worker in merges:
        log.warning("merge request %s: its merger %s is gone; asked again", merge_id, worker)
    if merges:
        s.execute(update(MergeRequestRow).where(MergeRequestRow.id.in_([m for m, _ in merges]))
                  .values(state="requested", worker=None, heartbeat_at=None))
    return len(builds), len(merges)


def _wake(store: Store, builds: int, merges: int) -> None:
    if builds:
        store.notifier.notify(channels.EXECUTOR)
    if merges:
        store.notifier.notify(channels.MERGER)


def release_ended(store: Store, exclude: set[str], pid: int) -> int:
    """At start: earlier components of this very process (an in-process restart) are
    ended; the work of every component not live is released now."""
    here = machine()
    with store.session() as s:
        s.execute(update(ComponentRow).where(
            ComponentRow.machine == here, ComponentRow.pid == pid,
            ComponentRow.id.not_in(exclude) if exclude else true(),
            ComponentRow.state.in_((RUNNING, STOPPING))).values(state=DEAD))
        builds, merges = _release(s)
    _wake(store, builds, merges)
    return builds + merges
