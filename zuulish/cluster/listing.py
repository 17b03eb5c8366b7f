"""``zuulish components``: who runs where, and how recently each heartbeated."""

from __future__ import annotations

from sqlalchemy import select

from zuulish.cluster.db_time import db_now
from zuulish.cluster.lease import current
from zuulish.cluster.registry import RUNNING, STOPPING
from zuulish.server_config import ServerConfig
from zuulish.store import ComponentRow, Store


def show_components(config: ServerConfig, show_all: bool = False) -> int:
    """Print one line per component; 0, or 1 when none is live."""
    store = Store(config.database)
    try:
        with store.read() as s:
            now = db_now(s)
            query = select(ComponentRow).order_by(ComponentRow.kind, ComponentRow.started_at)
            if not show_all:
                query = query.where(ComponentRow.state.in_((RUNNING, STOPPING)),
                                    ComponentRow.heartbeat_at
                                    >= now - config.cluster.dead_after)
            rows = s.scalars(query).all()
        lease = current(store)
    finally:
        store.dispose()
    leader = lease.holder if lease is not None and lease.expires_at >= now else None
    print(f"{'KIND':10} {'STATE':9} {'BEAT':>6} {'ZONE':12} ID")
    for row in rows:
        role = " (active)" if row.id == leader else ""
        print(f"{row.kind:10} {row.state:9} {now - row.heartbeat_at:5.1f}s "
              f"{row.zone or '-':12} {row.id}{role}")
    return 0 if rows else 1
