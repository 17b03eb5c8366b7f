"""Dependency cycles in a shared queue: bundles tested and merged as one (pure).

Where a queue sets ``allow-circular-dependencies``, changes that need each
other (Depends-On both ways, directly or through others) are enqueued next to
each other and form a *bundle*. Every member is tested on the same state: the
items ahead of the bundle plus every member, in queue order, so each member's
own jobs see all of them and each state gives the same commits. The bundle
passes only when every member's voting jobs passed; then each member merges
its repository's part of that one tested state. If any member fails (or
cannot be merged), every member is reported as failed, and the items behind
are tested without the whole bundle.
"""

from __future__ import annotations

from collections.abc import Sequence

from zuulish.model import QueueItem


def find_bundles(items: Sequence[QueueItem]) -> dict[int, tuple[int, ...]]:
    """Each item that is part of a dependency cycle → its cycle's members (ids, in
    queue order). Items in no cycle are absent."""
    index_of = {item.id: n for n, item in enumerate(items)}
    by_key = {item.change.key: item.id for item in items}
    edges = {item.id: [by_key[k] for k in item.change.needs if k in by_key]
             for item in items}
    out: dict[int, tuple[int, ...]] = {}
    for component in _strongly_connected(edges):
        if len(component) > 1:
            members = tuple(sorted(component, key=index_of.__getitem__))
            out.update(dict.fromkeys(members, members))
    return out


def _strongly_connected(edges: dict[int, list[int]]) -> list[list[int]]:
    """Tarjan's algorithm, iterative (a long chain of needs must not recurse)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    components: list[list[int]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            successors = edges[node]
            if child < len(successors):
                work.append((node, child + 1))
                nxt = successors[child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components
