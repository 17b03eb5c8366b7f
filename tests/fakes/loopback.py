"""A TCP service on the host's 127.0.0.1, for tests that a sandbox cannot reach it."""

from __future__ import annotations

import socket
import threading


class Listener:
    """A TCP service on the host's 127.0.0.1 that records whether anyone came."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.reached = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.reached.set()
            conn.close()

    def close(self) -> None:
        self.sock.close()
