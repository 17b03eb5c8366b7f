"""Pipeline triggers for a Gerrit connection, with Zuul's attributes.

``parse_trigger`` reads a pipeline's entries for a Gerrit connection into
:class:`GerritEventFilter` s; anything Zuul would refuse (an unknown event or
attribute, a bad regular expression, a vote that is not a number) is a ConfigError
at the line that holds it. Beyond Zuul: ``topic-changed`` events (Gerrit sends them)
and ``kind`` (a patchset-created's patch set kind: REWORK, TRIVIAL_REBASE...).
"""

from __future__ import annotations

import difflib
from typing import Any

from zuulish.config.requirements import (
    as_list,
    check_known,
    error_at,
    flag,
    gerrit_requirements,
    gerrit_vote,
    regex,
)
from zuulish.config.warnings import warn
from zuulish.config.yaml_loader import where
from zuulish.drivers.gerrit.event_filter import GerritEventFilter
from zuulish.errors import ConfigError
from zuulish.model.requirements import Regex, Requirements

EVENTS = ("patchset-created", "draft-published", "change-abandoned", "change-restored",
          "change-merged", "comment-added", "ref-updated", "pending-check", "vote-deleted",
          "hashtags-changed", "wip-state-changed", "topic-changed")
#: Gerrit's patch set kinds (``patchSet.kind`` of a patchset-created)
KINDS = ("REWORK", "TRIVIAL_REBASE", "TRIVIAL_REBASE_WITH_MESSAGE_UPDATE",
         "MERGE_FIRST_PARENT_UPDATE", "NO_CODE_CHANGE", "NO_CHANGE")
KEYS = ("event", "branch", "ref", "ignore-deletes", "approval", "approval-change", "email",
        "username", "comment", "added", "removed", "require-approval", "reject-approval",
        "require", "reject", "uuid", "scheme", "kind",
        # Zuul's older spellings, still read
        "email_filter", "username_filter", "comment_filter")
OLD_SPELLINGS = {"email_filter": "email", "username_filter": "username",
                 "comment_filter": "comment"}


def _path(obj: Any) -> str:
    return where(obj, "")[0]


def _events(entry: dict, path: str) -> tuple[str, ...]:
    if "event" not in entry:
        raise error_at(entry, "event", path, "a Gerrit trigger entry needs an 'event', such "
                                             "as patchset-created or comment-added")
    events = as_list(entry["event"])
    if not events:
        raise error_at(entry, "event", path, "a Gerrit trigger entry needs an 'event'")
    for event in events:
        if event not in EVENTS:
            close = difflib.get_close_matches(str(event), EVENTS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else \
                f"expected one of {', '.join(EVENTS)}"
            raise error_at(entry, "event", path, f"unknown Gerrit event {event!r}; {hint}")
    return tuple(str(e) for e in events)


def _votes(entry: dict, key: str, path: str) -> tuple[tuple[str, int], ...]:
    votes = []
    for approval in as_list(entry.get(key)):
        if not isinstance(approval, dict):
            raise error_at(entry, key, path, f"{key} entries must be mappings such as "
                                             f"{{Workflow: 1}}, not {approval!r}")
        for label, value in approval.items():
            try:
                if isinstance(value, bool):
                    raise TypeError
                votes.append((str(label), int(value)))
            except (TypeError, ValueError):
                raise error_at(approval, label, path, f"{key} {label!r} must be a vote such "
                                                      f"as 1 or -2, not {value!r}") from None
    return tuple(votes)


def _patterns(entry: dict, key: str, path: str) -> tuple[Regex, ...]:
    old = next((o for o, new in OLD_SPELLINGS.items() if new == key), None)
    name = key if key in entry or old not in entry else old
    if name != key:
        warn(entry, name, path, f"trigger attribute {name!r} is Zuul's old spelling of "
                                f"{key!r}; write {key!r}")
    return tuple(regex(v, entry, name, path, key) for v in as_list(entry.get(name)))


def _requirements(entry: dict, path: str) -> tuple[Requirements, Requirements]:
    """The entry's ``require``/``reject``, or its deprecated ``require-approval`` /
    ``reject-approval`` read as ``require: {approval: ...}`` (ignored, as Zuul ignores
    them, where ``require``/``reject`` is given)."""
    found = []
    for key, old in (("require", "require-approval"), ("reject", "reject-approval")):
        if key in entry:
            body = entry[key]
            if not isinstance(body, dict):
                raise error_at(entry, key, path, f"trigger {key!r} must be a mapping such as "
                                                 f"{{approval: [{{Verified: 1}}]}}, not "
                                                 f"{body!r}")
            if old in entry:
                warn(entry, old, path, f"trigger attribute {old!r} is ignored: {key!r} is "
                                       "given, and takes its place")
            found.append(gerrit_requirements(body, path, f"trigger {key}"))
            continue
        if old not in entry:
            found.append(Requirements())
            continue
        warn(entry, old, path, f"trigger attribute {old!r} is deprecated; write "
                               f"'{key}: {{approval: ...}}' instead")
        votes = []
        for approval in as_list(entry[old]):
            if not isinstance(approval, dict):
                raise error_at(entry, old, path, f"{old} entries must be mappings such as "
                                                 f"{{Verified: 1, username: zuul}}, not "
                                                 f"{approval!r}")
            votes.append(gerrit_vote(approval, path, f"trigger {old}"))
        found.append(Requirements(tuple(votes)))
    return found[0], found[1]


def _checker(entry: dict, key: str, path: str, events: tuple[str, ...]) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise error_at(entry, key, path, f"{key!r} must name a checker, not {value!r}")
    if "pending-check" not in events:
        raise error_at(entry, key, path, f"{key!r} only applies to pending-check events")
    return value


def _kinds(entry: dict, path: str, events: tuple[str, ...]) -> tuple[str, ...]:
    kinds = tuple(as_list(entry.get("kind")))
    for kind in kinds:
        if kind not in KINDS:
            raise error_at(entry, "kind", path, f"unknown patch set kind {kind!r}; expected "
                                                f"one of {', '.join(KINDS)}")
    if kinds and events != ("patchset-created",):
        raise error_at(entry, "kind", path, "'kind' only applies to patchset-created events "
                                            "(list that event alone)")
    return kinds


def parse_entry(connection: str, entry: Any, path: str) -> GerritEventFilter:
    if not isinstance(entry, dict):
        raise ConfigError(f"each Gerrit trigger entry must be a mapping such as "
                          f"{{event: patchset-created}}, not {entry!r}",
                          file=path or None, line=where(entry, path)[1] or None)
    check_known(entry, KEYS, "a Gerrit trigger", path)
    events = _events(entry, path)
    ignore_deletes = flag(entry, "ignore-deletes", path, "trigger")
    if "pending-check" in events:
        warn(entry, "event", path, "pending-check events come from Gerrit's checks plugin, "
                                   "which zuulish does not read: this entry never fires on "
                                   "them")
    require, reject = _requirements(entry, path)
    return GerritEventFilter(
        connection=connection, types=events,
        branches=_patterns(entry, "branch", path), refs=_patterns(entry, "ref", path),
        ignore_deletes=True if ignore_deletes is None else ignore_deletes,
        approvals=_votes(entry, "approval", path),
        approval_changes=_votes(entry, "approval-change", path),
        comments=_patterns(entry, "comment", path),
        usernames=_patterns(entry, "username", path),
        emails=_patterns(entry, "email", path),
        added=_patterns(entry, "added", path), removed=_patterns(entry, "removed", path),
        kinds=_kinds(entry, path, events),
        uuid=_checker(entry, "uuid", path, events),
        scheme=_checker(entry, "scheme", path, events),
        require=require, reject=reject)


def parse_trigger(connection: str, entries: list) -> tuple[GerritEventFilter, ...]:
    """A pipeline's trigger entries for a Gerrit connection, as event filters."""
    if not isinstance(entries, list):
        raise ValueError(f"a Gerrit trigger must be a list of entries such as "
                         f"[{{event: patchset-created}}], not {entries!r}")
    return tuple(parse_entry(connection, entry, _path(entry)) for entry in entries)
