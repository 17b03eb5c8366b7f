"""``gerrit stream-events`` over SSH, in a thread of its own.

:class:`GerritStream` connects with asyncssh as a user with a private key,
checking Gerrit's host key against a ``known_hosts`` file (an unknown or changed
key is refused, with the line to add), runs ``gerrit stream-events`` and hands
each complete line to ``on_line``. A line cut by a dropped connection is
discarded (and said so), never half-parsed; what ``on_line`` makes of a line is
its business: nothing it raises stops the reader. After a disconnection it
reconnects with capped, jittered exponential back-off, and after every
reconnection (and whenever ``on_line`` or ``on_connect`` says events were lost)
it calls
``on_gap`` to catch up, retried with back-off until it succeeds. Only
:meth:`GerritStream.stop` stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from zuulish.drivers.gerrit.backoff import Backoff
from zuulish.errors import ConfigError, UserError

with warnings.catch_warnings():  # asyncssh still imports DSA, which cryptography deprecates
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*DSA.*")
    import asyncssh

log = logging.getLogger(__name__)

DEFAULT_PORT = 29418
COMMAND = "gerrit stream-events"
#: The longest event line kept waiting for its end; longer is garbage.
MAX_LINE = 16 * 1024 * 1024

#: ``on_line(line)``: a complete line (bytes, with its newline); returns True when
#: the line says events were lost (Gerrit's ``dropped-output``).
LineHandler = Callable[[bytes], bool | None]


def _default_known_hosts() -> str:
    return str(Path("~/.ssh/known_hosts").expanduser())


class GerritStream:
    """A reader of ``gerrit stream-events`` that keeps reading until stopped."""

    def __init__(self, host: str, user: str, key_file: str | Path, *,
                 on_line: LineHandler,
                 on_connect: Callable[[int], bool | None] | None = None,
                 on_gap: Callable[[], Any] | None = None,
                 port: int = DEFAULT_PORT, known_hosts: str | Path | None = None,
                 backoff: Backoff | None = None,
                 sleep: Callable[[float], Awaitable[None]] | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 healthy_after: float = 60.0, keepalive_interval: float = 30.0,
                 connect_timeout: float = 30.0, name: str = "gerrit",
                 command: str = COMMAND):
        self.host, self.port, self.user, self.name = host, port, user, name
        self.known_hosts = str(known_hosts) if known_hosts else _default_known_hosts()
        if not Path(self.known_hosts).is_file():
            raise ConfigError(f"gerrit connection {name}: known_hosts file {self.known_hosts} "
                              f"does not exist; add Gerrit's host key to it, e.g. with "
                              f"`ssh-keyscan -p {port} {host} >> {self.known_hosts}`")
        try:
            self._key = asyncssh.read_private_key(str(key_file))
        except (OSError, asyncssh.KeyImportError) as exc:
            raise ConfigError(f"gerrit connection {name}: cannot read the SSH private key "
                              f"{key_file}: {exc}") from None
        self._on_line = on_line
        self._on_connect = on_connect
        self._on_gap = on_gap
        self.backoff = backoff or Backoff()
        self._sleep = sleep or asyncio.sleep
        self._monotonic = monotonic
        self.healthy_after = healthy_after
        self.keepalive_interval = keepalive_interval
        self.connect_timeout = connect_timeout
        self.command = command
        #: How many times the stream has been set up (1 after the first connection).
        self.connections = 0
        #: Set while a stream is running (after ``on_connect``); cleared when it is lost.
        self.connected = threading.Event()
        #: The newest reason the stream is not running, for status pages.
        self.last_error: str | None = None
        #: Pauses taken before reconnecting, newest last (for status and tests).
        self.delays: list[float] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._gap_task: asyncio.Task[None] | None = None
        self._gap_again = False
        self._stopping = False

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start reading in a new thread (with its own event loop)."""
        if self._thread is not None:
            raise RuntimeError("this stream was already started")
        started = threading.Event()
        self._thread = threading.Thread(target=self._run_thread, args=(started,),
                                        name=f"gerrit-stream-{self.name}", daemon=True)
        self._thread.start()
        started.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reading, close the connection and wait for the thread to end."""
        self._stopping = True
        loop, main = self._loop, self._main
        if loop is not None and main is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(main.cancel)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run_thread(self, started: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._main = loop.create_task(self._run())
            started.set()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._main)
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            started.set()
            loop.close()

    # ------------------------------------------------------------ reading
    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                healthy = await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug, or asyncssh's surprise: log it, go on
                log.exception("gerrit %s: the event stream failed", self.name)
                self.last_error = f"the event stream failed: {exc!r}"
                healthy = False
            self.connected.clear()
            if self._stopping:
                return
            if healthy:
                attempt = 0
            delay = self.backoff.delay(attempt)
            attempt += 1
            self.delays.append(delay)
            log.info("gerrit %s: reconnecting to %s:%d in %.1f s", self.name, self.host,
                     self.port, delay)
            await self._sleep(delay)

    def _fail(self, message: str, level: int = logging.WARNING) -> None:
        self.last_error = message
        log.log(level, "gerrit %s: %s", self.name, message)

    async def _session(self) -> bool:
        """One connection's life; whether it was healthy (read a line, or lasted)."""
        where = f"{self.user}@{self.host}:{self.port}"
        try:
            conn = await asyncssh.connect(
                self.host, port=self.port, username=self.user, client_keys=[self._key],
                known_hosts=self.known_hosts, keepalive_interval=self.keepalive_interval,
                connect_timeout=self.connect_timeout, agent_path=None, password=None,
                kbdint_auth=False, config=[])
        except asyncssh.HostKeyNotVerifiable as exc:
            self._fail(f"refusing {self.host}:{self.port}: its host key is not the one in "
                       f"{self.known_hosts} ({exc.reason}); if Gerrit's key really "
                       f"changed, replace it there (ssh-keyscan -p {self.port} {self.host})",
                       logging.ERROR)
            return False
        except asyncssh.PermissionDenied as exc:
            self._fail(f"{where} refused the SSH key ({exc.reason}); is the key's public "
                       f"half in the Gerrit account {self.user!r}?", logging.ERROR)
            return False
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            self._fail(f"cannot connect to {where}: {exc or type(exc).__name__}")
            return False
        began = self._monotonic()
        lines = 0
        async with conn:
            try:
                process = await conn.create_process(self.command, encoding=None)
            except (OSError, asyncssh.Error) as exc:
                self._fail(f"{where}: cannot run {self.command!r}: {exc}")
                return False
            self.connections += 1
            self.last_error = None
            log.info("gerrit %s: streaming events from %s (connection %d)", self.name, where,
                     self.connections)
            gap = self.connections > 1
            if self._on_connect is not None:
                gap = await self._call(self._on_connect, self.connections) is True or gap
            self.connected.set()
            if gap:
                self._request_gap()
            lines = await self._read(process)
            await self._explain_end(process, where)
        return lines > 0 or self._monotonic() - began >= self.healthy_after

    async def _read(self, process: Any) -> int:
        """Hand each complete line to ``on_line`` until the stream ends; how many."""
        buffer = b""
        count = 0
        while True:
            try:
                chunk = await process.stdout.read(65536)
            except (OSError, asyncssh.Error) as exc:
                self._fail(f"the event stream broke: {exc}")
                chunk = b""
            if not chunk:
                if buffer:
                    log.warning("gerrit %s: the connection dropped in the middle of an event "
                                "line; discarding its %d bytes received so far (the catch-up "
                                "after reconnecting finds the event)", self.name, len(buffer))
                return count
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                count += 1
                if await self._call(self._on_line, line + b"\n") is True:
                    log.warning("gerrit %s: Gerrit says events were dropped; catching up",
                                self.name)
                    self._request_gap()
            if len(buffer) > MAX_LINE:
                log.warning("gerrit %s: an event line longer than %d bytes; discarding it",
                            self.name, MAX_LINE)
                buffer = b""  # what follows its end is a fragment: the next \n ends it

    async def _explain_end(self, process: Any, where: str) -> None:
        err = b""
        with contextlib.suppress(OSError, asyncssh.Error, asyncio.TimeoutError):
            err = await asyncio.wait_for(process.stderr.read(4096), 1.0)
        status = process.exit_status
        said = err.decode("utf-8", "replace").strip()
        if said or status not in (None, 0):
            self._fail(f"{where}: {self.command!r} ended (exit status {status})"
                       + (f": {said}" if said else ""))
        else:
            self._fail(f"{where}: the event stream ended")

    async def _call(self, handler: Callable[..., Any], *args: Any) -> Any:
        """Run a handler in a worker thread; what it raises is logged, not fatal."""
        try:
            return await asyncio.to_thread(handler, *args)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in a handler must not stop the stream
            log.exception("gerrit %s: handling a stream event failed", self.name)
            return None

    # ------------------------------------------------------------ catching up
    def _request_gap(self) -> None:
        if self._on_gap is None:
            return
        if self._gap_task is not None and not self._gap_task.done():
            self._gap_again = True
            return
        self._gap_task = asyncio.get_running_loop().create_task(self._fill_gap())

    async def _fill_gap(self) -> None:
        assert self._on_gap is not None
        attempt = 0
        while not self._stopping:
            self._gap_again = False
            try:
                await asyncio.to_thread(self._on_gap)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # REST down, a bug: try again, never give up
                delay = self.backoff.delay(attempt)
                attempt += 1
                log.warning("gerrit %s: catching up missed events failed (%s); trying again "
                            "in %.1f s", self.name, exc, delay,
                            exc_info=not isinstance(exc, UserError))
                await self._sleep(delay)
                continue
            if not self._gap_again:
                return
