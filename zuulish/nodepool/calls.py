"""Provider calls made off the launcher's thread, their results handed back.

The launcher never calls a cloud inside a store transaction: it submits each call
here and applies what came back on its next pass, in one short transaction.
``Calls`` runs them on a pool of threads and wakes the launcher when one ends;
``InlineCalls`` runs each at once, for tests that step the launcher by hand.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MAX_CALLS = 16  # provider calls in flight at once


@dataclass(frozen=True)
class Done:
    """A finished call: what it was about (``key``), and its value or error."""

    key: tuple[Any, ...]
    value: Any = None
    error: BaseException | None = None


class InlineCalls:
    """Runs each call as it is submitted (deterministic, for tests)."""

    def __init__(self) -> None:
        self._done: queue.SimpleQueue[Done] = queue.SimpleQueue()
        self._busy: set[tuple[Any, ...]] = set()

    def busy(self, key: tuple[Any, ...]) -> bool:
        return key in self._busy

    def submit(self, key: tuple[Any, ...], fn: Callable[[], Any]) -> None:
        self._done.put(_run(key, fn))

    def finished(self) -> list[Done]:
        items = []
        while True:
            try:
                items.append(self._done.get_nowait())
            except queue.Empty:
                return items

    def close(self) -> None:
        """Nothing runs in the background."""


class Calls(InlineCalls):
    """Runs calls on a thread pool; ``wake`` is called when one ends."""

    def __init__(self, wake: Callable[[], None], workers: int = MAX_CALLS):
        super().__init__()
        self._wake = wake
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="provider")
        self._lock = threading.Lock()

    def busy(self, key: tuple[Any, ...]) -> bool:
        with self._lock:
            return key in self._busy

    def submit(self, key: tuple[Any, ...], fn: Callable[[], Any]) -> None:
        with self._lock:
            if key in self._busy:
                return
            self._busy.add(key)
        self._pool.submit(self._call, key, fn)

    def _call(self, key: tuple[Any, ...], fn: Callable[[], Any]) -> None:
        done = _run(key, fn)
        with self._lock:
            self._done.put(done)
        self._wake()

    def finished(self) -> list[Done]:
        """The calls that ended; each key stays busy until its result is taken
        here, so that a call is not made again before the launcher has applied
        what the last one did (a second server for one node)."""
        with self._lock:
            items = super().finished()
            for done in items:
                self._busy.discard(done.key)
        return items

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _run(key: tuple[Any, ...], fn: Callable[[], Any]) -> Done:
    try:
        return Done(key, fn())
    except Exception as exc:  # handed to the launcher, which decides what it means
        return Done(key, error=exc)
