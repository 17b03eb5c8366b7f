"""Which jobs of a build set to start or skip next (pure)."""

from __future__ import annotations

from zuulish.model import BuildSet, Change, ChangeKey, MergeState, QueueItem, change_name
from zuulish.model.job_graph import SKIPPED, SUCCESS
from zuulish.scheduler.actions import Action, CancelJobs, Report, SkipJobs, StartJobs


def plan_jobs(item_id: int, buildset: BuildSet) -> list[Action]:
    if buildset.merge_state != MergeState.MERGED or buildset.job_graph is None:
        return []
    results = buildset.results()
    if buildset.job_graph.fail_fast and buildset.failed_voting_jobs():
        return fail_fast(item_id, buildset)
    actions: list[Action] = []
    # Zuul's zuul.pause: a paused build's run phase succeeded, so what depends on it
    # may start (it resumes once they are done).
    results = {**results, **{name: SUCCESS for name, b in buildset.builds.items()
                             if b.paused and b.result is None}}
    # Zuul's zuul.child_jobs: dependent jobs a parent's zuul_return left out are
    # skipped, saying so; what depends on them then follows the usual rules.
    unwanted = buildset.job_graph.unwanted(
        results, {name: b.child_jobs for name, b in buildset.builds.items()})
    by_parent: dict[str, list[str]] = {}
    for job, parent in unwanted.items():
        by_parent.setdefault(parent, []).append(job)
    actions.extend(SkipJobs(item_id, buildset.id, tuple(jobs),
                            f"skipped by {parent}'s zuul_return: not in its zuul.child_jobs")
                   for parent, jobs in by_parent.items())
    known = {**results, **{job: SKIPPED for job in unwanted}}
    skip = buildset.job_graph.to_skip(known)
    if skip:
        actions.append(SkipJobs(item_id, buildset.id, tuple(skip)))
    ready = [j for j in buildset.job_graph.ready_to_start(known) if j not in skip]
    if ready:
        actions.append(StartJobs(item_id, buildset.id, tuple(ready)))
    return actions


def fail_fast(item_id: int, buildset: BuildSet) -> list[Action]:
    """Zuul's ``fail-fast``: a voting job failed, so the build set cannot pass; what
    still runs is canceled and what has not started is skipped, so that the item
    reports (and frees its nodes) at once."""
    assert buildset.job_graph is not None
    failed = ", ".join(buildset.failed_voting_jobs())
    actions: list[Action] = []
    running = tuple(name for name, b in buildset.builds.items() if b.result is None)
    if running:
        actions.append(CancelJobs(item_id, buildset.id, running,
                                  f"canceled by fail-fast: {failed} failed"))
    waiting = tuple(name for name in buildset.job_graph.jobs if name not in buildset.builds)
    if waiting:
        actions.append(SkipJobs(item_id, buildset.id, waiting,
                                f"skipped by fail-fast: {failed} failed"))
    return actions


def failure_action(buildset: BuildSet) -> str:
    if buildset.merge_state == MergeState.CONFLICT:
        return "merge-conflict"
    if buildset.merge_state == MergeState.CONFIG_ERROR:
        return "config-error"
    return "failure"


def report_unbuildable(item_id: int, buildset: BuildSet) -> Report | None:
    """The report for a state that cannot run jobs (conflict, config error, no jobs)."""
    if buildset.merge_failed:
        return Report(item_id, failure_action(buildset), message=buildset.message or "")
    if buildset.merge_state == MergeState.NO_JOBS:
        return Report(item_id, "no-jobs", message=buildset.message or "")
    return None


def lost_dependency(item: QueueItem, ahead: set[ChangeKey],
                    merged: set[ChangeKey]) -> Report | None:
    """The failure report of an item whose needed change is neither ahead nor merged."""
    missing = [k for k in item.change.needs if k not in ahead and k not in merged]
    if not missing:
        return None
    needed = ", ".join(change_name(k, beside=item.change.key.connection) for k in missing)
    change = item.change
    if isinstance(change, Change) and all(k in change.topic_needs for k in missing):
        # dependencies-by-topic: the topic gained a change, or a member left the queue
        return Report(item.id, "failure",
                      message=f"{needed[0].upper()}{needed[1:]} of its topic "
                              f"{change.topic!r} is not in the queue with it (it was added "
                              "to the topic since, failed or was dequeued); the changes of a "
                              "topic merge together or not at all. Approve them again to "
                              "test and merge them as one.")
    return Report(item.id, "failure",
                  message=f"This change depends on {needed}, which is no longer "
                          "ahead of it in the queue (it failed or was dequeued).")
