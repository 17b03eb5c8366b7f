"""The webhook's writer on SQLite waits for the database's write lock while another
writer (another process's transaction) holds it, then stores the delivery once."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import select

from zuulish.clock import SystemClock
from zuulish.drivers.github.webhook import DeliveryWriter
from zuulish.store import GithubDeliveryRow, Store


def test_a_delivery_waits_for_a_held_write_lock_then_is_stored_once(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'zuulish.db'}")
    store.upgrade()
    other = sqlite3.connect(tmp_path / "zuulish.db", isolation_level=None,
                            check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # as a component in another process would
    writer = DeliveryWriter("github", store, SystemClock())
    try:
        first = writer.submit("push", "delivery-1", b"{}")
        released = threading.Event()
        threading.Timer(0.3, lambda: (other.execute("COMMIT"), released.set())).start()
        assert first.result(timeout=30) is True
        assert released.is_set()  # stored only once the lock was free
        again = writer.submit("push", "delivery-1", b"{}")
        assert again.result(timeout=30) is False
    finally:
        writer.close()
        other.close()
    with store.read() as session:
        assert list(session.scalars(select(GithubDeliveryRow.delivery))) == ["delivery-1"]
    store.dispose()
