"""Sending a connection's outbox: its calls to the forge, in order, until made.

``Outbox.put`` records a call (durably: the row is committed before it returns);
``OutboxSender`` makes the calls of one connection from a thread of its own, in
the order they were recorded for each key (a change's reports stay in order; a
change whose call waits does not hold up another's). What the forge answers
decides what happens next:

- the call returns: it is done;
- ``Deferred(after)`` (rate limited, ``Retry-After``): tried again ``after``
  seconds later, not counted as a failed attempt;
- ``Refused`` (the forge will never accept it: a 404, a 422): failed now, logged;
- anything else (a 5xx, a timeout, a dropped connection): tried again with
  exponential back-off, failed and logged after ``max_attempts``.

A call made just before a crash and not yet marked done is made again after the
restart: delivery is at least once, so a forge call should be safe to repeat
(a check run or status carries its own identity; a comment may be repeated).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from zuulish.clock import Clock
from zuulish.store import Store
from zuulish.store.outbox import FAILED, PENDING, SENT, OutboxRow

log = logging.getLogger(__name__)

#: makes one call: (kind, payload) -> None, or raises
Deliver = Callable[[str, dict[str, Any]], None]
BATCH = 50


class Deferred(Exception):
    """The forge asks to be called again later (a rate limit)."""

    def __init__(self, message: str, after: float):
        super().__init__(message)
        self.after = max(0.0, after)


class Refused(Exception):
    """The forge will never accept this call; trying again is pointless."""


def channel(connection: str) -> str:
    """The notifier channel that wakes ``connection``'s sender."""
    return f"outbox:{connection}"


class Outbox:
    """Where a reporter records the calls it needs made."""

    def __init__(self, store: Store, connection: str, clock: Clock):
        self.store = store
        self.connection = connection
        self.clock = clock

    def put(self, kind: str, key: str, payload: dict[str, Any]) -> int:
        """Record a call; it is stored when this returns. Its id."""
        with self.store.session() as s:
            row = OutboxRow(connection=self.connection, kind=kind, key=key, payload=payload,
                            state=PENDING, attempts=0, not_before=0.0,
                            created_at=self.clock.now())
            s.add(row)
            s.flush()
            row_id = row.id
        self.store.notifier.notify(channel(self.connection))
        return row_id


class OutboxSender:
    """Makes one connection's recorded calls (see the module's docstring)."""

    def __init__(self, store: Store, connection: str, deliver: Deliver, clock: Clock, *,
                 max_attempts: int = 10, base_delay: float = 2.0, max_delay: float = 600.0,
                 poll_interval: float = 1.0):
        self.store = store
        self.connection = connection
        self.deliver = deliver
        self.clock = clock
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ loop
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"outbox-{self.connection}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.store.notifier.notify(channel(self.connection))
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # a bug: keep sending, never silently
                log.exception("outbox of %s: unexpected error", self.connection)
                busy = False
            if not busy and not self._stop.is_set():
                self.store.notifier.wait(channel(self.connection), self.poll_interval)

    # ------------------------------------------------------------------ work
    def due(self) -> list[OutboxRow]:
        """The calls to make now: per key only the oldest pending one, if it is due."""
        now = self.clock.now()
        with self.store.read() as s:
            rows = s.scalars(select(OutboxRow).where(
                OutboxRow.connection == self.connection, OutboxRow.state == PENDING)
                .order_by(OutboxRow.id)).all()
            s.expunge_all()
        seen: set[str] = set()
        out = []
        for row in rows:
            if row.key in seen:
                continue
            seen.add(row.key)
            if row.not_before <= now:
                out.append(row)
            if len(out) >= BATCH:
                break
        return out

    def run_once(self) -> bool:
        """Make the calls that are due; whether there were any."""
        rows = self.due()
        for row in rows:
            if self._stop.is_set():
                break
            self._send(row)
        return bool(rows)

    def _send(self, row: OutboxRow) -> None:
        state, attempts, not_before, error = SENT, row.attempts, row.not_before, None
        try:
            self.deliver(row.kind, dict(row.payload or {}))
        except Deferred as exc:
            state, error = PENDING, str(exc)
            not_before = self.clock.now() + exc.after
            log.info("%s: %s for %s deferred %.0f s: %s", self.connection, row.kind,
                     row.key, exc.after, exc)
        except Refused as exc:
            state, attempts, error = FAILED, attempts + 1, str(exc)
            log.error("%s: %s for %s refused, not retried: %s", self.connection, row.kind,
                      row.key, exc)
        except Exception as exc:  # transient until proven otherwise: 5xx, timeouts
            attempts += 1
            error = f"{type(exc).__name__}: {exc}"
            if attempts >= self.max_attempts:
                state = FAILED
                log.error("%s: %s for %s failed %d times, given up: %s", self.connection,
                          row.kind, row.key, attempts, error)
            else:
                state = PENDING
                delay = min(self.max_delay, self.base_delay * 2 ** (attempts - 1))
                not_before = self.clock.now() + delay
                log.warning("%s: %s for %s failed (attempt %d of %d), again in %.0f s: %s",
                            self.connection, row.kind, row.key, attempts,
                            self.max_attempts, delay, error)
        with self.store.session() as s:
            current = s.get(OutboxRow, row.id)
            if current is None:
                return
            current.state, current.attempts = state, attempts
            current.not_before, current.last_error = not_before, error
            if state != PENDING:
                current.done_at = self.clock.now()
