"""Exponential back-off with a cap and jitter, from injected randomness."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Pauses of ``base * factor**attempt`` seconds, at most ``cap``, each scaled by a
    random factor in [1 - jitter, 1] so that many clients do not retry in step.
    ``rng`` is injected (seeded in tests)."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.base <= 0 or self.factor < 1 or self.cap < self.base:
            raise ValueError("back-off needs base > 0, factor >= 1 and cap >= base")
        if not 0 <= self.jitter <= 1:
            raise ValueError("back-off jitter is a fraction between 0 and 1")

    def delay(self, attempt: int) -> float:
        """The pause before retry number ``attempt`` (0 for the first retry)."""
        plain = min(self.cap, self.base * self.factor ** min(attempt, 64))
        return plain * (1.0 - self.jitter * self.rng.random())
