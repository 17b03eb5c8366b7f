"""Log retention: build logs older than the configured age are removed.

A build's log folder (``<state>/logs/<build id>/``: ``job-output.txt``,
``job-output.json``, artifacts) is removed once the build finished longer ago
than ``executor.log_retention_days`` (server configuration; default 30, null
keeps logs forever). The build's row stays, so history and results remain;
its ``log_path`` is cleared and the pages say the log is gone. Only folders
directly under ``<state>/logs`` are ever removed, never a path a row points
elsewhere, and no link is followed (a post-run playbook may have copied links
into a log folder). The all-in-one process prunes at start and then hourly;
``zuulish logs prune`` does it at once.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

from sqlalchemy import select

from zuulish.clock import Clock
from zuulish.store import BuildRow, Store

log = logging.getLogger(__name__)

DAY = 86400.0
PRUNE_INTERVAL = 3600.0  # seconds between automatic prunes
BATCH = 500  # builds looked at per query


def prune_logs(store: Store, state_dir: Path, older_than: float) -> list[str]:
    """Remove the logs of builds that finished before ``older_than`` (epoch seconds);
    return the ids of the builds whose logs were removed."""
    root = (state_dir / "logs").resolve()
    removed: list[str] = []
    last = ""
    while True:
        with store.read() as s:
            ids = s.scalars(select(BuildRow.id).where(
                BuildRow.finished_at.is_not(None), BuildRow.finished_at < older_than,
                BuildRow.log_path.is_not(None), BuildRow.id > last)
                .order_by(BuildRow.id).limit(BATCH)).all()
        if not ids:
            return removed
        last = ids[-1]
        gone = [build_id for build_id in ids if _remove(root, build_id)]
        with store.session() as s:
            for row in s.scalars(select(BuildRow).where(BuildRow.id.in_(ids))):
                if row.id in gone or not os.path.lexists(root / row.id):
                    row.log_path = None
        removed.extend(gone)


def _remove(root: Path, build_id: str) -> bool:
    """Delete ``root/build_id`` when it is right under ``root``, never following a
    link: a folder goes with what it holds (``shutil.rmtree`` removes links in
    it, not what they point at); a link in its place is removed itself."""
    if build_id in ("", ".", "..") or "/" in build_id:
        return False
    folder = root / build_id
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(mode):
        folder.unlink()
    elif stat.S_ISDIR(mode):
        shutil.rmtree(folder, ignore_errors=True)
    else:
        return False
    return not os.path.lexists(folder)


class LogRetention:
    """Prunes logs older than ``max_age`` seconds, at most every ``interval``."""

    def __init__(self, store: Store, state_dir: Path, clock: Clock,
                 max_age: float | None, interval: float = PRUNE_INTERVAL):
        self.store = store
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
        removed = prune_logs(self.store, self.state_dir, now - self.max_age)
        if removed:
            log.info("removed the logs of %d builds older than %.1f days", len(removed),
                     self.max_age / DAY)
        return removed
