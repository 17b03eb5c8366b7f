"""A component loop: do work while there is some, otherwise wait for a wake-up."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from zuulish.store.database import away_reason, database_away
from zuulish.store.notify import Notifier

log = logging.getLogger(__name__)


class Worker:
    """Runs ``step`` (returning True when it did something) until stopped."""

    def __init__(self, name: str, step: Callable[[], object], notifier: Notifier,
                 channel: str, poll_interval: float = 0.2):
        self.name = name
        self.step = step
        self.notifier = notifier
        self.channel = channel
        self.poll_interval = poll_interval
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.notifier.notify(self.channel)

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    def _run(self) -> None:
        unreachable = False
        while not self.stop_event.is_set():
            try:
                busy = self.step()
                if unreachable:
                    log.warning("%s: the database answers again", self.name)
                    unreachable = False
            except Exception as exc:
                busy = False
                if not database_away(exc):  # a bug; keep serving, but never silently
                    log.exception("%s: unexpected error", self.name)
                else:  # the database is away (restarting, cut off): one line, then retry
                    if not unreachable:
                        log.error("%s: cannot reach the database (%s); retrying until it "
                                  "answers", self.name, away_reason(exc))
                        unreachable = True
                    self.stop_event.wait(min(2.0, max(self.poll_interval, 0.5)))
            if not busy and not self.stop_event.is_set():
                self.notifier.wait(self.channel, self.poll_interval)
