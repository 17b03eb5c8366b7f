"""GitHub's tables: webhook deliveries as received, and pull requests as changes.

``github_deliveries`` holds each signed delivery exactly as GitHub sent it (the raw
body the signature covered), stored before the webhook is answered and unique per
``X-GitHub-Delivery``; the intake worker turns them, in order, into events.

``github_pulls`` gives each pull request of a connection one number (GitHub numbers
pull requests per repository; a change needs one number per connection) and caches
what its webhooks said of it; ``github_pull_patchsets`` is its head sha history, one
patch set per head.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from zuulish.store.base import Base


class GithubDeliveryRow(Base):
    __tablename__ = "github_deliveries"
    __table_args__ = (
        UniqueConstraint("connection", "delivery", name="uq_github_delivery"),
        Index("ix_github_deliveries_pending", "processed_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection: Mapped[str] = mapped_column(String(255))
    #: ``X-GitHub-Delivery``: GitHub's id of this delivery (a redelivery keeps it)
    delivery: Mapped[str] = mapped_column(String(128))
    #: ``X-GitHub-Event``
    event: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[float] = mapped_column(Float)
    processed_at: Mapped[float | None] = mapped_column(Float, default=None)
    #: what became of it: the events stored, or why it was ignored
    outcome: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class GithubPullRow(Base):
    __tablename__ = "github_pulls"
    __table_args__ = (UniqueConstraint("connection", "repo", "number", name="uq_github_pull"),)

    #: the change's number on its connection (ChangeKey.number)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection: Mapped[str] = mapped_column(String(255))
    repo: Mapped[str] = mapped_column(String(255))  # owner/repo
    number: Mapped[int] = mapped_column(Integer)  # GitHub's pull request number
    head_sha: Mapped[str | None] = mapped_column(String(64), default=None)
    patchset: Mapped[int | None] = mapped_column(Integer, default=None)
    base_branch: Mapped[str | None] = mapped_column(String(255), default=None)
    title: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="open")
    merged: Mapped[bool] = mapped_column(Boolean, default=False)
    draft: Mapped[bool] = mapped_column(Boolean, default=False)
    mergeable: Mapped[bool | None] = mapped_column(Boolean, default=None)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    #: more of the pull request as GitHub last described it (url, author, head repo...)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: GitHub's ``updated_at`` of the description cached (an older one never overwrites)
    github_updated_at: Mapped[str | None] = mapped_column(String(32), default=None)
    refreshed_at: Mapped[float] = mapped_column(Float, default=0.0)


class GithubPatchsetRow(Base):
    __tablename__ = "github_pull_patchsets"

    pull_id: Mapped[int] = mapped_column(ForeignKey("github_pulls.id", ondelete="CASCADE"),
                                         primary_key=True)
    patchset: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
