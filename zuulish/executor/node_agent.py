"""The agent inside a local node, and the client the ``zuulish_local`` connection uses.

A local node (``local_node.py``) is a bubblewrap sandbox that lasts the whole
build; this module runs in it as ``python -IS node_agent.py FD`` (standard
library only), serving requests on the listening Unix socket it inherits as
descriptor ``FD``. The socket's path (``<build dir>/node/agent.sock``) is
outside what the node sees, so nothing in the node can replace it.

One request per connection. The client sends one line of JSON (the header,
with ``size``: the number of bytes of data after it) and the data; the agent
answers the same way:

- ``exec`` (``cmd``, ``cwd``): runs ``/bin/sh -c CMD`` in a session of its own
  with the data as its standard input; answers ``rc``, ``stdout`` and
  ``stderr`` (the lengths of the two outputs, which follow in that order).
  Should the client go away first (a canceled task), the command's process
  group is killed. What a command starts in the background lives on, in the
  node, until the node stops.
- ``put`` (``path``): writes the data to the file ``path``.
- ``fetch`` (``path``): answers with the file's content.
- ``ping``: answers ``ok`` (the node is up).

A request that cannot be served is answered with ``error``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

MAX_HEADER = 1 << 20
CHUNK = 1 << 16
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class AgentError(Exception):
    """The node's agent could not be reached or could not serve a request."""


# ------------------------------------------------------------------ framing
def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise EOFError("the connection closed before a header")
        data += chunk
        if len(data) > MAX_HEADER:
            raise ValueError("header too long")
    return data


def _read_exact(sock: socket.socket, size: int) -> bytes:
    parts, left = [], size
    while left > 0:
        chunk = sock.recv(min(left, CHUNK))
        if not chunk:
            raise EOFError("the connection closed before the data")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def send(sock: socket.socket, header: dict[str, Any], *data: bytes) -> None:
    """Send ``header`` (with ``size`` set to the data's length) and ``data``."""
    header = {**header, "size": sum(len(d) for d in data)}
    sock.sendall(json.dumps(header).encode() + b"\n")
    for part in data:
        if part:  # (nothing to send: the peer may have answered and closed already)
            sock.sendall(part)


def receive(sock: socket.socket) -> tuple[dict[str, Any], bytes]:
    """One header and the data it announces."""
    header = json.loads(_read_line(sock))
    if not isinstance(header, dict):
        raise ValueError("the header is not an object")
    return header, _read_exact(sock, int(header.get("size") or 0))


# ------------------------------------------------------------------- client
MAX_PATH = 100  # sun_path holds 108 bytes; longer paths go through /proc/self/fd


@contextlib.contextmanager
def short_path(path: str):  # type: ignore[no-untyped-def]
    """``path``, or for one too long for a Unix socket address the same file
    named through a descriptor of its directory (``/proc/self/fd/N/NAME``)."""
    if len(path.encode()) <= MAX_PATH:
        yield path
        return
    directory, name = os.path.split(path)
    fd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        os.close(fd)


def request(path: str, header: dict[str, Any], data: bytes = b"",
            timeout: float | None = None) -> tuple[dict[str, Any], bytes]:
    """Send one request to the agent at ``path``; its answer (header, data).

    Raises AgentError when the agent cannot be reached or answers ``error``.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with short_path(path) as address:
            sock.connect(address)
        send(sock, header, data)
        answer, body = receive(sock)
    except (OSError, EOFError, ValueError) as exc:
        raise AgentError(f"the local node's agent ({path}) did not answer: {exc}") from None
    finally:
        sock.close()
    if "error" in answer:
        raise AgentError(str(answer["error"]))
    return answer, body


def run(path: str, cmd: str, stdin: bytes = b"", cwd: str | None = None
        ) -> tuple[int, bytes, bytes]:
    """Run ``cmd`` with ``/bin/sh -c`` in the node: (rc, stdout, stderr)."""
    answer, body = request(path, {"op": "exec", "cmd": cmd, "cwd": cwd}, stdin)
    out = int(answer["stdout"])
    return int(answer["rc"]), body[:out], body[out:]


# -------------------------------------------------------------------- agent
def _watch_client(conn: socket.socket, process: subprocess.Popen) -> None:
    """Kill the command's process group should its client go away first."""
    try:
        gone = conn.recv(1) == b""
    except OSError:
        gone = True
    if gone and process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _exec(conn: socket.socket, header: dict[str, Any], data: bytes) -> None:
    cwd = header.get("cwd") or None
    if cwd is not None and not os.path.isdir(cwd):
        cwd = None  # as a shell that cannot enter it: stay where the agent is
    try:
        process = subprocess.Popen(["/bin/sh", "-c", str(header["cmd"])], cwd=cwd,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        send(conn, {"error": f"cannot start /bin/sh: {exc}"})
        return
    threading.Thread(target=_watch_client, args=(conn, process), daemon=True).start()
    out, err = process.communicate(data)
    send(conn, {"rc": process.returncode, "stdout": len(out), "stderr": len(err)}, out, err)


def _put(conn: socket.socket, header: dict[str, Any], data: bytes) -> None:
    with open(str(header["path"]), "wb") as f:
        f.write(data)
    send(conn, {"ok": True})


def _fetch(conn: socket.socket, header: dict[str, Any], _data: bytes) -> None:
    with open(str(header["path"]), "rb") as f:
        content = f.read()
    send(conn, {"ok": True}, content)


OPS = {"exec": _exec, "put": _put, "fetch": _fetch,
       "ping": lambda conn, header, data: send(conn, {"ok": True, "pid": os.getpid()})}


def _serve(conn: socket.socket) -> None:
    with conn:
        try:
            header, data = receive(conn)
            op = OPS.get(str(header.get("op")))
            if op is None:
                send(conn, {"error": f"unknown request {header.get('op')!r}"})
                return
            op(conn, header, data)
        except OSError as exc:
            with contextlib.suppress(OSError):
                send(conn, {"error": f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")})
        except (EOFError, ValueError, KeyError, TypeError):
            pass  # a broken request: nothing to answer


def serve(listener: socket.socket) -> None:
    """Answer requests on ``listener`` until the node stops."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EBADF, errno.ENOTSOCK, errno.EINVAL):
                return  # the socket was closed
            time.sleep(0.05)  # out of descriptors, say: try again
            continue
        threading.Thread(target=_serve, args=(conn,), daemon=True).start()


def main() -> int:
    listener = socket.socket(fileno=int(sys.argv[1]))
    serve(listener)
    return 0


if __name__ == "__main__":
    sys.exit(main())
