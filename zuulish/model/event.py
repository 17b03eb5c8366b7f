"""Trigger events: what a driver makes of a webhook, stream event or push."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The timer's connection and event type: it needs no connection configuration.
TIMER = "timer"


@dataclass(frozen=True)
class TriggerEvent:
    """A normalised event from any source, as stored in the ``events`` table."""

    id: int
    connection: str
    type: str
    project: str | None = None
    branch: str | None = None
    change_number: int | None = None
    patchset: int | None = None
    comment: str | None = None
    approvals: dict[str, int] = field(default_factory=dict, hash=False)
    ref: str | None = None
    oldrev: str | None = None
    newrev: str | None = None
    account: str | None = None
