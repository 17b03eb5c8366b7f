"""GitHub's rate limits: wait when a budget is spent, back off when told to.

GitHub answers every call with ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``
(epoch seconds) for the token that made it. When a budget is spent, calls are
refused (403 or 429) until the reset; a ``Retry-After`` header says how long to wait;
a *secondary* limit (too many calls at once, too much content created) is a 403 or
429 whose message names it, with or without ``Retry-After``: then wait at least a
minute, longer on each refusal. Time comes from the injected clock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from zuulish.clock import Clock

SECONDARY_BACKOFF = 60.0  # GitHub: "wait at least one minute before retrying"
RESET_MARGIN = 1.0  # the reset is a whole second; wait past it


@dataclass
class Budget:
    remaining: int
    reset: float  # epoch seconds


class RateLimiter:
    """What is known of each token's budget (``bucket``: a token's identity, never the
    token) and how long to wait before a call or after a refusal."""

    def __init__(self, clock: Clock, *, secondary_backoff: float = SECONDARY_BACKOFF):
        self.clock = clock
        self.secondary_backoff = secondary_backoff
        self._budgets: dict[str, Budget] = {}
        self._lock = threading.Lock()

    def delay_before(self, bucket: str) -> float:
        """Seconds until ``bucket``'s budget resets when it is known to be spent (0 when
        the budget allows a call)."""
        with self._lock:
            budget = self._budgets.get(bucket)
        if budget is None or budget.remaining > 0:
            return 0.0
        return max(budget.reset + RESET_MARGIN - self.clock.now(), 0.0)

    def reset(self, bucket: str) -> None:
        """Forget ``bucket``'s budget (its reset has passed)."""
        with self._lock:
            self._budgets.pop(bucket, None)

    def record(self, bucket: str, headers: Mapping[str, str]) -> None:
        """Note the budget an answer reports (answers without the headers change nothing)."""
        remaining = _int(headers.get("x-ratelimit-remaining"))
        reset = _int(headers.get("x-ratelimit-reset"))
        if remaining is None or reset is None:
            return
        with self._lock:
            self._budgets[bucket] = Budget(remaining, float(reset))

    def refusal_delay(self, status: int, headers: Mapping[str, str], message: str,
                      refusals: int) -> float | None:
        """Seconds to wait before trying again when an answer is a rate-limit refusal,
        ``None`` when it is not one. ``refusals``: how many came before for this call."""
        if status not in (403, 429):
            return None
        retry_after = _int(headers.get("retry-after"))
        secondary = "secondary rate limit" in message.lower()
        if retry_after is not None:
            return float(max(retry_after, 0))
        if _int(headers.get("x-ratelimit-remaining")) == 0 and not secondary:
            reset = _int(headers.get("x-ratelimit-reset"))
            if reset is not None:
                return max(reset + RESET_MARGIN - self.clock.now(), 0.0)
        if secondary or status == 429:
            return self.secondary_backoff * (2 ** refusals)
        return None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None
