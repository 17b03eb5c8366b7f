"""The active scheduler's lease: one row, one holder, and fencing of its writes.

A standby takes the lease when it has expired (by the database's clock) or was
released; each new holder raises ``epoch``. The holder renews it from a thread of
its own every third of its length. Every write transaction of the holder's
scheduler thread first reads the lease row ``FOR SHARE`` and fails with
:class:`LeaseLost` unless this process still holds it with its epoch: a scheduler
that was paused past its lease (SIGSTOP, a partition) and resumes cannot write a
thing, and a standby's takeover waits for the holder's transaction in flight.

On PostgreSQL the holder also keeps a session advisory lock on a connection of its
own: when the holder's process dies, the server drops that lock at once, and a
standby that then gets the lock takes the lease without waiting for it to expire.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable

from sqlalchemy import select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from zuulish.cluster.db_time import db_now
from zuulish.store import ComponentRow, LeaseRow, Store

log = logging.getLogger(__name__)

SCHEDULER = "scheduler"


class LeaseLost(BaseException):  # noqa: N818 - like KeyboardInterrupt: not caught by `except Exception`
    """This process no longer holds the lease: whatever it was doing must stop.

    A BaseException, so that no ``except Exception`` on the way records the
    interrupted work as failed."""


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"zuulish-lease:{name}".encode()).digest()[:8],
                          "big", signed=True)


def _ended(s: Session, holder: str) -> bool:
    """Whether the component ``holder`` is known to have ended (stopped, or dead)."""
    state = s.scalar(select(ComponentRow.state).where(ComponentRow.id == holder))
    return state in ("stopped", "dead")


class Lease:
    """The lease ``name`` as seen by the component ``holder``."""

    def __init__(self, store: Store, name: str, holder: str, seconds: float,
                 data: Callable[[], dict] | None = None):
        self.store = store
        self.name = name
        self.holder = holder
        self.seconds = seconds
        self.data = data or dict
        self.epoch: int | None = None  # the epoch this process holds (None: standby)
        self._lock_conn: Connection | None = None
        self._locked = False  # whether _lock_conn holds the advisory lock
        self._renewer: threading.Thread | None = None
        self._stop = threading.Event()
        self.lost = threading.Event()

    @property
    def held(self) -> bool:
        return self.epoch is not None and not self.lost.is_set()

    # --------------------------------------------------------- taking it
    def try_acquire(self) -> bool:
        """Take the lease if it is free, expired, or its holder's process is gone."""
        holder_gone = self._take_lock()
        with self.store.session() as s:
            now = db_now(s)
            row = s.get(LeaseRow, self.name, with_for_update=True)
            if row is None:
                try:
                    with s.begin_nested():
                        s.add(LeaseRow(name=self.name, holder=self.holder, epoch=1,
                                       expires_at=now + self.seconds, data=self.data()))
                except IntegrityError:
                    return False  # another took it first
                self._held(1)
                return True
            free = row.holder is None or row.expires_at < now or row.holder == self.holder \
                or _ended(s, row.holder)
            if not free and holder_gone:
                log.warning("lease %s: its holder %s lost its database session (its "
                            "process ended); taking over without waiting for the lease "
                            "to expire", self.name, row.holder)
                free = True
            if not free:
                return False
            previous = row.holder
            row.holder, row.epoch = self.holder, row.epoch + 1
            row.expires_at, row.data = now + self.seconds, self.data()
            epoch = row.epoch
        if previous and previous != self.holder:
            log.warning("lease %s: taken over from %s (epoch %d)", self.name, previous, epoch)
        self._held(epoch)
        return True

    def _take_lock(self) -> bool:
        """PostgreSQL: try for the advisory lock; True when this call got it (so whoever
        held it has lost its session). SQLite: no lock, always False."""
        if self.store.is_sqlite or self._locked:
            return False
        if self._lock_conn is None:  # one connection for every try, kept while it works
            self._lock_conn = self.store.engine.connect()
        try:
            got = bool(self._lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                               {"k": _lock_key(self.name)}).scalar())
            self._lock_conn.commit()
        except SQLAlchemyError:
            self._drop_lock()
            raise
        self._locked = got
        return got

    def _held(self, epoch: int) -> None:
        self.epoch = epoch
        self.lost.clear()
        if self._renewer is None or not self._renewer.is_alive():
            self._stop.clear()
            self._renewer = threading.Thread(target=self._renew_loop, daemon=True,
                                             name=f"lease-{self.name}")
            self._renewer.start()

    # --------------------------------------------------------- keeping it
    def renew(self) -> bool:
        """Extend the lease; False (and ``lost`` set) when another holds it now."""
        epoch = self.epoch
        if epoch is None:
            return False
        with self.store.session() as s:
            now = db_now(s)
            done = s.execute(update(LeaseRow).where(
                LeaseRow.name == self.name, LeaseRow.holder == self.holder,
                LeaseRow.epoch == epoch).values(expires_at=now + self.seconds)).rowcount
        if not done:
            self._lose("another component holds it now")
        return bool(done)

    def _renew_loop(self) -> None:
        failing = False
        while not self._stop.wait(self.seconds / 3):
            if self.epoch is None:
                return
            try:
                if not self.renew():
                    return
                failing = False
                if not self.store.is_sqlite and not self._locked:
                    self._take_lock()  # after the database came back: take it again
            except SQLAlchemyError as exc:
                if not failing:
                    log.error("lease %s: cannot renew (%s); still the holder until it "
                              "expires", self.name, str(exc).splitlines()[0])
                    failing = True
                self._drop_lock()

    def _lose(self, why: str) -> None:
        if self.epoch is not None and not self.lost.is_set():
            log.error("lease %s: lost (%s); this scheduler is a standby now", self.name, why)
        self.lost.set()
        self.epoch = None
        self._drop_lock()

    def _drop_lock(self) -> None:
        conn, self._lock_conn, self._locked = self._lock_conn, None, False
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()

    def check(self, session: Session) -> None:
        """Fence: LeaseLost unless this process holds the lease (in ``session``'s
        transaction, which then keeps the row from changing hands until it ends)."""
        epoch = self.epoch
        if epoch is None or self.lost.is_set():
            raise LeaseLost(self.name)
        row = session.execute(select(LeaseRow.holder, LeaseRow.epoch)
                              .where(LeaseRow.name == self.name).with_for_update(read=True)
                              ).first()
        if row is None or row[0] != self.holder or row[1] != epoch:
            self._lose("another component holds it now")
            raise LeaseLost(self.name)

    def update_data(self, data: dict) -> None:
        """Record ``data`` with the lease (the layout generation, the tenant file's hash)."""
        with self.store.session() as s:
            s.execute(update(LeaseRow).where(LeaseRow.name == self.name,
                                             LeaseRow.holder == self.holder)
                      .values(data=data))

    # --------------------------------------------------------- giving it up
    def release(self) -> None:
        """Hand the lease over now (a clean stop), so a standby need not wait."""
        self._stop.set()
        epoch, self.epoch = self.epoch, None
        if epoch is not None:
            try:
                with self.store.session() as s:
                    s.execute(update(LeaseRow).where(
                        LeaseRow.name == self.name, LeaseRow.holder == self.holder,
                        LeaseRow.epoch == epoch).values(holder=None, expires_at=0.0))
                log.info("lease %s: released", self.name)
            except SQLAlchemyError:
                log.warning("lease %s: could not release it; it expires in %.0fs",
                            self.name, self.seconds)
        self._drop_lock()


def current(store: Store, name: str = SCHEDULER) -> LeaseRow | None:
    with store.read() as s:
        return s.get(LeaseRow, name)
