#!/usr/bin/env python3
"""The status API under load, and how soon a change in the store reaches an open page.

A store (SQLite in a temporary directory, or ``--database-url``; a PostgreSQL
database given there is emptied first) holds a busy tenant: ``--items`` queued
items, four in five in ``check`` (each with three jobs: running, queued for nodes,
finished) and the rest in a dependent ``gate`` whose first ``--window`` items are
active, each on the items ahead of it; and a history of finished builds for the
estimates. The real web application (``create_app``) serves it from a child
process; this process is the client (aiohttp).

1. Load: ``GET /api/tenant/t/status`` sent open-loop at ``--rate`` requests per
   second for ``--seconds``, each timed from its planned send time to its last byte
   (so a slow server is not hidden by a slowed client); meanwhile nothing changes
   in the store but the clock.
2. Live delay: with a status event stream open (``/status/events?deltas=true``,
   what the page reads: the status, then deltas), this process writes a build's
   state ``--changes`` times (as an executor in another process does) and times
   each write's commit to the first event that shows it; then the same on the
   stream of full statuses (``/status/events``). With ``--browser`` also a real
   Chromium page (Debian's, as the tests use it): the time from the commit to the
   page showing the new state.

Prints one JSON line: requests, p50_ms, p99_ms, max_ms, errors, the status's size,
live_p50_ms, live_max_ms (the page's stream), live_full_p50_ms, live_full_max_ms
(and browser_p50_ms, browser_max_ms), the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text, update  # noqa: E402

from zuulish.config.layout import Layout  # noqa: E402
from zuulish.model import Pipeline, PipelineManager  # noqa: E402
from zuulish.runner import free_port  # noqa: E402
from zuulish.scheduler.layouts import TenantLayouts  # noqa: E402
from zuulish.store import (  # noqa: E402
    BuildRow,
    BuildSetRow,
    ChangeQueueRow,
    ChangeRow,
    QueueItemRow,
    Store,
)
from zuulish.store.base import Base  # noqa: E402

JOBS = ("unit", "lint", "docs")
GRAPH = {"jobs": {j: {"name": j} for j in JOBS}, "fail_fast": False}


def layouts_of(state: Path) -> TenantLayouts:
    layouts = TenantLayouts(state / "main.yaml", {}, {}, {})
    layouts.layouts = {"t": Layout("t", pipelines={
        "check": Pipeline("check", PipelineManager.INDEPENDENT),
        "gate": Pipeline("gate", PipelineManager.DEPENDENT)})}
    return layouts


def empty(url: str) -> Store:
    store = Store(url)
    if not store.is_sqlite:
        with store.engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    store.upgrade()
    return store


def seed(store: Store, items: int, window: int, history: int) -> str:
    """The busy tenant; returns the id of the build the live test changes."""
    now = time.time()
    gate_items = items // 5
    with store.session() as s:
        s.add(ChangeQueueRow(tenant="t", pipeline="gate", name="shared", window=window))
        old = QueueItemRow(tenant="t", pipeline="check", queue_name="org/p0",
                           connection="forge", change_number=None, patchset=None,
                           commit_sha="0" * 40, ref="refs/heads/main", project="org/p0",
                           branch="main", state="merged", sequence=0, enqueued_at=0)
        s.add(old)
        s.flush()
        old_bs = BuildSetRow(uuid=uuid.uuid4().hex, item_id=old.id, ahead=[],
                             merge_state="merged", created_at=0)
        s.add(old_bs)
        s.flush()
        s.add_all(BuildRow(id=uuid.uuid4().hex, buildset_id=old_bs.id, job=JOBS[n % 3],
                           state="completed", result="SUCCESS", created_at=n, started_at=n,
                           finished_at=n + 60 + n % 30) for n in range(history))
        gate_ids: list[int] = []
        target = ""
        for n in range(1, items + 1):
            in_gate = n <= gate_items
            project = f"org/p{n % 10}"
            s.add(ChangeRow(connection="forge", number=n, project=project, branch="main",
                            status="NEW", patchset=1, commit_sha=f"{n:040d}",
                            subject=f"Change number {n} does something useful", message="",
                            created_at=0, updated_at=0))
            item = QueueItemRow(tenant="t", pipeline="gate" if in_gate else "check",
                                queue_name="shared" if in_gate else project,
                                connection="forge", change_number=n, patchset=1,
                                commit_sha=f"{n:040d}", project=project, branch="main",
                                state="queued", sequence=n, enqueued_at=now - n)
            s.add(item)
            s.flush()
            if in_gate and len(gate_ids) >= window:
                gate_ids.append(item.id)
                continue
            ahead = list(gate_ids) if in_gate else []
            bs = BuildSetRow(uuid=uuid.uuid4().hex, item_id=item.id, ahead=ahead,
                             merge_state="merged", job_graph=GRAPH, created_at=now,
                             repo_state={project: {"branch": "main", "commit": "a" * 40}})
            s.add(bs)
            s.flush()
            if in_gate:
                gate_ids.append(item.id)
            states = [("running", None), ("waiting", None), ("completed", "SUCCESS")]
            for job, (state, result) in zip(JOBS, states, strict=True):
                build_id = uuid.uuid4().hex
                s.add(BuildRow(id=build_id, buildset_id=bs.id, job=job, state=state,
                               result=result, created_at=now, started_at=now - 10,
                               finished_at=now - 1 if result else None))
                if job == "lint" and not in_gate:
                    target = build_id
    return target


def serve(url: str, state: str, port: int, ready: Any) -> None:
    """The child: the web application over the store, until killed."""
    from zuulish.web.app import create_app
    from zuulish.web.app import serve as serve_app

    store = Store(url)
    app = create_app(store, layouts_of(Path(state)), Path(state), f"http://127.0.0.1:{port}")
    loop = asyncio.new_event_loop()
    loop.run_until_complete(serve_app(app, "127.0.0.1", port))
    ready.set()
    loop.run_forever()


async def load(base: str, rate: float, seconds: float
               ) -> tuple[list[float], int, int, str]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    size = 0
    encoded = ""

    connector = aiohttp.TCPConnector(limit=0)
    # asks for gzip as browsers do, and times the bytes, not this process's inflating
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                     headers={"Accept-Encoding": "gzip"}) as session:
        async def one(planned: float) -> None:
            nonlocal errors, size, encoded
            delay = planned - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                async with session.get(f"{base}/api/tenant/t/status") as answer:
                    body = await answer.read()
                    if answer.status != 200:
                        errors += 1
                    size = len(body)
                    encoded = answer.headers.get("Content-Encoding", "identity")
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - planned)

        async with session.get(f"{base}/api/tenant/t/status") as warm:
            await warm.read()
        start = time.perf_counter() + 0.1
        count = int(rate * seconds)
        await asyncio.gather(*(one(start + n / rate) for n in range(count)))
    return latencies, errors, size, encoded


async def live(base: str, store: Store, build: str, changes: int, deltas: bool
               ) -> list[float]:
    """Commit-to-event delays of ``changes`` writes of the build's state (on the
    stream of deltas, each applied to the items held, as the page does)."""
    import aiohttp

    from zuulish.web.status_delta import expand

    delays: list[float] = []
    held: dict[int, Any] = {}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=30)
    query = "?deltas=true" if deltas else ""
    async with aiohttp.ClientSession(timeout=timeout) as session, \
            session.get(f"{base}/api/tenant/t/status/events{query}") as events:
        buffer = bytearray()

        def status_of(message: bytes) -> dict[str, Any] | None:
            kind = b"status"
            for line in message.split(b"\n"):
                if line.startswith(b"event: "):
                    kind = line[7:]
                elif line.startswith(b"data: "):
                    data = json.loads(line[6:])
                    if kind == b"delta":
                        data = expand(data, held)
                    held.clear()
                    held.update((i["id"], i) for p in data["pipelines"]
                                for q in p["queues"] for i in q["items"])
                    return data
            return None

        async def next_status() -> dict[str, Any]:
            while True:
                end = buffer.find(b"\n\n")
                if end >= 0:
                    message = bytes(buffer[:end])
                    del buffer[:end + 2]
                    status = status_of(message)
                    if status is not None:
                        return status
                    continue
                chunk = await events.content.readany()
                if not chunk:
                    raise SystemExit("the event stream ended")
                buffer.extend(chunk)

        await next_status()
        loop = asyncio.get_running_loop()
        for n in range(changes):
            state = "running" if n % 2 else "completed"
            result = None if n % 2 else "FAILURE"
            await loop.run_in_executor(None, write, store, build, state, result)
            committed = time.perf_counter()
            while True:
                shown = await next_status()
                if state_of(shown, build) == (result or state):
                    break
            delays.append(time.perf_counter() - committed)
            await asyncio.sleep(0.3)
    return delays


def write(store: Store, build: str, state: str, result: str | None) -> None:
    with store.session() as s:
        s.execute(update(BuildRow).where(BuildRow.id == build).values(
            state=state, result=result, finished_at=time.time() if result else None))


def state_of(status: dict[str, Any], build: str) -> str | None:
    for pipeline in status["pipelines"]:
        for queue in pipeline["queues"]:
            for item in queue["items"]:
                for job in item["jobs"]:
                    if job["uuid"] == build:
                        return job["result"] or job["state"]
    return None


def browser(base: str, store: Store, build: str, changes: int) -> list[float]:
    """Commit-to-shown delays on a real Chromium page."""
    from playwright.sync_api import sync_playwright

    from tests.functional.test_dashboard_browser import chromium_path

    delays: list[float] = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        page = chromium.new_page()
        page.goto(f"{base}/t/t/status")
        page.wait_for_function("document.getElementById('updated').textContent"
                               ".includes('live')", timeout=60_000)
        badge = f"a[href$='/build/{build}'] ~ .badge"
        for n in range(changes):
            state = "running" if n % 2 else "completed"
            result = None if n % 2 else "FAILURE"
            write(store, build, state, result)
            committed = time.perf_counter()
            page.wait_for_function(
                "([sel, want]) => { const b = document.querySelector(sel);"
                " return b && b.textContent === want; }", arg=[badge, result or state],
                timeout=30_000, polling="raf")
            delays.append(time.perf_counter() - committed)
            time.sleep(0.3)
        chromium.close()
    return delays


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory "
                                                "(a PostgreSQL database is emptied first)")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--history", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--browser", action="store_true",
                        help="also time a real Chromium page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zuulish-api-load-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/zuulish.db"
        store = empty(url)
        build = seed(store, args.items, args.window, args.history)
        port = free_port()
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        child = context.Process(target=serve, args=(url, tmp, port, ready), daemon=True)
        child.start()
        try:
            if not ready.wait(60):
                raise SystemExit("the web process did not start")
            base = f"http://127.0.0.1:{port}"
            latencies, errors, size, encoded = asyncio.run(load(base, args.rate, args.seconds))
            delays = asyncio.run(live(base, store, build, args.changes, deltas=True))
            full = asyncio.run(live(base, store, build, args.changes, deltas=False))
            shown = browser(base, store, build, args.changes) if args.browser else None
        finally:
            child.kill()
            child.join(10)
            store.dispose()
    figures: dict[str, Any] = {
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        "items": args.items, "rate": args.rate, "requests": len(latencies),
        "errors": errors, "status_bytes": size, "encoding": encoded,
        "p50_ms": ms(latencies, 0.5), "p99_ms": ms(latencies, 0.99),
        "max_ms": ms(latencies, 1.0),
        "live_p50_ms": round(1000 * statistics.median(delays), 1),
        "live_max_ms": round(1000 * max(delays), 1),
        "live_full_p50_ms": round(1000 * statistics.median(full), 1),
        "live_full_max_ms": round(1000 * max(full), 1)}
    if shown is not None:
        figures.update(browser_p50_ms=round(1000 * statistics.median(shown), 1),
                       browser_max_ms=round(1000 * max(shown), 1))
    figures["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
