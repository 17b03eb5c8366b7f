"""Flake tolerance: a failed job is run again before its item counts as failing (pure).

With a queue's ``retry-failed-jobs: N``, a voting job whose build ended in
FAILURE, and that has not been run N extra times yet, is treated as never run:
the pipeline manager then starts it again on the same state (a new build; the
failed one stays in the history), and nothing behind the item is restarted for
what may be a flake. Once the retries are spent, the failure counts as usual.
"""

from __future__ import annotations

from dataclasses import replace

from zuulish.model import BuildSet, ChangeQueue


def forgiving(buildset: BuildSet, retries: int) -> BuildSet:
    """The build set as the manager should see it: without the failed builds that
    are to be run again."""
    again = buildset.retryable_failures(retries)
    if not again:
        return buildset
    return replace(buildset, builds={name: b for name, b in buildset.builds.items()
                                     if name not in again}, reruns=tuple(again))


def with_flaky_retries(queue: ChangeQueue) -> ChangeQueue:
    """``queue`` with each item's build set seen through ``forgiving`` (a copy; the
    queue itself is left as it is)."""
    retries = queue.options.retry_failed_jobs
    if retries <= 0:
        return queue
    items = [replace(item, buildset=forgiving(item.buildset, retries))
             if item.buildset is not None else item for item in queue.items]
    return replace(queue, items=items)
