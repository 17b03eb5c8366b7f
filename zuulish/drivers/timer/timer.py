"""The timer: fires periodic pipelines, recording each tick's events durably, once.

For every pipeline with a ``timer`` trigger and each of its time specs, the
store keeps the newest tick that fired (``timer_ticks``). When a tick is due,
one transaction records a ``timer`` event for every project and branch whose
project configuration uses the pipeline (as Zuul does) and moves the row on
to that tick; the scheduler then enqueues each branch's tip. So:

- a restart loses no schedule: the specs come from the configuration and the
  last tick from the store;
- no tick fires twice: the row moves with a compare-and-set, in the same
  transaction as the events, so two timers (or a retry after a crash) cannot
  both fire it;
- ticks missed while zuulish was down fire once, at start-up, as the newest
  of them (a week of missed nightly runs is one run, not seven);
- a spec seen for the first time starts from now: its first run is its next
  tick, not one in the past.

Times come from the injected clock; APScheduler's ``CronTrigger`` computes the
ticks (``cron``).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from zuulish.clock import Clock
from zuulish.drivers.interfaces import Source
from zuulish.drivers.timer.cron import TimerSpec, parse_time
from zuulish.model import TIMER
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import EventRow, Store, TimerTickRow
from zuulish.store import notify as channels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    tenant: str
    pipeline: str
    spec: TimerSpec

    @property
    def key(self) -> tuple[str, str, str]:
        return self.tenant, self.pipeline, self.spec.text


@functools.lru_cache(maxsize=1024)
def _spec(text: str) -> TimerSpec:
    return parse_time(text)


class Timer:
    def __init__(self, store: Store, clock: Clock, layouts: TenantLayouts,
                 sources: dict[str, Source]):
        self.store = store
        self.clock = clock
        self.layouts = layouts
        self.sources = sources
        self._due: dict[tuple[str, str, str], float | None] = {}  # next tick, once read

    def schedules(self) -> list[Schedule]:
        """Every timer spec of every pipeline in the current layouts."""
        out = []
        for tenant, layout in sorted(self.layouts.layouts.items()):
            for pipeline in layout.pipelines.values():
                for f in pipeline.triggers:
                    if f.connection == TIMER and f.timer:
                        out.append(Schedule(tenant, pipeline.name, _spec(f.timer)))
        return out

    def targets(self, tenant: str, pipeline: str) -> list[tuple[str, str]]:
        """(project, branch) of the tenant whose configuration uses ``pipeline``."""
        config = self.layouts.tenants.get(tenant)
        layout = self.layouts.layouts.get(tenant)
        if config is None or layout is None:
            return []
        out = []
        for tp in config.projects:
            source = self.sources.get(tp.connection)
            if source is None:
                continue
            for branch in source.branches(tp.name):
                if layout.project_pipeline_jobs(tp.name, pipeline, branch):
                    out.append((tp.name, branch))
        return out

    def run_once(self) -> bool:
        """Fire every schedule whose tick has come; whether any fired."""
        now = self.clock.now()
        fired = False
        for schedule in self.schedules():
            due = self._due.get(schedule.key, now)
            if due is not None and due <= now:
                fired = self._fire(schedule, now) or fired
        if fired:
            self.store.notifier.notify(channels.SCHEDULER)
        return fired

    def next_tick(self) -> float | None:
        """The earliest tick known to be coming (for tests and the dashboard)."""
        known = [t for t in self._due.values() if t is not None]
        return min(known, default=None)

    def _fire(self, schedule: Schedule, now: float) -> bool:
        tenant, pipeline, text = schedule.key
        try:
            with self.store.session() as s:
                row = s.get(TimerTickRow, schedule.key)
                if row is None:  # a new schedule: it runs from its next tick on
                    s.add(TimerTickRow(tenant=tenant, pipeline=pipeline, spec=text,
                                       last_tick=now, fired_at=now))
                    self._due[schedule.key] = schedule.spec.next_after(now)
                    return False
                last = row.last_tick
                tick = schedule.spec.last_due(last, now)
                if tick is None:
                    self._due[schedule.key] = schedule.spec.next_after(last)
                    return False
                moved = s.execute(
                    update(TimerTickRow)
                    .where(TimerTickRow.tenant == tenant, TimerTickRow.pipeline == pipeline,
                           TimerTickRow.spec == text, TimerTickRow.last_tick == last)
                    .values(last_tick=tick, fired_at=now)
                    .execution_options(synchronize_session=False)).rowcount
                if moved != 1:  # another timer fired this tick first
                    self._due.pop(schedule.key, None)
                    return False
                targets = self.targets(tenant, pipeline)
                for project, branch in targets:
                    s.add(EventRow(connection=TIMER, type=TIMER, project=project,
                                   branch=branch, created_at=now,
                                   data={"tenant": tenant, "pipeline": pipeline,
                                         "time": text, "tick": tick}))
        except IntegrityError:  # another timer recorded the new schedule first
            self._due.pop(schedule.key, None)
            return False
        self._due[schedule.key] = schedule.spec.next_after(tick)
        log.info("timer: %s/%s fired for %s (%s): %d project branch(es)", tenant, pipeline,
                 tick, text, len(targets))
        return True
