"""The serial manager (deploy-style pipelines): one item per shared queue at a time (pure).

Items share queues as in a dependent pipeline, but nothing is speculative: only
the head of each queue is tested, on its own state, and the next item starts
once the head has been reported. Every item is processed, strictly in order.
"""

from __future__ import annotations

from zuulish.model import ChangeQueue
from zuulish.scheduler.actions import Action, Report, StartBuildSet
from zuulish.scheduler.job_planning import plan_jobs, report_unbuildable


def plan_serial(queue: ChangeQueue) -> list[Action]:
    if not queue.items:
        return []
    head = queue.items[0]
    bs = head.buildset
    if bs is None:
        return [StartBuildSet(head.id, ())]
    unbuildable = report_unbuildable(head.id, bs)
    if unbuildable is not None:
        return [unbuildable]
    actions = plan_jobs(head.id, bs)
    if bs.complete:
        actions.append(Report(head.id, "success" if bs.succeeded else "failure"))
    return actions
