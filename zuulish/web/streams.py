"""What the web's long-lived streams share (the live console's websocket, the status's
server-sent events): a cap on the streams one client may hold open, how a stream
ends when the authority it was opened with (a token, or a ticket's token) expires,
and how a tenant's streams end when its access rules change."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator

#: streams one client (a token's user, else an address) may hold open by default
DEFAULT_MAX_PER_CLIENT = 20
#: the websocket close code, and its reason, of a stream whose authority expired
EXPIRED_CODE = 4001
EXPIRED_REASON = "access expired: sign in again"
#: the last server-sent event of such a stream
EXPIRED_EVENT = b'event: expired\ndata: {"reason": "' + EXPIRED_REASON.encode() + b'"}\n\n'
#: the close code, reason and last event of a stream ended because its tenant's rules
#: changed (the client opens it again, and is decided under the new rules)
REOPEN_CODE = 4003
REOPEN_REASON = "the tenant's access rules changed: open the stream again"
REOPEN_EVENT = b'event: reopen\ndata: {"reason": "' + REOPEN_REASON.encode() + b'"}\n\n'
#: how often open streams are held against their tenants' rules (seconds)
ACCESS_CHECK_SECONDS = 2.0


class StreamLimits:
    """How many streams each client holds, at most ``max_per_client`` each (used from
    the event loop's thread only)."""

    def __init__(self, max_per_client: int = DEFAULT_MAX_PER_CLIENT) -> None:
        if max_per_client < 1:
            raise ValueError("max_per_client must be 1 or more")
        self.max_per_client = max_per_client
        self.open: dict[str, int] = {}

    def acquire(self, client: str) -> bool:
        """Count one more stream of ``client``; False (nothing counted) when it holds
        all it may already."""
        held = self.open.get(client, 0)
        if held >= self.max_per_client:
            return False
        self.open[client] = held + 1
        return True

    def release(self, client: str) -> None:
        """One stream of ``client`` has ended."""
        left = self.open.get(client, 1) - 1
        if left > 0:
            self.open[client] = left
        else:
            self.open.pop(client, None)


def deadline(until: float | None) -> float | None:
    """The event loop's time at the epoch time ``until`` (None: none)."""
    if until is None:
        return None
    return asyncio.get_running_loop().time() + (until - time.time())


async def until_set(event: asyncio.Event | None, work: Awaitable[None]) -> bool:
    """Run ``work`` until it is done, or until ``event`` is set (then ``work`` is
    cancelled): whether ``event`` cut it short. Cancelled itself, it cancels ``work``."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(event.wait()) if event is not None else None
    try:
        await asyncio.wait({task} if waiter is None else {task, waiter},
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        if waiter is not None:
            waiter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return True
    task.result()  # its error, if it failed
    return False


class RulesWatch:
    """Ends a tenant's open streams when its rules change, or the tenant goes.

    A stream was allowed under the rules its tenant had when it was opened; streams
    run for hours, and a reader the new rules refuse must not keep reading. So each
    open stream is held, every ``interval`` seconds, against its tenant's rules
    (``rules``: the rules now, None when there is no such tenant). A stream whose
    rules differ is told to end; its client opens it again and is decided anew.
    Reloading equal rules ends nothing. Used from the event loop's thread only.
    """

    def __init__(self, rules: Callable[[str], object | None],
                 interval: float = ACCESS_CHECK_SECONDS) -> None:
        self.rules = rules
        self.interval = interval
        self.open: dict[asyncio.Event, tuple[str, object | None]] = {}
        self._checker: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def opened(self, tenant: str, rules: object | None) -> Iterator[asyncio.Event]:
        """Watch one stream of ``tenant``, allowed under ``rules``, for the block: the
        event it yields is set when the stream is to end."""
        ended = asyncio.Event()
        self.open[ended] = (tenant, rules)
        if self._checker is None or self._checker.done():
            self._checker = asyncio.get_running_loop().create_task(self._run())
        try:
            yield ended
        finally:
            self.open.pop(ended, None)

    def check(self) -> int:
        """Tell each stream whose tenant's rules changed to end; how many were told."""
        told = 0
        for ended, (tenant, allowed_under) in list(self.open.items()):
            if not ended.is_set() and self.rules(tenant) != allowed_under:
                ended.set()
                told += 1
        return told

    async def _run(self) -> None:
        while self.open:
            await asyncio.sleep(self.interval)
            self.check()

    def stop(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
