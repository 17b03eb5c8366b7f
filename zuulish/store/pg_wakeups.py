"""Wake-ups between hosts over PostgreSQL's LISTEN/NOTIFY.

When the store is PostgreSQL, a :class:`~zuulish.store.notify.Notifier` also
sends each notification to every other zuulish process on the same database,
whatever host it runs on.

Channels: LISTEN/NOTIFY never crosses databases, so one PostgreSQL channel per
database, :data:`PG_CHANNEL`, carries every zuulish channel. A notification's
payload is the sending process's id, then the zuulish channels it wakes, all
separated by spaces. The zuulish channels are open-ended (``outbox:NAME`` and
``github-intake:NAME`` for every connection), so listening on one PostgreSQL
channel each would mean a LISTEN for every name a process might wait on. Here
no zuulish channel name is ever SQL: it travels as a bound parameter of
``pg_notify()``. A name that could not be read back out of a payload (empty,
holding whitespace or control characters, or longer than
:data:`MAX_CHANNEL_LENGTH`) is refused (logged once, never sent).

Sending: :meth:`PgWakeups.send` adds the channels to a pending set and returns at
once; a sender thread sends everything pending as one NOTIFY, at most one every
:data:`SEND_INTERVAL`, on a connection of its own (closed after
:data:`IDLE_CLOSE` seconds of disuse). A burst of notifications therefore costs
a few NOTIFYs, and the caller never waits on the network.

Listening: a thread with its own autocommit connection LISTENs and sets the
local events. When its connection is lost (the server restarted, the backend
terminated, the network gone) it logs one line, reconnects with a growing
backoff, and each time LISTEN starts again wakes every channel once: work may
have arrived while it was deaf. Meanwhile the components poll the store.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

#: the PostgreSQL channel every zuulish wake-up travels on (one per database)
PG_CHANNEL = "zuulish_wake"
MAX_CHANNEL_LENGTH = 200
#: PostgreSQL's payload limit is 8000 bytes; stay well under it
MAX_PAYLOAD_BYTES = 7000
#: the shortest time between two NOTIFYs of one process (coalescing)
SEND_INTERVAL = 0.002
#: a sender connection unused this long is closed (reopened on the next send)
IDLE_CLOSE = 60.0
CONNECT_TIMEOUT = 5
#: how often the listener looks whether it was asked to stop
LISTEN_TICK = 0.2
BACKOFF_MIN = 0.1
BACKOFF_MAX = 5.0
#: what a process's exit waits, at most, for its last wake-ups to be sent
EXIT_FLUSH = 1.0
#: TCP keepalives, so that a silently vanished server is noticed in ~25 s
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
              "keepalives_count": 3}


def valid_channel(name: object) -> bool:
    """Whether ``name`` can travel in a payload (and be read back as itself)."""
    return (isinstance(name, str) and 0 < len(name) <= MAX_CHANNEL_LENGTH
            and name.isprintable() and not any(c.isspace() for c in name))


def encode(sender: str, channels: Iterable[str]) -> list[str]:
    """The payloads that carry ``channels`` from ``sender`` (several if many)."""
    payloads: list[str] = []
    current = [sender]
    size = len(sender.encode())
    for channel in sorted(channels):
        length = len(channel.encode()) + 1
        if len(current) > 1 and size + length > MAX_PAYLOAD_BYTES:
            payloads.append(" ".join(current))
            current, size = [sender], len(sender.encode())
        current.append(channel)
        size += length
    if len(current) > 1:
        payloads.append(" ".join(current))
    return payloads


def decode(payload: str) -> tuple[str, list[str]]:
    """The sender and the valid channels of a payload."""
    sender, _, rest = payload.partition(" ")
    return sender, [c for c in rest.split(" ") if valid_channel(c)]


def connect_args(engine: Any) -> dict[str, Any]:
    """psycopg's connection arguments for a SQLAlchemy PostgreSQL ``engine``
    (the same host, database, user, password and options as its pool)."""
    _args, kwargs = engine.dialect.create_connect_args(engine.url)
    kwargs = {k: v for k, v in kwargs.items() if k != "context"}
    return {**KEEPALIVES, **kwargs}


def _reason(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _connect(args: dict[str, Any]) -> psycopg.Connection[Any]:
    return psycopg.connect(**{"connect_timeout": CONNECT_TIMEOUT, **args}, autocommit=True)


class _Sender:
    """The thread that sends pending channels as NOTIFYs."""

    def __init__(self, args: dict[str, Any], sender_id: str):
        self.args = args
        self.sender_id = sender_id
        self.cond = threading.Condition()
        self.pending: set[str] = set()
        self.in_flight = False
        self.down = False  # the last attempt failed: flushing waits for nothing
        self.stopping = False
        self.sent = 0  # NOTIFYs sent (for tests and benchmarks)
        self.thread = threading.Thread(target=self._run, name="pg-wakeup-sender",
                                       daemon=True)
        self.thread.start()

    def add(self, channels: Iterable[str]) -> None:
        with self.cond:
            self.pending.update(channels)
            self.cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until everything pending is sent (True), the database is known
        down or ``timeout`` passed (False)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.pending or self.in_flight:
                left = deadline - time.monotonic()
                if self.down or left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def stop(self, timeout: float) -> None:
        self.flush(timeout)
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.thread.join(timeout=CONNECT_TIMEOUT + 1)

    def _run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        backoff = BACKOFF_MIN
        try:
            while True:
                with self.cond:
                    while not self.pending and not self.stopping:
                        if not self.cond.wait(IDLE_CLOSE) and conn is not None \
                                and not self.pending:
                            conn.close()
                            conn = None
                    if self.stopping:
                        return
                    batch, self.pending = self.pending, set()
                    self.in_flight = True
                started = time.monotonic()
                try:
                    if conn is None or conn.closed:
                        conn = _connect(self.args)
                    for payload in encode(self.sender_id, batch):
                        conn.execute("SELECT pg_notify(%s, %s)", (PG_CHANNEL, payload))
                        self.sent += 1
                except (psycopg.Error, OSError) as exc:
                    if not self.down:
                        log.warning("wake-ups: cannot notify other hosts through PostgreSQL "
                                    "(%s); their components poll until it is back",
                                    _reason(exc))
                    if conn is not None:
                        conn.close()
                        conn = None
                    with self.cond:
                        self.pending |= batch
                        self.in_flight, self.down = False, True
                        self.cond.notify_all()
                        self.cond.wait(backoff * random.uniform(0.8, 1.2))
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    continue
                with self.cond:
                    if self.down:
                        log.info("wake-ups: notifying other hosts through PostgreSQL again")
                    self.in_flight, self.down = False, False
                    self.cond.notify_all()
                backoff = BACKOFF_MIN
                pause = SEND_INTERVAL - (time.monotonic() - started)
                if pause > 0:
                    time.sleep(pause)  # let a burst gather into the next NOTIFY
        finally:
            if conn is not None:
                conn.close()


class _Listener:
    """The thread that LISTENs and hands other processes' channels to ``deliver``."""

    def __init__(self, args: dict[str, Any], sender_id: str,
                 deliver: Callable[[list[str]], None], wake_all: Callable[[], None]):
        self.args = args
        self.sender_id = sender_id
        self.deliver = deliver
        self.wake_all = wake_all
        self.stopping = threading.Event()
        self.listening = threading.Event()
        self.backend_pid: int | None = None  # the LISTENing backend (tests terminate it)
        self.thread = threading.Thread(target=self._run, name="pg-wakeup-listener",
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=CONNECT_TIMEOUT + 1)

    def _run(self) -> None:
        backoff = BACKOFF_MIN
        down_since: float | None = None
        while not self.stopping.is_set():
            try:
                with _connect(self.args) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(PG_CHANNEL)))
                    self.backend_pid = conn.info.backend_pid
                    if down_since is not None:
                        log.warning("wake-ups: listening on PostgreSQL again after %.1f s",
                                    time.monotonic() - down_since)
                        down_since = None
                    backoff = BACKOFF_MIN
                    self.wake_all()  # what was notified before LISTEN was not heard
                    self.listening.set()
                    while not self.stopping.is_set():
                        for note in conn.notifies(timeout=LISTEN_TICK):
                            self._receive(note.payload)
            except Exception as exc:  # psycopg.Error, OSError; or a bug: keep listening
                if not isinstance(exc, (psycopg.Error, OSError)):
                    log.exception("wake-ups: unexpected error in the listener")
                self.listening.clear()
                self.backend_pid = None
                if self.stopping.is_set():
                    return
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("wake-ups: not listening on PostgreSQL (%s); reconnecting, "
                                "components poll meanwhile", _reason(exc))
                else:
                    log.debug("wake-ups: still cannot listen on PostgreSQL: %s",
                              _reason(exc))
                self.stopping.wait(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, BACKOFF_MAX)
        self.listening.clear()

    def _receive(self, payload: str) -> None:
        sender, channels = decode(payload)
        if sender != self.sender_id and channels:
            self.deliver(channels)


_ALL: weakref.WeakSet[PgWakeups] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    """A process's last wake-ups (a hook's, a CLI command's) still go out."""
    for wakeups in list(_ALL):
        wakeups.flush(EXIT_FLUSH)


class PgWakeups:
    """A process's sender and listener of wake-ups on one PostgreSQL database.

    Both threads start on first use and stop at :meth:`close`; a later use
    starts them again.
    """

    def __init__(self, args: dict[str, Any], deliver: Callable[[list[str]], None],
                 wake_all: Callable[[], None]):
        self.args = args
        self.deliver = deliver
        self.wake_all = wake_all
        self.sender_id = uuid.uuid4().hex[:16]
        self._lock = threading.Lock()
        self._sender: _Sender | None = None
        self._listener: _Listener | None = None
        self._refused: set[str] = set()
        _ALL.add(self)

    def send(self, channels: Iterable[str]) -> None:
        """Queue ``channels`` for the other processes; never blocks, never raises."""
        try:
            valid = []
            for channel in channels:
                if valid_channel(channel):
                    valid.append(channel)
                elif channel not in self._refused:
                    self._refused.add(channel)
                    log.error("wake-ups: channel %r cannot be sent through PostgreSQL "
                              "(empty, too long, or with whitespace or control "
                              "characters); only this process hears it", channel)
            if not valid:
                return
            with self._lock:
                if self._sender is None:
                    self._sender = _Sender(self.args, self.sender_id)
                sender = self._sender
            sender.add(valid)
        except Exception:  # a wake-up is best-effort: polling finds the work anyway
            log.exception("wake-ups: cannot queue a notification")

    def flush(self, timeout: float) -> bool:
        """Wait (at most ``timeout``) until the queued notifications are sent."""
        sender = self._sender
        return True if sender is None else sender.flush(timeout)

    def start_listening(self) -> None:
        """Start the listener thread if it is not running."""
        with self._lock:
            if self._listener is None:
                self._listener = _Listener(self.args, self.sender_id, self.deliver,
                                           self.wake_all)

    def listening(self, timeout: float = 0.0) -> bool:
        """Whether the listener is LISTENing (waiting up to ``timeout`` for it)."""
        listener = self._listener
        return listener is not None and listener.listening.wait(timeout)

    @property
    def listener_pid(self) -> int | None:
        listener = self._listener
        return None if listener is None else listener.backend_pid

    @property
    def sent(self) -> int:
        sender = self._sender
        return 0 if sender is None else sender.sent

    def close(self, flush_timeout: float = 1.0) -> None:
        """Send what is queued (for at most ``flush_timeout``), stop both threads
        and close their connections."""
        with self._lock:
            sender, self._sender = self._sender, None
            listener, self._listener = self._listener, None
        if sender is not None:
            sender.stop(flush_timeout)
        if listener is not None:
            listener.stop()
