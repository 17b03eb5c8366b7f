"""Pipelines: how items are triggered, queued and reported."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from zuulish.model.event import TriggerEvent
from zuulish.model.ref import is_null_rev


class PipelineManager(StrEnum):
    INDEPENDENT = "independent"
    DEPENDENT = "dependent"
    SERIAL = "serial"
    SUPERCEDENT = "supercedent"


@dataclass(frozen=True)
class Window:
    """Zuul's active window for dependent pipelines, with Zuul's defaults."""

    size: int = 20
    floor: int = 3
    ceiling: float = float("inf")
    increase_type: str = "linear"
    increase_factor: int = 1
    decrease_type: str = "exponential"
    decrease_factor: int = 2

    def after_success(self, current: int) -> int:
        if self.increase_type == "exponential":
            grown = current * self.increase_factor
        elif self.increase_type == "linear":
            grown = current + self.increase_factor
        else:
            grown = current
        return int(min(grown, self.ceiling))

    def after_failure(self, current: int) -> int:
        if self.decrease_type == "exponential":
            shrunk = current // self.decrease_factor
        elif self.decrease_type == "linear":
            shrunk = current - self.decrease_factor
        else:
            shrunk = current
        return max(shrunk, self.floor)


@dataclass(frozen=True)
class EventFilter:
    """One entry of a pipeline trigger: which events enqueue a change."""

    connection: str
    types: tuple[str, ...]
    comments: tuple[str, ...] = ()
    approvals: tuple[tuple[str, int], ...] = ()
    branches: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()  # ref-updated: patterns matched at the start (Zuul's ``ref``)
    ignore_deletes: bool = True  # a ref-updated that deletes the ref (newrev all zeros)
    timer: str | None = None  # the timer's time spec (the timer fires the pipeline itself)

    def matches(self, event: TriggerEvent) -> bool:
        if event.connection != self.connection or event.type not in self.types:
            return False
        if self.ignore_deletes and event.type == "ref-updated" and is_null_rev(event.newrev):
            return False
        if self.refs and not any(re.match(r, event.ref or "") for r in self.refs):
            return False
        if self.branches and not any(re.fullmatch(b, event.branch or "") for b in self.branches):
            return False
        if self.comments and not any(
            re.search(c, event.comment or "") for c in self.comments
        ):
            return False
        return all(event.approvals.get(label) == value for label, value in self.approvals)


@dataclass(frozen=True)
class ReporterSpec:
    """What to tell a connection when an item is reported."""

    connection: str
    votes: tuple[tuple[str, int], ...] = ()
    submit: bool = False
    comment: bool = True


@dataclass
class Pipeline:
    name: str
    manager: PipelineManager
    description: str = ""
    triggers: tuple[EventFilter, ...] = ()
    # label -> the lowest value that satisfies it, or the exact values that do
    require_approvals: dict[str, tuple[tuple[str, int | tuple[int, ...]], ...]] = field(
        default_factory=dict)
    # label -> values that keep a change out (Zuul's ``reject``)
    reject_approvals: dict[str, tuple[tuple[str, int | tuple[int, ...]], ...]] = field(
        default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)  # e.g. success-message
    dequeue_on_new_patchset: bool = True
    start: tuple[ReporterSpec, ...] = ()
    enqueue: tuple[ReporterSpec, ...] = ()
    dequeue: tuple[ReporterSpec, ...] = ()
    no_jobs: tuple[ReporterSpec, ...] = ()
    success: tuple[ReporterSpec, ...] = ()
    failure: tuple[ReporterSpec, ...] = ()
    merge_conflict: tuple[ReporterSpec, ...] | None = None
    config_error: tuple[ReporterSpec, ...] | None = None
    window: Window = field(default_factory=Window)
    precedence: str = "normal"
    post_review: bool = False  # changes here are reviewed: post-review jobs may run
    source_file: str | None = None
    source_line: int | None = None

    def reporters_for(self, action: str) -> tuple[ReporterSpec, ...]:
        """Who hears of ``action``; Zuul falls back to ``failure`` for the failures."""
        if action == "success":
            return self.success
        if action == "merge-conflict" and self.merge_conflict is not None:
            return self.merge_conflict
        if action == "config-error" and self.config_error is not None:
            return self.config_error
        if action in ("start", "enqueue", "dequeue"):
            return {"start": self.start, "enqueue": self.enqueue,
                    "dequeue": self.dequeue}[action]
        if action == "no-jobs":
            return self.no_jobs
        return self.failure

    def rejected_by(self, connection: str, approvals: dict[str, int]) -> list[str]:
        """The ``reject`` approvals the change carries (empty when none)."""
        found = []
        for label, value in self.reject_approvals.get(connection, ()):
            if label not in approvals:
                continue
            have = approvals[label]
            hit = have in value if isinstance(value, tuple) else \
                (have <= value if value < 0 else have >= value)
            if hit:
                found.append(f"{label}: {have}")
        return found

    def requirements_met(self, connection: str, approvals: dict[str, int]) -> list[str]:
        """Return the unmet requirements (empty when the change may enter)."""
        missing = []
        for label, value in self.require_approvals.get(connection, ()):
            have = approvals.get(label, 0)
            if (have not in value) if isinstance(value, tuple) else (have < value):
                wanted = " or ".join(str(v) for v in value) if isinstance(value, tuple) \
                    else str(value)
                missing.append(f"{label}: {wanted}")
        return missing
