"""The dependent manager (``gate``): a shared queue tested speculatively (pure).

Each active item is tested on the state of every non-failing item ahead of it
plus itself. When an item fails, the items behind it no longer include it and
are restarted; the failing item stays until it reaches the head, and is
restarted itself if something ahead of it fails in the meantime. Only the head
is reported, and merged when every voting job passed.
"""

from __future__ import annotations

from zuulish.model import ChangeKey, ChangeQueue
from zuulish.scheduler.actions import Action, Report, StartBuildSet
from zuulish.scheduler.job_planning import plan_jobs, report_unbuildable


def plan_dependent(queue: ChangeQueue, merged_items: set[int],
                   merged_changes: set[ChangeKey]) -> list[Action]:
    """Decide what to do for one shared change queue.

    ``merged_items`` are ids of items that already merged (still valid as part
    of a state built before they left the queue); ``merged_changes`` are
    changes already on their branch, which satisfy dependencies.
    """
    actions: list[Action] = []
    chain: list[int] = []
    chain_changes: set[ChangeKey] = set()
    for index, item in enumerate(queue.items):
        missing = [k for k in item.change.needs
                   if k not in chain_changes and k not in merged_changes]
        if missing:
            needed = ", ".join(str(k.number) for k in missing)
            actions.append(Report(item.id, "failure",
                                  message=f"This change depends on change {needed}, which "
                                          "is no longer ahead of it in the queue (it failed "
                                          "or was dequeued)."))
            continue
        if index >= queue.window:
            continue  # outside the active window: waits without a build set
        bs = item.buildset
        expected = tuple(chain)
        if bs is None or tuple(a for a in bs.ahead if a not in merged_items) != expected:
            actions.append(StartBuildSet(item.id, expected))
            chain.append(item.id)
            chain_changes.add(item.change.key)
            continue
        unbuildable = report_unbuildable(item.id, bs)
        if unbuildable is not None:
            actions.append(unbuildable)  # reported at once, wherever it is in the queue
            continue
        actions.extend(plan_jobs(item.id, bs))
        if not bs.failing:
            chain.append(item.id)
            chain_changes.add(item.change.key)
        if index == 0 and bs.complete:
            if bs.succeeded:
                actions.append(Report(item.id, "success", merge=True))
            else:
                actions.append(Report(item.id, "failure"))
    return actions
