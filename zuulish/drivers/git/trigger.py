"""Pipeline triggers for the built-in forge, in Gerrit's vocabulary."""

from __future__ import annotations

from zuulish.drivers.trigger_values import as_list, nearest, regexes
from zuulish.model import EventFilter

EVENTS = ("patchset-created", "comment-added", "change-abandoned", "change-restored",
          "change-merged", "ref-updated")
KEYS = ("event", "comment", "approval", "branch", "ref", "ignore-deletes")


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
                raise ValueError(f"unknown trigger attribute {key!r}{nearest(str(key), KEYS)}")
        events = tuple(str(e) for e in as_list(entry.get("event")))
        if not events:
            raise ValueError("a trigger entry needs an 'event'")
        for event in events:
            if event not in EVENTS:
                raise ValueError(f"unknown event {event!r}{nearest(event, EVENTS)}")
        approvals = []
        for approval in as_list(entry.get("approval")):
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
        refs = regexes(as_list(entry.get("ref")), "ref")
        if refs and set(events) - {"ref-updated"}:
            raise ValueError("'ref' only applies to ref-updated events, not "
                             f"{', '.join(sorted(set(events) - {'ref-updated'}))}")
        filters.append(EventFilter(
            connection=connection, types=events,
            comments=regexes(as_list(entry.get("comment")), "comment"),
            approvals=tuple(approvals),
            branches=regexes(as_list(entry.get("branch")), "branch"),
            refs=refs, ignore_deletes=ignore_deletes))
    return tuple(filters)
