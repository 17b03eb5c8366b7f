#!/usr/bin/env python3
"""What one ``/metrics`` scrape costs: the store's gauges over a store with a long
history, and the whole rendering with a busy process's counters.

Seeds a SQLite database (or ``--database URL``, an empty one) with ``--history``
ended queue items, five builds and one event each (all finished), ``--queued``
items in the queues now with their running builds, and nodes; records
``--series`` build outcomes in a :class:`ProcessMetrics`. Prints one JSON line:
``collect_ms`` (the store's gauges, uncached, items searched in the layouts'
pipelines as a web does; median of ``--repeat``), ``collect_scan_ms`` (the same
without the pipelines: every item read), ``render_ms`` (the whole exposition,
gauges cached), ``bytes`` of it.
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

from sqlalchemy import insert  # noqa: E402

from zuulish.metrics import ProcessMetrics, RegistryFamilies, Scrape  # noqa: E402
from zuulish.metrics.store_collector import StoreCollector  # noqa: E402
from zuulish.store import (  # noqa: E402
    BuildRow,
    BuildSetRow,
    EventRow,
    NodeRow,
    QueueItemRow,
    Store,
)


def seed(store: Store, history: int, queued: int) -> None:
    items, buildsets, builds, events, nodes = [], [], [], [], []
    for n in range(history + queued):
        live = n >= history
        items.append({"id": n + 1, "tenant": f"t{n % 3}", "pipeline": ("check", "gate")[n % 2],
                      "queue_name": f"q{n % 20}", "connection": "forge", "change_number": n,
                      "patchset": 1, "commit_sha": "a" * 40, "project": f"org/p{n % 50}",
                      "branch": "main", "sequence": n,
                      "state": "queued" if live else "merged", "enqueued_at": 0.0,
                      "dequeued_at": None if live else 1.0})
        buildsets.append({"id": n + 1, "uuid": f"bs{n}", "item_id": n + 1, "ahead": [],
                          "merge_state": "merged", "created_at": 0.0})
        for j in range(5):
            builds.append({"id": f"b{n}-{j}", "buildset_id": n + 1, "job": f"job{j}",
                           "state": "running" if live else "completed",
                           "result": None if live else "SUCCESS", "created_at": 0.0,
                           "zone": None, "frozen_job": {}, "params": {}})
        events.append({"connection": "forge", "type": "patchset-created", "data": {},
                       "created_at": 0.0, "processed_at": None if live else 1.0})
        nodes.append({"provider": "cloud", "label": "small", "hostname": "h",
                      "state": "in-use" if live else "deleted", "created_at": 0.0})
    with store.session() as s:
        for table, rows in ((QueueItemRow, items), (BuildSetRow, buildsets),
                            (BuildRow, builds), (EventRow, events), (NodeRow, nodes)):
            for start in range(0, len(rows), 5000):
                s.execute(insert(table), rows[start:start + 5000])


def median_ms(func, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", help="an empty database (default: SQLite in a temp dir)")
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--queued", type=int, default=200)
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.database or f"sqlite:///{tmp}/bench.db")
        store.upgrade()
        seed(store, args.history, args.queued)
        pipelines = [(f"t{n}", p) for n in range(3) for p in ("check", "gate")]
        collect_ms = median_ms(StoreCollector(store, ttl=0, pipelines=lambda: pipelines)
                               .collect, args.repeat)
        collect_scan_ms = median_ms(StoreCollector(store, ttl=0).collect, args.repeat)
        metrics = ProcessMetrics()
        for n in range(args.series):
            metrics.build_finished("t", "gate", f"org/p{n % 50}", f"job{n}", "SUCCESS", 0, 60)
        scrape = Scrape(store, RegistryFamilies(metrics.registry), ttl=3600,
                        pipelines=lambda: pipelines)
        body = scrape.render()[0]
        render_ms = median_ms(scrape.render, args.repeat)
        store.dispose()
    print(json.dumps({"benchmark": "metrics_scrape", "database": store.url.split(":")[0],
                      "history_items": args.history, "queued_items": args.queued,
                      "series": args.series, "collect_ms": collect_ms,
                      "collect_scan_ms": collect_scan_ms,
                      "render_ms": render_ms, "bytes": len(body)}))


if __name__ == "__main__":
    main()
