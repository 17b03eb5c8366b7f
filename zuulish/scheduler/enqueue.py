"""Decide whether (and with which dependencies) a change may enter a pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from zuulish.config.layout import Layout
from zuulish.drivers.interfaces import Source
from zuulish.merger.worker import touches_config
from zuulish.model import Change, ChangeKey, Pipeline, PipelineManager, change_name
from zuulish.scheduler.topics import with_topic_needs


@dataclass
class EnqueuePlan:
    """Changes to enqueue in order (dependencies first), or why not."""

    changes: list[Change] = field(default_factory=list)
    rejection: str | None = None
    silent: bool = False  # a rejection not worth telling the user about


def _has_jobs(layout: Layout, pipeline: str, project: str, branch: str | None = None) -> bool:
    return bool(layout.project_pipeline_jobs(project, pipeline, branch))


def _proposes_config(change: Change, sources: dict[str, Source]) -> bool:
    """Whether ``change``, or an open change it needs (Depends-On, git parents, all
    the way down), changes Zuul configuration. Its jobs then come from the
    speculative layout that configuration makes, known once the merger built its
    state: it is enqueued even when the running layout gives its project no jobs
    here (a project's first ``project:`` stanza, a template another change adds
    jobs to), and one whose speculative layout has no jobs either leaves the
    pipeline then, as Zuul's "no jobs" does; one with errors is reported with them
    (a config project's change, typically)."""
    seen: set[ChangeKey] = set()
    pending = [change]
    while pending:
        current = pending.pop()
        if current.key in seen:
            continue
        seen.add(current.key)
        if touches_config(list(current.files)):
            return True
        for key in current.needs:
            source = sources.get(key.connection)
            needed = source.get_change(key.number) if source is not None \
                and key not in seen else None
            if needed is not None and needed.is_open:
                pending.append(needed)
    return False


InTenant = Callable[[str, str], bool]  # (connection, project) -> part of this tenant?


def plan_enqueue(change: Change, pipeline: Pipeline, layout: Layout,
                 sources: dict[str, Source], already_queued: set[ChangeKey],
                 queue_of: dict[ChangeKey, str],
                 in_tenant: InTenant | None = None, now: float | None = None) -> EnqueuePlan:
    """Work out what enqueuing ``change`` means, reading (never writing) sources.

    ``already_queued`` are changes (current patch sets) already in this pipeline;
    ``queue_of`` gives the shared queue of each queued change (dependent only);
    ``in_tenant`` tells whether a needed change's project belongs to this tenant
    (a change may not depend on another tenant's); ``now`` (epoch seconds, the
    scheduler's clock) is what ``newer-than``/``older-than`` requirements count from.
    """
    name = change_name(change.key, change)
    if not pipeline.allow_other_connections \
            and change.key.connection not in pipeline.connections():
        return EnqueuePlan(rejection=f"{name} is on "
                                     f"connection {change.key.connection!r}, which pipeline "
                                     f"{pipeline.name} does not use "
                                     "(allow-other-connections: false)")
    unmet = pipeline.state_unmet(change, now)
    if unmet:
        return EnqueuePlan(rejection=f"{name} does not meet the "
                                     f"requirements of {pipeline.name}: needs "
                                     f"{', '.join(unmet)}", silent=True)
    refused = pipeline.state_rejected(change, now)
    if refused:
        return EnqueuePlan(rejection=f"{name} is kept out of "
                                     f"{pipeline.name} by {', '.join(refused)}", silent=True)
    if not change.is_open:
        return EnqueuePlan(rejection=f"{name} is {change.status.lower()}",
                           silent=True)
    if not _has_jobs(layout, pipeline.name, change.project, change.branch) \
            and not _proposes_config(change, sources):
        return EnqueuePlan(rejection=f"project {change.project!r} has no jobs in pipeline "
                                     f"{pipeline.name!r}", silent=True)
    if change.key in already_queued:
        return EnqueuePlan(rejection=f"{name} is already in "
                                     f"{pipeline.name}", silent=True)
    missing = pipeline.requirements_met(change.key.connection, change.approvals)
    if missing:
        return EnqueuePlan(rejection=f"{name} does not meet the "
                                     f"requirements of {pipeline.name}: needs "
                                     f"{', '.join(missing)}", silent=True)
    rejected = pipeline.rejected_by(change.key.connection, change.approvals)
    if rejected:
        return EnqueuePlan(rejection=f"{name} is kept out of "
                                     f"{pipeline.name} by {', '.join(rejected)}", silent=True)
    if change.unresolved_depends_on:
        return EnqueuePlan(rejection="dependencies that cannot be resolved: "
                                     + "; ".join(change.unresolved_depends_on))
    if pipeline.manager in (PipelineManager.INDEPENDENT, PipelineManager.SUPERCEDENT):
        options = layout.queue_options(layout.queue_name(change.project, change.branch))
        if pipeline.manager == PipelineManager.INDEPENDENT and options.dependencies_by_topic \
                and options.allow_circular_dependencies:
            needs = with_topic_needs(change, sources).needs  # tested with its topic
        else:
            needs = change.needs
        for key in needs:
            needed = sources[key.connection].get_change(key.number) \
                if key.connection in sources else None
            reason = _outside(key, needed, in_tenant, pipeline, change.key.connection)
            if reason:
                return EnqueuePlan(rejection=reason)
        return EnqueuePlan(changes=[change])
    return _plan_dependent(change, pipeline, layout, sources, already_queued, queue_of,
                           in_tenant, now)


def _outside(key: ChangeKey, needed: Change | None, in_tenant: InTenant | None,
             pipeline: Pipeline | None = None, beside: str | None = None) -> str | None:
    """Why a needed change cannot be used by this tenant (or this pipeline) at all;
    ``beside`` is the connection of the change that needs it (for its name)."""
    if needed is None:
        return f"needed change {key} does not exist"
    name = change_name(key, needed, beside)
    if pipeline is not None and not pipeline.allow_other_connections \
            and key.connection not in pipeline.connections():
        return (f"needed {name} is on connection "
                f"{key.connection!r}, which pipeline {pipeline.name} does not use "
                "(allow-other-connections: false)")
    if in_tenant is not None and not in_tenant(key.connection, needed.project):
        return (f"needed {name} is in project {needed.project!r}, which "
                "this tenant does not include")
    return None


def _plan_dependent(change: Change, pipeline: Pipeline, layout: Layout,
                    sources: dict[str, Source], already_queued: set[ChangeKey],
                    queue_of: dict[ChangeKey, str],
                    in_tenant: InTenant | None, now: float | None) -> EnqueuePlan:
    ordered: list[Change] = []
    visiting: set[ChangeKey] = set()
    my_queue = layout.queue_name(change.project, change.branch)
    options = layout.queue_options(my_queue)
    cycles_allowed = options.allow_circular_dependencies
    # the other open changes of a change's topic are needed too (a cycle: the
    # configuration refuses dependencies-by-topic without allow-circular-dependencies)
    by_topic = options.dependencies_by_topic and cycles_allowed

    def visit(original: Change) -> str | None:
        current = with_topic_needs(original, sources) if by_topic else original

        def named(key: ChangeKey, needed: Change | None = None) -> str:
            """The needed change as people know it (read from its source when not
            given), and why it is needed when its topic is the reason."""
            if needed is None and key.connection in sources:
                needed = sources[key.connection].get_change(key.number)
            name = change_name(key, needed, change.key.connection)
            if key in current.topic_needs:
                return f"{name} (of topic {current.topic!r})"
            return f"needed {name}"

        if current.key in visiting:
            if cycles_allowed:
                return None  # a bundle: enqueued together, next to each other
            return (f"{change_name(current.key, current, change.key.connection)} and its "
                    "dependencies form a cycle, which "
                    f"queue {my_queue!r} does not allow (set allow-circular-dependencies "
                    "on the queue to test and merge such changes together)")
        visiting.add(current.key)
        for key in current.needs:
            if key in already_queued:
                if queue_of.get(key) != my_queue:
                    return (f"{named(key)} is in a different queue "
                            f"({queue_of.get(key)!r}) of {pipeline.name}")
                continue
            if any(c.key == key for c in ordered):
                continue
            needed = sources[key.connection].get_change(key.number) \
                if key.connection in sources else None
            outside = _outside(key, needed, in_tenant, pipeline, change.key.connection)
            if outside or needed is None:
                return outside
            if needed.is_merged:
                continue
            if not needed.is_open:
                return f"{named(key, needed)} is {needed.status.lower()}"
            if layout.queue_name(needed.project, needed.branch) != my_queue:
                return (f"{named(key, needed)} ({needed.project}) does not share a "
                        f"queue with {current.project} in {pipeline.name}; projects with "
                        "cross-project dependencies must share a queue")
            # Another project's change may be on another branch (a GitHub repository's
            # main, a Gerrit project's master): a shared queue that is not per-branch
            # holds both, as Zuul's does. A speculative state holds one branch of each
            # project, so a change may not need its own project's change on another.
            if needed.project == current.project and needed.branch != current.branch:
                return f"{named(key, needed)} is for branch {needed.branch!r}"
            missing = pipeline.requirements_met(key.connection, needed.approvals) \
                + pipeline.state_unmet(needed, now)
            if missing:
                return (f"{named(key, needed)} does not meet the requirements of "
                        f"{pipeline.name} ({', '.join(missing)})")
            if needed.unresolved_depends_on:
                return f"{named(key, needed)} has an unresolvable Depends-On"
            reason = visit(needed)
            if reason:
                return reason
        visiting.discard(current.key)
        ordered.append(original)
        return None

    reason = visit(change)
    if reason:
        return EnqueuePlan(rejection=reason)
    return EnqueuePlan(changes=ordered)
