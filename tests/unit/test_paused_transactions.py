"""A component paused (SIGSTOP, a partition) in the middle of a transaction must not
stall the others: the reaper skips the rows it holds, and PostgreSQL ends its
transaction once idle as long as a silent component is declared dead."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from zuulish.cluster.db_time import db_now
from zuulish.cluster.reaper import Reaper
from zuulish.cluster.registry import DEAD, RUNNING
from zuulish.cluster.timing import Timing
from zuulish.store import ComponentRow, Store
from zuulish.store.database import database_away

pytestmark = pytest.mark.store


def _component(store: Store, cid: str, beat_age: float) -> None:
    with store.session() as s:
        now = db_now(s)
        s.add(ComponentRow(id=cid, kind="executor", hostname="h", pid=1, machine="m",
                           zone=None, address=None, config_hash=None, version=None,
                           state=RUNNING, started_at=now - beat_age,
                           heartbeat_at=now - beat_age))


def _state(store: Store, cid: str) -> str:
    with store.read() as s:
        row = s.get(ComponentRow, cid)
        assert row is not None
        return row.state


class _Holder(threading.Thread):
    """Locks a component's row in a transaction and stays in it, as a process stopped
    between its heartbeat's UPDATE and its COMMIT does."""

    def __init__(self, store: Store, cid: str, hold: float):
        super().__init__(daemon=True)
        self.store, self.cid, self.hold = store, cid, hold
        self.locked = threading.Event()
        self.wake = threading.Event()  # SIGCONT
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.store.session() as s:
                s.execute(update(ComponentRow).where(ComponentRow.id == self.cid)
                          .values(address="http://paused"))
                self.locked.set()
                self.wake.wait(self.hold)
        except BaseException as exc:  # noqa: BLE001 - what the paused one meets on waking
            self.error = exc
        finally:
            self.locked.set()


def test_the_reaper_skips_a_component_row_locked_by_a_paused_transaction(
        store: Store) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite has one writer at a time: a paused writer stops every process")
    _component(store, "executor:paused", beat_age=60)
    _component(store, "executor:silent", beat_age=60)
    holder_store = Store(store.url)
    holder = _Holder(holder_store, "executor:paused", hold=30)
    holder.start()
    assert holder.locked.wait(10)
    reaper = Reaper(store, Timing(heartbeat=1, dead_after=3, lease=2), every=0)
    reaper.connected_since = -1e9  # connected long enough: reaping is due
    done = threading.Event()
    worker = threading.Thread(target=lambda: (reaper.run_once(), done.set()), daemon=True)
    started = time.monotonic()
    worker.start()
    try:
        assert done.wait(10), "the reaper's pass waited on the paused component's row lock"
        assert time.monotonic() - started < 10
        assert _state(store, "executor:silent") == DEAD  # the pass went on
        assert _state(store, "executor:paused") == RUNNING  # skipped while locked
    finally:
        holder.wake.set()
        holder.join(10)
    reaper.run_once()
    assert _state(store, "executor:paused") == DEAD  # declared dead once released
    holder_store.dispose()


def test_postgresql_ends_a_transaction_left_idle_past_the_timeout(store: Store) -> None:
    if store.is_sqlite:
        pytest.skip("the idle-transaction timeout is PostgreSQL's")
    _component(store, "executor:paused", beat_age=0)
    paused_store = Store(store.url, idle_transaction_timeout=1.0)
    holder = _Holder(paused_store, "executor:paused", hold=4)
    holder.start()
    assert holder.locked.wait(10)
    started = time.monotonic()
    with store.session() as s:  # waits for the row lock only until the server ends it
        s.execute(update(ComponentRow).where(ComponentRow.id == "executor:paused")
                  .values(state=DEAD))
    waited = time.monotonic() - started
    holder.wake.set()  # SIGCONT
    holder.join(10)
    paused_store.dispose()
    assert waited < 3.5, f"the writer waited {waited:.1f}s for a paused transaction"
    # the paused one, awake, finds its transaction gone: nothing of it was written, and
    # its components take the error for the database being away (they try again)
    assert isinstance(holder.error, SQLAlchemyError) and database_away(holder.error)
    with store.read() as s:
        row = s.get(ComponentRow, "executor:paused")
        assert row is not None and row.state == DEAD and row.address is None


def test_no_timeout_is_set_unless_asked(store: Store) -> None:
    if store.is_sqlite:
        pytest.skip("the idle-transaction timeout is PostgreSQL's")
    with store.read() as s:
        assert s.connection().exec_driver_sql(
            "SHOW idle_in_transaction_session_timeout").scalar() == "0"
    timed = Store(store.url, idle_transaction_timeout=2.5)
    try:
        with timed.read() as s:
            assert s.connection().exec_driver_sql(
                "SHOW idle_in_transaction_session_timeout").scalar() == "2500ms"
    finally:
        timed.dispose()


def test_a_refused_write_is_not_taken_for_the_database_being_away(store: Store) -> None:
    _component(store, "executor:one", beat_age=0)
    with pytest.raises(SQLAlchemyError) as refused:
        _component(store, "executor:one", beat_age=0)  # the same primary key again
    assert not database_away(refused.value)


def test_the_timeout_keeps_the_urls_own_options(store: Store) -> None:
    if store.is_sqlite:
        pytest.skip("the idle-transaction timeout is PostgreSQL's")
    timed = Store(f"{store.url}?options=-c%20statement_timeout%3D7000",
                  idle_transaction_timeout=2)
    try:
        with timed.read() as s:
            show = s.connection().exec_driver_sql
            assert show("SHOW statement_timeout").scalar() == "7s"
            assert show("SHOW idle_in_transaction_session_timeout").scalar() == "2s"
    finally:
        timed.dispose()
