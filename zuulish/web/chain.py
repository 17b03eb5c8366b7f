"""How a queue is drawn: which item each item is tested on top of (pure).

In a dependent queue each item is tested on the state of the items ahead of it
that are not failing (see ``scheduler.dependent``): drawn as Zuul draws it, a
line runs from each item to the nearest of them, the *item ahead* of it in the
chain. A failing item is knocked out of the chain: it is drawn apart (one column
to the right) and the items behind it are re-based on the nearest non-failing
item ahead.

Where the item's build set is known, the line follows what it was actually
built on (the build set's ``ahead``, the ids of the items its state holds), so
an item built on a failing item that has not been restarted yet is drawn on it,
and with independent sub-queues an item is drawn on the nearest item of its own
sub-queue. Items without a build set (outside the window, not started yet) are
drawn on the nearest non-failing item ahead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChainInput:
    """What the chain needs of one item, in queue order."""

    id: int
    failing: bool
    #: the ids of the items its current state holds (None: no build set yet)
    ahead: tuple[int, ...] | None


@dataclass
class ChainPlace:
    """Where an item is drawn."""

    item_ahead: int | None
    items_behind: list[int] = field(default_factory=list)
    in_chain: bool = True
    column: int = 0
    #: the chain's line passes this item by (an item behind it is drawn on one ahead)
    line_through: bool = False


def chain(items: Sequence[ChainInput], dependent: bool = True) -> dict[int, ChainPlace]:
    """Each item's place, by id. In an independent pipeline (``dependent`` false)
    every item stands alone: no item ahead, all in column 0."""
    if not dependent:
        return {i.id: ChainPlace(None) for i in items}
    places: dict[int, ChainPlace] = {}
    position = {i.id: n for n, i in enumerate(items)}
    nearest_good: int | None = None
    for item in items:
        if item.ahead is not None:
            held = [a for a in item.ahead if a in position and position[a] < position[item.id]]
            ahead = max(held, key=position.__getitem__) if held else None
        else:
            ahead = nearest_good
        place = ChainPlace(ahead, in_chain=not item.failing, column=1 if item.failing else 0)
        places[item.id] = place
        if ahead is not None:
            places[ahead].items_behind.append(item.id)
        if not item.failing:
            nearest_good = item.id
    for item in items:
        ahead = places[item.id].item_ahead
        if ahead is None:
            continue
        for between in items[position[ahead] + 1:position[item.id]]:
            places[between.id].line_through = True
    return places
