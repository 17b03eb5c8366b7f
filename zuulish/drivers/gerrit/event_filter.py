"""One Gerrit pipeline trigger entry: which Gerrit events enqueue a change, as Zuul
matches them.

The filter reads the stored event's columns (``type``, ``branch``, ``comment``,
``ref``, ``newrev``, ``account``, ``approvals``) and these keys of its ``data``,
which the Gerrit event intake writes:

- ``all_approvals``: ``{label: value}``, every vote the comment-added carries (Gerrit
  repeats the author's standing votes); ``approval`` matches these. Without it, the
  event's ``approvals`` column.
- ``approval_details``: ``[{"label", "value", "old_value"?}]``; ``approval-change``
  matches an entry whose ``old_value`` is present and differs. Without it, the
  event's ``approvals`` (the votes that changed).
- ``account_username`` / ``account_email``: who did it (Gerrit's uploader, author,
  submitter... of the event); ``username`` falls back to the ``account`` column. An
  event that does not say who did it matches no ``username``/``email`` filter.
- ``patchset_comments``: the patch set level comments of a comment-added; ``comment``
  is searched in these as in the message.
- ``added`` / ``removed``: the hashtags a hashtags-changed added and removed.
- ``kind``: a patchset-created's patch set kind (REWORK, TRIVIAL_REBASE...).
- ``uuid``: a pending-check's checker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zuulish.model.change import Change
from zuulish.model.event import TriggerEvent
from zuulish.model.ref import is_null_rev
from zuulish.model.requirements import Regex, Requirements


def _any_search(patterns: tuple[Regex, ...], texts: list[str]) -> bool:
    return any(p.search(t) for p in patterns for t in texts)


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


@dataclass(frozen=True)
class GerritEventFilter:
    """A Gerrit trigger entry; every attribute given must match (a list: any of it)."""

    connection: str
    types: tuple[str, ...]
    branches: tuple[Regex, ...] = ()  # matched at the start of the branch, as Zuul does
    refs: tuple[Regex, ...] = ()  # matched at the start of the ref
    ignore_deletes: bool = True
    approvals: tuple[tuple[str, int], ...] = ()  # all of them, among the event's votes
    approval_changes: tuple[tuple[str, int], ...] = ()  # all of them, each a changed vote
    comments: tuple[Regex, ...] = ()
    usernames: tuple[Regex, ...] = ()
    emails: tuple[Regex, ...] = ()
    added: tuple[Regex, ...] = ()  # hashtags-changed: a hashtag added matches one
    removed: tuple[Regex, ...] = ()
    kinds: tuple[str, ...] = ()  # patchset-created: the patch set's kind is one of these
    uuid: str | None = None  # pending-check: the checker
    scheme: str | None = None  # pending-check: the checker's scheme (before ':')
    require: Requirements = field(default_factory=Requirements)
    reject: Requirements = field(default_factory=Requirements)
    timer: str | None = None  # never a timer

    def matches(self, event: TriggerEvent) -> bool:
        if event.connection != self.connection or event.type not in self.types:
            return False
        data = event.data
        if self.uuid is not None or self.scheme is not None:
            checker = data.get("uuid")
            if not isinstance(checker, str):
                return False
            if self.uuid is not None and checker != self.uuid:
                return False
            if self.scheme is not None and checker.split(":")[0] != self.scheme:
                return False
        if self.branches and not any(b.match(event.branch or "") for b in self.branches):
            return False
        if self.refs and (event.ref is None or not any(r.match(event.ref)
                                                       for r in self.refs)):
            return False
        if self.ignore_deletes and event.newrev is not None and is_null_rev(event.newrev):
            return False
        if self.comments:
            texts = [event.comment or "", *_strings(data.get("patchset_comments"))]
            if not _any_search(self.comments, texts):
                return False
        if not self._account_matches(event):
            return False
        if self.kinds and data.get("kind") not in self.kinds:
            return False
        return self._votes_match(event) and self._hashtags_match(event)

    def _account_matches(self, event: TriggerEvent) -> bool:
        if self.usernames:
            username = event.data.get("account_username", event.account)
            if not isinstance(username, str) or not _any_search(self.usernames, [username]):
                return False
        if self.emails:
            email = event.data.get("account_email")
            if not isinstance(email, str) or not _any_search(self.emails, [email]):
                return False
        return True

    def _votes_match(self, event: TriggerEvent) -> bool:
        carried = event.data.get("all_approvals")
        votes = carried if isinstance(carried, dict) else event.approvals
        if any(votes.get(label) != value for label, value in self.approvals):
            return False
        if not self.approval_changes:
            return True
        details = event.data.get("approval_details")
        if isinstance(details, list):
            changed = {d.get("label"): d.get("value") for d in details
                       if isinstance(d, dict) and "old_value" in d
                       and d.get("old_value") != d.get("value")}
        else:
            changed = dict(event.approvals)
        return all(changed.get(label) == value for label, value in self.approval_changes)

    def _hashtags_match(self, event: TriggerEvent) -> bool:
        if self.added and not _any_search(self.added, _strings(event.data.get("added"))):
            return False
        return not (self.removed and
                    not _any_search(self.removed, _strings(event.data.get("removed"))))

    def change_unmet(self, change: Change | None, now: float | None) -> list[str]:
        """What this entry's ``require`` asks of the change that it lacks, and what of
        its ``reject`` the change has (None: the event is about a ref, which meets no
        requirement)."""
        if not self.require and not self.reject:
            return []
        if change is None:
            return [*self.require.describe(), *(f"not {w}" for w in self.reject.describe())]
        return [*self.require.unmet(change, now),
                *(f"not {w}" for w in self.reject.hits(change, now))]
