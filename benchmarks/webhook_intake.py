#!/usr/bin/env python3
"""Signed GitHub webhooks accepted per second, and the time to the 2xx, while the
scheduler is busy.

By default this measures what ``zuulish run`` runs: the web server (the real
application, ``zuulish.web.app.create_app``, with the GitHub connection's webhook
and its writer) in a child process of its own (``zuulish.web.process.WebProcess``),
and in the parent process, over the same SQLite database in a temporary directory:

* "busy" is the real scheduler with its real pipeline managers over a dependent
  gate (the gate simulator's merger, launcher and executor around it): a thread
  keeps approving new changes and running scheduler passes for as long as the
  webhooks are sent, so the scheduler writes to the same database throughout and
  takes the parent's CPU and interpreter lock;
* the connection's real intake worker turns the stored deliveries into events
  (woken across the processes, as in ``zuulish run``), which the scheduler then
  reads too (and answers: no tenant includes them).

``--web-thread`` serves the web from a thread of the parent instead (zuulish's
layout before the web had a process of its own: the scheduler, the intake worker
and the event loop then share one interpreter lock).

A client in a process of its own (aiohttp, ``--concurrency`` connections) sends
``--deliveries`` signed corpus payloads (pull requests, reviews, pushes, check
runs, statuses), each with a delivery id of its own, and times each from its send
to its 2xx. Prints one JSON line: accepted_per_s, p50_ms, p99_ms, max_ms, what the
scheduler did meanwhile, and the machine's load (other work slows every figure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from tests.corpus import CORPUS_ROOT  # noqa: E402
from tests.fakes.gate_world import GateWorld, SimChange  # noqa: E402
from zuulish.drivers.github.intake_worker import IntakeWorker  # noqa: E402
from zuulish.drivers.github.webhook import Webhook, payload_path, sign  # noqa: E402
from zuulish.runner import free_port  # noqa: E402
from zuulish.server_config import ServerConfig, load_server_config  # noqa: E402
from zuulish.store import EventRow, GithubDeliveryRow, QueueItemRow  # noqa: E402
from zuulish.web.app import create_app, serve  # noqa: E402
from zuulish.web.process import WebProcess  # noqa: E402

SECRET = "benchmark-webhook-secret"
CONNECTION = "github"
REPOS = ["r1", "r2", "r3", "r4"]
#: the corpus payloads sent, round robin (what a busy GitHub organisation sends most)
PAYLOADS = ["pull_request.opened.2.json", "pull_request.synchronize.json",
            "pull_request.labeled.1.json", "pull_request_review.submitted.2.json",
            "push.5.json", "check_run.completed.2.json", "status.4.json",
            "pull_request.closed.1.json"]


class AllPermitted:
    def collaborator_permission(self, repo: str, user: str) -> str:
        return "write"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 2)


class BusyScheduler:
    """The gate simulator's world over the benchmark's database, kept busy in a thread:
    each round approves a new change and runs the components until they settle."""

    def __init__(self, database_url: str, items: int):
        self.world = GateWorld(repos=REPOS, nodes=items + 10_000,
                               build_seconds=lambda rng: 10.0 ** 9,
                               database_url=database_url)
        self.next_number = 1
        for _ in range(items):
            self._add()
        self.world.settle(limit=100_000)
        self.passes = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="busy-scheduler", daemon=True)

    def _add(self) -> None:
        number = self.next_number
        self.next_number += 1
        self.world.forge.add(SimChange(number, REPOS[number % len(REPOS)],
                                       (f"src/{number}.py",), False, 0.0))
        self.world.approve(number)

    def _run(self) -> None:
        while not self.stop.is_set():
            self._add()
            for _ in range(50):
                self.passes += 1
                busy = self.world.scheduler.run_once().busy
                busy = self.world.merger.step() or busy
                busy = self.world.launcher.step() or busy
                busy = self.world.executor.step() or busy
                if not busy or self.stop.is_set():
                    break

    def queued(self) -> int:
        with self.world.store.read() as s:
            return s.scalar(select(func.count()).select_from(QueueItemRow)
                            .where(QueueItemRow.state == "queued")) or 0


def _scheduler_process(database_url: str, items: int, control: Connection) -> None:
    busy = BusyScheduler(database_url, items)
    control.send(busy.queued())
    control.recv()  # go
    started = time.process_time()
    busy.thread.start()
    control.recv()  # stop
    busy.stop.set()
    busy.thread.join(60)
    control.send((busy.passes, busy.queued(), time.process_time() - started))
    busy.world.close()


class SchedulerProcess:
    """The busy scheduler in a process of its own over the same database, as in
    distributed mode (``--scheduler-process``): it shares the database, not the GIL."""

    def __init__(self, database_url: str, items: int):
        context = multiprocessing.get_context("spawn")
        self.control, child = context.Pipe()
        self.process = context.Process(target=_scheduler_process,
                                       args=(database_url, items, child))
        self.process.start()
        self.queued_before = self.control.recv()

    def go(self) -> None:
        self.control.send("go")

    def stop(self) -> tuple[int, int, float]:
        """Its passes, queued items and CPU seconds since ``go``."""
        self.control.send("stop")
        figures = self.control.recv()
        self.process.join(60)
        return figures


async def send_all(url: str, bodies: list[tuple[str, bytes]], deliveries: int,
                   concurrency: int, offset: int) -> tuple[list[float], float]:
    import aiohttp

    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(deliveries):
        queue.put_nowait(i)
    signed = [(event, body, sign(SECRET, body)) for event, body in bodies]

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            event, body, signature = signed[i % len(signed)]
            headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
                       "X-GitHub-Delivery": f"bench-{offset + i}",
                       "X-Hub-Signature-256": signature}
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"delivery {i}: HTTP {response.status}")
            latencies.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed


def _client(url: str, bodies: list[tuple[str, bytes]], deliveries: int, concurrency: int,
            offset: int, answer: Connection) -> None:
    answer.send(asyncio.run(send_all(url, bodies, deliveries, concurrency, offset)))
    answer.close()


def send_from_another_process(url: str, bodies: list[tuple[str, bytes]], deliveries: int,
                              concurrency: int, offset: int) -> tuple[list[float], float]:
    """``send_all`` from a process of its own, as GitHub sends from elsewhere: the
    client's work is not the server's."""
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(target=_client, args=(url, bodies, deliveries, concurrency,
                                                    offset, sending))
    process.start()
    sending.close()
    try:
        return receiving.recv()
    finally:
        process.join(60)


def thread_cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by each named thread of this process (Linux's /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for thread in threading.enumerate():
        if thread.native_id is None:
            continue
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        used[thread.name] = (int(fields[11]) + int(fields[12])) / tick
    return used


def cpu_per_delivery(before: dict[str, float], after: dict[str, float],
                     deliveries: int) -> dict[str, float]:
    """Milliseconds of CPU per delivery by part of this process: the intake worker,
    the busy scheduler."""
    parts = {"intake_worker": f"github-intake-{CONNECTION}", "scheduler": "busy-scheduler"}
    return {part: round((after.get(name, 0.0) - before.get(name, 0.0)) * 1000 / deliveries,
                        3) for part, name in parts.items()}


def describe_busy(args: argparse.Namespace, queued_before: int, queued_after: int,
                  passes: int) -> str:
    where = "another process" if args.scheduler_process else "the same process"
    scheduler = ("idle (--idle)" if args.idle else
                 f"the real scheduler over the same SQLite database in {where}: a "
                 f"dependent gate of {queued_before} queued items growing to {queued_after}, "
                 f"{passes} component passes during the run, one new approved change per "
                 "round")
    worker = ("no intake worker (--no-worker)" if args.no_worker else
              "the GitHub intake worker turning the deliveries into events meanwhile")
    return f"{scheduler}; {worker}"


def counts(busy: BusyScheduler) -> tuple[int, int, int]:
    with busy.world.store.read() as s:
        stored = s.scalar(select(func.count()).select_from(GithubDeliveryRow)) or 0
        done = s.scalar(select(func.count()).select_from(GithubDeliveryRow)
                        .where(GithubDeliveryRow.processed_at.is_not(None))) or 0
        events = s.scalar(select(func.count()).select_from(EventRow)
                          .where(EventRow.connection == CONNECTION)) or 0
    return stored, done, events


def server_config(tmp: Path, port: int, database_url: str) -> ServerConfig:
    """A ``zuulish.yaml`` for the web's process: the benchmark's database and state
    directory, the port, and the GitHub connection whose webhook is measured."""
    (tmp / "main.yaml").write_text("[]\n")
    (tmp / "zuulish.yaml").write_text(
        f"state_dir: {tmp / 'state'}\ndatabase: {database_url}\ntenant_file: main.yaml\n"
        f"web:\n  listen: 127.0.0.1:{port}\n  url: http://127.0.0.1:{port}\n"
        f"connections:\n  {CONNECTION}:\n    driver: github\n"
        f"    api_token: benchmark-token\n    webhook_token: {SECRET}\n")
    return load_server_config(tmp / "zuulish.yaml")


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by the process ``pid``, every thread of it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class WebInThread:
    """The web served from this process's event loop (``--web-thread``)."""

    def __init__(self, busy: BusyScheduler, tmp: Path, port: int):
        self.hook = Webhook(CONNECTION, SECRET, busy.world.store)
        self.app = create_app(busy.world.store, busy.world.scheduler.layouts, tmp / "state",
                              f"http://127.0.0.1:{port}", extra_routes=self.hook.routes())
        self.port = port
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        self.runner = await serve(self.app, "127.0.0.1", self.port)

    def cpu(self) -> float:
        used = thread_cpu_seconds()
        return used.get("MainThread", 0.0) + used.get(f"github-webhook-{CONNECTION}", 0.0)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        self.hook.close()


class WebInProcess:
    """The web served from a child process, as ``zuulish run`` serves it."""

    def __init__(self, busy: BusyScheduler, tmp: Path, port: int, database_url: str):
        config = server_config(tmp, port, database_url)
        busy.world.store.notifier.listen(config.state_dir)  # the child's wake-ups
        self.process = WebProcess(config, busy.world.scheduler.layouts)

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.process.start)

    def cpu(self) -> float:
        return process_cpu_seconds(self.process.pid)

    async def stop(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.process.stop)


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    database_url = f"sqlite:///{tmp / 'zuulish.db'}"
    (tmp / "state").mkdir()
    remote = SchedulerProcess(database_url, args.items) if args.scheduler_process else None
    # in-process: the busy scheduler; with --scheduler-process: an idle one whose store
    # and layouts the web application uses
    busy = BusyScheduler(database_url, 0 if remote else args.items)
    store = busy.world.store
    worker = IntakeWorker(CONNECTION, store, AllPermitted(), poll_interval=0.2)
    port = free_port()
    server: WebInThread | WebInProcess = (
        WebInThread(busy, tmp, port) if args.web_thread
        else WebInProcess(busy, tmp, port, database_url))
    await server.start()
    bodies = [(name.split(".")[0], (CORPUS_ROOT / "github" / name).read_bytes())
              for name in PAYLOADS]
    url = f"http://127.0.0.1:{port}{payload_path(CONNECTION)}"
    remote_figures = None
    try:
        if not args.no_worker:
            worker.start()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, send_from_another_process, url, bodies,
                                   args.warmup, args.concurrency, 10 ** 6)
        queued_before, passes_before = busy.queued(), busy.passes
        if remote is not None:
            remote.go()
        elif not args.idle:
            busy.thread.start()
        cpu_before, web_before = thread_cpu_seconds(), server.cpu()
        latencies, elapsed = await loop.run_in_executor(
            None, send_from_another_process, url, bodies, args.deliveries,
            args.concurrency, 0)
        passes = busy.passes - passes_before
        cpu = cpu_per_delivery(cpu_before, thread_cpu_seconds(), args.deliveries)
        cpu["web"] = round((server.cpu() - web_before) * 1000 / args.deliveries, 3)
    finally:
        if remote is not None:
            remote_figures = remote.stop()
        busy.stop.set()
        if busy.thread.is_alive():
            busy.thread.join(60)
        await server.stop()
        if not args.no_worker:
            worker.stop()
    if remote is not None and remote_figures is not None:
        passes = remote_figures[0]
        cpu["scheduler"] = round(remote_figures[2] * 1000 / args.deliveries, 3)
    stored, done, events = counts(busy)
    queued_after = busy.queued()
    if remote is not None and remote_figures is not None:
        queued_before, queued_after = remote.queued_before, remote_figures[1]
    busy.world.close()
    return {
        "deliveries": args.deliveries, "concurrency": args.concurrency,
        "accepted_per_s": round(args.deliveries / elapsed, 1),
        "p50_ms": percentile(latencies, 0.50), "p99_ms": percentile(latencies, 0.99),
        "max_ms": round(max(latencies), 2),
        "web": ("a thread of the scheduler's process (--web-thread)" if args.web_thread
                else "a process of its own, as zuulish run serves it"),
        "busy": describe_busy(args, queued_before, queued_after, passes),
        "scheduler_passes_per_s": round(passes / elapsed, 1),
        "deliveries_stored": stored, "deliveries_processed_by_worker": done,
        "events_stored": events,
        "cpu_ms_per_delivery": cpu,
        "gil_switch_interval_s": sys.getswitchinterval(),
        "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--items", type=int, default=200,
                        help="items queued in the busy gate before the run")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="sys.setswitchinterval for the run (Python's default: 0.005 s)")
    parser.add_argument("--no-worker", action="store_true",
                        help="leave the stored deliveries to be turned into events later "
                             "(what the webhook alone costs)")
    parser.add_argument("--scheduler-process", action="store_true",
                        help="run the busy scheduler in a process of its own (as distributed "
                             "mode would), sharing the database but not the GIL")
    parser.add_argument("--web-thread", action="store_true",
                        help="serve the web from a thread of the scheduler's process (as "
                             "before the web had a process of its own)")
    parser.add_argument("--idle", action="store_true",
                        help="leave the scheduler idle (the baseline)")
    args = parser.parse_args()
    if args.deliveries < 1 or args.concurrency < 1 or args.warmup < 0 or args.items < 0:
        parser.error("--deliveries and --concurrency must be at least 1")
    if args.idle and args.scheduler_process:
        parser.error("--idle and --scheduler-process contradict each other")
    if not (CORPUS_ROOT / "github").is_dir():
        parser.error(f"the GitHub corpus is not at {CORPUS_ROOT / 'github'}")
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    with tempfile.TemporaryDirectory(prefix="zuulish-webhook-bench-") as tmp:
        figures = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
