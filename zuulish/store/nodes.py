"""Node requests and the nodes the launcher hands out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zuulish.store.base import Base


class NodeRequestRow(Base):
    __tablename__ = "node_requests"
    __table_args__ = (Index("ix_node_requests_state", "state", "priority", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    build_id: Mapped[str] = mapped_column(String(36), index=True)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    state: Mapped[str] = mapped_column(String(16), default="requested")
    priority: Mapped[int] = mapped_column(Integer, default=100)
    node_ids: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    fulfilled_at: Mapped[float | None] = mapped_column(Float)


class NodeRow(Base):
    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="ready")
    hostname: Mapped[str] = mapped_column(String(255))
    host_vars: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the node's SSH host keys ("TYPE BASE64"), for the build's known_hosts
    host_keys: Mapped[list[Any]] = mapped_column(default=list)
    request_id: Mapped[int | None] = mapped_column(Integer, index=True)
    created_at: Mapped[float] = mapped_column(Float)
    released_at: Mapped[float | None] = mapped_column(Float)
    # state "held": the autohold request that keeps it, and until when (None: until
    # the request is deleted); see ``zuulish.nodepool.holds``
    hold_id: Mapped[int | None] = mapped_column(Integer, index=True)
    hold_until: Mapped[float | None] = mapped_column(Float)
