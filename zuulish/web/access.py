"""Who may do what through the web: the decision every route asks for.

A route declares the access it needs (``public``, ``read`` or ``admin``, see
``zuulish/web/endpoints.py``); the application's :class:`Access` decides from the
request's ``Authorization`` header and the tenant. The decision's ``reason`` is for the
log only: clients are told no more than ``message``. Its ``expires`` is when the authority
it rests on ends (the token's expiry): a stream opened on it is closed then.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal, Protocol

Action = Literal["read", "admin"]
LOG = logging.getLogger("zuulish.web.auth")


@dataclass(frozen=True)
class Decision:
    """Allowed, or the status (401, 403) and what to tell the client."""

    allowed: bool
    status: int = 200
    message: str = ""
    reason: str = ""
    identity: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: epoch seconds when the token the decision rests on stops being valid (None: no
    #: token was needed, or it does not expire)
    expires: float | None = None


ALLOWED = Decision(True)


class Access(Protocol):
    """What the web application asks before it answers."""

    def decide(self, authorization: str | None, tenant: str | None,
               action: Action) -> Decision:
        """May the bearer of ``authorization`` take ``action`` on ``tenant``?"""
        ...  # pragma: no cover

    def readable(self, authorization: str | None, tenants: list[str]) -> list[str]:
        """The ``tenants`` the bearer may read."""
        ...  # pragma: no cover
