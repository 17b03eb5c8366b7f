"""Changes under review, their patch sets, and what was reported on them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from zuulish.store.base import Base


class ChangeRow(Base):
    __tablename__ = "changes"
    __table_args__ = (UniqueConstraint("connection", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection: Mapped[str] = mapped_column(String(255))
    number: Mapped[int] = mapped_column(Integer)
    project: Mapped[str] = mapped_column(String(255))
    branch: Mapped[str] = mapped_column(String(255))
    change_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="NEW")
    patchset: Mapped[int] = mapped_column(Integer, default=1)
    commit_sha: Mapped[str] = mapped_column(String(64))
    parent_sha: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str | None] = mapped_column(String(255))
    approvals: Mapped[dict[str, Any]] = mapped_column(default=dict)
    depends_on: Mapped[list[Any]] = mapped_column(default=list)
    files: Mapped[list[Any]] = mapped_column(default=list)
    merged_sha: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class PatchsetRow(Base):
    __tablename__ = "patchsets"
    __table_args__ = (UniqueConstraint("change_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"))
    number: Mapped[int] = mapped_column(Integer)
    commit_sha: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[float] = mapped_column(Float)


class ReportRow(Base):
    """A report left on a change: pipeline result, votes and message."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"), index=True)
    patchset: Mapped[int] = mapped_column(Integer)
    tenant: Mapped[str] = mapped_column(String(255))
    pipeline: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))
    result: Mapped[str | None] = mapped_column(String(32))
    votes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)


def newest_results(session: Session, connection: str | None = None) -> dict[int, ReportRow]:
    """The newest report with a result for each change (of one connection, or all)."""
    newest = select(func.max(ReportRow.id)).where(ReportRow.result.is_not(None))
    if connection is not None:
        newest = newest.join(ChangeRow, ChangeRow.id == ReportRow.change_id) \
            .where(ChangeRow.connection == connection)
    newest = newest.group_by(ReportRow.change_id)
    return {r.change_id: r for r in session.scalars(
        select(ReportRow).where(ReportRow.id.in_(newest)))}
