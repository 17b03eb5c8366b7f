"""Which node requests are served first (pure).

As in Zuul: first the pipeline's ``precedence`` (high, normal, low), then the
item's *relative priority*, its place in its queue (in a dependent pipeline,
the items ahead of it in the shared queue; elsewhere, the items of the same
project enqueued before it), so that the head of every queue gets nodes before
the changes behind it and one busy project cannot starve the others. Jobs
started on spare capacity (``StartJobs.spare``) come after every other request
of the same precedence. Lower numbers are served first.
"""

from __future__ import annotations

PRECEDENCE = {"high": 0, "normal": 100, "low": 200}
PLACES = 48  # relative priorities beyond this share the last place


def node_priority(precedence: str, relative: int, spare: bool = False) -> int:
    """The priority of a node request (and of its build in the executor's queue)."""
    place = min(max(relative, 0), PLACES)
    return PRECEDENCE.get(precedence, PRECEDENCE["normal"]) + place + \
        (PLACES + 1 if spare else 0)
