"""Log retention: build logs older than the configured age are removed.

A build's log folder (``<state>/logs/<build id>/``: ``job-output.txt``,
``job-output.json``, artifacts) is removed once the build finished longer ago
than ``executor.log_retention_days`` (server configuration; default 30, null
keeps logs forever). The build's row stays, so history and results remain;
its ``log_path`` is cleared and the pages say the log is gone. Only folders
directly under ``<state>/logs`` are ever removed, never a path a row points
elsewhere, and no link is followed (a post-run playbook may have copied links
into a log folder). Logs kept in an S3 bucket (``logs: {store: s3}``) are
deleted there: every object under the build's prefix, and only when the row's
``log_path`` is exactly where this configuration keeps that build's logs. The
all-in-one process prunes at start and then hourly; ``zuulish logs prune`` does
it at once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select

from zuulish.clock import Clock
from zuulish.logs.stores import LogStores, make_log_stores
from zuulish.store import BuildRow, Store

log = logging.getLogger(__name__)

DAY = 86400.0
PRUNE_INTERVAL = 3600.0  # seconds between automatic prunes
BATCH = 500  # builds looked at per query


def prune_logs(store: Store, state_dir: Path, older_than: float,
               stores: LogStores | None = None) -> list[str]:
    """Remove the logs of builds that finished before ``older_than`` (epoch seconds),
    from this host's log folder or the log store their row names; return the ids
    of the builds whose logs were removed."""
    stores = stores or make_log_stores(None, state_dir)
    removed: list[str] = []
    last = ""
    while True:
        with store.read() as s:
            rows = s.execute(select(BuildRow.id, BuildRow.log_path).where(
                BuildRow.finished_at.is_not(None), BuildRow.finished_at < older_than,
                BuildRow.log_path.is_not(None), BuildRow.id > last)
                .order_by(BuildRow.id).limit(BATCH)).all()
        if not rows:
            return removed
        last = rows[-1][0]
        gone: list[str] = []
        cleared: list[str] = []
        for build_id, log_path in rows:
            kept = stores.for_path(log_path)
            if kept is None:
                log.warning("the logs of build %s are at %s, which this configuration's "
                            "log store does not hold: left there", build_id, log_path)
                continue
            if kept.remove(build_id, log_path):
                gone.append(build_id)
            elif kept is stores.local and not stores.local.present(build_id):
                cleared.append(build_id)  # already gone from this host
        with store.session() as s:
            for row in s.scalars(select(BuildRow).where(BuildRow.id.in_(gone + cleared))):
                row.log_path = None
        removed.extend(gone)


class LogRetention:
    """Prunes logs older than ``max_age`` seconds, at most every ``interval``."""

    def __init__(self, store: Store, state_dir: Path, clock: Clock,
                 max_age: float | None, interval: float = PRUNE_INTERVAL,
                 stores: LogStores | None = None):
        self.store = store
        self.stores = stores
        self.state_dir = state_dir
        self.clock = clock
        self.max_age = max_age
        self.interval = interval
        self._next = 0.0

    def run_once(self) -> list[str]:
        """Prune if it is time; the build ids whose logs went."""
        now = self.clock.now()
        if self.max_age is None or now < self._next:
            return []
        self._next = now + self.interval
        removed = prune_logs(self.store, self.state_dir, now - self.max_age, self.stores)
        if removed:
            log.info("removed the logs of %d builds older than %.1f days", len(removed),
                     self.max_age / DAY)
        return removed
