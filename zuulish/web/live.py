"""The live status: one shared, fresh status per tenant, and its event stream.

:class:`StatusCache` answers every status request of a tenant from one
computation: a request waits for a check of the store that *started after it
arrived* (so it never reads older than its own arrival), and concurrent requests
share that check. A check reads the cheap :func:`~zuulish.web.status.status_version`;
only when it moved is the status computed and serialised again before the answer
(one older than ``max_age`` is answered while a thread computes it again, for the
times it shows).

:class:`StatusHub` keeps one producer per watched tenant, whatever the number of
watchers: it checks the status every ``interval`` seconds, at once when the
scheduler, an executor, a merger or a launcher notifies on PostgreSQL (its own
LISTEN connection, so no component's wake-up is taken from it) and, on SQLite, as
soon as another connection commits (``PRAGMA data_version``, looked at every
``WRITES_INTERVAL``; then the periodic check is skipped while nothing was written),
never sooner than ``min_gap`` after the previous check. When the version moved it
sends every watcher the status JSON, or, to a watcher that asked for deltas, only the
items that changed (:mod:`zuulish.web.status_delta`), each event numbered. Each
watcher has a bounded queue; one whose queue is full (it does not read) is dropped
and its connection aborted, so it never holds up the producer or anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from zuulish.config.layout import Layout
from zuulish.store import Store
from zuulish.store import notify as channels
from zuulish.store.data_version import SqliteWrites, sqlite_writes
from zuulish.web.estimates import EstimatesCache
from zuulish.web.status import ChangeLinks, status_version, tenant_status
from zuulish.web.status_delta import Shown
from zuulish.web.streams import EXPIRED_EVENT, REOPEN_EVENT

log = logging.getLogger(__name__)

#: how often a watched tenant's status is checked without a notification (seconds)
POLL_INTERVAL = 0.2
#: the least time between two checks of a tenant, however often it is woken (seconds)
MIN_GAP = 0.1
#: how often a SQLite store is asked whether anything was written (seconds)
WRITES_INTERVAL = 0.02
#: a status older than this is computed again for its times, moved or not (seconds;
#: answered meanwhile: the page moves its clocks itself)
MAX_AGE = 30.0
#: statuses this long or longer are also kept gzipped, at this level
GZIP_FROM = 4096
GZIP_LEVEL = 5
#: statuses a watcher may have unsent before it is dropped
QUEUE_SIZE = 8
#: a comment line sent to an idle stream this often, so proxies keep it open
KEEPALIVE = 15.0
#: how often a stream looks whether its client has gone (seconds)
CLIENT_CHECK = 1.0
#: the send buffer of a stream's socket: a watcher that stops reading fills it soon
STREAM_SNDBUF = 64 * 1024
#: the channels whose notifications mean a status may have changed
STATUS_CHANNELS = frozenset({channels.SCHEDULER, channels.EXECUTOR, channels.MERGER,
                             channels.LAUNCHER, channels.STATUS})


@dataclass
class Snapshot:
    """A tenant's status at one time: the data, its JSON, and what it was made of."""

    key: tuple[Any, ...]  # the store's version and the layout's identity
    data: dict[str, Any]
    made_at: float  # time.monotonic() when its reading began
    _body: bytes | None = None  # ``data`` serialised once, on first use
    _gzipped: bytes | None = None  # ``body`` compressed once, on first use
    _serialising: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def body(self) -> bytes:
        """The status JSON, serialised once on first use (by the first API answer or
        new watcher after a change, or for the watchers of full statuses: the
        watchers of deltas do not wait for it, nor share the process with it)."""
        if self._body is None:
            with self._serialising:
                if self._body is None:
                    self._body = json.dumps(self.data, separators=(",", ":")).encode()
        return self._body

    async def serialised(self) -> bytes:
        """:attr:`body`, serialised in a thread if it was not yet."""
        if self._body is not None:
            return self._body
        return await asyncio.get_running_loop().run_in_executor(None, lambda: self.body)

    def gzipped(self) -> bytes:
        """The body compressed, once for every client that takes gzip (a race
        compresses it twice, harmlessly)."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, GZIP_LEVEL)
        return self._gzipped

    async def response(self, request: web.Request) -> web.Response:
        """The JSON answer, compressed when the client takes gzip (a thousand items
        are megabytes of JSON, a tenth of that compressed; compressed in a thread)."""
        await self.serialised()
        if len(self.body) >= GZIP_FROM and "gzip" in request.headers.get("Accept-Encoding", ""):
            body = self._gzipped
            if body is None:
                body = await asyncio.get_running_loop().run_in_executor(None, self.gzipped)
            return web.Response(body=body, content_type="application/json",
                                headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        return web.Response(body=self.body, content_type="application/json",
                            headers={"Vary": "Accept-Encoding"})


class StatusCache:
    """The newest :class:`Snapshot` of each tenant, shared by every request."""

    def __init__(self, store: Store, web_url: str, links: ChangeLinks | None = None,
                 max_age: float = MAX_AGE) -> None:
        self.store = store
        self.web_url = web_url
        self.links = links
        self.max_age = max_age
        self.estimates = EstimatesCache()
        self._lock = threading.Lock()
        self._snapshots: dict[str, Snapshot] = {}
        self._refreshing: set[str] = set()
        self._running: dict[str, asyncio.Task[Snapshot]] = {}
        self._pending: dict[str, asyncio.Task[Snapshot]] = {}
        self.computed = 0  # how many times a status was computed (for tests, benchmarks)

    async def get(self, tenant: str, layout: Layout) -> Snapshot:
        """The tenant's status as of a check that started after this call."""
        pending = self._pending.get(tenant)
        if pending is None:
            pending = asyncio.get_running_loop().create_task(
                self._check_after(tenant, layout, self._running.get(tenant)))
            self._pending[tenant] = pending
        return await asyncio.shield(pending)

    async def _check_after(self, tenant: str, layout: Layout,
                           previous: asyncio.Task[Snapshot] | None) -> Snapshot:
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous
        me = self._pending.pop(tenant)  # later callers wait for the check after this one
        self._running[tenant] = me
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, self.snapshot, tenant, layout)
        finally:
            if self._running.get(tenant) is me:
                del self._running[tenant]

    def snapshot(self, tenant: str, layout: Layout) -> Snapshot:
        """Check the store now (blocking): the cached snapshot if nothing moved, else a
        new one. A cached snapshot older than ``max_age`` is still answered, while a
        thread makes a new one for the times it shows (requests never wait for that)."""
        key = (status_version(self.store, tenant), id(layout))
        with self._lock:
            cached = self._snapshots.get(tenant)
            if cached is not None and cached.key == key:
                if time.monotonic() - cached.made_at >= self.max_age \
                        and tenant not in self._refreshing:
                    self._refreshing.add(tenant)
                    threading.Thread(target=self._refresh, args=(tenant, layout, key),
                                     name="status-refresh", daemon=True).start()
                return cached
        return self._make(tenant, layout, key)

    def _refresh(self, tenant: str, layout: Layout, key: tuple[Any, ...]) -> None:
        try:
            self._make(tenant, layout, key).body  # noqa: B018 (serialised here, not by a request)
        except Exception:  # the next request checks again
            log.exception("status of %s: cannot refresh", tenant)
        finally:
            with self._lock:
                self._refreshing.discard(tenant)

    def _make(self, tenant: str, layout: Layout, key: tuple[Any, ...]) -> Snapshot:
        """Compute a snapshot; it replaces the cached one unless that one was read
        later (a slow refresh never hides a newer status)."""
        started = time.monotonic()
        data = tenant_status(self.store, layout, tenant, self.web_url, self.links,
                             self.estimates.get(self.store, tenant))
        fresh = Snapshot(key, data, started)
        with self._lock:
            current = self._snapshots.get(tenant)
            if current is None or current.made_at <= started:
                self._snapshots[tenant] = fresh
            self.computed += 1
        return fresh


@dataclass(eq=False)
class Watcher:
    """One open event stream."""

    tenant: str
    queue: asyncio.Queue[bytes | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    transport: asyncio.BaseTransport | None = None
    dropped: bool = False
    deltas: bool = False  # sent a numbered full status, then deltas


def event(snapshot: Snapshot) -> bytes:
    """The server-sent event that carries a status (JSON holds no newline)."""
    return b"event: status\ndata: " + snapshot.body + b"\n\n"


def numbered(version: int, snapshot: Snapshot) -> bytes:
    """The status event that starts a stream of deltas: its ``id`` is the number the
    first delta names as its ``base``."""
    return b"id: %d\n" % version + event(snapshot)


def delta_event(version: int, delta: dict[str, Any]) -> bytes:
    """The event of a delta (:meth:`~zuulish.web.status_delta.Shown.delta`)."""
    return b"id: %d\nevent: delta\ndata: " % version \
        + json.dumps(delta, separators=(",", ":")).encode() + b"\n\n"


#: event numbers, unique in the process (a page that reconnects is never confused)
_VERSIONS = itertools.count(1)


class StatusHub:
    """One producer per watched tenant, feeding every watcher of it."""

    def __init__(self, cache: StatusCache, layouts: Callable[[], dict[str, Layout]],
                 interval: float = POLL_INTERVAL, queue_size: int = QUEUE_SIZE,
                 min_gap: float = MIN_GAP) -> None:
        self.cache = cache
        self.layouts = layouts
        self.interval = interval
        self.min_gap = min_gap
        self.queue_size = queue_size
        self.watchers: dict[str, set[Watcher]] = {}
        self._producers: dict[str, asyncio.Task[None]] = {}
        self._last: dict[str, Snapshot] = {}
        self._versions: dict[str, int] = {}  # the number of each tenant's last event
        self._shown: dict[str, Shown] = {}  # what the tenant's delta readers hold
        self._kicks: dict[str, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pg: Any = None
        self._writes: SqliteWrites | None = None
        self._follower: asyncio.Task[None] | None = None
        self.checks = 0  # how many times a tenant's status version was read (for tests)
        self.dropped = 0  # watchers dropped for not reading

    def watch(self, tenant: str, transport: asyncio.BaseTransport | None,
              deltas: bool = False) -> Watcher:
        """A new watcher of ``tenant``: it gets the newest status at once, then each
        change (as a delta if ``deltas``); starts the tenant's producer if it is the
        first."""
        self._loop = asyncio.get_running_loop()
        self._listen()
        watcher = Watcher(tenant, asyncio.Queue(self.queue_size), transport, deltas=deltas)
        self.watchers.setdefault(tenant, set()).add(watcher)
        last = self._last.get(tenant)
        if last is not None:
            watcher.queue.put_nowait(numbered(self._versions[tenant], last) if deltas
                                     else event(last))
        if tenant not in self._producers:
            self._kicks[tenant] = asyncio.Event()
            self._producers[tenant] = self._loop.create_task(self._produce(tenant))
        return watcher

    def forget(self, watcher: Watcher) -> None:
        """The watcher has gone; the last watcher of a tenant stops its producer."""
        watchers = self.watchers.get(watcher.tenant, set())
        watchers.discard(watcher)
        if not watchers:
            self.watchers.pop(watcher.tenant, None)
            producer = self._producers.pop(watcher.tenant, None)
            if producer is not None:
                producer.cancel()
            self._last.pop(watcher.tenant, None)
            self._versions.pop(watcher.tenant, None)
            self._shown.pop(watcher.tenant, None)
            self._kicks.pop(watcher.tenant, None)

    def kick(self) -> None:
        """Check every watched tenant now (thread-safe)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._kick_all)

    def _kick_all(self) -> None:
        for kick in self._kicks.values():
            kick.set()

    def _listen(self) -> None:
        """On PostgreSQL, hear the components' notifications on a connection of our own;
        on SQLite, follow the writes to its file."""
        if self.cache.store.is_sqlite:
            if self._follower is None or self._follower.done():
                if self._writes is None:
                    self._writes = sqlite_writes(self.cache.store)
                if self._writes is not None:
                    self._follower = asyncio.get_running_loop().create_task(
                        self._follow_writes(self._writes))
            return
        postgres = self.cache.store.notifier.postgres
        if postgres is None or self._pg is not None:
            return
        from zuulish.store.pg_wakeups import PgWakeups

        def deliver(names: list[str]) -> None:
            if STATUS_CHANNELS.intersection(names):
                self.kick()

        self._pg = PgWakeups(postgres.args, deliver, self.kick)
        self._pg.start_listening()

    async def _follow_writes(self, writes: SqliteWrites) -> None:
        """Wake every producer when another connection wrote to the SQLite file."""
        writes.moved()  # what was written before the first check is read by it
        while self.watchers:
            await asyncio.sleep(WRITES_INTERVAL)
            if writes.moved():
                self._kick_all()

    async def _produce(self, tenant: str) -> None:
        kick = self._kicks[tenant]
        loop = asyncio.get_running_loop()
        while tenant in self.watchers:
            layout = self.layouts().get(tenant)
            if layout is None:
                self._broadcast(tenant, b"event: gone\ndata: {}\n\n")
                return
            kick.clear()
            started = loop.time()
            self.checks += 1
            try:
                snapshot = await self.cache.get(tenant, layout)
            except Exception:  # the database away: keep the streams, try again
                log.exception("live status of %s: cannot read the store", tenant)
            else:
                last = self._last.get(tenant)
                if last is None or last.key != snapshot.key:
                    await self._publish(tenant, snapshot)
            await self._next_check(tenant, kick, layout)
            await asyncio.sleep(max(0.0, self.min_gap - (loop.time() - started)))

    async def _next_check(self, tenant: str, kick: asyncio.Event, layout: Layout) -> None:
        """Wait for a kick, or for ``interval``; while the SQLite file is followed, an
        interval in which nothing was written and the layout stayed is not checked."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(kick.wait(), self.interval)
                return
            if self._writes is None or self._follower is None or self._follower.done() \
                    or self.layouts().get(tenant) is not layout:
                return

    async def _publish(self, tenant: str, snapshot: Snapshot) -> None:
        """Send a new status: the delta readers first (a delta is small and quick to
        make), then those of the full status, which waits for its JSON."""
        version = next(_VERSIONS)
        shown = self._shown.get(tenant)
        base = self._versions.get(tenant)
        self._last[tenant] = snapshot
        self._versions[tenant] = version
        readers = list(self.watchers.get(tenant, ()))
        if shown is None or base is None:
            self._shown[tenant] = Shown(snapshot.data)
            await snapshot.serialised()
            self._send([w for w in readers if w.deltas], numbered(version, snapshot))
        else:
            message = delta_event(version, shown.delta(snapshot.data, base))
            self._send([w for w in readers if w.deltas], message)
        full = [w for w in readers if not w.deltas]
        if full:
            await snapshot.serialised()
            self._send(full, event(snapshot))

    def _broadcast(self, tenant: str, message: bytes) -> None:
        self._send(list(self.watchers.get(tenant, ())), message)

    def _send(self, watchers: list[Watcher], message: bytes) -> None:
        for watcher in watchers:
            if watcher.dropped:
                continue
            try:
                watcher.queue.put_nowait(message)
            except asyncio.QueueFull:
                self.drop(watcher)

    def drop(self, watcher: Watcher) -> None:
        """Stop sending to a watcher that does not read: abort its connection."""
        watcher.dropped = True
        self.dropped += 1
        self.forget(watcher)
        if watcher.transport is not None:
            sock = watcher.transport.get_extra_info("socket")
            if sock is not None:  # a reset: what it did not read is thrown away at once
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(Exception):
                watcher.transport.abort()  # type: ignore[attr-defined]
        log.info("live status of %s: dropped a watcher that stopped reading", watcher.tenant)

    def end_streams(self) -> None:
        """End every stream (the server is stopping)."""
        for watchers in list(self.watchers.values()):
            for watcher in list(watchers):
                watcher.dropped = True
                with contextlib.suppress(asyncio.QueueFull):
                    watcher.queue.put_nowait(None)
                if watcher.transport is not None:
                    with contextlib.suppress(Exception):
                        watcher.transport.abort()  # type: ignore[attr-defined]

    async def close(self) -> None:
        self.end_streams()
        for producer in list(self._producers.values()):
            producer.cancel()
        self._producers.clear()
        if self._follower is not None:
            self._follower.cancel()
            self._follower = None
        if self._writes is not None:
            self._writes.close()
            self._writes = None
        if self._pg is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._pg.close)
            self._pg = None


STATUS_CACHE = web.AppKey("status_cache", StatusCache)
STATUS_HUB = web.AppKey("status_hub", StatusHub)


def install(app: web.Application) -> None:
    """Give ``app`` (its store, web URL, change links and layouts set) its status cache
    and hub; its streams end when it shuts down."""
    from zuulish.web.keys import CHANGE_LINKS, LAYOUTS, STORE, WEB_URL

    layouts = app[LAYOUTS]
    app[STATUS_CACHE] = StatusCache(app[STORE], app[WEB_URL], app[CHANGE_LINKS])
    app[STATUS_HUB] = StatusHub(app[STATUS_CACHE], lambda: dict(layouts.layouts))

    async def end_streams(app: web.Application) -> None:
        app[STATUS_HUB].end_streams()

    async def close(app: web.Application) -> None:
        await app[STATUS_HUB].close()

    app.on_shutdown.append(end_streams)
    app.on_cleanup.append(close)


async def stream(request: web.Request, hub: StatusHub, tenant: str,
                 until: float | None = None, deltas: bool = False,
                 reopen: asyncio.Event | None = None) -> web.StreamResponse:
    """The tenant's status as server-sent events: ``event: status`` with the status
    JSON at once and after every change (``event: gone`` if the tenant goes;
    ``event: expired``, the last, at ``until``: when the caller's token expires;
    ``event: reopen``, the last, once ``reopen`` is set: the tenant's rules changed); with
    ``deltas``, after the first status (``id: N``) each change is an ``event: delta``
    (``id: M``; its data names ``base``: N, the event it follows)."""
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SNDBUF)
    await response.write(b"retry: 1000\n\n")
    watcher = hub.watch(tenant, transport, deltas)
    ending = _Ending(hub, watcher, transport, until, reopen)
    try:
        while not watcher.dropped:
            try:
                message = await asyncio.wait_for(watcher.queue.get(), KEEPALIVE)
            except TimeoutError:
                message = b": keep-alive\n\n"
            if message is None:
                break
            await response.write(message)
            if message.startswith(b"event: gone"):
                break
        if ending.expired:
            await response.write(EXPIRED_EVENT)
        elif ending.reopen:
            await response.write(REOPEN_EVENT)
    except (ConnectionResetError, ConnectionError):
        pass  # the watcher went away (or was dropped)
    finally:
        ending.cancel()
        hub.forget(watcher)
    return response


class _Ending:
    """Ends a watcher's stream when its client has gone (looked at every
    ``CLIENT_CHECK`` seconds: an idle stream would notice only at its next keep-alive,
    holding the client's share of streams meanwhile) or at ``until`` (epoch seconds,
    when the caller's token expires; None: never), then with ``event: expired``, or
    once ``reopen`` is set (the tenant's rules changed), then with ``event: reopen``.
    The watcher is fed no more and what it had not sent is dropped."""

    def __init__(self, hub: StatusHub, watcher: Watcher,
                 transport: asyncio.BaseTransport | None, until: float | None,
                 reopen: asyncio.Event | None = None) -> None:
        self.hub = hub
        self.watcher = watcher
        self.expired = False
        self.reopen = False
        loop = asyncio.get_running_loop()
        self.timer = None if until is None else loop.call_later(
            max(0.0, until - time.time()), self._expire)
        self.watching = None if transport is None else loop.create_task(
            self._watch(transport))
        self.rules = None if reopen is None else loop.create_task(self._rules(reopen))

    async def _watch(self, transport: asyncio.BaseTransport) -> None:
        while not transport.is_closing():
            await asyncio.sleep(CLIENT_CHECK)
        self._end()

    async def _rules(self, reopen: asyncio.Event) -> None:
        await reopen.wait()
        if not self.expired:
            self.reopen = True
            self._end()

    def _expire(self) -> None:
        self.expired = True
        self._end()

    def _end(self) -> None:
        self.hub.forget(self.watcher)
        while not self.watcher.queue.empty():
            self.watcher.queue.get_nowait()
        self.watcher.queue.put_nowait(None)  # the stream's loop ends there

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.watching is not None:
            self.watching.cancel()
        if self.rules is not None:
            self.rules.cancel()
