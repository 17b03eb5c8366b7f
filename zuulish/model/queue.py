"""Change queues and the items in them."""

from __future__ import annotations

from dataclasses import dataclass, field

from zuulish.model.buildset import BuildSet
from zuulish.model.change import Change
from zuulish.model.ref import Ref


@dataclass
class QueueItem:
    """A change (or a ref) in a pipeline's queue. ``live`` items are reported on."""

    id: int
    pipeline: str
    queue: str
    change: Change | Ref
    enqueued_at: float
    live: bool = True
    buildset: BuildSet | None = None
    position: int = 0
    verified_at: float | None = None  # verify-first queues: its own state passed
    alternate: BuildSet | None = None  # speculate-failures: the state without the
    # nearest uncertain item ahead, kept in case that item fails

    @property
    def is_ref(self) -> bool:
        return isinstance(self.change, Ref)

    @property
    def failing(self) -> bool:
        return self.buildset is not None and self.buildset.failing


@dataclass(frozen=True)
class QueueOptions:
    """A shared queue's settings: Zuul's, and zuulish's own (off by default).

    ``independent_subqueues``: two items whose repositories do not meet (the
    repos one changes against the repos the other's jobs check out, both ways)
    are not serialised, so a failure of one does not restart the other.
    ``batch_size``: runs of up to this many items are tested with one build set
    and bisected on failure (1: every item runs its own jobs, as in Zuul).
    ``verify_first``: each item is first tested on its own (the branch tip and
    the change), on spare nodes first; a change that fails alone is rejected at
    once, and only changes that passed alone join the speculative chain, in the
    order they passed.
    ``retry_failed_jobs``: flake tolerance. A voting job whose build ends in
    FAILURE is run again, on the same speculative state, up to this many more
    times before its failure counts; until then the item is not failing, so the
    items behind it are not restarted and the window does not shrink for a
    flake. Only FAILURE is retried (not TIMED_OUT, POST_FAILURE, ...), and each
    retry is a new build, so the failed one stays in the history.
    ``speculate_failures``: each item also gets, on spare nodes, a second state
    without the nearest item ahead whose result is not known yet (its
    *alternate*); when that item fails, the alternate becomes the item's state
    instead of a restart.
    ``trust_later_passes``: an item whose state fails is not blamed while the
    state of the item behind it, which holds it, may still pass; when that state
    passes, both merge as that state (a flake of the first is forgiven).
    """

    name: str = ""
    per_branch: bool = False
    allow_circular_dependencies: bool = False
    #: Zuul's ``dependencies-by-topic``: the open changes of a topic need each other
    #: (a cycle; only with ``allow_circular_dependencies``; see ``scheduler.topics``)
    dependencies_by_topic: bool = False
    independent_subqueues: bool = False
    batch_size: int = 1
    verify_first: bool = False
    retry_failed_jobs: int = 0
    speculate_failures: bool = False
    trust_later_passes: bool = False


@dataclass
class ChangeQueue:
    """An ordered queue of items that are tested and merged in sequence."""

    pipeline: str
    name: str
    window: int
    items: list[QueueItem] = field(default_factory=list)
    options: QueueOptions = field(default_factory=QueueOptions)
    # verify-first queues: how often its changes fail verification (an estimate;
    # None: nothing measured yet)
    failure_rate: float | None = None
