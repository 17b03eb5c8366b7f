"""Pipelines: how items are triggered, queued and reported."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from zuulish.model.change import Change
from zuulish.model.event import EventMeaning, TriggerEvent
from zuulish.model.ref import is_null_rev
from zuulish.model.requirements import Requirements


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


class TriggerFilter(Protocol):
    """One entry of a pipeline trigger, as any driver parses it: which of its
    connection's events enqueue a change (or a ref)."""

    connection: str
    #: the timer's time spec; None for every driver but the timer
    timer: str | None

    def matches(self, event: TriggerEvent) -> bool: ...


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
        if (self.ignore_deletes and event.meaning == EventMeaning.BRANCH_UPDATED
                and is_null_rev(event.newrev)):
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
class ChangeStateFilter:
    """The state part of a pipeline's ``require``/``reject`` for one connection:
    ``open``, ``current-patchset``, ``merged`` and ``status`` (None: not asked)."""

    open: bool | None = None
    current_patchset: bool | None = None
    merged: bool | None = None
    status: tuple[str, ...] = ()  # NEW, MERGED, ABANDONED (any of them)

    def checks(self, change: Change) -> list[tuple[str, bool]]:
        """(what was asked, whether ``change`` has it) for each condition set.

        The scheduler always enqueues a change's current patch set, so the
        change it looks at is current."""
        out = []
        if self.open is not None:
            out.append((f"open: {str(self.open).lower()}", change.is_open == self.open))
        if self.current_patchset is not None:
            out.append((f"current-patchset: {str(self.current_patchset).lower()}",
                        self.current_patchset))
        if self.merged is not None:
            out.append((f"merged: {str(self.merged).lower()}", change.is_merged == self.merged))
        if self.status:
            out.append((f"status: {' or '.join(self.status)}", change.status in self.status))
        return out


@dataclass(frozen=True)
class ReporterSpec:
    """What to tell a connection when an item is reported."""

    connection: str
    votes: tuple[tuple[str, int], ...] = ()
    submit: bool = False
    comment: bool = True
    #: what else the connection's driver reports (GitHub: status, check, labels,
    #: review), as its reporter parser read it from the pipeline
    options: tuple[tuple[str, Any], ...] = ()


@dataclass
class Pipeline:
    name: str
    manager: PipelineManager
    description: str = ""
    triggers: tuple[TriggerFilter, ...] = ()
    # label -> the lowest value that satisfies it, or the exact values that do
    require_approvals: dict[str, tuple[tuple[str, int | tuple[int, ...]], ...]] = field(
        default_factory=dict)
    # label -> values that keep a change out (Zuul's ``reject``)
    reject_approvals: dict[str, tuple[tuple[str, int | tuple[int, ...]], ...]] = field(
        default_factory=dict)
    # per connection: the change's state that ``require`` asks for, and ``reject`` refuses
    require_state: dict[str, ChangeStateFilter] = field(default_factory=dict)
    reject_state: dict[str, ChangeStateFilter] = field(default_factory=dict)
    # per Gerrit or GitHub connection: all its ``require`` and ``reject`` conditions, as
    # Zuul reads them for that forge (the built-in forge uses the four fields above)
    require: dict[str, Requirements] = field(default_factory=dict)
    reject: dict[str, Requirements] = field(default_factory=dict)
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
    supercedes: tuple[str, ...] = ()  # pipelines a change leaves when it enters this one
    #: Zuul's ``allow-other-connections``: false keeps out every change (enqueued for
    #: itself or as a dependency) of a connection the pipeline does not name
    allow_other_connections: bool = True
    source_file: str | None = None
    source_line: int | None = None

    def connections(self) -> set[str]:
        """The connections the pipeline names: in triggers, reporters, require, reject."""
        named = {f.connection for f in self.triggers}
        for specs in (self.start, self.enqueue, self.dequeue, self.no_jobs, self.success,
                      self.failure, self.merge_conflict or (), self.config_error or ()):
            named.update(spec.connection for spec in specs)
        for by_connection in (self.require_approvals, self.reject_approvals,
                              self.require_state, self.reject_state, self.require,
                              self.reject):
            named.update(by_connection)
        return named

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

    def state_unmet(self, change: Change, now: float | None = None) -> list[str]:
        """The ``require`` conditions on the change's state it does not meet (for a
        Gerrit or GitHub connection: every ``require`` condition it does not meet).
        ``now`` (epoch seconds) is needed by ``newer-than``/``older-than``."""
        conn = change.key.connection
        wanted = self.require_state.get(conn)
        unmet = [what for what, ok in wanted.checks(change) if not ok] if wanted else []
        requirements = self.require.get(conn)
        return unmet + (requirements.unmet(change, now) if requirements else [])

    def state_rejected(self, change: Change, now: float | None = None) -> list[str]:
        """The ``reject`` conditions on the change's state it meets (any one rejects;
        for a Gerrit or GitHub connection: every ``reject`` condition it meets)."""
        conn = change.key.connection
        refused = self.reject_state.get(conn)
        hits = [what for what, hit in refused.checks(change) if hit] if refused else []
        requirements = self.reject.get(conn)
        return hits + (requirements.hits(change, now) if requirements else [])
