"""Spare-node speculation on failures: a second state per item (pure).

With the ``speculate-failures`` queue option each active item of a plain shared
queue may have, besides its state on everything ahead, an *alternate* state
that leaves out the nearest item ahead whose result is not known yet (the idea
behind Uber's SubmitQueue, one level deep). Its jobs are requested with spare
priority, so they take nodes only when nothing else wants them. If the item
left out fails, the items behind it are re-based without it; for this item that
is exactly the alternate, which becomes its state with whatever already ran on
it, so the failure costs it no new round. If that item passes instead, the
alternate is dropped.

An alternate is what the item would be tested on after that failure, so when it
becomes the item's state, what merges is still exactly a state that passed. A
merge that an alternate does not hold makes it useless; the scheduler drops it
then (it is never made current on a branch it was not built for).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from zuulish.model import BuildSet, MergeState, QueueItem
from zuulish.scheduler.actions import Action, DropAlternate, StartBuildSet, StartJobs
from zuulish.scheduler.job_planning import plan_jobs


def held(buildset: BuildSet, merged_items: Collection[int]) -> tuple[int, ...]:
    """The items ahead a state holds that are still in the queue."""
    return tuple(a for a in buildset.ahead if a not in merged_items)


def alternate_ahead(expected: tuple[int, ...],
                    uncertain: Collection[int]) -> tuple[int, ...] | None:
    """``expected`` without its nearest item whose result is not known, if any."""
    doubtful = [a for a in expected if a in uncertain]
    if not doubtful:
        return None
    nearest = doubtful[-1]
    return tuple(a for a in expected if a != nearest)


def plan_alternate(item: QueueItem, expected: tuple[int, ...], uncertain: Collection[int],
                   merged_items: Collection[int]) -> list[Action]:
    """Start, keep (run its jobs on spare nodes) or drop the item's alternate state,
    for an item whose current state is on ``expected``."""
    want = alternate_ahead(expected, uncertain)
    alternate = item.alternate
    if alternate is not None and (want is None or held(alternate, merged_items) != want):
        return [DropAlternate(item.id, alternate.id)]
    if alternate is None:
        return [StartBuildSet(item.id, want, alternate=True)] if want is not None else []
    if alternate.merge_state != MergeState.MERGED:
        return []  # being built, or cannot be: reported only if it becomes the state
    return [replace(a, spare=True) if isinstance(a, StartJobs) else a
            for a in plan_jobs(item.id, alternate)]
