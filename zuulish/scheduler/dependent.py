"""The dependent manager (``gate``): a shared queue tested speculatively (pure).

Each active item is tested on the state of every non-failing item ahead of it
plus itself. When an item fails, the items behind it no longer include it and
are restarted; the failing item stays until it reaches the head, and is
restarted itself if something ahead of it fails in the meantime. Only the head
is reported, and merged when every voting job passed.
"""

from __future__ import annotations

from collections.abc import Mapping

from zuulish.model import ChangeKey, ChangeQueue
from zuulish.scheduler.actions import Action, Report, StartBuildSet
from zuulish.scheduler.job_planning import lost_dependency, plan_jobs, report_unbuildable
from zuulish.scheduler.subqueues import Footprint, items_ahead


def plan_dependent(queue: ChangeQueue, merged_items: set[int],
                   merged_changes: set[ChangeKey],
                   footprints: Mapping[int, Footprint] | None = None) -> list[Action]:
    """Decide what to do for one shared change queue.

    ``merged_items`` are ids of items that already merged (still valid as part
    of a state built before they left the queue); ``merged_changes`` are
    changes already on their branch, which satisfy dependencies. With
    ``footprints`` (the ``independent-subqueues`` option) an item is tested with,
    and waits for, only the items ahead whose repositories meet its own (see
    ``subqueues``); its place in the window is counted among those it waits for,
    and it waits outside the window while anything it includes does.
    """
    actions: list[Action] = []
    dependencies = items_ahead(queue.items, footprints)
    active: set[int] = set()  # items in the window and not failing, so far
    inactive: set[int] = set()  # items outside the window
    active_changes: set[ChangeKey] = set()
    for item in queue.items:
        lost = lost_dependency(item, active_changes, merged_changes)
        if lost is not None:
            actions.append(lost)
            continue
        ahead = dependencies[item.id]
        if len(ahead.waits_for) >= queue.window or inactive.intersection(ahead.includes):
            inactive.add(item.id)
            continue  # outside the active window: waits without a build set
        bs = item.buildset
        expected = tuple(a for a in ahead.includes if a in active)
        if bs is None or tuple(a for a in bs.ahead if a not in merged_items) != expected:
            actions.append(StartBuildSet(item.id, expected))
            active.add(item.id)
            active_changes.add(item.change.key)
            continue
        unbuildable = report_unbuildable(item.id, bs)
        if unbuildable is not None:
            actions.append(unbuildable)  # reported at once, wherever it is in the queue
            continue
        actions.extend(plan_jobs(item.id, bs))
        if not bs.failing:
            active.add(item.id)
            active_changes.add(item.change.key)
        if not ahead.waits_for and bs.complete:  # the head (of its sub-queue)
            if bs.succeeded:
                actions.append(Report(item.id, "success", merge=True))
            else:
                actions.append(Report(item.id, "failure"))
    return actions
