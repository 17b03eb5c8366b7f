"""Zuul's timer time specifications, and when they fire (pure; APScheduler's cron).

A spec is ``minute hour day-of-month month day-of-week`` with an optional sixth
field for seconds and an optional seventh for jitter, each field in
APScheduler's cron syntax (``*``, ``*/15``, ``1-5``, ``0,30``). As in Zuul and
APScheduler, day-of-week counts from Monday (0) to Sunday (6), unlike cron.
zuulish evaluates every spec in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week", "second", "jitter")
_ONE_MICROSECOND = timedelta(microseconds=1)
#: Windows before "now" searched for the newest due tick, shortest first.
WINDOWS = (60.0, 3600.0, 86400.0, 32 * 86400.0, 367 * 86400.0, 8 * 367 * 86400.0,
           float("inf"))


@dataclass(frozen=True)
class TimerSpec:
    """One parsed ``time:`` of a timer trigger."""

    text: str
    trigger: CronTrigger

    def next_after(self, when: float) -> float | None:
        """The first tick strictly after ``when`` (seconds since the epoch)."""
        start = datetime.fromtimestamp(when, UTC) + _ONE_MICROSECOND
        fire = self.trigger.get_next_fire_time(None, start)
        return None if fire is None else fire.timestamp()

    def last_due(self, after: float, now: float) -> float | None:
        """The newest tick in ``(after, now]``, None when none fell there.

        Searched from the end: the first tick of the shortest window before ``now``
        that holds one, then forward to ``now`` (a few steps, however long ago
        ``after`` is).
        """
        for window in WINDOWS:
            start = max(after, now - window)
            tick = self.next_after(start)
            if tick is not None and tick <= now:
                while (probe := self.next_after(tick)) is not None and probe <= now:
                    tick = probe
                return tick
            if start == after:
                return None
        return None


def parse_time(text: object) -> TimerSpec:
    """Parse a ``time:`` value; ValueError with a message a user can act on."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"time must be a cron specification such as '0 0 * * *' (minute, "
                         f"hour, day of month, month, day of week), not {text!r}")
    parts = text.split()
    if not 5 <= len(parts) <= 7:
        raise ValueError(f"time {text!r} has {len(parts)} field(s); it needs 5 (minute hour "
                         f"day-of-month month day-of-week), optionally followed by seconds "
                         f"and a jitter, e.g. '0 0 * * *'")
    minute, hour, day, month, day_of_week, *rest = parts
    second = rest[0] if rest else None
    if len(rest) == 2:
        try:
            jitter = int(rest[1])
        except ValueError:
            raise ValueError(f"time {text!r}: the jitter (7th field) must be a number of "
                             f"seconds, not {rest[1]!r}") from None
        if jitter:
            raise ValueError(f"time {text!r}: a jitter (7th field) is not supported by "
                             "zuulish yet (it would make runs non-deterministic); remove it "
                             "or set it to 0")
    try:
        trigger = CronTrigger(minute=minute, hour=hour, day=day, month=month,
                              day_of_week=day_of_week, second=second, timezone=UTC)
    except ValueError as exc:
        raise ValueError(f"time {text!r} is not a valid cron specification: {exc}") from None
    return TimerSpec(text=text, trigger=trigger)
