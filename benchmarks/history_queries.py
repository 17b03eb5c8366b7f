#!/usr/bin/env python3
"""The build history's queries (``zuulish.web.history``) on a big store: one page of
builds (and its total) for each filter, and one page of build sets.

Fills a fresh SQLite store (``--database URL`` another, e.g. PostgreSQL: its tables
are dropped first) with ``--builds`` builds of two tenants (four per build set, 40
jobs, 200 projects), then times each query ``--repeat`` times. Prints one JSON line:
``builds``, and per query the median milliseconds (``ms``) of a page of 50 with its
total.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from zuulish.store import Base, BuildRow, BuildSetRow, QueueItemRow, Store  # noqa: E402
from zuulish.web.history import HistoryFilter, find_builds, find_buildsets  # noqa: E402

T0 = 1_780_000_000.0
RESULTS = ("SUCCESS",) * 8 + ("FAILURE", "TIMED_OUT")


def fill(store: Store, builds: int) -> None:
    """``builds`` builds, four per build set, in batches of bulk inserts."""
    items = builds // 4
    batch = 5000
    with store.engine.begin() as conn:
        for start in range(0, items, batch):
            rows = range(start, min(items, start + batch))
            conn.execute(insert(QueueItemRow), [
                {"id": i + 1, "tenant": "t" if i % 10 else "other", "pipeline":
                 ("check", "gate", "post")[i % 3], "queue_name": "q", "connection": "forge",
                 "change_number": i // 2 + 1, "patchset": i % 2 + 1, "commit_sha": "0" * 40,
                 "ref": None, "project": f"org/p{i % 200}", "branch": "main" if i % 7
                 else "stable", "sequence": i, "state": "reported", "result": "SUCCESS",
                 "enqueued_at": T0 + i, "live": True} for i in rows])
            conn.execute(insert(BuildSetRow), [
                {"id": i + 1, "uuid": f"bs-{i}", "item_id": i + 1, "current": True,
                 "alternate": False, "ahead": [], "merge_state": "merged", "repo_state": {},
                 "created_at": T0 + i} for i in rows])
            conn.execute(insert(BuildRow), [
                {"id": f"b-{i}-{j}", "buildset_id": i + 1, "job": f"job-{(i * 4 + j) % 40}",
                 "state": "completed", "result": RESULTS[(i + j) % len(RESULTS)],
                 "voting": j != 3, "priority": 100, "frozen_job": {}, "params": {},
                 "attempt": 1, "cancel_requested": False, "created_at": T0 + i,
                 "started_at": T0 + i + j, "finished_at": T0 + i + j + 60 + i % 300,
                 "noticed": True, "paused": False} for i in rows for j in range(4)])
    with store.engine.begin() as conn:  # the planner's statistics, as a live store has
        conn.execute(text("ANALYZE"))


QUERIES = {
    "newest": {},
    "project": {"project": "org/p17"},
    "pipeline": {"pipeline": "gate"},
    "job": {"job_name": "job-7"},
    "change": {"change": 1234},
    "branch": {"branch": "stable"},
    "result": {"result": ("FAILURE",)},
    "job_and_result": {"job_name": "job-3", "result": ("TIMED_OUT",)},
    "voting": {"voting": False},
    "newer_than": {"newer_than": T0 + 10_000},
    "deep_page": {"skip": 10_000},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--builds", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.database or f"sqlite:///{tmp}/history.db")
        if args.database:
            with store.engine.begin() as conn:
                Base.metadata.drop_all(conn)
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        store.upgrade()
        fill(store, args.builds)
        figures: dict[str, float] = {}
        for name, given in {**QUERIES, "buildsets": {}}.items():
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                if name == "buildsets":
                    find_buildsets(store, "t", HistoryFilter(), "http://bench")
                else:
                    find_builds(store, "t", HistoryFilter(**given), "http://bench")
                times.append((time.perf_counter() - start) * 1000)
            figures[f"{name}_ms"] = round(statistics.median(times), 1)
        store.dispose()
    print(json.dumps({"benchmark": "history_queries", "builds": args.builds,
                      "database": store.engine.dialect.name, **figures}))


if __name__ == "__main__":
    main()
