"""The Gerrit driver's memory: how far each connection's event stream is covered,
and which events were already stored (so a caught-up event is never stored twice)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zuulish.store.base import Base


class GerritStreamStateRow(Base):
    """One row per Gerrit connection: every event up to ``covered_until`` (Gerrit's
    epoch seconds) was either received from the stream or caught up through REST."""

    __tablename__ = "gerrit_stream_state"

    connection: Mapped[str] = mapped_column(String(255), primary_key=True)
    covered_until: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class GerritSeenEventRow(Base):
    """An event of a Gerrit connection that was stored, by its identity (``key``) and
    Gerrit's time for it (``at``); pruned once older than any catch-up looks back."""

    __tablename__ = "gerrit_seen_events"
    __table_args__ = (Index("ix_gerrit_seen_events_key", "connection", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    at: Mapped[float] = mapped_column(Float)
    event_id: Mapped[int | None] = mapped_column(Integer, default=None)


class GerritRefTipRow(Base):
    """The last known revision of a branch or tag (``ref``: ``refs/heads/...``,
    ``refs/tags/...``) of a project of a Gerrit connection, from the ref-updated
    events stored and the listings of catch-ups; a catch-up turns a ref that moved
    meanwhile into a ref-updated.
    ``updated_at``: zuulish's time of the last write."""

    __tablename__ = "gerrit_ref_tips"

    connection: Mapped[str] = mapped_column(String(255), primary_key=True)
    project: Mapped[str] = mapped_column(String(255), primary_key=True)
    ref: Mapped[str] = mapped_column(String(255), primary_key=True)
    revision: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[float] = mapped_column(Float)


class GerritChangeStateRow(Base):
    """The last known topic, hashtags and work-in-progress flag of a change a Gerrit
    connection stored events for; a catch-up turns what changed meanwhile into
    topic-changed, hashtags-changed and wip-state-changed events.
    ``updated_at``: zuulish's time of the last write."""

    __tablename__ = "gerrit_change_states"

    connection: Mapped[str] = mapped_column(String(255), primary_key=True)
    change_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    project: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str | None] = mapped_column(Text, default=None)
    hashtags: Mapped[list[str]] = mapped_column(JSON)
    wip: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[float] = mapped_column(Float)
