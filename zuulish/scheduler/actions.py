"""What a pipeline manager decides; the scheduler applies these through the store."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StartBuildSet:
    """(Re)build the item's speculative state on top of ``ahead`` (item ids, in order).

    ``bundle``: the members of the item's dependency cycle, in order (itself
    included); the state holds them all, after ``ahead``. With ``alternate`` it is
    a second state beside the current one, kept for when an item ahead that it
    leaves out fails (the ``speculate-failures`` option)."""

    item_id: int
    ahead: tuple[int, ...]
    bundle: tuple[int, ...] = ()
    alternate: bool = False


@dataclass(frozen=True)
class Provider:
    """A build of an item ahead whose job ``provides`` what a job here ``requires``."""

    item_id: int
    change: int
    patchset: int
    job: str
    build: str
    provides: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"item": self.item_id, "change": self.change, "patchset": self.patchset,
                "job": self.job, "build": self.build, "provides": list(self.provides)}


@dataclass(frozen=True)
class UseAlternate:
    """The item's alternate state is now its state (what it left out failed); the
    builds it has run or is running count as the item's own."""

    item_id: int
    buildset_id: int


@dataclass(frozen=True)
class DropAlternate:
    """The item's alternate state is of no use any more (what it left out passed,
    or the queue ahead changed): its builds are canceled."""

    item_id: int
    buildset_id: int


@dataclass(frozen=True)
class StartJobs:
    """Start jobs of a build set; ``spare`` ones get nodes only after the others.
    ``providers``: for a job that ``requires`` something, the builds ahead that
    provided it (job name, providers)."""

    item_id: int
    buildset_id: int
    jobs: tuple[str, ...]
    spare: bool = False
    providers: tuple[tuple[str, tuple[Provider, ...]], ...] = ()


@dataclass(frozen=True)
class SkipJobs:
    """Record jobs as SKIPPED (``message`` says why; empty: a dependency failed)."""

    item_id: int
    buildset_id: int
    jobs: tuple[str, ...]
    message: str = ""


@dataclass(frozen=True)
class CancelJobs:
    """Cancel the builds of these jobs now, with result CANCELED (fail-fast); one that
    is running is stopped by its executor."""

    item_id: int
    buildset_id: int
    jobs: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class FailJobs:
    """Record jobs as FAILURE without running them (``message`` says why)."""

    item_id: int
    buildset_id: int
    jobs: tuple[str, ...]
    message: str


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


@dataclass(frozen=True)
class SetFailureRate:
    """Verify-first queues: the estimate of how often a change of the item's queue
    fails verification is now ``rate`` (results of ``item_id``'s group moved it)."""

    item_id: int
    rate: float


Action = (StartBuildSet | UseAlternate | DropAlternate | StartJobs | SkipJobs | CancelJobs
          | FailJobs | Report | Supersede | MarkVerified | SetFailureRate)
