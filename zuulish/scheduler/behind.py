"""Zuul's "enqueue changes behind": the changes that need a change just enqueued.

In a dependent pipeline a change can enter only behind the changes it needs. One
approved before a change it needs was approved is refused then (the change it
needs is not in the queue and does not meet the pipeline's requirements); when
that change is later enqueued, the changes waiting on it are enqueued behind it,
as Zuul does, without being approved again. Each candidate is asked of every
source that can say which of its changes depend on another
(:class:`~zuulish.drivers.interfaces.DependentsSource`: a ``Depends-On`` naming
the change, a commit on top of it, on any connection), and kept only when its own
``needs`` hold the change ahead. Whether it may enter is then the pipeline's
usual question: its requirements (``require``/``reject``), not its triggers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from zuulish.drivers.interfaces import DependentsSource, Source
from zuulish.errors import ForgeUnavailable, UserError
from zuulish.model import Change

log = logging.getLogger(__name__)


def changes_behind(ahead: Change, sources: Mapping[str, Source]) -> list[Change]:
    """The open changes of any connection whose ``needs`` hold ``ahead`` (a forge
    that cannot answer, now or at all, is skipped, and said so in the log)."""
    found: list[Change] = []
    for connection, source in sources.items():
        if not isinstance(source, DependentsSource):
            continue
        try:
            numbers = source.changes_depending_on(ahead)
            candidates = [source.get_change(number) for number in numbers]
        except (ForgeUnavailable, UserError) as exc:
            log.warning("cannot ask %s which changes depend on %s now (%s); changes "
                        "waiting on it there are not enqueued behind it", connection,
                        ahead.key, exc)
            continue
        for change in candidates:
            if change is not None and change.key != ahead.key and change.is_open \
                    and ahead.key in change.needs:
                found.append(change)
    return found
