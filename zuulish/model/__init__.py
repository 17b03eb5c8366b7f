"""Pure domain objects. Nothing here does I/O or imports other zuulish packages."""

from zuulish.model.build import Build, BuildResult, BuildState
from zuulish.model.buildset import BuildSet, MergeState
from zuulish.model.change import Change, ChangeKey, ChangeStatus, change_name
from zuulish.model.event import TIMER, EventMeaning, TriggerEvent
from zuulish.model.job import FrozenJob, Job, PlaybookRef, RoleRef
from zuulish.model.job_graph import JobGraph
from zuulish.model.node import Node, NodeState
from zuulish.model.node_request import NodeRequest, NodeRequestState
from zuulish.model.nodeset import NodeSet, NodeSpec
from zuulish.model.pipeline import (
    ChangeStateFilter,
    EventFilter,
    Pipeline,
    PipelineManager,
    ReporterSpec,
    Window,
)
from zuulish.model.project import Project, ProjectConfig, ProjectPipelineJobs
from zuulish.model.queue import ChangeQueue, QueueItem, QueueOptions
from zuulish.model.ref import NULL_REV, Ref, RefKey, branch_of, is_null_rev

__all__ = [
    "Build", "BuildResult", "BuildSet", "BuildState", "Change", "ChangeKey", "ChangeQueue",
    "ChangeStateFilter", "ChangeStatus", "EventFilter", "FrozenJob", "Job", "JobGraph",
    "MergeState", "Node",
    "NodeRequest", "NodeRequestState", "NodeSet", "NodeSpec", "NodeState", "Pipeline",
    "PipelineManager", "PlaybookRef", "Project", "ProjectConfig", "ProjectPipelineJobs",
    "NULL_REV", "QueueItem", "QueueOptions", "Ref", "RefKey", "ReporterSpec", "RoleRef", "TIMER",
    "EventMeaning", "TriggerEvent", "Window", "branch_of", "change_name", "is_null_rev",
]
