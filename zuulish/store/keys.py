"""Per-project key pairs for secrets (the private half encrypted at rest)."""

from __future__ import annotations

from sqlalchemy import Float, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zuulish.store.base import Base


class ProjectKeyRow(Base):
    __tablename__ = "project_keys"
    __table_args__ = (UniqueConstraint("connection", "project"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    connection: Mapped[str] = mapped_column(String(255))
    project: Mapped[str] = mapped_column(String(255))
    public_pem: Mapped[str] = mapped_column(Text)
    # The PEM private key, encrypted with the server's master key (Fernet).
    private_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float)
