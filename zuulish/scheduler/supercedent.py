"""The supercedent manager (post-merge pipelines such as ``promote``; pure).

Items queue per project and branch. The head is tested on its own state, as in
an independent pipeline, and is never interrupted. Of the items waiting behind
it only the newest matters: each newer one supersedes (dequeues) the older
waiting ones, so at most one item waits, and it runs once the head is reported.
"""

from __future__ import annotations

from zuulish.model import ChangeQueue
from zuulish.scheduler.actions import Action, Supersede
from zuulish.scheduler.serial import plan_serial


def plan_supercedent(queue: ChangeQueue) -> list[Action]:
    if not queue.items:
        return []
    newest = queue.items[-1]
    by = str(newest.change.key) if newest.is_ref else newest.change.key.number
    actions: list[Action] = [Supersede(item.id, by) for item in queue.items[1:-1]]
    return plan_serial(ChangeQueue(queue.pipeline, queue.name, queue.window,
                                   queue.items[:1])) + actions
