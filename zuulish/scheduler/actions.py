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
    """Start jobs of a build set; ``spare`` ones get nodes only after the others."""

    item_id: int
    buildset_id: int
    jobs: tuple[str, ...]
    spare: bool = False


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
    window: bool = True  # whether the result moves the queue's window


@dataclass(frozen=True)
class Supersede:
    """Dequeue a waiting item without a result: a newer one (``by``: its change
    number, or for a ref item the ref and commit) replaces it."""

    item_id: int
    by: int | str


@dataclass(frozen=True)
class MarkVerified:
    """The item's own state passed: it joins the end of the tested chain, keeping
    that state when ``keep`` (the chain has not moved since it was built)."""

    item_id: int
    keep: bool = False


Action = StartBuildSet | StartJobs | SkipJobs | Report | Supersede | MarkVerified
