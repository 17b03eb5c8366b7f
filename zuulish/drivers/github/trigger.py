"""Pipeline triggers for GitHub connections, with Zuul's attributes and matching.

::

    trigger:
      github:
        - event: pull_request
          action: [opened, changed, reopened]
        - event: pull_request
          action: comment
          comment: (?i)^\\s*recheck\\s*$
        - event: pull_request_review
          action: submitted
          state: approved
        - event: check_run
          action: rerequested
          check: .*/check:.*
        - event: push
          ref: ^refs/tags/.*$

Matching: ``branch`` and ``status``/``check`` (``user:context:state``,
``app:name:conclusion``) are regular expressions matched against the whole value,
``ref`` at the start (GitHub sends full ref names), ``comment`` anywhere in the
comment; ``label``/``unlabel`` and ``state`` are compared literally (``label``
for labeled and unlabeled actions, ``unlabel`` for unlabeled only). A push that
deletes its ref matches only with ``ignore-deletes: false``. ``require`` and
``reject`` ask something of the change (read as a pipeline's GitHub ``require``, see
:mod:`zuulish.config.requirements`); Zuul's deprecated ``require-status`` is read as
``require: {status: ...}`` where no ``require`` is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from zuulish.config.requirements import github_requirements
from zuulish.config.warnings import warn
from zuulish.config.yaml_loader import where
from zuulish.drivers.trigger_values import as_list, nearest, regexes
from zuulish.model import EventMeaning, TriggerEvent
from zuulish.model.change import Change
from zuulish.model.ref import is_null_rev
from zuulish.model.requirements import Requirements

#: Zuul's GitHub events and the actions each may name
ACTIONS = {
    "pull_request": ("opened", "changed", "closed", "reopened", "comment", "labeled",
                     "unlabeled", "status", "edited"),
    "pull_request_review": ("submitted", "dismissed"),
    "check_run": ("requested", "rerequested", "completed", "requested_action"),
    "push": (),
}
EVENTS = tuple(ACTIONS)
KEYS = ("event", "action", "branch", "ref", "comment", "label", "unlabel", "state", "check",
        "status", "ignore-deletes", "require", "reject", "require-status")
#: Zuul's names for GitHub's: ``requested`` was Zuul's name for ``rerequested``
ACTION_ALIASES = {("check_run", "requested"): "rerequested"}
#: Zuul's review states and GitHub's spelling of them
STATE_ALIASES = {"comment": "commented"}


def _only_for(entry: dict, key: str, events: tuple[str, ...], actions: tuple[str, ...],
              on: str, with_actions: tuple[str, ...] = ()) -> None:
    """Refuse ``key`` in an entry whose events (or actions) never carry it: it
    applies to ``on`` events, and, when the entry names actions, to ``with_actions``."""
    if key not in entry:
        return
    if on not in events:
        raise ValueError(f"'{key}' only applies to {on} events, not {', '.join(events)}")
    if with_actions and actions and not set(actions) & set(with_actions):
        raise ValueError(f"'{key}' only applies to {on} actions {', '.join(with_actions)}, "
                         f"not {', '.join(actions)}")


@dataclass(frozen=True)
class GithubEventFilter:
    """One entry of a pipeline trigger for a GitHub connection."""

    connection: str
    types: tuple[str, ...]
    actions: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    comments: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    unlabels: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    ignore_deletes: bool = True
    require: Requirements = field(default_factory=Requirements)
    reject: Requirements = field(default_factory=Requirements)
    timer: str | None = None

    def change_unmet(self, change: Change | None, now: float | None) -> list[str]:
        """What this entry's ``require`` asks of the change that it lacks, and what of
        its ``reject`` the change has (``change`` None: the event is about a ref, which
        meets no requirement)."""
        if not self.require and not self.reject:
            return []
        if change is None:
            return [*self.require.describe(), *(f"not {w}" for w in self.reject.describe())]
        return [*self.require.unmet(change, now),
                *(f"not {w}" for w in self.reject.hits(change, now))]

    def matches(self, event: TriggerEvent) -> bool:
        if event.connection != self.connection or event.type not in self.types:
            return False
        if self.actions and event.action not in self.actions:
            return False
        data = event.data
        if (self.ignore_deletes and event.type == "push"
                and event.meaning == EventMeaning.BRANCH_UPDATED and is_null_rev(event.newrev)):
            return False
        if self.branches and not any(re.fullmatch(b, event.branch or "")
                                     for b in self.branches):
            return False
        if self.refs and not any(re.match(r, event.ref or "") for r in self.refs):
            return False
        if self.comments and not any(re.search(c, event.comment or "") for c in self.comments):
            return False
        label = data.get("label")
        if self.labels and not (event.action in ("labeled", "unlabeled")
                                and label in self.labels):
            return False
        if self.unlabels and not (event.action == "unlabeled" and label in self.unlabels):
            return False
        if self.states and str(data.get("state")) not in {
                STATE_ALIASES.get(s, s) for s in self.states} | set(self.states):
            return False
        if self.checks and not any(re.fullmatch(c, str(data.get("check", "")))
                                   for c in self.checks):
            return False
        return not self.statuses or any(re.fullmatch(s, str(data.get("status", "")))
                                        for s in self.statuses)


def _entry(connection: str, entry: dict) -> GithubEventFilter:
    for key in entry:
        if key not in KEYS:
            raise ValueError(f"unknown trigger attribute {key!r}{nearest(str(key), KEYS)}")
    events = tuple(str(e) for e in as_list(entry.get("event")))
    if not events:
        raise ValueError("a trigger entry needs an 'event' (one of "
                         f"{', '.join(EVENTS)})")
    for event in events:
        if event not in ACTIONS:
            raise ValueError(f"unknown GitHub event {event!r}{nearest(event, EVENTS)}")
    actions = []
    for action in (str(a) for a in as_list(entry.get("action"))):
        valid = tuple(dict.fromkeys(a for e in events for a in ACTIONS[e]))
        if not valid:
            raise ValueError(f"{', '.join(events)} events have no action; remove "
                             f"'action: {action}'")
        if action not in valid:
            raise ValueError(f"unknown action {action!r} for {', '.join(events)}"
                             f"{nearest(action, valid)}")
        for event in events:
            action = ACTION_ALIASES.get((event, action), action)
        actions.append(action)
    ignore_deletes = entry.get("ignore-deletes", True)
    if not isinstance(ignore_deletes, bool):
        raise ValueError(f"ignore-deletes must be true or false, not {ignore_deletes!r}")
    acts = tuple(actions)
    _only_for(entry, "ref", events, acts, "push")
    _only_for(entry, "comment", events, acts, "pull_request", ("comment",))
    _only_for(entry, "state", events, acts, "pull_request_review")
    _only_for(entry, "check", events, acts, "check_run")
    _only_for(entry, "status", events, acts, "pull_request", ("status",))
    _only_for(entry, "label", events, acts, "pull_request", ("labeled", "unlabeled"))
    _only_for(entry, "unlabel", events, acts, "pull_request", ("unlabeled",))
    return GithubEventFilter(
        connection=connection, types=events, actions=acts,
        branches=regexes(as_list(entry.get("branch")), "branch"),
        refs=regexes(as_list(entry.get("ref")), "ref"),
        comments=regexes(as_list(entry.get("comment")), "comment"),
        labels=tuple(str(v) for v in as_list(entry.get("label"))),
        unlabels=tuple(str(v) for v in as_list(entry.get("unlabel"))),
        states=tuple(str(v).lower() for v in as_list(entry.get("state"))),
        checks=regexes(as_list(entry.get("check")), "check"),
        statuses=regexes(as_list(entry.get("status")), "status"),
        ignore_deletes=ignore_deletes, **_requirements(entry))


def _requirements(entry: dict) -> dict[str, Requirements]:
    """The entry's ``require`` and ``reject`` (Zuul's older ``require-status``: a
    ``require`` of those statuses)."""
    path = where(entry, "")[0]
    found = {}
    for key in ("require", "reject"):
        body = entry.get(key)
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ValueError(f"trigger {key!r} must be a mapping such as {{label: gate}}, "
                             f"not {body!r}")
        found[key] = github_requirements(body, path, f"trigger {key}")
    if "require-status" in entry:
        if "require" in entry:
            warn(entry, "require-status", path, "trigger attribute 'require-status' is "
                                                "ignored: 'require' is given")
        else:
            warn(entry, "require-status", path, "trigger attribute 'require-status' is "
                                                "deprecated; write 'require: {status: ...}'")
            found["require"] = github_requirements(
                {"status": entry["require-status"]}, path, "trigger require-status")
    return found


def parse_trigger(connection: str, entries: list) -> tuple[GithubEventFilter, ...]:
    """Turn a pipeline's trigger entries for a GitHub connection into event filters.

    Raises ValueError naming the offending attribute, event, action or pattern (and
    the nearest valid spelling) for anything it does not understand.
    """
    if not isinstance(entries, list):
        raise ValueError(f"a trigger for a GitHub connection must be a list of entries such "
                         f"as [{{event: pull_request, action: opened}}], not {entries!r}")
    filters = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError(f"each trigger entry must be a mapping, not {entry!r}")
        filters.append(_entry(connection, entry))
    return tuple(filters)
