"""Pushes for review, from the forge's ``proc-receive`` hook to the store.

The hook speaks git's proc-receive protocol (pkt-lines) and must answer quickly.
When zuulish is running, the hook hands the push to it over a local socket
(Linux abstract namespace, named after the server configuration file) and the
server records it in the store before answering: the hook stays a small,
fast process. When no server answers, the hook records the push itself. Either
way the push is acknowledged only once it is stored.

This module is imported by every push, so it imports nothing heavy at the top.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zuulish.drivers.git.pktline import read_until_flush, write_flush, write_pkt

log = logging.getLogger(__name__)

Commands = list[tuple[str, str, str]]
Outcome = tuple[list[tuple[str, str | None]], list[str]]
#: the pushing user, in the hooks' environment (the forge's web server sets it)
USER_ENV = "ZUULISH_FORGE_USER"
HANDOVER_TIMEOUT = 120.0


def intake_address(config_path: str | Path) -> str:
    digest = hashlib.sha1(str(Path(config_path).resolve()).encode()).hexdigest()[:20]
    return f"\0zuulish-intake-{digest}"


def _recv_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the other side closed the connection")
        data += chunk
    return data


def hand_over(config_path: str, connection: str, project: str,
              commands: Commands, user: str | None = None) -> Outcome | None:
    """Ask the running zuulish to record the push (by ``user``, who owns the changes
    it makes); None when none is listening."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(intake_address(config_path))
    except OSError:
        sock.close()
        return None
    with sock:
        sock.settimeout(HANDOVER_TIMEOUT)
        request = {"connection": connection, "project": project, "commands": commands,
                   "user": user}
        sock.sendall(json.dumps(request).encode() + b"\n")
        reply = json.loads(_recv_line(sock))
    return [tuple(r) for r in reply["results"]], reply["messages"]


def server_running(config_path: str | Path) -> bool:
    """Whether a zuulish takes pushes (so runs its scheduler) for this configuration:
    its intake address is taken. Probed by binding it, which nothing notices."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(intake_address(config_path))
    except OSError:
        return True
    finally:
        sock.close()
    return False


#: (connection, project, commands, the pushing user or None) -> outcome
Handler = Callable[[str, str, Commands, "str | None"], Outcome]


class IntakeServer:
    """Accepts pushes handed over by hooks and records them with ``handler``."""

    def __init__(self, config_path: Path, handler: Handler):
        self.address = intake_address(config_path)
        self.handler = handler
        self._sock: socket.socket | None = None

    def start(self) -> bool:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(self.address)
        except OSError as exc:
            log.warning("another zuulish takes pushes for this configuration (%s); hooks "
                        "will record pushes themselves", exc)
            sock.close()
            return False
        sock.listen(16)
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, args=(sock,), name="intake",
                                        daemon=True)
        self._thread.start()
        return True

    def _accept(self, sock: socket.socket) -> None:
        while self._sock is sock:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(HANDOVER_TIMEOUT)
                request = json.loads(_recv_line(conn))
                commands = [tuple(c) for c in request["commands"]]
                user = request.get("user")
                results, messages = self.handler(request["connection"], request["project"],
                                                 commands, user if isinstance(user, str) else None)
                conn.sendall(json.dumps({"results": results, "messages": messages}).encode()
                             + b"\n")
            except Exception:  # the hook then refuses the push: nothing is half-accepted
                log.exception("could not take a push from a hook")

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            self._thread.join(timeout=2)
            sock.close()


def _record_locally(config_path: str, connection: str, project: str,
                    commands: Commands, user: str | None) -> Outcome:
    from zuulish.drivers.git.hook import _open, proc_receive

    forge = _open(config_path, connection)
    try:
        return proc_receive(forge, project, commands, owner=user)
    finally:
        forge.store.dispose()


def main(argv: list[str] | None = None) -> int:
    """The ``proc-receive`` hook: answer git for every ``refs/for/*`` command."""
    parser = argparse.ArgumentParser(prog="zuulish-proc-receive")
    parser.add_argument("--config", required=True)
    parser.add_argument("--connection", required=True)
    parser.add_argument("--project", required=True)
    args = parser.parse_args(argv)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    read_until_flush(stdin)  # version=1 and git's capabilities
    write_pkt(stdout, b"version=1\0")
    write_flush(stdout)
    commands: Commands = []
    for packet in read_until_flush(stdin):
        old, new, ref = packet.decode().split(" ", 2)
        commands.append((old, new, ref))
    # who pushed: set by the forge's web server for a user it authenticated (a push by
    # path comes from someone who may write the repository anyway)
    user = os.environ.get(USER_ENV) or None
    try:
        outcome = hand_over(args.config, args.connection, args.project, commands, user)
    except (OSError, ValueError, KeyError) as exc:
        outcome = ([(ref, f"zuulish could not record this push ({exc}); try again")
                    for _o, _n, ref in commands], [])
    if outcome is None:
        try:
            outcome = _record_locally(args.config, args.connection, args.project, commands,
                                      user)
        except Exception as exc:  # e.g. an unreadable configuration: refuse, clearly
            outcome = ([(ref, f"zuulish cannot accept pushes: {exc}")
                        for _o, _n, ref in commands], [])
    results, messages = outcome
    for message in messages:
        print(f"zuulish: {message}", file=sys.stderr)
    for ref, reason in results:
        line = f"ok {ref}\n" if reason is None else f"ng {ref} {reason}\n"
        write_pkt(stdout, line.encode())
    write_flush(stdout)
    return 0


def serve_forges(config_path: Path, forges: dict[str, Any]) -> IntakeServer:
    """An intake server recording pushes for the given forge connections."""
    def handler(connection: str, project: str, commands: Commands,
                user: str | None) -> Outcome:
        from zuulish.drivers.git.hook import proc_receive

        forge = forges.get(connection)
        if forge is None:
            return [(ref, f"no forge connection named {connection!r}")
                    for _o, _n, ref in commands], []
        return proc_receive(forge, project, commands, owner=user)

    return IntakeServer(config_path, handler)


if __name__ == "__main__":
    sys.exit(main())
