"""The live console of a build that runs on another host, or whose log is stored away.

``proxy`` asks the executor running the build (its component row's
``address``) for the console from an offset (``GET <address>/console/<uuid>``,
signed: ``logs.console_auth``) and sends what comes, line by line, into the
client's websocket, exactly as the local stream does (``console.py``). When the
executor's response ends, the socket closes with the build's result; when the
executor cannot be reached, refuses, or stops sending before the build ended,
the socket closes with code 1011 and a reason that says so — never a hang.

``send_stored`` sends a finished build's ``job-output.txt`` from its log store
(an S3 bucket) and closes with the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from zuulish.logs import console_auth
from zuulish.logs.store import LogFile, LogStoreError

CONNECT_TIMEOUT = 5.0  # seconds to reach an executor's console server
MAX_REASON = 123  # bytes a websocket close reason may hold
UNREACHABLE = 1011  # the close code when the stream cannot go on


def close_reason(text: str) -> bytes:
    """``text`` cut to what a websocket close frame may carry."""
    data = text.encode()
    if len(data) <= MAX_REASON:
        return data
    return data[:MAX_REASON - 3].decode("utf-8", "ignore").encode() + b"..."


class LineSender:
    """Sends whole lines into the websocket; the rest waits for its newline."""

    def __init__(self, ws: web.WebSocketResponse):
        self.ws = ws
        self.pending = b""

    async def add(self, chunk: bytes) -> None:
        self.pending += chunk
        lines, _, self.pending = self.pending.rpartition(b"\n")
        if lines:
            await self.ws.send_str((lines + b"\n").decode("utf-8", "replace"))

    async def flush(self) -> None:
        if self.pending:
            await self.ws.send_str(self.pending.decode("utf-8", "replace"))
            self.pending = b""


async def _client_gone(ws: web.WebSocketResponse) -> None:
    """Returns when the client closes its end."""
    while True:
        message = await ws.receive()
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
            return


async def _until_client_leaves(ws: web.WebSocketResponse, chunks: AsyncIterator[bytes],
                               sender: LineSender) -> bool:
    """Send ``chunks`` until they end (True) or the client goes away (False)."""
    async def pump() -> None:
        async for chunk in chunks:
            await sender.add(chunk)

    pumping = asyncio.ensure_future(pump())
    watching = asyncio.ensure_future(_client_gone(ws))
    try:
        done, _ = await asyncio.wait({pumping, watching},
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pumping, watching):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    if pumping in done:
        pumping.result()  # its error, if any
        return True
    return False


async def proxy(ws: web.WebSocketResponse, uuid: str, offset: int, address: str,
                worker: str, key: bytes,
                final_state: Callable[[], Any]) -> None:
    """Relay the executor's stream (see the module). ``final_state`` is awaited when
    the executor's response ends and gives the build's (state, result) or None."""
    url = f"{address.rstrip('/')}/console/{uuid}"
    headers = console_auth.signed_headers(key, uuid, offset, time.time())
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT,
                                    sock_connect=CONNECT_TIMEOUT)
    sender = LineSender(ws)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.get(url, params={"offset": str(offset)}, headers=headers) as answer:
            if answer.status != 200:
                what = ("refused this web's signature (is secrets.key the same on every "
                        "host?)" if answer.status == 401 else f"answered {answer.status}")
                await ws.close(code=UNREACHABLE,
                               message=close_reason(f"executor {worker} {what}"))
                return
            if not await _until_client_leaves(ws, answer.content.iter_any(), sender):
                return
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        await sender.flush()
        await ws.close(code=UNREACHABLE, message=close_reason(
            f"executor {worker} unreachable at {address}: {exc.__class__.__name__}"))
        return
    await sender.flush()
    state = await final_state()
    if state is None or state[0] in ("completed", "canceled"):
        result = "gone" if state is None else (state[1] or state[0].upper())
        await ws.close(code=1000, message=close_reason(f"build finished: {result}"))
    else:
        await ws.close(code=UNREACHABLE, message=close_reason(
            f"executor {worker} stopped sending before the build ended"))


async def _stored_chunks(log_file: LogFile, offset: int) -> AsyncIterator[bytes]:
    pieces = log_file.chunks(offset, log_file.size - 1)
    try:
        while True:
            chunk = await asyncio.to_thread(next, pieces, b"")
            if not chunk:
                return
            yield chunk
    finally:
        await asyncio.to_thread(log_file.close)


async def send_stored(ws: web.WebSocketResponse, log_file: LogFile | None, offset: int,
                      result: str) -> None:
    """Send a finished build's stored console log from ``offset``; close with ``result``."""
    sender = LineSender(ws)
    if log_file is not None and offset < log_file.size:
        try:
            if not await _until_client_leaves(ws, _stored_chunks(log_file, offset), sender):
                return
        except LogStoreError as exc:
            await sender.flush()
            await ws.close(code=UNREACHABLE, message=close_reason(str(exc)))
            return
    elif log_file is not None:
        await asyncio.to_thread(log_file.close)
    await sender.flush()
    await ws.close(code=1000, message=close_reason(f"build finished: {result}"))
