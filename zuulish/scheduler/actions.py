"""What a pipeline manager decides; the scheduler applies these through the store."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StartBuildSet:
    """(Re)build the item's speculative state on top of ``ahead`` (item ids, in order)."""

    item_id: int
    ahead: tuple[int, ...]


@dataclass(frozen=True)
class StartJobs:
    item_id: int
    buildset_id: int
    jobs: tuple[str, ...]


@dataclass(frozen=True)
class SkipJobs:
    item_id: int
    buildset_id: int
    jobs: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    """Report the item (``success``, ``failure``, ``merge-conflict``, ``config-error``),
    merge it when ``merge`` is set, and dequeue it. ``via`` names another item whose
    tested state holds this one (a batch): that state is what is merged and shown."""

    item_id: int
    action: str
    merge: bool = False
    message: str = ""
    via: int | None = None


@dataclass(frozen=True)
class Supersede:
    """Dequeue a waiting item without a result: a newer one (``by``) replaces it."""

    item_id: int
    by: int


Action = StartBuildSet | StartJobs | SkipJobs | Report | Supersede
