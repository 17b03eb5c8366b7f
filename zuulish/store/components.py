"""Components (schedulers, executors, mergers, launchers, webs) and leases.

Every running component has a row here that it refreshes (``heartbeat_at``);
times are the database's clock, never a component's, so a host whose clock
jumps cannot make a live component look dead or a dead one live. A lease is a
named row that one component holds until ``expires_at`` (the active
scheduler's: ``scheduler``); ``epoch`` grows with each new holder.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zuulish.store.base import Base


class ComponentRow(Base):
    __tablename__ = "components"
    __table_args__ = (Index("ix_components_kind", "kind", "state"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    # the boot and PID namespace its pid belongs to: a component may tell that an
    # earlier one of the same machine has ended only when these agree
    machine: Mapped[str] = mapped_column(String(255))
    zone: Mapped[str | None] = mapped_column(String(255))
    # where others reach it (an executor's console stream: http://host:port)
    address: Mapped[str | None] = mapped_column(Text)
    # a digest of what must agree between components of one deployment (a
    # scheduler's tenant file)
    config_hash: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(32))
    # running | stopping | stopped | dead
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[float] = mapped_column(Float)
    heartbeat_at: Mapped[float] = mapped_column(Float)


class LeaseRow(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
