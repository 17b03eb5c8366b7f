"""Run zuulish: all components plus the web server, until told to stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading

from zuulish.app import AllInOne
from zuulish.server_config import ServerConfig

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


class WebThread:
    """The dashboard and API served from a background thread's event loop."""

    def __init__(self, aio: AllInOne):
        self.aio = aio
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="web", daemon=True)
        self.runner = None

    def start(self) -> None:
        from zuulish.web.app import create_app, serve

        config = self.aio.config
        self.thread.start()
        app = create_app(self.aio.store, self.aio.layouts, config.state_dir, config.web_url,
                         admin_token=config.admin_token)
        future = asyncio.run_coroutine_threadsafe(
            serve(app, config.listen_host, config.listen_port), self.loop)
        self.runner = future.result(timeout=30)

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def run_forever(config: ServerConfig) -> None:
    aio = AllInOne(config)
    aio.start()
    web = WebThread(aio)
    web.start()
    print(f"zuulish is running: dashboard at {config.web_url}/ (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    finally:
        web.stop()
        aio.stop()
