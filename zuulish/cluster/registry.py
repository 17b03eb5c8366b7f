"""Who is running: each component's row in ``components`` and its heartbeat.

A component registers when it starts, refreshes ``heartbeat_at`` every
``interval`` seconds from a thread of its own (so a long build or pass never
delays it), and says ``stopped`` when it ends cleanly. When the active scheduler
finds a component silent for longer than its timeout it declares it ``dead`` and
releases its work (``reaper.py``); a component that wakes up to find itself
declared dead (it was paused, or cut off from the database) is told through
``on_lost`` — its work was handed to others — and registers again under a new id.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from zuulish import __version__
from zuulish.cluster.db_time import db_now
from zuulish.cluster.timing import Timing
from zuulish.store import ComponentRow, Store

log = logging.getLogger(__name__)

KINDS = ("scheduler", "executor", "merger", "launcher", "web")
RUNNING, STOPPING, STOPPED, DEAD = "running", "stopping", "stopped", "dead"
__all__ = ["ComponentRegistry", "Timing", "live"]


def hostname() -> str:
    return socket.gethostname()


def machine() -> str:
    """This boot of this host, and this PID namespace: where a pid means one process."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pidns = os.readlink("/proc/self/ns/pid")
    except OSError:
        return f"{hostname()}/unknown"
    return f"{hostname()}/{boot}/{pidns}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_id(kind: str) -> str:
    return f"{kind}:{hostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class ComponentRegistry:
    """This process's component of one kind: its row, kept alive by a thread."""

    def __init__(self, store: Store, kind: str, *, zone: str | None = None,
                 address: str | None = None, config_hash: str | None = None,
                 interval: float = 2.0, on_lost: Callable[[str], None] | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown component kind {kind!r}")
        self.store = store
        self.kind = kind
        self.zone = zone
        self.address = address
        self.config_hash = config_hash
        self.interval = interval
        self.on_lost = on_lost
        self.id = new_id(kind)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def register(self) -> str:
        """Add this component's row; earlier components of this machine whose process
        has ended (killed, crashed) are declared dead at once, so their work is redone
        without waiting for their heartbeat timeout."""
        here = machine()
        with self.store.session() as s:
            now = db_now(s)
            gone = [row for row in s.scalars(select(ComponentRow).where(
                ComponentRow.machine == here, ComponentRow.state.in_((RUNNING, STOPPING))))
                if not _alive(row.pid)]
            for row in gone:
                log.warning("component %s (pid %d of this machine) has ended without "
                            "stopping; declared dead, its work will be redone", row.id, row.pid)
                row.state = DEAD
            s.add(ComponentRow(id=self.id, kind=self.kind, hostname=hostname(),
                               pid=os.getpid(), machine=here, zone=self.zone,
                               address=self.address,
                               config_hash=self.config_hash, version=__version__,
                               state=RUNNING, started_at=now, heartbeat_at=now))
        log.info("%s registered (zone %s)", self.id, self.zone or "none")
        return self.id

    def start(self) -> None:
        self.register()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.kind}",
                                        daemon=True)
        self._thread.start()

    def beat(self) -> bool:
        """Refresh the heartbeat; False when this component was declared dead."""
        with self.store.session() as s:
            now = db_now(s)
            done = s.execute(update(ComponentRow)
                             .where(ComponentRow.id == self.id,
                                    ComponentRow.state.in_((RUNNING, STOPPING)))
                             .values(heartbeat_at=now, address=self.address,
                                     config_hash=self.config_hash)).rowcount
        return bool(done)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                alive = self.beat()
            except SQLAlchemyError as exc:
                if not self._failing:
                    log.error("%s: cannot reach the database to heartbeat (%s); retrying",
                              self.id, str(exc).splitlines()[0])
                    self._failing = True
                continue
            if self._failing:
                log.warning("%s: the database answers again; heartbeating", self.id)
                self._failing = False
            if not alive:
                self._lost()

    def _lost(self) -> None:
        old = self.id
        log.error("%s was declared dead by the active scheduler (silent too long): its "
                  "work has been handed to others; registering again", old)
        self.id = new_id(self.kind)
        try:
            self.register()
        except SQLAlchemyError:
            log.exception("%s: cannot register again", self.id)
        if self.on_lost is not None:
            self.on_lost(old)

    def set_state(self, state: str) -> None:
        with self.store.session() as s:
            s.execute(update(ComponentRow).where(ComponentRow.id == self.id,
                                                 ComponentRow.state != DEAD)
                      .values(state=state, heartbeat_at=db_now(s)))

    def stop(self) -> None:
        """Stop beating and say so (others then need not wait for the timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
        try:
            self.set_state(STOPPED)
        except SQLAlchemyError:
            log.warning("%s: could not record its stop; it will be declared dead after "
                        "its heartbeat timeout", self.id)


def live(store: Store, kind: str, dead_after: float) -> list[ComponentRow]:
    """Components of ``kind`` that beat within ``dead_after`` seconds."""
    with store.read() as s:
        now = db_now(s)
        return list(s.scalars(select(ComponentRow).where(
            ComponentRow.kind == kind, ComponentRow.state.in_((RUNNING, STOPPING)),
            ComponentRow.heartbeat_at >= now - dead_after)).all())
