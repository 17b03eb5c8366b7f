"""Whether anything was written to a SQLite store since the last look.

SQLite's ``PRAGMA data_version`` changes on a connection whenever another connection
(of this process or any other) commits to the database file; asking costs tens of
microseconds and reads no table. A watcher of the store asks it often on a
connection of its own, and does its costly check only when it moved. PostgreSQL has
its notifications instead (:mod:`zuulish.store.pg_wakeups`).
"""

from __future__ import annotations

import contextlib
import sqlite3

from zuulish.store.database import Store

#: how long a look waits for a lock (seconds); a look that cannot read says "moved"
LOOK_TIMEOUT = 0.05


class SqliteWrites:
    """Looks at one SQLite database file's ``data_version``."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, timeout=LOOK_TIMEOUT, isolation_level=None,
                                     check_same_thread=False)
        self._last: int | None = None

    def moved(self) -> bool:
        """Whether another connection committed since the last call (True the first
        time, and when the database cannot be read now)."""
        try:
            value = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return True
        moved = value != self._last
        self._last = value
        return moved

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()


def sqlite_writes(store: Store) -> SqliteWrites | None:
    """A :class:`SqliteWrites` of the store's file; None unless it is a SQLite file
    (PostgreSQL, or a database in memory that no other connection shares)."""
    if not store.is_sqlite:
        return None
    path = store.engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    try:
        return SqliteWrites(path)
    except sqlite3.Error:
        return None
