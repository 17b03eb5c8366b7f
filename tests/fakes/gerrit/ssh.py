"""A fake Gerrit SSH daemon: ``gerrit stream-events`` on 127.0.0.1, served by
asyncssh in a thread of its own.

It authenticates users by public key only, answers ``gerrit stream-events`` with
exactly the bytes a test feeds it (corpus lines, byte for byte), and can drop
every connection (mid-line if the test fed half a line), refuse connections for
a while, or answer with Gerrit's ``fatal:`` error for other commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import warnings
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*DSA.*")
    import asyncssh

_DROP = object()


class FakeGerritSSH:
    """Gerrit's SSH port on 127.0.0.1 (a random port), for one or more users."""

    def __init__(self) -> None:
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._users: dict[str, list[asyncssh.SSHKey]] = {}
        self._sessions: list[asyncio.Queue[Any]] = []
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        self.port = 0
        self.refuse = 0  # how many next connections are closed at once
        self.commands: list[str] = []  # every command asked for, in order
        self.sessions_started = 0
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="fake-gerrit-ssh")

    # ------------------------------------------------------------ setup
    def add_user(self, name: str, public_key: asyncssh.SSHKey) -> None:
        self._users.setdefault(name, []).append(public_key)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    async def _listen(self) -> None:
        fake = self

        class Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                if fake.refuse > 0:
                    fake.refuse -= 1
                    conn.abort()

            def begin_auth(self, username: str) -> bool:
                return True

            def public_key_auth_supported(self) -> bool:
                return True

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                return any(k.public_data == key.public_data
                           for k in fake._users.get(username, []))

            def password_auth_supported(self) -> bool:
                return False

        self._server = await asyncssh.create_server(
            Server, "127.0.0.1", 0, server_host_keys=[self.host_key],
            process_factory=self._process, encoding=None)
        self.port = self._server.sockets[0].getsockname()[1]

    def known_hosts(self, path: Path) -> Path:
        """Write a known_hosts file that trusts this server; its path."""
        key = self.host_key.export_public_key().decode().strip()
        path.write_text(f"[127.0.0.1]:{self.port} {key}\n")
        return path

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for queue in list(self._sessions):
                queue.put_nowait(_DROP)
            await asyncio.sleep(0)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # ------------------------------------------------------------ serving
    async def _process(self, process: asyncssh.SSHServerProcess) -> None:
        command = process.command or ""
        self.commands.append(command)
        if command.strip() != "gerrit stream-events":
            # As Gerrit's SSH daemon: "fatal: gerrit: stream-evnts: not found".
            name = ": ".join(command.split()) if command else "shell"
            process.stderr.write(f"fatal: {name}: not found\n".encode())
            process.exit(1)
            return
        queue: asyncio.Queue[Any] = asyncio.Queue()
        with self._changed:
            self._sessions.append(queue)
            self.sessions_started += 1
            self._changed.notify_all()
        closed = asyncio.ensure_future(self._closed(process))
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():  # the client went away
                    getter.cancel()
                    return
                item = getter.result()
                if item is _DROP:
                    with contextlib.suppress(Exception):
                        await process.stdout.drain()
                    # As a network failure: the TCP connection closes with no SSH
                    # disconnect, no EOF and no exit status (after what was written).
                    process.get_extra_info("connection")._transport.close()
                    return
                process.stdout.write(item)
                await process.stdout.drain()
        except (OSError, asyncssh.Error):
            return
        finally:
            closed.cancel()
            with self._changed:
                if queue in self._sessions:
                    self._sessions.remove(queue)
                self._changed.notify_all()

    @staticmethod
    async def _closed(process: asyncssh.SSHServerProcess) -> None:
        """Return when the client closes the session (or the connection is lost)."""
        with contextlib.suppress(OSError, asyncssh.Error):
            while await process.stdin.read(4096):
                pass

    # ------------------------------------------------------------ test controls
    def wait_for_sessions(self, started: int, timeout: float = 30.0) -> None:
        """Wait until ``started`` streams have begun in all (and one is open)."""
        with self._changed:
            if not self._changed.wait_for(
                    lambda: self.sessions_started >= started and self._sessions, timeout):
                raise TimeoutError(f"{self.sessions_started} stream(s) started, "
                                   f"not {started}")

    def send(self, data: bytes) -> None:
        """Write ``data`` to every open stream, exactly as given."""
        for queue in list(self._sessions):
            self._loop.call_soon_threadsafe(queue.put_nowait, data)

    def drop(self) -> None:
        """Cut every open stream's connection after what was sent so far."""
        with self._changed:
            for queue in list(self._sessions):
                self._loop.call_soon_threadsafe(queue.put_nowait, _DROP)
            self._changed.wait_for(lambda: not self._sessions, 30)
