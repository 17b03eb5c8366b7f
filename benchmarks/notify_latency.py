#!/usr/bin/env python3
"""Notify-to-wake latency between two processes through PostgreSQL.

This process and a child each open a :class:`~zuulish.store.Store` on the same
PostgreSQL database (so their notifiers use LISTEN/NOTIFY; the datagrams of one
host are not used). ``--rounds`` times, this process notifies a channel the
child waits on, and the child answers on another once it woke. The latency is
from this process's ``notify()`` to the child's ``wait()`` returning, both read
on the host's monotonic clock. Prints one JSON line (milliseconds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zuulish.store import Store  # noqa: E402

DEFAULT_URL = os.environ.get("ZUULISH_TEST_DATABASE_URL") \
    or "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _listening(url: str) -> Store:
    store = Store(url)
    pg = store.notifier.postgres
    if pg is None:
        raise SystemExit(f"{url} is not PostgreSQL")
    pg.start_listening()
    if not pg.listening(10):
        raise SystemExit(f"cannot LISTEN on {url}")
    return store


def child(url: str, ping: str, pong: str, rounds: int) -> None:
    store = _listening(url)
    notifier = store.notifier
    notifier.wait(ping, 0)
    print("ready", flush=True)
    woke = []
    for _ in range(rounds):
        if not notifier.wait(ping, 10):
            raise SystemExit("no ping within 10 s")
        woke.append(time.monotonic())
        notifier.notify(pong)
    print(json.dumps(woke), flush=True)
    store.dispose()


def parent(url: str, rounds: int) -> dict[str, object]:
    ping, pong = f"bench-ping-{uuid.uuid4().hex[:8]}", f"bench-pong-{uuid.uuid4().hex[:8]}"
    store = _listening(url)
    notifier = store.notifier
    notifier.wait(pong, 0)
    proc = subprocess.Popen([sys.executable, __file__, "--child", "--url", url,
                             "--rounds", str(rounds), ping, pong],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit("the child did not start")
    sent = []
    for _ in range(rounds):
        sent.append(time.monotonic())
        notifier.notify(ping)
        if not notifier.wait(pong, 10):
            raise SystemExit("no pong within 10 s")
    woke = json.loads(proc.stdout.readline())
    proc.wait(timeout=30)
    store.dispose()
    ms = sorted((w - s) * 1000 for s, w in zip(sent, woke, strict=True))
    return {"benchmark": "notify_latency", "database": "postgresql", "rounds": rounds,
            "p50_ms": round(statistics.median(ms), 3),
            "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 3),
            "max_ms": round(ms[-1], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="a PostgreSQL database URL")
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("channels", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.url, args.channels[0], args.channels[1], args.rounds)
    else:
        print(json.dumps(parent(args.url, args.rounds)))


if __name__ == "__main__":
    main()
