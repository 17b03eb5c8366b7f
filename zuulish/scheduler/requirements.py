"""Zuul's ``provides`` and ``requires`` between the items of a queue (pure).

A job that ``requires`` something waits while an item ahead of it in the queue
(its build set's ``ahead``) has a job that ``provides`` it and has not finished;
the builds that did provide it are handed to the build (its ``requirements``
parameter), so the executor can expose what they produced. When such a
provider ended without success, the requiring job fails without running: what
it needs was not made. Providers of items that have left the queue (merged)
finished, and an item ahead whose merge is pending may still turn out to
provide, so it is waited for. Changes it depends on in other queues or
pipelines (Depends-On) are not looked at yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from zuulish.model import BuildResult, MergeState, QueueItem
from zuulish.scheduler.actions import Action, FailJobs, Provider, StartJobs


def requirements_wanted(actions: list[Action], items: Mapping[int, QueueItem]) -> bool:
    """Whether any job these actions would start ``requires`` something."""
    for action in actions:
        if isinstance(action, StartJobs):
            bs = items[action.item_id].buildset
            graph = bs.job_graph if bs is not None else None
            if graph is not None and any(graph.jobs[j].requires for j in action.jobs):
                return True
    return False


def _providers(requires: tuple[str, ...], ahead: tuple[int, ...],
               items: Mapping[int, QueueItem]) -> tuple[bool, list[Provider], list[str]]:
    """(whether to wait, the builds that provided, what failed to be provided)."""
    wait, provided, failed = False, [], []
    wanted = set(requires)
    for item_id in ahead:
        item = items.get(item_id)
        if item is None:
            continue  # merged or gone: nothing left to wait for
        bs = item.buildset
        if bs is None or bs.merge_state == MergeState.PENDING:
            wait = True
            continue
        if bs.job_graph is None:
            continue  # its state could not be built: it runs no jobs
        for name, job in bs.job_graph.jobs.items():
            gives = tuple(x for x in job.provides if x in wanted)
            if not gives:
                continue
            build = bs.builds.get(name)
            if build is None or build.result is None:
                wait = True
            elif build.result == BuildResult.SUCCESS:
                provided.append(Provider(item_id, item.change.key.number,
                                         item.change.patchset, name, build.id, gives))
            else:
                failed.append(f"{', '.join(gives)} (job {name} of change "
                              f"{item.change.key.number},{item.change.patchset} ended "
                              f"{build.result})")
    return wait, provided, failed


def check_requirements(actions: list[Action], items: Mapping[int, QueueItem]) -> list[Action]:
    """``actions`` with each job whose requirements are not met yet left out of its
    ``StartJobs``, each whose provider failed turned into ``FailJobs``, and the
    providers of the others recorded on their ``StartJobs``."""
    out: list[Action] = []
    for action in actions:
        item = items.get(action.item_id)
        bs = item.buildset if item is not None else None
        if not isinstance(action, StartJobs) or bs is None or bs.job_graph is None:
            out.append(action)
            continue
        start, providers = [], list(action.providers)
        for name in action.jobs:
            requires = bs.job_graph.jobs[name].requires
            if not requires:
                start.append(name)
                continue
            wait, provided, failed = _providers(requires, bs.ahead, items)
            if failed:
                out.append(FailJobs(action.item_id, action.buildset_id, (name,),
                                    "requirements not met: " + "; ".join(failed)))
            elif not wait:
                start.append(name)
                if provided:
                    providers.append((name, tuple(provided)))
        if start:
            out.append(replace(action, jobs=tuple(start), providers=tuple(providers)))
    return out
