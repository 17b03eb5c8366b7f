"""The web app served from a thread of its own on 127.0.0.1, for tests that drive it
with a browser (Playwright's sync API keeps an event loop running in the test's
thread, so the server needs a loop of its own)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator

from aiohttp import web

from zuulish.runner import free_port
from zuulish.web.app import serve


@contextlib.contextmanager
def served(make_app: Callable[[str], web.Application], port: int | None = None
           ) -> Iterator[str]:
    """Serve the app ``make_app`` makes for its base URL until the block ends, on
    ``port`` (default: a free one); yields that URL."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    loop = asyncio.new_event_loop()
    started = asyncio.run_coroutine_threadsafe(serve(make_app(url), "127.0.0.1", port), loop)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = started.result(10)
    try:
        yield url
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
