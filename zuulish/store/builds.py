"""Builds: one job run for one build set, doubling as the executor's work queue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from zuulish.store.base import Base


class BuildRow(Base):
    __tablename__ = "builds"
    __table_args__ = (Index("ix_builds_state", "state", "priority"),
                      Index("ix_builds_unnoticed", "noticed", "state"),
                      # the build history's order and filters (zuulish.web.history)
                      Index("ix_builds_finished", "finished_at"),
                      Index("ix_builds_job_finished", "job", "finished_at"),
                      Index("ix_builds_result_finished", "result", "finished_at"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    buildset_id: Mapped[int] = mapped_column(ForeignKey("buildsets.id"), index=True)
    job: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    result: Mapped[str | None] = mapped_column(String(32))
    voting: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    frozen_job: Mapped[dict[str, Any]] = mapped_column(default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    node_request_id: Mapped[int | None] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    worker: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[float | None] = mapped_column(Float)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float)
    first_task_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    log_path: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    # Set by the scheduler once it has seen the build finish, so that each pass
    # re-plans only the queues whose builds finished since the last one.
    noticed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=true())
    # What the build returned with zuul_return (merged, secrets masked); None: nothing.
    result_data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # What it returned as zuul_return's secret_data, for the jobs that depend on it:
    # JSON encrypted with the server's master key (a Fernet token); None: nothing.
    # Never shown; only an executor decrypts it, for those jobs' playbooks.
    secret_result_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Its zuul.child_jobs (the dependent jobs to run; None: all), kept apart from
    # result_data so that a scheduler pass reads only this small list.
    child_jobs: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    # zuul.pause: the build finished its run phase and waits (still running) for the
    # jobs that depend on it, which may start meanwhile.
    # the executor zone of its nodes (None: unzoned): only executors of that zone run it
    zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
