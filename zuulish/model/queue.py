"""Change queues and the items in them."""

from __future__ import annotations

from dataclasses import dataclass, field

from zuulish.model.buildset import BuildSet
from zuulish.model.change import Change


@dataclass
class QueueItem:
    """A change in a pipeline's queue. ``live`` items are reported on."""

    id: int
    pipeline: str
    queue: str
    change: Change
    enqueued_at: float
    live: bool = True
    buildset: BuildSet | None = None
    position: int = 0

    @property
    def failing(self) -> bool:
        return self.buildset is not None and self.buildset.failing


@dataclass
class ChangeQueue:
    """An ordered queue of items that are tested and merged in sequence."""

    pipeline: str
    name: str
    window: int
    items: list[QueueItem] = field(default_factory=list)
