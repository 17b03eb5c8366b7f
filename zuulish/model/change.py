"""Changes proposed for review (a Gerrit change, a pull request, a forge change)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ChangeStatus(StrEnum):
    NEW = "NEW"
    MERGED = "MERGED"
    ABANDONED = "ABANDONED"


@dataclass(frozen=True, order=True)
class ChangeKey:
    """Identifies a change across connections."""

    connection: str
    number: int

    def __str__(self) -> str:
        return f"{self.connection}:{self.number}"


@dataclass(frozen=True)
class Vote:
    """One vote on a label of the change's current patch set, with who cast it and
    when (Gerrit's approvals; the built-in forge records only ``Change.approvals``)."""

    label: str
    value: int
    username: str = ""
    email: str = ""
    granted_on: float | None = None  # epoch seconds; None where the forge does not say


@dataclass(frozen=True)
class Review:
    """A reviewer's standing review of a pull request (GitHub)."""

    user: str
    #: GitHub's review state, lower case: approved, changes_requested, commented,
    #: dismissed, pending
    state: str
    submitted_at: float | None = None  # epoch seconds
    #: the reviewer's permission on the repository: read, triage, write, maintain, admin
    permission: str = "read"
    email: str = ""


@dataclass
class Change:
    """One patch set of a change, as the scheduler sees it."""

    key: ChangeKey
    project: str
    branch: str
    patchset: int
    commit: str
    subject: str = ""
    message: str = ""
    status: ChangeStatus = ChangeStatus.NEW
    approvals: dict[str, int] = field(default_factory=dict)
    needs: tuple[ChangeKey, ...] = ()
    unresolved_depends_on: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    url: str = ""
    #: how the forge names the change to people (``org/repo#12``), when its numbers
    #: are not the key's (GitHub numbers pull requests per repository)
    display: str = ""
    #: every vote on the current patch set with who and when (Gerrit); the built-in
    #: forge fills ``approvals`` only
    votes: tuple[Vote, ...] = ()
    wip: bool = False  # Gerrit's work in progress
    hashtags: tuple[str, ...] = ()  # Gerrit
    labels: tuple[str, ...] = ()  # GitHub's labels on the pull request
    reviews: tuple[Review, ...] = ()  # GitHub
    #: GitHub commit statuses of the head commit, as ``user:context:state``
    statuses: tuple[str, ...] = ()
    #: GitHub check runs of the head commit, as ``app-slug:name:conclusion`` (or
    #: ``:status`` while not completed); requirements read them as statuses, as Zuul does
    check_runs: tuple[str, ...] = ()
    draft: bool = False  # GitHub's draft pull request
    #: Gerrit's topic ("" when none; forges without topics leave it empty)
    topic: str = ""
    #: the part of ``needs`` that comes from the topic: the other open changes of it,
    #: added by the scheduler where the queue sets ``dependencies-by-topic`` (the
    #: source never fills it)
    topic_needs: tuple[ChangeKey, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status == ChangeStatus.NEW

    @property
    def is_merged(self) -> bool:
        return self.status == ChangeStatus.MERGED

    def describe(self) -> str:
        if self.display:
            return f"change {self.display} ({self.project})"
        return f"change {self.key.number},{self.patchset} ({self.project})"


def change_name(key: ChangeKey, change: Change | None = None, beside: str | None = None
                ) -> str:
    """How people know the change ``key`` (``change``, when read), in a message about
    a change of connection ``beside``: ``change org/repo#12`` where the forge names
    it so (GitHub), ``gerrit change 42`` where it is on another connection than
    ``beside``, else ``change 42``."""
    if change is not None and change.display:
        return f"change {change.display}"
    if beside is not None and key.connection != beside:
        return f"{key.connection} change {key.number}"
    return f"change {key.number}"
