"""What a pipeline's ``require`` and ``reject`` ask of a change, per forge.

Each requirement is one condition Zuul documents for the change's connection (a
Gerrit ``approval`` entry, a GitHub ``review`` entry, ``open``, ``wip``, a label...)
and answers two questions: whether the change meets it (:meth:`met_by`) and how to
say it to a user (:meth:`describe`). ``require`` admits a change that meets every
condition; ``reject`` keeps out a change that meets any one. The two readings of
one condition are the same (``reject: {open: true}`` keeps open changes out), so a
connection's ``require`` and ``reject`` are both a :class:`Requirements`.

Time matters to ``newer-than``/``older-than``: the caller passes ``now`` (epoch
seconds, from the injected clock); a condition that needs it and is not given it
raises ValueError (a bug in the caller, not the user's doing).

The built-in forge keeps its own reading of approvals (a vote at least as strong as
the one asked for) in :class:`zuulish.model.pipeline.Pipeline`; these classes are
Zuul's reading for Gerrit and GitHub (a vote equal to one of the values asked for).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from zuulish.model.change import Change, Review, Vote

if TYPE_CHECKING:
    from zuulish.model.pipeline import TriggerFilter

#: GitHub review states, as Zuul names a review's ``type`` (the API's, lower case).
REVIEW_TYPES = ("approved", "changes_requested", "commented", "dismissed", "pending")
#: The permissions a ``review`` may ask of its author, weakest first; GitHub's
#: triage and maintain sit between them (a maintainer has write, an admin everything).
PERMISSION_RANK = {"none": 0, "read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}
REVIEW_PERMISSIONS = ("read", "write", "admin")


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass(frozen=True)
class Regex:
    """A regular expression from configuration, perhaps negated (Zuul's
    ``{regex: ..., negate: true}``)."""

    pattern: str
    negate: bool = False

    def search(self, text: str) -> bool:
        return bool(_compiled(self.pattern).search(text)) != self.negate

    def match(self, text: str) -> bool:
        return bool(_compiled(self.pattern).match(text)) != self.negate

    def fullmatch(self, text: str) -> bool:
        return bool(_compiled(self.pattern).fullmatch(text)) != self.negate

    def __str__(self) -> str:
        return f"not {self.pattern!r}" if self.negate else repr(self.pattern)


@dataclass(frozen=True)
class Duration:
    """A span of time as configured (``48h``, ``2d``) and in seconds."""

    text: str
    seconds: int

    def __str__(self) -> str:
        return self.text


_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> Duration:
    """``48h``, ``2d``, ``30m``, ``90s``, ``1w`` (Zuul's form), or ValueError saying what
    is accepted."""
    text = str(value) if isinstance(value, str) else None
    found = _DURATION.fullmatch(text.strip()) if text is not None else None
    if found is None:
        raise ValueError(f"{value!r} is not a duration: give a number with a unit, "
                         "s (seconds), m (minutes), h (hours), d (days) or w (weeks), "
                         "such as 48h or 2d")
    return Duration(text or "", int(found.group(1)) * _UNIT_SECONDS[found.group(2)])


def _need_now(now: float | None, what: str) -> float:
    if now is None:
        raise ValueError(f"checking {what} needs the current time; none was given")
    return now


def _timely(when: float | None, now: float | None, newer_than: Duration | None,
            older_than: Duration | None, what: str) -> bool:
    """Whether something done at ``when`` is newer/older than asked (Zuul's bounds:
    newer-than admits ``when`` at the bound, older-than does not)."""
    if newer_than is None and older_than is None:
        return True
    if when is None:
        return False  # the forge did not say when: it cannot be shown to be in time
    current = _need_now(now, what)
    if newer_than is not None and when < current - newer_than.seconds:
        return False
    return not (older_than is not None and when >= current - older_than.seconds)


def _age_words(newer_than: Duration | None, older_than: Duration | None) -> list[str]:
    words = []
    if newer_than is not None:
        words.append(f"newer than {newer_than}")
    if older_than is not None:
        words.append(f"older than {older_than}")
    return words


class Requirement(Protocol):
    """One condition of a ``require`` or ``reject``."""

    def met_by(self, change: Change, now: float | None) -> bool: ...

    def describe(self) -> str: ...


def _flag(name: str, value: bool) -> str:
    return f"{name}: {str(value).lower()}"


@dataclass(frozen=True)
class IsOpen:
    value: bool

    def met_by(self, change: Change, now: float | None) -> bool:
        return change.is_open == self.value

    def describe(self) -> str:
        return _flag("open", self.value)


@dataclass(frozen=True)
class IsMerged:
    value: bool

    def met_by(self, change: Change, now: float | None) -> bool:
        return change.is_merged == self.value

    def describe(self) -> str:
        return _flag("merged", self.value)


@dataclass(frozen=True)
class IsCurrentPatchset:
    """The scheduler always looks at a change's current patch set (or a pull
    request's head): ``true`` is always met, ``false`` never."""

    value: bool

    def met_by(self, change: Change, now: float | None) -> bool:
        return self.value

    def describe(self) -> str:
        return _flag("current-patchset", self.value)


@dataclass(frozen=True)
class IsWip:
    value: bool

    def met_by(self, change: Change, now: float | None) -> bool:
        return change.wip == self.value

    def describe(self) -> str:
        return _flag("wip", self.value)


@dataclass(frozen=True)
class IsDraft:
    value: bool

    def met_by(self, change: Change, now: float | None) -> bool:
        return change.draft == self.value

    def describe(self) -> str:
        return _flag("draft", self.value)


@dataclass(frozen=True)
class HasChangeStatus:
    """Gerrit's ``status``: the change's status is one of these."""

    statuses: tuple[str, ...]

    def met_by(self, change: Change, now: float | None) -> bool:
        return change.status in self.statuses

    def describe(self) -> str:
        return f"status: {' or '.join(self.statuses)}"


@dataclass(frozen=True)
class HasHashtag:
    """Gerrit's ``hashtags``: one of the change's hashtags matches (a search)."""

    pattern: Regex

    def met_by(self, change: Change, now: float | None) -> bool:
        return any(self.pattern.search(tag) for tag in change.hashtags)

    def describe(self) -> str:
        return f"a hashtag matching {self.pattern}"


@dataclass(frozen=True)
class HasVote:
    """One Gerrit ``approval`` entry: some vote on the current patch set meets every
    part of it (each label with one of its values, the voter's username and email,
    its age). An entry without a label is met by any vote that meets the rest."""

    labels: tuple[tuple[str, tuple[int, ...]], ...] = ()
    username: Regex | None = None
    email: Regex | None = None
    newer_than: Duration | None = None
    older_than: Duration | None = None

    def _matches(self, vote: Vote, now: float | None) -> bool:
        if any(vote.label != label or vote.value not in values
               for label, values in self.labels):
            return False
        if self.username is not None and not self.username.search(vote.username):
            return False
        if self.email is not None and not self.email.search(vote.email):
            return False
        return _timely(vote.granted_on, now, self.newer_than, self.older_than,
                       "an approval's age")

    def met_by(self, change: Change, now: float | None) -> bool:
        return any(self._matches(vote, now) for vote in change.votes)

    def describe(self) -> str:
        head = ", ".join(f"{label}: {' or '.join(str(v) for v in values)}"
                         for label, values in self.labels) or "a vote"
        words = [head]
        if self.username is not None:
            words.append(f"by a user matching {self.username}")
        if self.email is not None:
            words.append(f"by an email matching {self.email}")
        return " ".join([*words, *_age_words(self.newer_than, self.older_than)])


def standing_reviews(reviews: Iterable[Review]) -> list[Review]:
    """Each reviewer's review that counts, as GitHub shows it: their latest, except
    that a comment after an approval or a request for changes leaves that vote
    standing."""
    latest: dict[str, Review] = {}
    for review in reviews:
        held = latest.get(review.user)
        if held is None:
            latest[review.user] = review
            continue
        newer = (review.submitted_at or 0.0) > (held.submitted_at or 0.0)
        if newer and not (review.state == "commented"
                          and held.state in ("approved", "changes_requested")):
            latest[review.user] = review
    return list(latest.values())


@dataclass(frozen=True)
class HasReview:
    """One GitHub ``review`` entry: some reviewer's standing review meets every part
    of it (type, author's username, email and permission, age)."""

    types: tuple[str, ...] = ()
    username: Regex | None = None
    email: Regex | None = None
    permission: str | None = None  # read, write or admin (at least)
    newer_than: Duration | None = None
    older_than: Duration | None = None

    def _matches(self, review: Review, now: float | None) -> bool:
        if self.types and review.state not in self.types:
            return False
        if self.username is not None and not self.username.search(review.user):
            return False
        if self.email is not None and not self.email.search(review.email):
            return False
        if self.permission is not None and \
                PERMISSION_RANK.get(review.permission, 0) < PERMISSION_RANK[self.permission]:
            return False
        return _timely(review.submitted_at, now, self.newer_than, self.older_than,
                       "a review's age")

    def met_by(self, change: Change, now: float | None) -> bool:
        return any(self._matches(r, now) for r in standing_reviews(change.reviews))

    def describe(self) -> str:
        words = [f"a review {' or '.join(self.types)}" if self.types else "a review"]
        if self.username is not None:
            words.append(f"by a user matching {self.username}")
        if self.email is not None:
            words.append(f"by an email matching {self.email}")
        if self.permission is not None:
            words.append(f"by a user with {self.permission} permission")
        return " ".join([*words, *_age_words(self.newer_than, self.older_than)])


@dataclass(frozen=True)
class HasLabel:
    """A GitHub label on the pull request (exactly this name)."""

    label: str

    def met_by(self, change: Change, now: float | None) -> bool:
        return self.label in change.labels

    def describe(self) -> str:
        return f"label {self.label!r}"


@dataclass(frozen=True)
class HasCommitStatus:
    """GitHub's ``status``: one of the head commit's statuses or check runs
    (``user:context:state``) matches one of the patterns in full."""

    patterns: tuple[Regex, ...]

    def met_by(self, change: Change, now: float | None) -> bool:
        return any(p.fullmatch(s) for p in self.patterns
                   for s in (*change.statuses, *change.check_runs))

    def describe(self) -> str:
        return f"status {' or '.join(str(p) for p in self.patterns)}"


@dataclass(frozen=True)
class Requirements:
    """One connection's ``require`` or ``reject``."""

    entries: tuple[Requirement, ...] = ()

    def unmet(self, change: Change, now: float | None) -> list[str]:
        """What ``change`` lacks (as ``require``: every entry must be met)."""
        return [r.describe() for r in self.entries if not r.met_by(change, now)]

    def hits(self, change: Change, now: float | None) -> list[str]:
        """What ``change`` has (as ``reject``: any one keeps it out)."""
        return [r.describe() for r in self.entries if r.met_by(change, now)]

    def describe(self) -> list[str]:
        return [r.describe() for r in self.entries]

    def __bool__(self) -> bool:
        return bool(self.entries)


@runtime_checkable
class ChangeCheckingFilter(Protocol):
    """A trigger entry that also asks something of the change (Zuul's ``require``
    and ``reject`` on a trigger)."""

    def change_unmet(self, change: Change | None, now: float | None) -> list[str]: ...


def trigger_refusal(filters: Iterable[TriggerFilter], change: Change | None,
                    now: float | None) -> str | None:
    """Why none of the trigger entries that matched an event admits ``change`` (None
    when one does; ``change`` None: the event is about a ref, not a change)."""
    reasons = []
    for f in filters:
        if not isinstance(f, ChangeCheckingFilter):
            return None
        unmet = f.change_unmet(change, now)
        if not unmet:
            return None
        reasons.extend(r for r in unmet if r not in reasons)
    if not reasons:
        return None
    return f"the trigger asks for {', '.join(reasons)}"
