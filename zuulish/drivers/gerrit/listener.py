"""A Gerrit connection's intake: stream lines and webhook bodies stored as trigger
events, with the gaps after disconnections caught up through REST.

:class:`GerritListener` is what a :class:`~zuulish.drivers.gerrit.stream.GerritStream`
calls (``on_line``, ``on_connect``, ``on_gap``) and what a webhook handler calls
(:meth:`GerritListener.handle_event`). While a gap is being caught up, events
from the new stream are stored but do not move the covered time on, so a
catch-up that fails is looked for again from where the stream was last complete;
such an event whose old value (a ref-updated's old revision, a topic-changed's
old topic...) is not the last known one also brings in the event that was missed
before it. A catch-up compares the branches and tags of ``projects`` (the tenants'
projects on this connection) with their last known tips.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from zuulish.drivers.gerrit.catchup import DEFAULT_MARGIN, CatchUpResult, ChangeQuery, catch_up
from zuulish.drivers.gerrit.events import (
    Ignored,
    covered_until,
    forget_seen,
    mark_covered,
    normalize,
    store_event,
)
from zuulish.store import Store

log = logging.getLogger(__name__)

#: How long the identities of stored events are kept (seconds): longer than any
#: disconnection a catch-up is expected to cover.
KEEP_SEEN = 7 * 24 * 3600.0


class GerritListener:
    """Stores the events of one Gerrit connection and fills the gaps in them."""

    def __init__(self, store: Store, connection: str, rest: ChangeQuery | None, *,
                 clock: Callable[[], float], margin: float = DEFAULT_MARGIN,
                 catch_up_on_start: bool = False, catch_up_query: str | None = None,
                 keep_seen: float = KEEP_SEEN,
                 projects: Callable[[], Iterable[str]] | None = None):
        self.store = store
        self.connection = connection
        self.rest = rest
        self.clock = clock
        self.margin = margin
        self.catch_up_on_start = catch_up_on_start
        self.catch_up_query = catch_up_query
        self.keep_seen = keep_seen
        #: The projects whose branches a catch-up compares (the tenants' projects
        #: on this connection); those seen in ref-updated events are added to them.
        self.projects = projects
        self._gaps = 0  # gaps opened (reconnections, dropped output)
        self._filled = 0  # of those, how many a finished catch-up has filled
        self._lock = threading.Lock()
        #: Results of the catch-ups done so far, newest last.
        self.catch_ups: list[CatchUpResult] = []
        #: Inputs not stored, with the reason (newest 100), for status pages and tests.
        self.ignored: list[str] = []

    # ------------------------------------------------------------ events
    def handle_line(self, line: bytes | str) -> bool:
        """Store one ``stream-events`` line; True when it says events were lost."""
        return self.handle_event(line, source="stream")

    def handle_event(self, body: bytes | str | dict[str, Any], *, source: str = "webhook"
                     ) -> bool:
        """Store one event (a stream line, or a webhooks-plugin body); True when it
        says events were lost. Anything unusable is logged with its reason."""
        event = normalize(body)
        if isinstance(event, Ignored):
            self._ignore(event.reason)
            if event.lost_events:
                self._open_gap()
            return event.lost_events
        with self._lock:
            cover = self._filled == self._gaps
        event_id = store_event(self.store, self.connection, event, clock=self.clock,
                               source=source, cover=cover)
        if event_id is None:
            log.debug("gerrit %s: %s was already stored", self.connection, event.key)
        return False

    def _ignore(self, reason: str) -> None:
        log.info("gerrit %s: ignoring an event: %s", self.connection, reason)
        self.ignored = [*self.ignored[-99:], reason]

    # ------------------------------------------------------------ gaps
    def _open_gap(self) -> None:
        with self._lock:
            self._gaps += 1

    @property
    def gap_pending(self) -> bool:
        """Whether events may be missing that no catch-up has filled yet."""
        with self._lock:
            return self._filled < self._gaps

    def on_connect(self, count: int) -> bool:
        """The stream is (re)connected (``count`` 1: the first time); True when the
        events before it must be caught up: after a reconnection, and at start with
        ``catch_up_on_start`` when an earlier run left a covered time."""
        if count > 1 or (self.catch_up_on_start
                         and covered_until(self.store, self.connection) is not None):
            self._open_gap()
            return True
        # The first connection: what happened before it is not ours to catch up.
        mark_covered(self.store, self.connection, self.clock(), clock=self.clock)
        self.forget_old()
        return False

    def catch_up(self) -> CatchUpResult | None:
        """Store the events missed since the stream was last complete (raises when
        Gerrit's REST API fails; the gap stays pending)."""
        with self._lock:
            if self._filled == self._gaps:
                self._gaps += 1  # asked for directly: a gap of its own
            target = self._gaps
        since = covered_until(self.store, self.connection)
        if since is None:
            since = self.clock()
        if self.rest is None:
            log.warning("gerrit %s: events may have been missed since %s, but the connection "
                        "has no REST API to catch up through", self.connection, since)
            self._filled_up_to(target)
            return None
        result = catch_up(self.store, self.connection, self.rest, since=since,
                          clock=self.clock, margin=self.margin, query=self.catch_up_query,
                          projects=self._watched())
        self._filled_up_to(target)
        self.catch_ups.append(result)
        self.forget_old()
        return result

    def _watched(self) -> list[str]:
        """The projects to compare branches of; none (but those already seen) when
        they cannot be known now (said in the log)."""
        if self.projects is None:
            return []
        try:
            return sorted(set(self.projects()))
        except Exception as exc:  # a broken tenant file must not stop the catch-up
            log.warning("gerrit %s: catch-up: cannot tell the tenants' projects (%s); "
                        "comparing the branches of the projects seen in events only",
                        self.connection, exc)
            return []

    def _filled_up_to(self, target: int) -> None:
        """Gaps opened while a catch-up ran stay open for the next one."""
        with self._lock:
            self._filled = max(self._filled, target)

    def forget_old(self) -> int:
        """Drop identities of events older than ``keep_seen``; how many."""
        return forget_seen(self.store, self.connection, self.clock() - self.keep_seen)

