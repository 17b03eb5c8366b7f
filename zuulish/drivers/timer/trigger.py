"""Pipeline triggers for the timer: ``timer: [{time: '0 0 * * *'}]`` (Zuul's keys)."""

from __future__ import annotations

import difflib
from typing import Any

from zuulish.drivers.timer.cron import parse_time
from zuulish.model import TIMER, EventFilter

KEYS = ("time", "dereference")


def parse_trigger(connection: str, entries: list[Any]) -> tuple[EventFilter, ...]:
    """Turn a pipeline's timer entries into event filters, one per time spec.

    Raises ValueError naming what is wrong: a missing or invalid ``time``, an
    unknown attribute (with the nearest valid one).
    """
    if connection != TIMER:
        raise ValueError(f"the timer trigger is named {TIMER!r}, not {connection!r}")
    if not isinstance(entries, list):
        raise ValueError(f"a timer trigger must be a list of entries such as "
                         f"[{{time: '0 0 * * *'}}], not {entries!r}")
    filters = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError(f"each timer entry must be a mapping such as "
                             f"{{time: '0 0 * * *'}}, not {entry!r}")
        for key in entry:
            if key not in KEYS:
                close = difflib.get_close_matches(str(key), KEYS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else \
                    f"; expected one of {', '.join(KEYS)}"
                raise ValueError(f"unknown timer attribute {key!r}{hint}")
        if "time" not in entry:
            raise ValueError("a timer entry needs a 'time', such as '0 0 * * *' (midnight)")
        dereference = entry.get("dereference", False)
        if not isinstance(dereference, bool):
            raise ValueError(f"dereference must be true or false, not {dereference!r}")
        if "dereference" in entry and not dereference:
            # Each tick enqueues the branch tip's commit, and a branch already queued
            # at another commit is enqueued again: Zuul's ``dereference: true``.
            raise ValueError("'dereference: false' is not available: zuulish enqueues the "
                             "branch tip's commit at each tick, as 'dereference: true' does")
        spec = parse_time(entry["time"])
        filters.append(EventFilter(connection=TIMER, types=(TIMER,), timer=spec.text))
    return tuple(filters)
