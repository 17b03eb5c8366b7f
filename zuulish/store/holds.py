"""Autohold requests: keep the nodes of failed builds of a job for someone to look at."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zuulish.store.base import Base


class AutoholdRow(Base):
    """One ``zuulish autohold`` request (Zuul's hold request).

    A failed build of ``job`` for ``project`` in ``tenant`` whose ref matches
    ``ref_filter`` (a regular expression matched at the start of the ref) keeps its
    nodes, while ``current_count`` is below ``count``; they stay held for
    ``node_hold_expiration`` seconds (None: until the request is deleted).
    """

    __tablename__ = "autoholds"
    __table_args__ = (Index("ix_autoholds_match", "tenant", "project", "job"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(255))
    project: Mapped[str] = mapped_column(String(255))
    job: Mapped[str] = mapped_column(String(255))
    ref_filter: Mapped[str] = mapped_column(String(255), default=".*")
    reason: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer, default=1)
    current_count: Mapped[int] = mapped_column(Integer, default=0)
    node_hold_expiration: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)
    # who asked: "cli" or "api"
    account: Mapped[str | None] = mapped_column(String(255))
    # one entry per build held: {"build": id, "nodes": [node ids], "held_at": epoch}
    held: Mapped[list[Any]] = mapped_column(default=list)
