"""Independent sub-queues: which items ahead in a shared queue an item depends on.

In Zuul every item of a shared queue is tested on top of every item ahead of it
and reported only at the head. With the ``independent-subqueues`` queue option
an item depends only on the items ahead whose repositories meet its own:

- it *includes* (is tested on top of) the items ahead that change a repository
  its jobs check out, and the changes it needs;
- it *waits for* those, and also for the items ahead whose jobs check out a
  repository it changes: they were tested without it, so it must not merge
  before them.

So when an item merges, every repository its jobs saw holds exactly what they
were tested on: the items it includes merged before it, and nothing else that
touches those repositories could merge in between (whatever changes them later
in the queue waits for it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from zuulish.model import QueueItem


@dataclass(frozen=True)
class Footprint:
    """The repositories an item changes and the ones its jobs see (check out)."""

    changes: frozenset[str]
    sees: frozenset[str]


@dataclass(frozen=True)
class Ahead:
    """The items ahead an item depends on (ids, in queue order)."""

    includes: tuple[int, ...]
    waits_for: tuple[int, ...]


def items_ahead(items: Sequence[QueueItem],
                footprints: Mapping[int, Footprint] | None) -> dict[int, Ahead]:
    """For each item, what it includes and waits for among the items ahead.

    Without ``footprints`` (the option is off) that is every item ahead, as in
    Zuul. An item without a footprint depends on everything ahead.
    """
    ids = [item.id for item in items]
    if footprints is None:
        return {i: Ahead(tuple(ids[:n]), tuple(ids[:n])) for n, i in enumerate(ids)}
    out: dict[int, Ahead] = {}
    for index, item in enumerate(items):
        mine = footprints.get(item.id)
        includes: list[int] = []
        waits: list[int] = []
        for ahead in items[:index]:
            theirs = footprints.get(ahead.id)
            if mine is None or theirs is None or theirs.changes & mine.sees \
                    or ahead.change.key in item.change.needs:
                includes.append(ahead.id)
                waits.append(ahead.id)
            elif theirs.sees & mine.changes:
                waits.append(ahead.id)
        out[item.id] = Ahead(tuple(includes), tuple(waits))
    return out
