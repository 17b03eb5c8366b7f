"""Semaphores: how many builds holding one may be active at once, tenant-wide (pure).

A job that lists ``semaphores`` starts only while each of them has room: fewer
than its ``max`` builds holding it are active anywhere in the tenant, in any
pipeline or queue. Like Zuul (without ``resources-first``), a build holds its
semaphores from the moment it is created, before its nodes are requested, until
it ends (completed or canceled; a running build being canceled holds them until
its executor has stopped it). A job that finds no room simply is not started
yet, and is started by a later pass once a holder ends. Holders are counted from
the store's active builds, so the counts survive a scheduler restart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace

from zuulish.model import JobGraph
from zuulish.scheduler.actions import Action, StartJobs

UNDEFINED_MAX = 1  # a semaphore only a proposed config defines: one at a time


def semaphores_wanted(actions: Iterable[Action], graphs: Mapping[int, JobGraph]) -> bool:
    """Whether any job these actions would start holds a semaphore."""
    return any(graphs[a.buildset_id].jobs[job].semaphores
               for a in actions if isinstance(a, StartJobs) and a.buildset_id in graphs
               for job in a.jobs)


def count_holders(active: Iterable[tuple[int, str]], graphs: Mapping[int, JobGraph]
                  ) -> Counter[str]:
    """Builds holding each semaphore, from the active builds' (build set, job)."""
    held: Counter[str] = Counter()
    for buildset_id, job in active:
        graph = graphs.get(buildset_id)
        frozen = graph.jobs.get(job) if graph is not None else None
        if frozen is not None:
            held.update(frozen.semaphores)
    return held


def admit(actions: list[Action], graphs: Mapping[int, JobGraph], held: Counter[str],
          limits: Mapping[str, int]) -> list[Action]:
    """``actions`` with each job that would exceed a semaphore's ``max`` left out of
    its ``StartJobs`` (in order: earlier actions take the room first). ``held`` is
    counted up for the jobs admitted, so the next pipeline sees them."""
    out: list[Action] = []
    for action in actions:
        if not isinstance(action, StartJobs) or action.buildset_id not in graphs:
            out.append(action)
            continue
        graph = graphs[action.buildset_id]
        started = []
        for name in action.jobs:
            wanted = graph.jobs[name].semaphores
            if all(held[s] < limits.get(s, UNDEFINED_MAX) for s in wanted):
                held.update(wanted)
                started.append(name)
        if started:
            out.append(replace(action, jobs=tuple(started)))
    return out
