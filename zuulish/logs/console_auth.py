"""Requests between components for a build's live console, signed with a shared key.

A web asks the executor running a build for its console
(``GET /console/<uuid>?offset=N``) with two headers: the time (whole seconds
since the epoch) and an HMAC-SHA256 over ``(uuid, offset, time)``. The key is
derived with HKDF-SHA256 from the server's master key (``<state_dir>/secrets.key``,
which every component host has), so a request can only come from a host that
holds it. The executor accepts a signature only within ``MAX_SKEW`` seconds of
its own clock, either way.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zuulish.secrets import master_key

TIMESTAMP_HEADER = "X-Zuulish-Timestamp"
SIGNATURE_HEADER = "X-Zuulish-Signature"
MAX_SKEW = 60  # seconds a signature stays good, either way
_INFO = b"zuulish console stream v1"


def component_key(state_dir: Path) -> bytes:
    """The key components sign console requests with, derived from ``secrets.key``."""
    master_key(state_dir)  # (made on first use, as for secrets)
    secret = (Path(state_dir) / "secrets.key").read_bytes().strip()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)


def signature(key: bytes, uuid: str, offset: int, timestamp: int) -> str:
    message = f"console\n{uuid}\n{offset}\n{timestamp}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_headers(key: bytes, uuid: str, offset: int, now: float) -> dict[str, str]:
    """The headers of a request for ``uuid``'s console from ``offset``, made at ``now``."""
    timestamp = int(now)
    return {TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(key, uuid, offset, timestamp)}


def refusal(key: bytes, uuid: str, offset: int, timestamp: str | None,
            given: str | None, now: float) -> str | None:
    """None when the request is signed by a component within the time allowed; else
    why it is refused."""
    if not timestamp or not given:
        return "the request is not signed by a component"
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return "the request's timestamp is not a whole number of seconds"
    if abs(int(timestamp) - now) > MAX_SKEW:
        return "the request's signature has expired (or the clocks differ by over a minute)"
    expected = signature(key, uuid, offset, int(timestamp))
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        return "the request's signature is wrong"
    return None
