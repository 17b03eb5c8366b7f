"""The timer driver's memory: the last tick each periodic pipeline fired for."""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from zuulish.store.base import Base


class TimerTickRow(Base):
    """One row per tenant, pipeline and timer spec: the newest tick that fired.

    Written in the same transaction as the events that tick recorded, so a tick
    fires once even across restarts.
    """

    __tablename__ = "timer_ticks"

    tenant: Mapped[str] = mapped_column(String(255), primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(255), primary_key=True)
    spec: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_tick: Mapped[float] = mapped_column(Float)
    fired_at: Mapped[float] = mapped_column(Float)
