"""A git smart-HTTP server on 127.0.0.1: ``git http-backend`` as a CGI program
behind Python's HTTP server, requiring HTTP basic authentication as GitHub and
Gerrit do for private repositories.

The repositories are the bare ones under ``root`` (``root/org/p.git`` is served
at ``<url>/org/p.git``). Every request is recorded (method, path, the
Authorization header it carried) so that tests can see what a client sent, and
where. A request without credentials, or with others than ``accepted``, is
answered 401 with a ``WWW-Authenticate: Basic`` challenge, as GitHub answers.
``redirects`` sends requests whose path starts with a key elsewhere (301).
``on_request`` is called as each request arrives, while the client that sent it
waits (to look at the client's processes, say).
"""

from __future__ import annotations

import base64
import http.server
import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Seen:
    """One request the server answered."""

    method: str
    path: str
    authorization: str | None
    status: int


@dataclass
class GitHttpServer:
    """Serves ``root``'s bare repositories until ``close``; ``url`` is its base URL."""

    root: Path
    #: (username, password) pairs let in; empty: no authentication asked for
    accepted: set[tuple[str, str]] = field(default_factory=set)
    #: path prefix -> the URL prefix it is moved to (answered 301)
    redirects: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    on_request: Callable[[], None] | None = None
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._httpd = http.server.ThreadingHTTPServer((self.host, 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)

    def __enter__(self) -> GitHttpServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def authorized(self, header: str | None) -> bool:
        if not self.accepted:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(
                ":")
        except ValueError:
            return False
        return (user, password) in self.accepted


def _handler_for(server: GitHttpServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(_GitCgi):
        owner = server

    return Handler


class _GitCgi(http.server.BaseHTTPRequestHandler):
    owner: GitHttpServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib's name)
        pass  # the test reads ``seen``

    def do_GET(self) -> None:  # noqa: N802 (stdlib's name)
        self._serve()

    def do_POST(self) -> None:  # noqa: N802 (stdlib's name)
        self._serve()

    def _record(self, status: int) -> None:
        self.owner.seen.append(Seen(self.command, self.path,
                                    self.headers.get("Authorization"), status))

    def _serve(self) -> None:
        body = self._body()
        if self.owner.on_request is not None:
            self.owner.on_request()
        for old, new in self.owner.redirects.items():
            if self.path.startswith(old):
                self._record(301)
                self.send_response(301)
                self.send_header("Location", new + self.path[len(old):])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        if not self.owner.authorized(self.headers.get("Authorization")):
            self._record(401)
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "GIT_PROJECT_ROOT": str(self.owner.root), "GIT_HTTP_EXPORT_ALL": "1",
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
               "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": self.client_address[0],
               "REMOTE_USER": "git", "GATEWAY_INTERFACE": "CGI/1.1"}
        for header, name in (("Git-Protocol", "GIT_PROTOCOL"),
                             ("Content-Encoding", "HTTP_CONTENT_ENCODING")):
            if self.headers.get(header):
                env[name] = self.headers[header]
        proc = subprocess.run(["git", "http-backend"], input=body, capture_output=True,
                              env=env, timeout=60)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self._record(status)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size)
                self.rfile.readline()
                if size == 0:
                    return b"".join(chunks)
                chunks.append(chunk)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))
