"""Stream tickets: what lets a browser open a stream of a tenant with access-rules.

A browser cannot put an ``Authorization`` header on a WebSocket or an EventSource.
So the dashboard first asks ``POST <stream>/ticket`` with its bearer token and
opens the stream with ``?ticket=...``. A ticket is not the token: it names the
caller's user (``sub``), the tenant, the one stream it opens (``status`` or
``console:<build>``), when it stops opening streams (``exp``, ``TTL`` seconds
after it was made) and when the token it was made with expires (``until``: the
stream is closed then). It is signed with HMAC-SHA256 under a key derived with
HKDF from the server's ``secrets.key`` (every web of a deployment has it). A
ticket signed under another key (made before ``secrets.key`` changed) is refused.

Format: ``zst1.<key id>.<payload>.<signature>`` (base64url, no padding). The key
id only lets the log say that a ticket was made under another key; the signature
covers it and the payload.

Each ticket opens one stream: a web remembers the tickets it has accepted until
they expire and refuses them again, and records them in the store
(``zuulish/store/tickets.py``), so that no other web of the deployment accepts them
either. A ticket that cannot be recorded (the database is away) is refused. A ticket
is accepted only by the streams' routes, never as a bearer token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.exc import SQLAlchemyError

from zuulish.secrets import master_key
from zuulish.store.database import away_reason

PREFIX = "zst1"
#: seconds a ticket may be used to open its stream
TTL = 60
#: the longest ticket accepted (a real one is about 300 characters)
MAX_LENGTH = 1024
#: tickets remembered as used at once; beyond, new ones are refused until some expire
MAX_SPENT = 100_000
_INFO = b"zuulish stream tickets v1"


class TicketRefused(Exception):
    """The ticket does not open this stream; the message says why (for the log only)."""


@dataclass(frozen=True)
class Grant:
    """What an accepted ticket lets its holder do: open the stream as ``sub``
    (None: anyone) until ``until`` (None: no token's expiry bounds it)."""

    tenant: str
    stream: str
    sub: str | None
    until: float | None


def ticket_key(state_dir: Path) -> bytes:
    """The key tickets are signed with, derived from ``<state_dir>/secrets.key``."""
    master_key(state_dir)  # (made on first use, as for secrets)
    secret = (Path(state_dir) / "secrets.key").read_bytes().strip()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or len(text) % 4 == 1 or not text.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StreamTickets:
    """Makes and checks tickets. ``key`` gives the signing key (read once, on first
    use); ``clock`` the time (epoch seconds); ``shared`` records a ticket as used for
    every web (jti, expiry, now; False: a web used it already; None: this web alone)."""

    def __init__(self, key: Callable[[], bytes], ttl: int = TTL,
                 clock: Callable[[], float] = time.time,
                 max_spent: int = MAX_SPENT,
                 shared: Callable[[str, float, float], bool] | None = None) -> None:
        self._key_source = key
        self.shared = shared
        self._key: bytes | None = None
        self.ttl = ttl
        self.clock = clock
        self.max_spent = max_spent
        self._lock = threading.Lock()
        self._spent: dict[str, float] = {}  # jti -> exp

    def key(self) -> tuple[bytes, str]:
        """The signing key and its id."""
        with self._lock:
            if self._key is None:
                self._key = self._key_source()
            key = self._key
        return key, hashlib.sha256(key).hexdigest()[:12]

    def mint(self, tenant: str, stream: str, sub: str | None, until: float | None) -> str:
        """A ticket that opens ``stream`` of ``tenant`` once, within ``ttl`` seconds."""
        key, kid = self.key()
        now = self.clock()
        payload = {"tenant": tenant, "stream": stream, "sub": sub,
                   "exp": int(now) + self.ttl, "until": until,
                   "jti": secrets.token_urlsafe(16)}
        body = f"{PREFIX}.{kid}.{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
        return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"

    def check(self, ticket: str, tenant: str, stream: str) -> Grant:
        """The grant of a ticket that opens ``stream`` of ``tenant`` now, spending it;
        TicketRefused otherwise."""
        payload = self._verified(ticket)
        now = self.clock()
        exp, until = payload.get("exp"), payload.get("until")
        if not isinstance(exp, int) or isinstance(exp, bool) or exp <= now:
            raise TicketRefused("the ticket has expired")
        if payload.get("tenant") != tenant:
            raise TicketRefused(f"the ticket is for tenant {payload.get('tenant')!r}, "
                                f"not {tenant!r}")
        if payload.get("stream") != stream:
            raise TicketRefused(f"the ticket opens {payload.get('stream')!r}, not {stream!r}")
        if until is not None and (not isinstance(until, int | float) or until <= now):
            raise TicketRefused("the token the ticket was made with has expired")
        sub, jti = payload.get("sub"), payload.get("jti")
        if (sub is not None and not isinstance(sub, str)) or not isinstance(jti, str):
            raise TicketRefused("the ticket's payload is not one zuulish makes")
        self._spend(jti, exp, now)
        return Grant(tenant, stream, sub, None if until is None else float(until))

    def _verified(self, ticket: str) -> dict[str, Any]:
        """The payload of a ticket signed with the current key."""
        if len(ticket) > MAX_LENGTH:
            raise TicketRefused("the ticket is too long")
        parts = ticket.split(".")
        if len(parts) != 4 or parts[0] != PREFIX:
            raise TicketRefused("not a stream ticket")
        key, kid = self.key()
        if not hmac.compare_digest(parts[1].encode("utf-8", "replace"), kid.encode()):
            raise TicketRefused("the ticket is signed with another key (made before the "
                                "server's key changed)")
        body = ".".join(parts[:3])
        expected = hmac.new(key, body.encode("utf-8", "replace"), hashlib.sha256).digest()
        try:
            given = _unb64(parts[3])
            payload = json.loads(_unb64(parts[2]))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise TicketRefused("the ticket is malformed") from None
        if not hmac.compare_digest(expected, given):
            raise TicketRefused("the ticket's signature is wrong")
        if not isinstance(payload, dict):
            raise TicketRefused("the ticket's payload is not one zuulish makes")
        return payload

    def _spend(self, jti: str, exp: int, now: float) -> None:
        with self._lock:
            if jti in self._spent:
                raise TicketRefused("the ticket has been used already")
        if self.shared is not None:
            try:
                first = self.shared(jti, exp, now)
            except SQLAlchemyError as exc:
                raise TicketRefused("the ticket cannot be recorded as used (the database "
                                    f"is away: {away_reason(exc)})") from None
            if not first:
                raise TicketRefused("the ticket has been used already (on another web)")
        with self._lock:
            if jti in self._spent:
                raise TicketRefused("the ticket has been used already")
            if len(self._spent) >= self.max_spent:
                for old in [j for j, e in self._spent.items() if e <= now]:
                    del self._spent[old]
                if len(self._spent) >= self.max_spent:
                    raise TicketRefused("too many tickets in use; try again in a minute")
            self._spent[jti] = exp
            if len(self._spent) % 1024 == 0:  # now and then, forget expired ones
                for old in [j for j, e in self._spent.items() if e <= now]:
                    del self._spent[old]
