"""A TCP proxy the test can cut: the database "going away" and coming back.

Listens on ``host:port`` and forwards each connection to ``target``. ``cut()``
closes every connection and refuses new ones (a database server restarting, a
network partition); ``restore()`` accepts again. Also how a component in another
network namespace reaches a server that listens on the host's loopback only.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1", port: int = 0):
        self.target = target
        self.host = host
        self._listener: socket.socket | None = None
        self._port = port
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._stopped = threading.Event()
        self.accepted = 0

    @property
    def port(self) -> int:
        return self._port

    def start(self) -> TcpProxy:
        self._listen()
        self._open.set()
        return self

    def _listen(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        sock.listen(128)
        self._port = sock.getsockname()[1]
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns.update((client, upstream))
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)

    def cut(self) -> None:
        """Close every connection and refuse new ones until ``restore()``."""
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown first: close() alone leaves the socket listening (and accepting)
            # while the accept thread is blocked on it
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self._listen()

    def stop(self) -> None:
        self.cut()
