"""Wake-ups between components.

In one process a channel is a ``threading.Event``. Other processes on the same
machine (the forge's git hooks, the CLI) wake a running zuulish with a datagram
on a Linux abstract Unix socket named after its state directory. Components also
poll the store on a short interval, so a missed wake-up only costs one interval.

When the store is PostgreSQL, every notification also reaches the zuulish
processes of every other host on the same database, through LISTEN/NOTIFY
(:mod:`zuulish.store.pg_wakeups`); the datagrams stay, the fast path on one host.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zuulish.store.pg_wakeups import PgWakeups

log = logging.getLogger(__name__)

SCHEDULER = "scheduler"
MERGER = "merger"
LAUNCHER = "launcher"
EXECUTOR = "executor"
#: a change that only watchers show (a build has started): the web's live status
STATUS = "status"


def wakeup_address(state_dir: Path) -> str:
    digest = hashlib.sha1(str(Path(state_dir).resolve()).encode()).hexdigest()[:20]
    return f"\0zuulish-{digest}"


def wake(state_dir: Path, *channels: str) -> None:
    """Best-effort wake-up of the zuulish running on ``state_dir``."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            for channel in channels:
                sock.sendto(channel.encode(), wakeup_address(state_dir))
    except OSError:
        pass  # nobody listening: it will find the work when it polls


class Notifier:
    """Channels of wake-ups: in this process, on this host and, given
    ``postgres`` (psycopg's connection arguments), on every host of the database."""

    def __init__(self, postgres: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = defaultdict(threading.Event)
        self._socket: socket.socket | None = None
        self._receiver: threading.Thread | None = None
        self._forward: Path | None = None
        self._pg: PgWakeups | None = None
        if postgres is not None:
            from zuulish.store.pg_wakeups import PgWakeups
            self._pg = PgWakeups(postgres, self._set, self._set_all)

    def _event(self, channel: str) -> threading.Event:
        with self._lock:
            return self._events[channel]

    def _set(self, channels: list[str]) -> None:
        for channel in channels:
            self._event(channel).set()

    def _set_all(self) -> None:
        with self._lock:
            events = list(self._events.values())
        for event in events:
            event.set()

    def notify(self, *channels: str) -> None:
        """Wake ``channels`` here and (PostgreSQL) on every host; never blocks long
        and never raises."""
        self._set(list(channels))
        if self._pg is not None:
            self._pg.send(channels)
        if self._forward is not None:
            wake(self._forward, *channels)

    def notify_everywhere(self, state_dir: Path, *channels: str,
                          timeout: float = 2.0) -> None:
        """:meth:`notify`, also wake the zuulish running on ``state_dir`` on this
        host, and wait (at most ``timeout``) until other hosts were sent it: for
        short-lived processes (the forge's hooks, the CLI)."""
        self.notify(*channels)
        wake(state_dir, *channels)
        if self._pg is not None:
            self._pg.flush(timeout)

    @property
    def postgres(self) -> PgWakeups | None:
        """The PostgreSQL wake-ups (:class:`~zuulish.store.pg_wakeups.PgWakeups`),
        or None on SQLite."""
        return self._pg

    def forward(self, state_dir: Path) -> None:
        """Also wake the zuulish running on ``state_dir`` at each notification (a
        process beside it, such as its web server, whose wake-ups are its work)."""
        self._forward = state_dir

    def wait(self, channel: str, timeout: float) -> bool:
        """Wait for a notification on ``channel``; clears it. True if notified."""
        if self._pg is not None:
            self._pg.start_listening()
        event = self._event(channel)
        notified = event.wait(timeout)
        event.clear()
        return notified

    def listen(self, state_dir: Path) -> bool:
        """Accept wake-ups from other processes; False if the address is taken
        (on PostgreSQL those of other hosts are heard all the same)."""
        if self._pg is not None:
            self._pg.start_listening()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(wakeup_address(state_dir))
        except OSError as exc:
            sock.close()
            if self._pg is not None:  # another process of this state_dir took it
                log.info("cannot listen for local wake-ups (%s); PostgreSQL's notifications "
                         "wake this process", exc)
            else:
                log.warning("cannot listen for wake-ups (%s); polling only", exc)
            return False
        sock.settimeout(0.2)
        self._socket = sock
        self._receiver = threading.Thread(target=self._receive, args=(sock,), name="wakeups",
                                          daemon=True)
        self._receiver.start()
        return True

    def _receive(self, sock: socket.socket) -> None:
        while self._socket is sock:
            try:
                data = sock.recv(64)
            except TimeoutError:
                continue
            except OSError:
                return
            channel = data.decode(errors="replace")
            self._set([channel])  # its sender notified the other hosts itself
            if self._forward is not None:
                wake(self._forward, channel)

    def close(self) -> None:
        """Stop listening and free the address (another zuulish may take it); on
        PostgreSQL, send what is queued (for a second at most) and close the
        connections (a later use opens them again)."""
        sock, self._socket = self._socket, None
        if sock is not None:
            self._receiver.join(timeout=2)
            sock.close()
        if self._pg is not None:
            self._pg.close()
