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
