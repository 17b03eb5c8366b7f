"""The built-in forge's users and their access tokens.

An administrator creates users with the CLI (``zuulish user create``); each user
has any number of tokens, shown once when made and stored only as a SHA-256
digest (a token is 24 random bytes, so a plain digest cannot be searched back).
A token reads ``zuulish_<id>_<secret>``: the id finds its row, the secret is
compared with the stored digest in constant time. A revoked token keeps its row
(``revoked_at``) so that ``user list`` can say so.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from zuulish.errors import UserError
from zuulish.store.base import Base
from zuulish.store.database import Store

#: user names: what git, HTTP basic authentication and a change's owner field take
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TOKEN = re.compile(r"zuulish_([0-9]{1,18})_([0-9a-f]{48})")
#: names that are never users: the components' credential and the unauthenticated
RESERVED = frozenset({"zuulish-component", "anonymous"})


class ForgeUserRow(Base):
    __tablename__ = "forge_users"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)


class ForgeTokenRow(Base):
    __tablename__ = "forge_tokens"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("forge_users.id", ondelete="CASCADE"), index=True)
    # hex SHA-256 of the token's secret part
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class AccountError(UserError):
    """A user or token that cannot be created, found or revoked."""


@dataclass(frozen=True)
class ForgeUser:
    """An authenticated user of the forge."""

    name: str
    admin: bool


@dataclass(frozen=True)
class UserInfo:
    name: str
    email: str | None
    admin: bool
    tokens: tuple[int, ...]  # the ids of its tokens that still work
    revoked: tuple[int, ...]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise AccountError(f"{name!r} is not a valid user name: letters, digits, '.', '_' "
                           "and '-', starting with a letter or digit, at most 64")
    if name.lower() in RESERVED:
        raise AccountError(f"{name!r} is reserved; choose another user name")
    return name


def _new_token(s: Session, user_id: int) -> tuple[int, str]:
    secret = secrets.token_hex(24)
    row = ForgeTokenRow(user_id=user_id, digest=_digest(secret), created_at=time.time())
    s.add(row)
    s.flush()
    return row.id, f"zuulish_{row.id}_{secret}"


def create_user(store: Store, name: str, *, admin: bool = False,
                email: str | None = None) -> tuple[int, str]:
    """Create the user ``name``; (its first token's id, the token)."""
    check_name(name)
    if email is not None and (not email or any(c.isspace() or c in "<>" for c in email)):
        raise AccountError(f"{email!r} is not an e-mail address")
    with store.session() as s:
        store.lock(s, "forge-users")
        if s.scalar(select(ForgeUserRow.id).where(ForgeUserRow.name == name)) is not None:
            raise AccountError(f"a user named {name!r} already exists")
        user = ForgeUserRow(name=name, email=email, admin=admin, created_at=time.time())
        s.add(user)
        s.flush()
        return _new_token(s, user.id)


def _user(s: Session, name: str) -> ForgeUserRow:
    user = s.scalar(select(ForgeUserRow).where(ForgeUserRow.name == name))
    if user is None:
        known = ", ".join(s.scalars(select(ForgeUserRow.name).order_by(ForgeUserRow.name)))
        raise AccountError(f"no user named {name!r}; users: {known or 'none'}")
    return user


def new_token(store: Store, name: str) -> tuple[int, str]:
    """A new token of the user ``name``; (its id, the token)."""
    with store.session() as s:
        return _new_token(s, _user(s, name).id)


def delete_user(store: Store, name: str) -> None:
    """Delete the user and every token of theirs (their changes keep their name)."""
    with store.session() as s:
        user = _user(s, name)
        s.execute(delete(ForgeTokenRow).where(ForgeTokenRow.user_id == user.id))
        s.delete(user)


def revoke_token(store: Store, token_id: int) -> str:
    """Revoke a token by its id; the name of the user it belonged to."""
    with store.session() as s:
        row = s.get(ForgeTokenRow, token_id)
        if row is None:
            raise AccountError(f"no token with id {token_id}")
        if row.revoked_at is None:
            row.revoked_at = time.time()
        return s.get_one(ForgeUserRow, row.user_id).name


def list_users(store: Store) -> list[UserInfo]:
    with store.read() as s:
        users = list(s.scalars(select(ForgeUserRow).order_by(ForgeUserRow.name)))
        tokens = list(s.scalars(select(ForgeTokenRow).order_by(ForgeTokenRow.id)))
    return [UserInfo(u.name, u.email, u.admin,
                     tuple(t.id for t in tokens if t.user_id == u.id and t.revoked_at is None),
                     tuple(t.id for t in tokens if t.user_id == u.id
                           and t.revoked_at is not None))
            for u in users]


def authenticate(store: Store, token: str, name: str | None = None) -> ForgeUser | None:
    """The user ``token`` belongs to (when ``name`` is given: only if it is theirs),
    or None for a malformed, unknown, revoked or wrong token."""
    match = TOKEN.fullmatch(token)
    if match is None:
        return None
    token_id, secret = int(match.group(1)), match.group(2)
    with store.read() as s:
        found = s.execute(select(ForgeTokenRow.digest, ForgeTokenRow.revoked_at,
                                 ForgeUserRow.name, ForgeUserRow.admin)
                          .join(ForgeUserRow, ForgeUserRow.id == ForgeTokenRow.user_id)
                          .where(ForgeTokenRow.id == token_id)).first()
    if found is None:
        hmac.compare_digest(_digest(secret), "0" * 64)  # the same work as a known id
        return None
    digest, revoked_at, user, admin = found
    same = hmac.compare_digest(_digest(secret), digest)
    if not same or revoked_at is not None or (name is not None and name != user):
        return None
    return ForgeUser(user, bool(admin))
