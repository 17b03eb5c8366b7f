"""What the web's long-lived streams share (the live console's websocket, the status's
server-sent events): a cap on the streams one client may hold open, and how a stream
ends when the authority it was opened with (a token, or a ticket's token) expires."""

from __future__ import annotations

import asyncio
import time

#: streams one client (a token's user, else an address) may hold open by default
DEFAULT_MAX_PER_CLIENT = 20
#: the websocket close code, and its reason, of a stream whose authority expired
EXPIRED_CODE = 4001
EXPIRED_REASON = "access expired: sign in again"
#: the last server-sent event of such a stream
EXPIRED_EVENT = b'event: expired\ndata: {"reason": "' + EXPIRED_REASON.encode() + b'"}\n\n'


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
