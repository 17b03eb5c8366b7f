"""Accepted trigger events, stored before they are acknowledged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zuulish.store.base import Base


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_unprocessed", "processed_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(64))
    project: Mapped[str | None] = mapped_column(String(255))
    branch: Mapped[str | None] = mapped_column(String(255))
    change_number: Mapped[int | None] = mapped_column(Integer)
    patchset: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[float] = mapped_column(Float)
    processed_at: Mapped[float | None] = mapped_column(Float, default=None)
    outcome: Mapped[str | None] = mapped_column(Text, default=None)
