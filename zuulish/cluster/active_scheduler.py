"""The scheduler of a deployment with several: active while it holds the lease.

Any number of schedulers may run; the one holding the ``scheduler`` lease runs the
passes (and the timer, and the reaper), the others wait as standbys and try for the
lease every ``standby_poll`` seconds. Taking over starts from the store alone: a
fresh :class:`Scheduler` (nothing of an earlier term is trusted), the layouts read
again (the previous holder may have reconfigured), and every queue planned anew.
Losing the lease mid-pass (``LeaseLost`` from the fence) abandons the pass: the
transaction in flight is rolled back and nothing more is written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from zuulish.cluster.layout_sync import LayoutPublisher
from zuulish.cluster.lease import Lease, LeaseLost
from zuulish.cluster.reaper import Reaper
from zuulish.drivers.timer.timer import Timer
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.scheduler.scheduler import Scheduler
from zuulish.store import Store

log = logging.getLogger(__name__)

STANDBY_POLL = 0.5


class ActiveScheduler:
    """One scheduler process's part: standby, or the active scheduler."""

    def __init__(self, store: Store, layouts: TenantLayouts, lease: Lease, reaper: Reaper,
                 make_scheduler: Callable[[], Scheduler], make_timer: Callable[[], Timer],
                 standby_poll: float = STANDBY_POLL):
        self.store = store
        self.layouts = layouts
        self.lease = lease
        self.reaper = reaper
        self.make_scheduler = make_scheduler
        self.make_timer = make_timer
        self.standby_poll = standby_poll
        self.scheduler: Scheduler | None = make_scheduler()
        self.timer: Timer | None = make_timer()
        self.publisher = LayoutPublisher(store, layouts)
        self.terms = 0  # how many times this process became the active scheduler
        self.became_active = threading.Event()
        self._fresh = True  # the scheduler and layouts were made just now, at start
        self._failing = False

    @property
    def active(self) -> bool:
        return self.lease.held

    def step(self) -> bool:
        """One pass while active; one try for the lease while a standby."""
        if not self.lease.held:
            if self.scheduler is not None and not self._fresh:
                self._demote()
            if not self._try_lease():
                self._fresh = False  # the store moves on while this one waits
                time.sleep(self.standby_poll)
                return False
            self._take_over()
        try:
            fired = self.timer.run_once() if self.timer is not None else False
            assert self.scheduler is not None
            busy = self.scheduler.run_once().busy or fired
            self.reaper.run_once()
            self.publisher.run_once()
            return busy
        except LeaseLost:
            log.error("scheduler: the lease was lost during a pass; the pass is abandoned")
            self._demote()
            return False
        except SQLAlchemyError:
            # the database went away during the pass (the service retries it): when it
            # answers again, the reaper gives every component its chance to beat first
            self.reaper.note_connected(None)
            raise

    def _try_lease(self) -> bool:
        try:
            got = self.lease.try_acquire()
        except SQLAlchemyError as exc:
            self.reaper.note_connected(None)
            if not self._failing:
                log.error("scheduler: cannot reach the database (%s); retrying",
                          str(exc).splitlines()[0])
                self._failing = True
            return False
        if self._failing:
            log.warning("scheduler: the database answers again")
            self._failing = False
        return got

    def _take_over(self) -> None:
        self.terms += 1
        if not self._fresh:  # a standby for a while: the store may have moved on
            self.layouts.load_all()
            self.scheduler = self.make_scheduler()
            self.timer = self.make_timer()
            self.publisher = LayoutPublisher(self.store, self.layouts)
        self._fresh = False
        # from now on every write of this thread checks that the lease is still ours
        self.store.fence = (threading.current_thread(), self.lease.check)
        log.warning("scheduler: active (lease epoch %s)", self.lease.epoch)
        self.became_active.set()

    def _demote(self) -> None:
        """Forget everything of the term that ended; wait as a standby."""
        self.store.fence = None
        self.scheduler = None
        self.timer = None
        self._fresh = False
        self.became_active.clear()

    def stop(self) -> None:
        """Hand the lease over (a standby takes it at its next try)."""
        self.lease.release()
