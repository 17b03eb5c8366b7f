"""How long a job will take: the median of its last successful builds.

A job's estimate is the median duration of the last :data:`HISTORY` successful
builds of that job for that project in the tenant (any project's, when this
project has none yet). All of a tenant's estimates come from one query, kept
for :data:`ESTIMATES_TTL` seconds (they move slowly; the status is asked for
many times a second).

The pure functions here turn an estimate into what the dashboard shows: a
job's elapsed time, remaining time and progress, and an item's remaining time.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import func, select

from zuulish.store import BuildRow, BuildSetRow, QueueItemRow, Store

#: how many of a job's newest successful builds its estimate is made of
HISTORY = 10
#: how long a tenant's estimates are reused before they are read again (seconds)
ESTIMATES_TTL = 30.0


@dataclass(frozen=True)
class Estimates:
    """The estimated duration in seconds of each (project, job), and of each job
    whatever its project (the fallback)."""

    by_project: dict[tuple[str, str], float]
    by_job: dict[str, float]

    def of(self, project: str, job: str) -> float | None:
        found = self.by_project.get((project, job))
        return found if found is not None else self.by_job.get(job)


def estimate(durations: Iterable[float]) -> float | None:
    """The median of ``durations`` (negative ones, clock jumps, are left out)."""
    kept = [d for d in durations if d >= 0]
    return float(statistics.median(kept)) if kept else None


def read_estimates(store: Store, tenant: str, history: int = HISTORY) -> Estimates:
    """The estimates of every job of ``tenant``: one query, the newest ``history``
    successful builds of each (project, job)."""
    duration = (BuildRow.finished_at - BuildRow.started_at).label("duration")
    newest = func.row_number().over(
        partition_by=(QueueItemRow.project, BuildRow.job),
        order_by=(BuildRow.finished_at.desc(), BuildRow.id)).label("n")
    ranked = (select(QueueItemRow.project, BuildRow.job, duration, newest)
              .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
              .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
              .where(QueueItemRow.tenant == tenant, BuildRow.result == "SUCCESS",
                     BuildRow.started_at.is_not(None), BuildRow.finished_at.is_not(None))
              .subquery())
    query = select(ranked.c.project, ranked.c.job, ranked.c.duration).where(
        ranked.c.n <= history)
    per_project: dict[tuple[str, str], list[float]] = defaultdict(list)
    per_job: dict[str, list[float]] = defaultdict(list)
    with store.read() as s:
        for project, job, seconds in s.execute(query):
            per_project[(project, job)].append(float(seconds))
            per_job[job].append(float(seconds))
    by_project = {k: e for k, v in per_project.items() if (e := estimate(v)) is not None}
    by_job = {k: e for k, v in per_job.items() if (e := estimate(v)) is not None}
    return Estimates(by_project, by_job)


class EstimatesCache:
    """Each tenant's :class:`Estimates`, read again once older than ``ttl``."""

    def __init__(self, ttl: float = ESTIMATES_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: dict[tuple[int, str], tuple[float, Estimates]] = {}

    def get(self, store: Store, tenant: str) -> Estimates:
        key = (id(store), tenant)
        now = self.clock()
        with self._lock:
            found = self._cached.get(key)
        if found is not None and now - found[0] < self.ttl:
            return found[1]
        fresh = read_estimates(store, tenant)
        with self._lock:
            self._cached[key] = (now, fresh)
        return fresh


class JobTiming(NamedTuple):
    """A job's times, in seconds (None where unknown; a tuple: a status makes
    thousands)."""

    elapsed: float | None
    remaining: float | None
    progress: int | None  # percent, 0..100


def job_timing(state: str, result: str | None, started_at: float | None,
               finished_at: float | None, estimated: float | None, now: float) -> JobTiming:
    """Elapsed time, remaining time and progress of one job.

    A finished job has nothing remaining (100 %); a running one has run
    ``now - started_at`` of its estimate (at most 99 % while it runs past it, its
    remaining time then 0); one not started yet has its whole estimate ahead.
    """
    if result is not None or finished_at is not None:
        elapsed = (finished_at - started_at) if started_at is not None and \
            finished_at is not None else None
        return JobTiming(elapsed, 0.0, 100)
    if state in ("running", "paused") and started_at is not None:
        elapsed = max(0.0, now - started_at)
        if estimated is None:
            return JobTiming(elapsed, None, None)
        if estimated <= 0:
            return JobTiming(elapsed, 0.0, 99)
        return JobTiming(elapsed, max(0.0, estimated - elapsed),
                         min(99, int(100 * elapsed / estimated)))
    return JobTiming(None, estimated, 0 if estimated is not None else None)


def remaining_shrinks(remaining: float | None, running_remaining: Iterable[float | None],
                      ahead_remaining: float | None, ahead_shrinks: bool) -> bool:
    """Whether an item's ``remaining`` time counts down as time passes: it is that of
    one of its running jobs, or that of the item ahead, which counts down. Not when it
    is a job's that has not started (that job's whole estimate stays ahead until it
    starts), nor when it is nothing."""
    if remaining is None or remaining <= 0:
        return False
    if any(r is not None and r >= remaining for r in running_remaining):
        return True
    return ahead_shrinks and ahead_remaining is not None and ahead_remaining >= remaining


def item_remaining(job_remaining: Iterable[float | None], ahead_remaining: float | None,
                   has_ahead: bool) -> float | None:
    """An item's estimated time until it can be reported: the longest remaining of
    its jobs that have an estimate, or the remaining time of the item ahead of it if
    that is later (it cannot merge before). Unknown when none of its jobs has an
    estimate, or the item ahead's is unknown."""
    known = [r for r in job_remaining if r is not None]
    if not known:
        return None
    own = max(known)
    if not has_ahead:
        return own
    if ahead_remaining is None:
        return None
    return max(own, ahead_remaining)
