"""The independent manager (``check``): every item is tested on its own (pure)."""

from __future__ import annotations

from zuulish.model import QueueItem
from zuulish.scheduler.actions import Action, Report, StartBuildSet
from zuulish.scheduler.job_planning import plan_jobs, report_unbuildable


def plan_independent(items: list[QueueItem]) -> list[Action]:
    actions: list[Action] = []
    for item in items:
        bs = item.buildset
        if bs is None:
            actions.append(StartBuildSet(item.id, ()))
            continue
        unbuildable = report_unbuildable(item.id, bs)
        if unbuildable is not None:
            actions.append(unbuildable)  # reported at once, wherever it is in the queue
            continue
        actions.extend(plan_jobs(item.id, bs))
        if bs.complete:
            actions.append(Report(item.id, "success" if bs.succeeded else "failure"))
    return actions
