"""Wake-ups between components.

In one process a channel is a ``threading.Event``. Other processes on the same
machine (the forge's git hooks, the CLI) wake a running zuulish with a datagram
on a Linux abstract Unix socket named after its state directory. Components also
poll the store on a short interval, so a missed wake-up only costs one interval.
(Distributed mode on PostgreSQL will use LISTEN/NOTIFY in the same place.)
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
from collections import defaultdict
from pathlib import Path

log = logging.getLogger(__name__)

SCHEDULER = "scheduler"
MERGER = "merger"
LAUNCHER = "launcher"
EXECUTOR = "executor"


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
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = defaultdict(threading.Event)
        self._socket: socket.socket | None = None
        self._receiver: threading.Thread | None = None
        self._forward: Path | None = None

    def _event(self, channel: str) -> threading.Event:
        with self._lock:
            return self._events[channel]

    def notify(self, *channels: str) -> None:
        for channel in channels:
            self._event(channel).set()
        if self._forward is not None:
            wake(self._forward, *channels)

    def forward(self, state_dir: Path) -> None:
        """Also wake the zuulish running on ``state_dir`` at each notification (a
        process beside it, such as its web server, whose wake-ups are its work)."""
        self._forward = state_dir

    def wait(self, channel: str, timeout: float) -> bool:
        """Wait for a notification on ``channel``; clears it. True if notified."""
        event = self._event(channel)
        notified = event.wait(timeout)
        event.clear()
        return notified

    def listen(self, state_dir: Path) -> bool:
        """Accept wake-ups from other processes; False if the address is taken."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(wakeup_address(state_dir))
        except OSError as exc:
            log.warning("cannot listen for wake-ups (%s); polling only", exc)
            sock.close()
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
            self.notify(data.decode(errors="replace"))

    def close(self) -> None:
        """Stop listening and free the address (another zuulish may take it)."""
        sock, self._socket = self._socket, None
        if sock is not None:
            self._receiver.join(timeout=2)
            sock.close()
