"""Refs in a queue: a ref update (post, tag) or a branch tip (periodic), not a change.

A ``Ref`` item is tested exactly as it is (its ``newrev``, no speculative merge)
and is never merged. It offers the read surface of a ``Change`` that the
pipeline managers use (``key``, ``project``, ``branch``, ``commit``, ``needs``,
``files``), so the independent and supercedent managers run it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: What git and the forges write for "no commit": a created ref's oldrev, a
#: deleted ref's newrev.
NULL_REV = "0" * 40


def is_null_rev(rev: str | None) -> bool:
    return not rev or set(rev) == {"0"}


@dataclass(frozen=True, order=True)
class RefKey:
    """Identifies a ref item: the ref of a project at one commit."""

    connection: str
    project: str
    ref: str
    newrev: str

    def __str__(self) -> str:
        return f"{self.connection}:{self.project}:{self.ref}@{self.newrev[:12]}"


@dataclass
class Ref:
    """A project's ref at ``newrev`` (``oldrev`` is what it pointed at before, if known)."""

    key: RefKey
    project: str
    branch: str
    ref: str
    newrev: str
    oldrev: str | None = None
    needs: tuple = ()
    files: tuple[str, ...] = ()
    approvals: dict[str, int] = field(default_factory=dict)
    subject: str = ""
    message: str = ""
    url: str = ""
    patchset: None = None

    @property
    def commit(self) -> str:
        return self.newrev

    @property
    def is_open(self) -> bool:
        return True

    @property
    def is_merged(self) -> bool:
        return False

    def describe(self) -> str:
        return f"ref {self.ref} of {self.project} at {self.newrev[:12]}"


def branch_of(ref: str) -> str | None:
    """The branch a ref names (``refs/heads/x`` -> ``x``), None for tags and others."""
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
