"""Trigger events: what a driver makes of a webhook, stream event or push."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: The timer's connection and event type: it needs no connection configuration.
TIMER = "timer"


class EventMeaning(StrEnum):
    """What an event means for changes and branches, whatever the forge calls it.

    The scheduler acts on the meaning (dequeue older patch sets, reload a branch's
    configuration...); a pipeline trigger matches the forge's own names. Gerrit's
    vocabulary (which the built-in forge speaks) has one meaning per event type; a
    driver whose events are named otherwise (GitHub's ``pull_request`` with its
    ``action``) stores the meaning in the event's ``data["meaning"]``.
    """

    NEW_PATCHSET = "new-patchset"  # the change has a new current patch set
    MERGED = "merged"  # the change merged (by us or elsewhere)
    ABANDONED = "abandoned"  # the change was closed without merging
    BRANCH_UPDATED = "branch-updated"  # a branch or tag moved (or was created/deleted)
    TOPIC_CHANGED = "topic-changed"  # the change's topic changed (Gerrit)


#: Gerrit's event types and what they mean.
GERRIT_MEANINGS = {
    "patchset-created": EventMeaning.NEW_PATCHSET,
    "change-merged": EventMeaning.MERGED,
    "change-abandoned": EventMeaning.ABANDONED,
    "ref-updated": EventMeaning.BRANCH_UPDATED,
    "topic-changed": EventMeaning.TOPIC_CHANGED,
}


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
    #: the forge's sub-type of ``type`` (GitHub's ``action``: opened, labeled...)
    action: str | None = None
    #: everything the driver stored with the event (trigger filters of that driver
    #: read their own keys from it: labels, review states, check names...)
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def meaning(self) -> EventMeaning | None:
        given = self.data.get("meaning")
        if given is not None:
            try:
                return EventMeaning(given)
            except ValueError:
                return None
        return GERRIT_MEANINGS.get(self.type)
