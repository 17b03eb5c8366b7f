"""Pipeline triggers for the built-in forge, in Gerrit's vocabulary."""

from __future__ import annotations

import difflib
import re
from typing import Any

from zuulish.model import EventFilter

EVENTS = ("patchset-created", "comment-added", "change-abandoned", "change-restored",
          "change-merged", "ref-updated")
KEYS = ("event", "comment", "approval", "branch", "ref", "ignore-deletes")


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _nearest(value: str, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(options)}"


def _regexes(values: list, what: str) -> tuple[str, ...]:
    for pattern in values:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise ValueError(f"{what} {pattern!r} is not a valid regular expression: {exc}") \
                from None
    return tuple(str(v) for v in values)


def parse_trigger(connection: str, entries: list) -> tuple[EventFilter, ...]:
    """Turn a pipeline's trigger entries for a forge connection into event filters.

    Raises ValueError naming the offending key, event or pattern (and the nearest
    valid spelling) for anything it does not understand.
    """
    if not isinstance(entries, list):
        raise ValueError(f"a trigger for a forge connection must be a list of entries such as "
                         f"[{{event: patchset-created}}], not {entries!r}")
    filters = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError(f"each trigger entry must be a mapping, not {entry!r}")
        for key in entry:
            if key not in KEYS:
                raise ValueError(f"unknown trigger attribute {key!r}{_nearest(str(key), KEYS)}")
        events = tuple(str(e) for e in _as_list(entry.get("event")))
        if not events:
            raise ValueError("a trigger entry needs an 'event'")
        for event in events:
            if event not in EVENTS:
                raise ValueError(f"unknown event {event!r}{_nearest(event, EVENTS)}")
        approvals = []
        for approval in _as_list(entry.get("approval")):
            if not isinstance(approval, dict):
                raise ValueError(f"approval entries must be mappings such as "
                                 f"{{Workflow: 1}}, not {approval!r}")
            for label, value in approval.items():
                try:
                    approvals.append((str(label), int(value)))
                except (TypeError, ValueError):
                    raise ValueError(f"approval {label!r} must be a number such as 1 or -2, "
                                     f"not {value!r}") from None
        ignore_deletes = entry.get("ignore-deletes", True)
        if not isinstance(ignore_deletes, bool):
            raise ValueError(f"ignore-deletes must be true or false, not {ignore_deletes!r}")
        refs = _regexes(_as_list(entry.get("ref")), "ref")
        if refs and set(events) - {"ref-updated"}:
            raise ValueError("'ref' only applies to ref-updated events, not "
                             f"{', '.join(sorted(set(events) - {'ref-updated'}))}")
        filters.append(EventFilter(
            connection=connection, types=events,
            comments=_regexes(_as_list(entry.get("comment")), "comment"),
            approvals=tuple(approvals),
            branches=_regexes(_as_list(entry.get("branch")), "branch"),
            refs=refs, ignore_deletes=ignore_deletes))
    return tuple(filters)
