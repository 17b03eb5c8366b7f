#!/usr/bin/env python3
"""The gate simulator: the real scheduler on simulated time, builds and merges.

Changes arrive (Poisson, ``--arrival-per-hour``) on ``--repos`` repositories and
are approved into a dependent ``gate`` pipeline whose projects share one queue.
With probability ``--coupling`` a change's job also checks out another repo. A
change is bad with probability ``--bad-rate`` (every build of a state holding it
fails); any build flakes with ``--flaky-rate``. Builds take ``--build-minutes``
(normal, 10% deviation) on one of ``--nodes`` nodes.

Prints one JSON line per run with the strategy's figures, the theoretical
bounds for the same inputs, and the same figures prefixed ``oracle_`` for an
oracle that knows every outcome in advance (one build per change, in arrival
order, on the same nodes).

Strategies: ``serial`` (window 1), ``zuul`` (Zuul's window and defaults),
``independent`` (Zuul's window with independent sub-queues), ``batch``
(``batch-size: 4``), ``spare`` (Zuul's queue with ``speculate-failures``: each
item also builds, on otherwise idle nodes, the state without the nearest
uncertain item ahead), ``trust`` (``trust-later-passes``: a failing item whose
follower's state, which holds it, passes merges with it; this forgives flakes
only), ``spare-trust`` (both), ``best``, and ``best-retry`` (``best`` with
``retry-failed-jobs: 1``, for gates whose tests flake).

``best`` is ``verify-first`` with ``batch-size: 8``: each change is first
verified on the chain of changes that passed this way, in groups whose size
follows the queue's failure rate (one build for a group of up to 8 while nearly
everything passes, single changes once one in four or five fails), and the
verified chain is probed in runs of up to 8. A bad change costs one build of its
own (or of its group) instead of a round for everything behind it, and a group
verified on a chain that did not move merges with no further build. What it
still pays over the oracle is the chain probe: a change verified while the chain
moved waits for the probe ahead to finish and then for its own. Measured and
not better: probes started whenever no other probe waits for nodes (more
builds, so more queueing on saturated nodes), and fixed group sizes (8 is best
at bad rate 0.05 and worst at 0.30; 1, as before groups, the reverse).
``spare`` gains little over ``zuul``: at 60 changes an hour on 20 nodes the
nodes are seldom idle, and a spare build holds its node for a whole build once
it has it. ``trust`` helps where flakes outnumber bad changes but costs where
bad changes are common, as a failure is blamed only once the state behind it
has run. Neither is combined with ``verify-first``; flakes there are forgiven
by ``retry-failed-jobs``: ``best-retry`` rejects no good change at bad rate 0.05
and flaky rate 0.05 (``best`` rejects 7), at a cost that grows with the bad rate,
since every bad change is tested twice (mean time to merge 81, 135 and 214
minutes at bad rates 0.05, 0.15 and 0.30 without flakes, against ``best``'s 76,
105 and 128).
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.gate_world import GateWorld, SimChange  # noqa: E402

STRATEGIES: dict[str, dict[str, dict[str, Any]]] = {
    "serial": {"window": {"window": 1, "window-floor": 1, "window-ceiling": 1}},
    "zuul": {},
    "independent": {"queue": {"independent-subqueues": True}},
    "batch": {"queue": {"batch-size": 4}},
    "spare": {"queue": {"speculate-failures": True}},
    "trust": {"queue": {"trust-later-passes": True}},
    "spare-trust": {"queue": {"speculate-failures": True, "trust-later-passes": True}},
    "best": {"queue": {"verify-first": True, "batch-size": 8}},
    "best-retry": {"queue": {"verify-first": True, "batch-size": 8, "retry-failed-jobs": 1}},
}


@dataclass
class Inputs:
    changes: int
    arrival_per_hour: float
    build_minutes: float
    bad_rate: float
    flaky_rate: float
    nodes: int
    repos: int
    coupling: float
    seed: int


def make_changes(inputs: Inputs) -> list[SimChange]:
    """The same changes (arrival, repo, files, good or bad) for every strategy."""
    rng = random.Random(inputs.seed)
    repos = [f"r{i}" for i in range(1, inputs.repos + 1)]
    at = 0.0
    out = []
    for number in range(1, inputs.changes + 1):
        at += rng.expovariate(inputs.arrival_per_hour / 3600.0)
        repo = rng.choice(repos)
        others = [r for r in repos if r != repo]
        coupled = others and rng.random() < inputs.coupling
        files = (f"couple/{rng.choice(others)}/x.py",) if coupled else (f"src/{number}.py",)
        out.append(SimChange(number, repo, files, rng.random() < inputs.bad_rate, at))
    return out


def build_seconds(inputs: Inputs, rng: random.Random) -> float:
    mean = inputs.build_minutes * 60
    return max(mean * 0.5, rng.gauss(mean, mean * 0.1))


def figures(merged: dict[int, float], arrivals: dict[int, float], node_seconds: float,
            builds_wasted: int) -> dict[str, float]:
    if not merged:
        return {"merged": 0, "merged_per_hour": 0.0, "mean_time_to_merge_min": None,
                "p95_time_to_merge_min": None, "node_hours_per_merge": None,
                "builds_wasted": builds_wasted}
    times = sorted((merged[n] - arrivals[n]) / 60 for n in merged)
    span_h = (max(merged.values()) - min(arrivals.values())) / 3600
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return {"merged": len(merged), "merged_per_hour": round(len(merged) / span_h, 2),
            "mean_time_to_merge_min": round(statistics.fmean(times), 1),
            "p95_time_to_merge_min": round(p95, 1),
            "node_hours_per_merge": round(node_seconds / 3600 / len(merged), 3),
            "builds_wasted": builds_wasted}


def oracle(inputs: Inputs, changes: list[SimChange]) -> dict[str, float]:
    """One build per change, in arrival order, on the same nodes: outcomes known."""
    rng = random.Random(inputs.seed + 2)
    free = [0.0] * inputs.nodes
    heapq.heapify(free)
    merged: dict[int, float] = {}
    last_merge = 0.0
    node_seconds = 0.0
    for change in changes:
        start = max(change.arrival, heapq.heappop(free))
        duration = build_seconds(inputs, rng)
        end = start + duration
        heapq.heappush(free, end)
        node_seconds += duration
        if not change.bad:
            last_merge = max(end, last_merge)
            merged[change.number] = last_merge
    return figures(merged, {c.number: c.arrival for c in changes}, node_seconds, 0)


def simulate(inputs: Inputs, strategy: str, database_url: str | None = None) -> dict[str, Any]:
    changes = make_changes(inputs)
    setup = STRATEGIES[strategy]
    world = GateWorld(repos=[f"r{i}" for i in range(1, inputs.repos + 1)],
                      nodes=inputs.nodes, flaky_rate=inputs.flaky_rate,
                      build_seconds=lambda rng: build_seconds(inputs, rng),
                      queue_options=setup.get("queue", {}), window=setup.get("window", {}),
                      seed=inputs.seed, database_url=database_url)
    started = time.perf_counter()
    try:
        for change in changes:
            world.add_change(change)
        world.run()
        merges = {m.number: m.at for m in world.forge.merges}
        arrivals = {c.number: c.arrival for c in changes}
        bad = {c.number for c in changes if c.bad}
        wasted = world.executor.started - world.useful_builds()
        out: dict[str, Any] = {"strategy": strategy, **vars(inputs)}
        out.update(figures(merges, arrivals, world.executor.node_seconds, wasted))
        out["bad_merged"] = len(bad & set(merges))
        out["good_rejected"] = len(set(arrivals) - bad - set(merges))
        out["still_queued"] = world.queued()
        out["violations"] = len(world.forge.violations)
        out["bound_min_time_to_merge_min"] = inputs.build_minutes
        out["bound_builds_per_hour"] = round(inputs.nodes * 60 / inputs.build_minutes, 2)
        out["builds"] = world.executor.started
        out.update({f"oracle_{k}": v for k, v in oracle(inputs, changes).items()})
        out["sim_wall_s"] = round(time.perf_counter() - started, 1)
        return out
    finally:
        world.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategy", choices=sorted(STRATEGIES), default="zuul")
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--arrival-per-hour", type=float, default=60.0)
    parser.add_argument("--build-minutes", type=float, default=30.0)
    parser.add_argument("--bad-rate", type=float, default=0.15)
    parser.add_argument("--flaky-rate", type=float, default=0.0)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--repos", type=int, default=4)
    parser.add_argument("--coupling", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()
    for name in ("bad_rate", "flaky_rate", "coupling"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    for name in ("changes", "nodes", "repos"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.arrival_per_hour <= 0 or args.build_minutes <= 0:
        parser.error("--arrival-per-hour and --build-minutes must be positive")
    inputs = Inputs(args.changes, args.arrival_per_hour, args.build_minutes, args.bad_rate,
                    args.flaky_rate, args.nodes, args.repos, args.coupling, args.seed)
    print(json.dumps(simulate(inputs, args.strategy, args.database_url)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
