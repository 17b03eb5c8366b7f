"""Calls to a forge that must happen (reports), kept until they have.

A reporter of a remote forge (GitHub, Gerrit) does not call the forge from the
scheduler's loop: it records the call here, in the scheduler's own transaction
or its own, and the connection's sender makes it, with back-off when the forge
is slow, failing or rate-limiting. A restart resumes what was not yet sent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zuulish.store.base import Base

PENDING = "pending"
SENT = "sent"
FAILED = "failed"


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "connection", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection: Mapped[str] = mapped_column(String(255))
    #: what the call is (the connection's own name for it: "report", "label"...)
    kind: Mapped[str] = mapped_column(String(64))
    #: calls with the same key are made in order (one change's reports, say)
    key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[float] = mapped_column(Float, default=0.0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[float] = mapped_column(Float)
    done_at: Mapped[float | None] = mapped_column(Float, default=None)
