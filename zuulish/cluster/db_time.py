"""The database's clock: the one clock every component on every host agrees on.

Heartbeats and leases are written and compared in the database's time, never a
component's, so a host whose clock jumps (NTP stepping, a VM resumed) cannot make
a live component look dead or keep a dead one's lease alive.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

_NOW = {
    "postgresql": "SELECT EXTRACT(EPOCH FROM clock_timestamp())",
    "sqlite": "SELECT (julianday('now') - 2440587.5) * 86400.0",
}


def db_now(session: Session) -> float:
    """Seconds since the epoch by the database server's clock."""
    dialect = session.get_bind().dialect.name
    query = _NOW.get(dialect)
    if query is None:
        raise NotImplementedError(f"no clock for the {dialect} database")
    return float(session.execute(text(query)).scalar_one())
