"""Zuul's ``dependencies-by-topic``: the open changes of a topic need each other.

Where a queue sets ``dependencies-by-topic`` (with ``allow-circular-dependencies``,
which it requires), a change with a topic also *needs* every other open change
of that topic on its connection, so together they form a dependency cycle: they
are enqueued next to each other, tested on one state (a *bundle*, see
``bundles``), and merge together or fail together. The topic's changes are asked
of the change's source when it has topics (a :class:`TopicSource`, Gerrit's);
a source without them (the built-in forge, GitHub) adds nothing.

The topic is read again whenever a queue is planned (the source keeps it until
an event about any change arrives), so a queued change follows its topic as it
is now: one whose topic gains an open change that is not ahead of it fails as
any change that lost what it needs (it can no longer merge alone); one that
leaves the topic is no longer part of the bundle, and it and the others are
tested again without each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from zuulish.drivers.interfaces import Source, TopicSource
from zuulish.model import Change


def topic_members(change: Change, sources: Mapping[str, Source]) -> list[Change]:
    """The other open changes of ``change``'s topic on its connection (none without
    a topic, or where its source has no topics)."""
    if not change.topic:
        return []
    source = sources.get(change.key.connection)
    if not isinstance(source, TopicSource):
        return []
    return [c for c in source.topic_changes(change.topic)
            if c.key != change.key and c.is_open and c.topic == change.topic]


def with_topic_needs(change: Change, sources: Mapping[str, Source]) -> Change:
    """``change`` (a copy, when its topic adds any) that also needs the other open
    changes of its topic; ``topic_needs`` says which of its needs those are."""
    keys = tuple(c.key for c in topic_members(change, sources) if c.key not in change.needs)
    if not keys:
        return change
    return dataclasses.replace(change, needs=change.needs + keys, topic_needs=keys)
