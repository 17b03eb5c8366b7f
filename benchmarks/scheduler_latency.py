#!/usr/bin/env python3
"""The scheduler's own cost with many items enqueued.

Fills an independent (``check``-style) pipeline with ``--items`` items whose
builds keep running, then stores ``--events`` approval events one at a time
and measures, for each, the scheduler's time from the stored event to the
stored build request (the enqueue pass, the pass that asks for the merge and
the pass that requests the build; the simulated merger's time in between is
left out: ``benchmarks/merger_bench.py`` measures the real one). It also
times single scheduler passes over a dependent gate holding as many items:
steady passes (incremental: only queues where something moved are planned)
and full passes (every queue planned, as after a restart).
Prints one JSON line (milliseconds) of p50 and p99 figures.

The real scheduler, store (SQLite in a temporary file) and config loader run;
the merger, launcher and executor are the gate simulator's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.gate_world import GateWorld, SimChange  # noqa: E402
from zuulish.store import BuildRow, BuildSetRow, QueueItemRow  # noqa: E402

REPOS = ["r1", "r2", "r3", "r4"]
FOREVER = 10.0 ** 9


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 2)


def fill(world: GateWorld, items: int) -> None:
    for number in range(1, items + 1):
        world.forge.add(SimChange(number, REPOS[number % len(REPOS)],
                                  (f"src/{number}.py",), False, 0.0))
        world.approve(number)
    world.settle(limit=100_000)


def has_build(world: GateWorld, number: int) -> bool:
    with world.store.read() as s:
        return (s.scalar(select(func.count()).select_from(BuildRow)
                         .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                         .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                         .where(QueueItemRow.change_number == number)) or 0) > 0


def event_latencies(world: GateWorld, first: int, events: int,
                    simulated_executor: bool = True) -> list[float]:
    """For changes ``first``.. (``events`` of them), one at a time: approve, then the
    scheduler's time (ms) from the stored event to the stored build request.
    ``simulated_executor``: the simulator runs the builds (else real executors do)."""
    latencies = []
    for number in range(first, first + events):
        world.forge.add(SimChange(number, REPOS[0], (f"src/{number}.py",), False, 0.0))
        world.approve(number)
        spent = 0.0
        for _ in range(20):
            started = time.perf_counter()
            world.scheduler.run_once()
            spent += time.perf_counter() - started
            if has_build(world, number):
                break
            world.merger.step()
        else:
            raise RuntimeError(f"change {number} never got a build request")
        latencies.append(spent * 1000)
        world.launcher.step()
        if simulated_executor:
            world.executor.step()
    return latencies


def event_to_build_ms(items: int, events: int) -> list[float]:
    world = GateWorld(repos=REPOS, nodes=items + events + 1, manager="independent",
                      build_seconds=lambda rng: FOREVER)
    try:
        fill(world, items)
        return event_latencies(world, items + 1, events)
    finally:
        world.close()


def gate_pass_ms(items: int, passes: int) -> tuple[list[float], list[float]]:
    """Passes over a dependent gate of ``items`` items with builds running: the
    steady pass (nothing moved, so nothing is re-planned) and the full pass
    (every queue re-planned, as after a restart or a reconfiguration)."""
    world = GateWorld(repos=REPOS, nodes=40, build_seconds=lambda rng: FOREVER)
    try:
        fill(world, items)
        steady, full = [], []
        for _ in range(passes):
            started = time.perf_counter()
            world.scheduler.run_once()
            steady.append((time.perf_counter() - started) * 1000)
            world.scheduler.replan()
            started = time.perf_counter()
            world.scheduler.run_once()
            full.append((time.perf_counter() - started) * 1000)
        return steady, full
    finally:
        world.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args()
    if args.items < 0 or args.events < 1:
        parser.error("--items must be at least 0 and --events at least 1")
    latencies = event_to_build_ms(args.items, args.events)
    steady, full = gate_pass_ms(args.items, args.events)
    print(json.dumps({
        "items": args.items, "events": args.events,
        "event_to_build_request_p50_ms": percentile(latencies, 0.50),
        "event_to_build_request_p99_ms": percentile(latencies, 0.99),
        "event_to_build_request_mean_ms": round(statistics.fmean(latencies), 2),
        "gate_pass_p50_ms": percentile(steady, 0.50),
        "gate_pass_p99_ms": percentile(steady, 0.99),
        "gate_full_pass_p50_ms": percentile(full, 0.50),
        "gate_full_pass_p99_ms": percentile(full, 0.99),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
