"""The live console: a build's ``job-output.txt`` sent over a websocket as it grows.

``GET /api/build/{uuid}/console-stream`` upgrades to a websocket and sends the
build's console log from the start (or from byte ``?offset=N``): what is there
at once, then each new complete line within ``POLL_SECONDS``, as the executor
writes it. When the build has finished and everything is sent, the server
closes the socket with code 1000 and the build's result as the reason. The log
is the executor's own file, so secrets are already masked in it.

Before the upgrade, an unknown build is a JSON 404 and a bad offset a JSON 400,
as elsewhere in the API. A build that has not started yet has no log: the
socket stays open and sends nothing until the log appears.

A socket opened with a token (or a ticket, see ``zuulish/web/auth/tickets.py``) is
closed with code 4001 when that token expires, wherever the stream is then.

Where the log is read from: this host's ``<state>/logs/<uuid>/job-output.txt``
when it is there (the embedded mode, and any build of an executor on this
host); else, for a finished build whose logs are in a log store (S3), the
stored file; else, for a build whose executor (the build's ``worker``) has a
component row with an ``address``, that executor's console server,
through ``console_proxy``. A build still waiting for an executor is looked at
again until one takes it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from aiohttp import WSMsgType, web
from sqlalchemy import select

from zuulish.executor import safe_files
from zuulish.logs.console_auth import component_key
from zuulish.logs.names import valid_build_id
from zuulish.logs.store import LogStoreError
from zuulish.logs.stores import LogStores
from zuulish.store import BuildRow, ComponentRow, Store
from zuulish.web import console_proxy
from zuulish.web.streams import (
    EXPIRED_CODE,
    EXPIRED_REASON,
    REOPEN_CODE,
    REOPEN_REASON,
    deadline,
    until_set,
)

POLL_SECONDS = 0.1  # how often the log is looked at: the stream's delay
STATE_EVERY = 5  # polls between looks at the build's state in the store
CHUNK_BYTES = 64 * 1024
FINISHED = ("completed", "canceled")
WAIT_SECONDS = 0.5  # how often a build waiting for an executor is looked at
GONE = ("stopped", "dead")  # component states of an executor that runs nothing


@dataclass(frozen=True)
class BuildSource:
    """What the web needs to know to find a build's console log."""

    state: str
    result: str | None
    log_path: str | None
    worker: str | None
    address: str | None  # the worker's console server (its component row), if any
    worker_state: str | None  # that component's state


def build_source(store: Store, uuid: str) -> BuildSource | None:
    with store.read() as s:
        row = s.execute(select(BuildRow.state, BuildRow.result, BuildRow.log_path,
                               BuildRow.worker).where(BuildRow.id == uuid)).first()
        if row is None:
            return None
        component = s.get(ComponentRow, row[3]) if row[3] else None
    return BuildSource(row[0], row[1], row[2], row[3],
                       component.address if component is not None else None,
                       component.state if component is not None else None)


def build_state(store: Store, uuid: str) -> tuple[str, str | None] | None:
    """The build's (state, result), or None when there is no such build."""
    with store.read() as s:
        row = s.execute(select(BuildRow.state, BuildRow.result)
                        .where(BuildRow.id == uuid)).first()
    return None if row is None else (row[0], row[1])


def console_path(state_dir: Path, uuid: str) -> Path | None:
    """Where the build's console log is (or will be); None for an id that would
    leave the log folder, or is not a build id."""
    if not valid_build_id(uuid):
        return None
    root = (state_dir / "logs").resolve()
    folder = (root / uuid).resolve()
    if folder.parent != root:
        return None
    return folder / "job-output.txt"


def read_from(path: Path, offset: int) -> bytes:
    """Up to ``CHUNK_BYTES`` of ``path`` (``<logs>/<uuid>/job-output.txt``) from
    ``offset``; empty when there is none yet, or when it is not a regular file
    reached without links (``safe_files``)."""
    try:
        fd = safe_files.open_file(path.parent.parent, f"{path.parent.name}/{path.name}")
    except (safe_files.UnsafePath, OSError):
        return b""
    with open(fd, "rb") as f:
        f.seek(offset)
        return f.read(CHUNK_BYTES)


async def stream(ws: web.WebSocketResponse, store: Store, path: Path, uuid: str,
                 offset: int) -> None:
    """Send the log's complete lines as they come until the build is over."""
    pending = b""
    polls = 0
    finished: tuple[str, str | None] | None = None
    while True:
        chunk = await asyncio.to_thread(read_from, path, offset)
        if chunk:
            offset += len(chunk)
            pending += chunk
            lines, _, pending = pending.rpartition(b"\n")
            if lines:
                await ws.send_str((lines + b"\n").decode("utf-8", "replace"))
            if len(chunk) == CHUNK_BYTES:
                continue  # more is there already
        elif finished is not None:
            if pending:
                await ws.send_str(pending.decode("utf-8", "replace"))
            result = finished[1] or finished[0].upper()
            await ws.close(code=1000, message=f"build finished: {result}".encode())
            return
        polls += 1
        if polls % STATE_EVERY == 0 or finished is None and polls == 1:
            state = await asyncio.to_thread(build_state, store, uuid)
            if state is None or state[0] in FINISHED:
                # Read once more: lines written just before the end must not be lost.
                finished = state or ("gone", None)
                continue
        try:
            message = await ws.receive(timeout=POLL_SECONDS)
        except TimeoutError:
            continue
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
            return  # the client went away


async def console_stream(request: web.Request, store: Store, state_dir: Path,
                         log_stores: LogStores | None = None,
                         console_key: bytes | None = None,
                         until: float | None = None,
                         reopen: asyncio.Event | None = None) -> web.StreamResponse:
    """The websocket handler (see the module); the app passes its store, folder, log
    stores, the key to sign requests to executors with, when the caller's authority
    ends (epoch seconds; None: never: then closed with 4001), and the event set when
    the tenant's rules change (then closed with 4003: open it again)."""
    uuid = request.match_info["uuid"]
    try:
        offset = int(request.query.get("offset", "0"))
    except ValueError:
        offset = -1
    if offset < 0:
        return web.json_response({"error": "offset must be a whole number of bytes, 0 or "
                                           "more"}, status=400)
    path = console_path(state_dir, uuid)
    if path is None or await asyncio.to_thread(build_state, store, uuid) is None:
        return web.json_response({"error": f"no build with id {uuid!r}"}, status=404)
    ws = web.WebSocketResponse(heartbeat=30.0)
    await ws.prepare(request)
    limit = asyncio.timeout_at(deadline(until))
    try:
        async with limit:
            if await until_set(reopen, _follow(ws, store, state_dir, path, uuid, offset,
                                               log_stores, console_key)):
                await ws.close(code=REOPEN_CODE, message=REOPEN_REASON.encode())
    except TimeoutError:
        if not limit.expired():
            raise
        await ws.close(code=EXPIRED_CODE, message=EXPIRED_REASON.encode())
    return ws


async def _follow(ws: web.WebSocketResponse, store: Store, state_dir: Path, path: Path,
                  uuid: str, offset: int, log_stores: LogStores | None,
                  console_key: bytes | None) -> None:
    """Send the console from wherever it is (see the module) until it ends."""
    while True:
        source = await asyncio.to_thread(build_source, store, uuid)
        if await asyncio.to_thread(path.exists) or source is None:
            await stream(ws, store, path, uuid, offset)
            return
        if source.log_path is not None and log_stores is not None:
            kept = log_stores.for_path(source.log_path)
            if kept is not None and kept is not log_stores.local:
                try:
                    log_file = await asyncio.to_thread(kept.open, uuid, source.log_path,
                                                       "job-output.txt")
                except LogStoreError as exc:
                    await ws.close(code=console_proxy.UNREACHABLE,
                                   message=console_proxy.close_reason(str(exc)))
                    return
                await console_proxy.send_stored(ws, log_file, offset,
                                                source.result or source.state.upper())
                return
        if source.state == "running" and source.worker and source.worker_state in GONE:
            await ws.close(code=console_proxy.UNREACHABLE, message=console_proxy.close_reason(
                f"executor {source.worker} is {source.worker_state}: no console to follow"))
            return
        if source.address and source.state in ("running", *FINISHED):
            # (a finished build's log not in a log store stays on its executor's host)
            key = console_key if console_key is not None else \
                await asyncio.to_thread(component_key, state_dir)
            await console_proxy.proxy(ws, uuid, offset, source.address, source.worker or "?",
                                      key, lambda: asyncio.to_thread(build_state, store, uuid))
            return
        if source.state == "running" or source.state in FINISHED:
            await stream(ws, store, path, uuid, offset)  # this host's (as before)
            return
        try:  # not taken by an executor yet
            message = await ws.receive(timeout=WAIT_SECONDS)
        except TimeoutError:
            continue
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
            return
