"""Each executor's console server: a running build's ``job-output.txt``, to other components.

``GET /console/<uuid>?offset=N`` answers 200 and sends the build's console log
from byte ``N`` (chunked), then what the executor writes to it, until the build
has ended in the store and everything is sent; then the response ends. Webs ask
for it (``web/console_proxy.py``) when a build runs on another host.

Only components may ask: each request carries a signature
(``logs.console_auth``) over the uuid, the offset and the time, with a key
derived from ``secrets.key``; anything unsigned, wrongly signed or signed more
than a minute away from now is answered 401 and gets not one byte of a log. The
uuid is the only thing of the request that comes near the filesystem: it must
look like a build id (``logs.names``), and the file is opened below
``<state>/logs`` without following links (``safe_files``). A file once opened
stays open, so lines written just before the executor removes its local copy
(after uploading it) are still sent.

``ConsoleServer(...)`` runs the server in a thread of its own (its own event
loop) until ``stop()``; ``url`` is what the executor's component row should
advertise (``executor.console_url``, default ``http://<hostname>:<port>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from zuulish.executor import safe_files
from zuulish.logs import console_auth
from zuulish.logs.names import valid_build_id
from zuulish.store import BuildRow, Store

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1  # how often a growing log is looked at
STATE_EVERY = 5  # polls between looks at the build's state in the store
CHUNK_BYTES = 64 * 1024
FINISHED = ("completed", "canceled")
START_TIMEOUT = 30.0


def _state(store: Store, uuid: str) -> str | None:
    with store.read() as s:
        return s.scalar(select(BuildRow.state).where(BuildRow.id == uuid))


def _open_console(logs: Path, uuid: str) -> int | None:
    try:
        return safe_files.open_file(logs, f"{uuid}/job-output.txt")
    except (safe_files.UnsafePath, OSError):
        return None


def _read(fd: int, offset: int) -> bytes:
    return os.pread(fd, CHUNK_BYTES, offset)


class ConsoleServer:
    """See the module. ``port`` 0 takes a free one; ``clock`` gives epoch seconds."""

    def __init__(self, store: Store, state_dir: Path, host: str = "0.0.0.0", port: int = 7900,
                 url: str | None = None, key: bytes | None = None,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.logs = Path(state_dir) / "logs"
        self.host = host
        self.port = port
        self._url = url.rstrip("/") if url else None
        self.key = key if key is not None else console_auth.component_key(Path(state_dir))
        self.clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        """Where other components reach this server."""
        return self._url or f"http://{socket.gethostname()}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/console/{uuid}", self._console)
        return app

    def start(self) -> None:
        """Serve from a thread of its own; OSError when the address is taken."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="console-server",
                                        daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), loop)
        try:
            self._runner = future.result(START_TIMEOUT)
        except BaseException:
            self._close_loop()
            raise
        log.info("console server listening on %s:%d (%s)", self.host, self.port, self.url)

    async def _serve(self) -> web.AppRunner:
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        if self.port == 0:
            server = site._server
            assert server is not None and server.sockets  # type: ignore[union-attr]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return runner

    def stop(self) -> None:
        self._stopping.set()
        if self._loop is None:
            return
        if self._runner is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(),
                                                 self._loop).result(10)
            self._runner = None
        self._close_loop()

    def _close_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(10)
        loop.close()

    # ------------------------------------------------------------ the route
    async def _console(self, request: web.Request) -> web.StreamResponse:
        uuid = request.match_info["uuid"]
        offset_text = request.query.get("offset", "0")
        offset = int(offset_text) if offset_text.isascii() and offset_text.isdigit() \
            and len(offset_text) < 19 else -1
        why = console_auth.refusal(self.key, uuid, offset,
                                   request.headers.get(console_auth.TIMESTAMP_HEADER),
                                   request.headers.get(console_auth.SIGNATURE_HEADER),
                                   self.clock())
        if why is not None:
            return web.json_response({"error": why}, status=401)
        if offset < 0:
            return web.json_response({"error": "offset must be a whole number of bytes"},
                                     status=400)
        if not valid_build_id(uuid):
            return web.json_response({"error": "not a build id"}, status=404)
        if await asyncio.to_thread(_state, self.store, uuid) is None:
            return web.json_response({"error": f"no build with id {uuid!r}"}, status=404)
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8",
                                               "Cache-Control": "no-store"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):
            await self._follow(response, uuid, offset)
            await response.write_eof()
        return response

    async def _follow(self, response: web.StreamResponse, uuid: str, offset: int) -> None:
        """Send the log from ``offset`` as it grows, until the build has ended and
        all of it is sent (or this server stops)."""
        fd: int | None = None
        polls = 0
        ended = False
        try:
            while not self._stopping.is_set():
                if fd is None:
                    fd = await asyncio.to_thread(_open_console, self.logs, uuid)
                chunk = b"" if fd is None else await asyncio.to_thread(_read, fd, offset)
                if chunk:
                    offset += len(chunk)
                    await response.write(chunk)
                    continue
                if ended:
                    return  # read once more after the end: nothing was lost
                polls += 1
                if polls % STATE_EVERY == 1:
                    state = await asyncio.to_thread(_state, self.store, uuid)
                    if state is None or state in FINISHED:
                        ended = True
                        continue
                await asyncio.sleep(POLL_SECONDS)
        finally:
            if fd is not None:
                os.close(fd)
