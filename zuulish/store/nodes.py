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
    tenant: Mapped[str | None] = mapped_column(String(255))
    # the cloud provider booting this request's nodes (None: not yet chosen)
    provider: Mapped[str | None] = mapped_column(String(255))
    # the labels of each of the nodeset's alternatives ([]: it has none); ``labels``
    # are those of the one tried now, ``alternative`` (its index)
    alternatives: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    alternative: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # providers that failed this request, tried again only when no other can serve it
    tried: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")


class NodeRow(Base):
    """One node through its lifecycle (``zuulish.nodepool.lifecycle``)."""

    __tablename__ = "nodes"
    __table_args__ = (Index("ix_nodes_state", "state", "provider"),)

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
    tenant: Mapped[str | None] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))  # the cloud's id
    state_at: Mapped[float | None] = mapped_column(Float)  # when ``state`` was set
    ready_at: Mapped[float | None] = mapped_column(Float)  # when the cloud said it runs
    error: Mapped[str | None] = mapped_column(Text)  # the cloud's reason it failed
    resources: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")

    # state "held": the autohold request that keeps it, and until when (None: until
    # the request is deleted); see ``zuulish.nodepool.holds``
    hold_id: Mapped[int | None] = mapped_column(Integer, index=True)
    hold_until: Mapped[float | None] = mapped_column(Float)
    # the executor zone of its provider (None: any unzoned executor may use it)
    zone: Mapped[str | None] = mapped_column(String(255), nullable=True)

class SettingRow(Base):
    """A setting of this installation (``system-id``: tags its cloud instances)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
