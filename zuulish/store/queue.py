"""Pipeline queue state: change queues, items, build sets and merge requests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zuulish.store.base import Base


class ChangeQueueRow(Base):
    __tablename__ = "change_queues"
    __table_args__ = (UniqueConstraint("tenant", "pipeline", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(255))
    pipeline: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    window: Mapped[int] = mapped_column(Integer)
    # verify-first queues: how often a change fails verification (a moving average)
    failure_rate: Mapped[float | None] = mapped_column(Float, nullable=True)


class QueueItemRow(Base):
    __tablename__ = "queue_items"
    __table_args__ = (Index("ix_queue_items_active", "tenant", "pipeline", "state"),
                      Index("ix_queue_items_queue", "tenant", "pipeline", "queue_name"),
                      Index("ix_queue_items_change", "connection", "change_number"),
                      # the build history's filters (zuulish.web.history)
                      Index("ix_queue_items_tenant_project", "tenant", "project"),
                      Index("ix_queue_items_tenant_branch", "tenant", "branch"),
                      Index("ix_queue_items_tenant_change", "tenant", "change_number"),
                      Index("ix_queue_items_tenant_ref", "tenant", "ref"),
                      Index("ix_queue_items_tenant_result", "tenant", "result"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(255))
    pipeline: Mapped[str] = mapped_column(String(255))
    queue_name: Mapped[str] = mapped_column(String(255))
    connection: Mapped[str] = mapped_column(String(255))
    # a change, or (both None) a ref: a ref update or a branch tip (see ``ref``)
    change_number: Mapped[int | None] = mapped_column(Integer)
    patchset: Mapped[int | None] = mapped_column(Integer)
    commit_sha: Mapped[str] = mapped_column(String(64))  # a ref's: its newrev
    ref: Mapped[str | None] = mapped_column(String(255))
    oldrev: Mapped[str | None] = mapped_column(String(64))
    project: Mapped[str] = mapped_column(String(255))
    branch: Mapped[str] = mapped_column(String(255))
    live: Mapped[bool] = mapped_column(Boolean, default=True)
    # queued -> (reported) merged | failed | dequeued
    state: Mapped[str] = mapped_column(String(16), default="queued")
    sequence: Mapped[int] = mapped_column(Integer)
    result: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    enqueued_at: Mapped[float] = mapped_column(Float)
    dequeued_at: Mapped[float | None] = mapped_column(Float)
    event_id: Mapped[int | None] = mapped_column(Integer)
    # verify-first queues: when the item's own state (the branch tip and the
    # change alone) passed, and it joined the tested chain
    verified_at: Mapped[float | None] = mapped_column(Float)


class BuildSetRow(Base):
    __tablename__ = "buildsets"
    # the scheduler looks up the current build sets still waiting for their merge
    __table_args__ = (Index("ix_buildsets_pending", "merge_state", "current"),
                      Index("ix_buildsets_created", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id"), index=True)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    # speculate-failures: a second state of the item, beside the current one,
    # without an item ahead that may fail (current is then false)
    alternate: Mapped[bool] = mapped_column(Boolean, default=False)
    ahead: Mapped[list[Any]] = mapped_column(default=list)
    merge_state: Mapped[str] = mapped_column(String(16), default="pending")
    message: Mapped[str | None] = mapped_column(Text)
    repo_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_graph: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[float] = mapped_column(Float)


class MergeRequestRow(Base):
    """Work for a merger: build the speculative state of one build set."""

    __tablename__ = "merge_requests"
    __table_args__ = (Index("ix_merge_requests_state", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    buildset_id: Mapped[int] = mapped_column(ForeignKey("buildsets.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="requested")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    worker: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
