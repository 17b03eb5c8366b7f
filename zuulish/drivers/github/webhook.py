"""GitHub's webhook: ``POST /api/connection/{name}/payload`` (Zuul's path).

On the request path, in this order and nothing more:

1. the body is read, at most :data:`MAX_BODY` bytes (GitHub's own limit, 25 MB):
   more is a 413;
2. ``X-Hub-Signature-256`` is checked, an HMAC-SHA256 of the raw body with the
   connection's ``webhook_token``, compared in constant time: a missing or wrong
   signature (or only GitHub's older SHA-1 ``X-Hub-Signature``) is a 401, and
   nothing is parsed or stored;
3. ``ping`` is answered (200, not stored), and so is an event zuulish does not act
   on (200 ``ignored``, not stored, logged);
4. a body that is not a JSON object, or lacks a field the event needs, is a 400
   naming what is wrong, and nothing is stored;
5. the delivery (event name, ``X-GitHub-Delivery``, raw body) is inserted in the
   store by the webhook's own writer thread, so the event loop never waits on the
   database, and only then answered: 200 ``stored``; a delivery id already stored
   (GitHub's redelivery, a replay) answers 200 ``already received`` and stores
   nothing new. The writer inserts every delivery waiting at once in one
   transaction (group commit): one writer never queues behind another of its own,
   and a busy database (the scheduler's transactions) delays a batch, not each.

What the delivery means is worked out later by the intake worker
(:mod:`zuulish.drivers.github.intake_worker`), woken when one is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import queue
import re
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, OperationalError

from zuulish.clock import Clock, SystemClock
from zuulish.drivers.github import events
from zuulish.errors import StoreUnavailable
from zuulish.store import GithubDeliveryRow, Store
from zuulish.store.database import make_engine

log = logging.getLogger(__name__)

#: GitHub caps webhook payloads at 25 MB
MAX_BODY = 25 * 1024 * 1024
SIGNATURE = "X-Hub-Signature-256"
DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
CONNECTION_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
READ_CHUNK = 1 << 16
#: the most deliveries inserted in one transaction
BATCH = 200
#: on SQLite, how often the writer asks for the database's write lock while another
#: process or thread holds it, and for how long at most (the store's busy timeout)
LOCK_POLL = 0.001
LOCK_TIMEOUT = 30.0


def payload_path(connection: str) -> str:
    """The webhook URL path of ``connection`` (what GitHub's webhook settings name)."""
    return f"/api/connection/{connection}/payload"


def intake_channel(connection: str) -> str:
    """The notifier channel the connection's intake worker waits on."""
    return f"github-intake:{connection}"


def sign(secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256`` of ``body``, as GitHub computes it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _answer(status: int, **fields: object) -> web.Response:
    return web.json_response(fields, status=status)


@dataclass
class _Delivery:
    event: str
    delivery: str
    body: bytes
    stored: Future[bool] = field(default_factory=Future)


def _insert_ignoring_duplicates(store: Store) -> Any:
    """An INSERT that skips the rows whose delivery id is already stored."""
    if store.is_sqlite:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # zuulish's other database is PostgreSQL
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    table = GithubDeliveryRow.__table__
    return dialect_insert(table).on_conflict_do_nothing(
        index_elements=["connection", "delivery"]).returning(table.c.delivery)


def _polling_engine(store: Store) -> Engine | None:
    """On SQLite, the writer's own connection, which asks for the write lock every
    :data:`LOCK_POLL` seconds instead of through SQLite's busy handler: that one
    sleeps ever longer between tries (up to 100 ms), so a writer that waits behind
    a component writing transaction after transaction (the intake worker, the
    scheduler) misses the short gaps between them and the webhooks' answers wait.
    None on PostgreSQL (row locks: the store's sessions do)."""
    if not store.is_sqlite:
        return None
    engine = make_engine(store.url)

    @event.listens_for(engine, "connect")
    def _fail_when_locked(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.execute("PRAGMA busy_timeout=0")  # after the store's own pragmas

    return engine


class DeliveryWriter:
    """One thread storing a connection's deliveries, all those waiting in one
    transaction; each delivery's future says whether it was new."""

    def __init__(self, connection: str, store: Store, clock: Clock):
        self.connection = connection
        self.store = store
        self.clock = clock
        self._queue: queue.SimpleQueue[_Delivery | None] = queue.SimpleQueue()
        self._statement = _insert_ignoring_duplicates(store)  # compiled once, cached
        self._engine = _polling_engine(store)
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"github-webhook-{connection}")
        self._thread.start()

    def submit(self, event: str, delivery: str, body: bytes) -> Future[bool]:
        item = _Delivery(event, delivery, body)
        if self._closed:
            item.stored.set_exception(StoreUnavailable("zuulish is stopping"))
        else:
            self._queue.put(item)
        return item.stored

    def close(self) -> None:
        """Store what was submitted, then stop."""
        self._closed = True
        self._queue.put(None)
        self._thread.join(30)
        if self._engine is not None:
            self._engine.dispose()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            closing = False
            while len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                    break
                batch.append(item)
            self._write(batch)
            if closing:
                return

    def _write(self, batch: list[_Delivery]) -> None:
        try:
            new = self._insert(batch)
        except DBAPIError as exc:
            for item in batch:
                item.stored.set_exception(exc)
            return
        seen: set[str] = set()
        for item in batch:
            item.stored.set_result(item.delivery in new and item.delivery not in seen)
            seen.add(item.delivery)
        if new:
            self.store.notifier.notify(intake_channel(self.connection))

    def _insert(self, batch: list[_Delivery]) -> set[str]:
        """Insert the batch; the delivery ids that were not stored before."""
        now = self.clock.now()
        rows = [{"connection": self.connection, "delivery": item.delivery,
                 "event": item.event, "body": item.body, "received_at": now, "attempts": 0}
                for item in batch]
        if self._engine is None:
            with self.store.session() as session:
                return set(session.connection().execute(self._statement, rows).scalars())
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                with self._engine.begin() as conn:  # BEGIN IMMEDIATE: the write lock
                    return set(conn.execute(self._statement, rows).scalars())
            except OperationalError as exc:
                busy = getattr(exc.orig, "sqlite_errorname", None) == "SQLITE_BUSY"
                if not busy or time.monotonic() > deadline:
                    raise
            time.sleep(LOCK_POLL)


class Webhook:
    """One GitHub connection's webhook: verifies, then stores, each delivery."""

    def __init__(self, connection: str, secret: str, store: Store,
                 clock: Clock | None = None, max_body: int = MAX_BODY):
        if not CONNECTION_NAME.match(connection):
            raise ValueError(f"connection name {connection!r} cannot be part of the webhook "
                             "URL; use letters, digits, '.', '_' and '-'")
        if not secret:
            raise ValueError(f"connection {connection!r}: a GitHub connection needs a "
                             "webhook_token (the webhook's secret) to verify deliveries")
        self.connection = connection
        self._key = secret.encode()
        self.store = store
        self.clock = clock or SystemClock()
        self.max_body = max_body
        self._writer = DeliveryWriter(connection, store, self.clock)

    def routes(self) -> list[web.RouteDef]:
        """The route to mount on the web application."""
        return [web.post(payload_path(self.connection), self.handle)]

    def start(self) -> None:
        """Nothing to start: the writer runs from construction (a Service's start)."""

    def stop(self) -> None:
        """Store what is waiting, then stop the writer (a Service's stop)."""
        self._writer.close()

    close = stop

    # ------------------------------------------------------------------ request path
    async def _read(self, request: web.Request) -> bytes | None:
        """The body, or None when it is over the limit."""
        if request.content_length is not None and request.content_length > self.max_body:
            return None
        chunks, size = [], 0
        while True:
            chunk = await request.content.read(READ_CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)

    def _bad(self, delivery: str, error: str) -> web.Response:
        log.warning("github %s: delivery %s refused: %s", self.connection, delivery, error)
        return _answer(400, error=error)

    def _verified(self, request: web.Request, body: bytes) -> str | None:
        """Why the signature is refused; None when it is right."""
        given = request.headers.get(SIGNATURE)
        if given is None:
            if "X-Hub-Signature" in request.headers:
                return ("only X-Hub-Signature (SHA-1) was sent; zuulish requires "
                        "X-Hub-Signature-256")
            return "missing X-Hub-Signature-256"
        expected = "sha256=" + hmac.new(self._key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace")):
            return "X-Hub-Signature-256 does not match the body and the webhook secret"
        return None

    async def handle(self, request: web.Request) -> web.Response:
        body = await self._read(request)
        if body is None:
            log.warning("github %s: refused a delivery over %d bytes", self.connection,
                        self.max_body)
            return _answer(413, error=f"the body is larger than {self.max_body} bytes")
        refused = self._verified(request, body)
        if refused is not None:
            log.warning("github %s: refused a delivery from %s: %s", self.connection,
                        request.remote, refused)
            return _answer(401, error=refused)
        event = request.headers.get("X-GitHub-Event", "")
        delivery = request.headers.get("X-GitHub-Delivery", "")
        if not event:
            return _answer(400, error="missing X-GitHub-Event")
        if not DELIVERY_ID.match(delivery):
            return _answer(400, error="missing or malformed X-GitHub-Delivery")
        if event == "ping":
            log.info("github %s: ping (delivery %s): the webhook is set up",
                     self.connection, delivery)
            return _answer(200, result="pong")
        if event not in events.HANDLED:
            reason = events.not_handled(event)
            log.info("github %s: delivery %s ignored: %s", self.connection, delivery, reason)
            return _answer(200, result="ignored", reason=reason)
        content_type = request.headers.get("Content-Type", "application/json")
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            return _answer(415, error="set the webhook's Content type to application/json")
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._bad(delivery, f"the body is not JSON: {exc}")
        missing = events.missing_fields(event, payload)
        if missing is not None:
            return self._bad(delivery, missing)
        try:
            stored = await asyncio.wrap_future(self._writer.submit(event, delivery, body))
        except (DBAPIError, StoreUnavailable) as exc:
            log.error("github %s: delivery %s could not be stored: %s", self.connection,
                      delivery, getattr(exc, "orig", None) or exc)
            return _answer(503, error="the delivery could not be stored; redeliver it later")
        if not stored:
            log.info("github %s: delivery %s was already received", self.connection,
                     delivery)
            return _answer(200, result="already received", delivery=delivery)
        return _answer(200, result="stored", delivery=delivery)
