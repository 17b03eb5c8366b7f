"""The stream tickets used already, shared by every web of a deployment.

A stream ticket (``zuulish/web/auth/tickets.py``) opens one stream once. Each web
remembers the tickets it accepted; this table makes that hold across webs behind one
load balancer too. A row lives until its ticket has expired.
"""

from __future__ import annotations

from sqlalchemy import Float, Index, String, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from zuulish.store.base import Base
from zuulish.store.database import Store


class SpentTicketRow(Base):
    """A ticket some web has accepted (its ``jti``), until it expires."""

    __tablename__ = "spent_stream_tickets"
    __table_args__ = (Index("ix_spent_stream_tickets_expires", "expires_at"),)

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float)


def spend_ticket(store: Store, jti: str, expires_at: float, now: float) -> bool:
    """Record ticket ``jti`` as used: False when some web used it already. Tickets
    expired by ``now`` are forgotten on the way."""
    try:
        with store.session() as s:
            s.execute(delete(SpentTicketRow).where(SpentTicketRow.expires_at <= now))
            if s.get(SpentTicketRow, jti) is not None:
                return False
            s.add(SpentTicketRow(jti=jti, expires_at=expires_at))
    except IntegrityError:  # another web recorded it between the two
        return False
    return True
