"""A Gerrit event (a ``stream-events`` line or a webhooks-plugin body) → the trigger
event zuulish stores.

:func:`normalize` is pure: it returns a :class:`NormalizedEvent` or says why the
input was :class:`Ignored`, and never raises on anything from the network.
:func:`store_event` stores one normalised event, once: an event whose identity
was already stored (the stream and a catch-up can both see it) is not stored
again.

The stored vocabulary is the built-in forge's, which is Gerrit's: ``comment``
keeps Gerrit's ``Patch Set N: ...`` prefix (Zuul's ``recheck`` regexes are written
against it) and ``approvals`` holds the votes that *changed* in a comment-added
(those Gerrit sends with an ``oldValue``; from servers that send none, the votes
the ``Patch Set N: Label+V`` line names), as ``{label: int}``. Every vote the
event carries is in ``all_approvals``; ``approval_details`` keeps old values.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from zuulish.drivers.gerrit import snapshots
from zuulish.store import EventRow, GerritSeenEventRow, GerritStreamStateRow, Store
from zuulish.store import notify as channels

log = logging.getLogger(__name__)

#: The change events zuulish stores (ref-updated has no change).
CHANGE_EVENTS = ("patchset-created", "comment-added", "change-merged", "change-abandoned",
                 "change-restored", "topic-changed", "hashtags-changed", "wip-state-changed",
                 "private-state-changed")
EVENTS = (*CHANGE_EVENTS, "ref-updated")

#: Refs whose updates are Gerrit's own bookkeeping, not a branch or tag moving.
INTERNAL_REFS = ("refs/changes/", "refs/users/", "refs/groups/", "refs/deleted-groups/",
                 "refs/sequences/", "refs/draft-comments/", "refs/starred-changes/",
                 "refs/cache-automerge/", "refs/meta/external-ids", "refs/meta/group-names",
                 "refs/for/", "refs/meta/version")

_PATCH_SET = re.compile(r"^Patch Set (\d+):?(.*)$")
_VOTE = re.compile(r"^(?P<label>[A-Za-z][\w-]*?)(?P<value>[+-]\d+)$")
_REMOVED = re.compile(r"^-(?P<label>[A-Za-z][\w-]*)$")

#: How far apart (seconds) the stream's and a catch-up's time of one repeatable
#: event (a comment, an abandon) may be and still be taken for the same event.
SAME_EVENT_WITHIN = 60.0


@dataclass(frozen=True)
class NormalizedEvent:
    """What zuulish stores for one Gerrit event (the columns of ``EventRow``).

    ``key`` is the event's identity, the same whether it came from the stream,
    the webhooks plugin or a catch-up; ``repeatable`` says whether that identity
    can honestly happen again later (a second ``recheck``), in which case only a
    copy within :data:`SAME_EVENT_WITHIN` seconds of ``created_on`` is a duplicate.
    """

    type: str
    project: str
    branch: str | None
    change_number: int | None
    patchset: int | None
    data: dict[str, Any] = field(hash=False)
    created_on: float | None
    key: str
    repeatable: bool = False


@dataclass(frozen=True)
class Ignored:
    """An input that is not stored, and why (said in the log). ``lost_events``: the
    input is Gerrit saying it dropped events (``dropped-output``): catch up."""

    reason: str
    lost_events: bool = False


class _Bad(Exception):
    """Inside :func:`normalize` only: the input lacks or garbles a field."""


def _name(value: Any, what: str) -> str:
    """A project name or Change-Id: a string, or (the webhooks plugin) an object
    holding it under ``name``, ``id`` or ``key``."""
    if isinstance(value, dict):
        for k in ("name", "id", "key", "get"):
            if isinstance(value.get(k), str):
                value = value[k]
                break
    if not isinstance(value, str) or not value:
        raise _Bad(f"{what} is missing or not a name: {value!r}")
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or value is None:
        raise _Bad(f"{what} is missing or not a number: {value!r}")
    try:
        return int(value)  # old servers sent numbers as strings
    except (TypeError, ValueError):
        raise _Bad(f"{what} is not a number: {value!r}") from None


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"{what} is missing or not an object")
    return value


def _user(value: Any) -> str | None:
    """An account's username (else its email, else its name); None when absent."""
    if not isinstance(value, dict):
        return None
    for k in ("username", "email", "name"):
        if isinstance(value.get(k), str) and value[k]:
            return str(value[k])
    return None


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def full_ref(ref: str) -> str:
    """A ref as Gerrit names it now (very old servers sent ``master`` for a branch)."""
    return ref if ref.startswith("refs/") else f"refs/heads/{ref}"


def branch_of(ref: str) -> str | None:
    """The branch a full ref names; None for anything but ``refs/heads/*``."""
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


def comment_digest(comment: str) -> str:
    return hashlib.sha256(comment.encode()).hexdigest()[:16]


def _event_key(type_: str, *, project: str, change: int | None = None,
              patchset: int | None = None, account: str | None = None,
              comment: str | None = None, ref: str | None = None,
              oldrev: str | None = None, newrev: str | None = None,
              state: str | None = None) -> tuple[str, bool]:
    """(identity, repeatable), before shortening."""
    if type_ == "patchset-created":
        return f"{type_}:{change}:{patchset}", False
    if type_ == "change-merged":
        return f"{type_}:{change}", False
    if type_ == "comment-added":
        return f"{type_}:{change}:{patchset}:{account}:{comment_digest(comment or '')}", True
    if type_ == "ref-updated":
        return f"{type_}:{project}:{ref}:{oldrev}:{newrev}", False
    if state is not None:  # a topic, hashtag, WIP or private change: what it became
        return f"{type_}:{change}:{comment_digest(state)}", True
    return f"{type_}:{change}", True


def votes_in(message: str) -> dict[str, int]:
    """The votes a review message's first line records: ``Patch Set 2: Code-Review+2
    Workflow+1`` → ``{Code-Review: 2, Workflow: 1}``; a removed vote (``-Verified``)
    is 0."""
    first = message.split("\n", 1)[0]
    match = _PATCH_SET.match(first)
    if not match:
        return {}
    votes: dict[str, int] = {}
    for token in match.group(2).split():
        if m := _VOTE.match(token):
            votes[m["label"]] = int(m["value"])
        elif m := _REMOVED.match(token):
            votes[m["label"]] = 0
    return votes


def event_key(type_: str, *, project: str, change: int | None = None,
              patchset: int | None = None, account: str | None = None,
              comment: str | None = None, ref: str | None = None,
              oldrev: str | None = None, newrev: str | None = None,
              state: str | None = None) -> tuple[str, bool]:
    """(identity, repeatable) of an event, computed alike for the stream's and a
    catch-up's copy of it; at most 255 characters (longer ones are hashed).
    ``state``: what a topic, hashtags, WIP or private change changed (see
    :func:`state_of_change`), so that two such changes close together stay two."""
    key, repeatable = _event_key(type_, project=project, change=change, patchset=patchset,
                                 account=account, comment=comment, ref=ref, oldrev=oldrev,
                                 newrev=newrev, state=state)
    if len(key) > 255:
        key = f"{type_}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return key, repeatable


def _approvals(raw: Any) -> tuple[dict[str, int], dict[str, int], list[dict[str, Any]]]:
    """(changed, all, details) of a comment-added's ``approvals`` list."""
    changed: dict[str, int] = {}
    every: dict[str, int] = {}
    details = []
    if raw is None:
        return changed, every, details
    if not isinstance(raw, list):
        raise _Bad("approvals is not a list")
    for entry in raw:
        entry = _dict(entry, "an approval")
        label = entry.get("type") or entry.get("description")
        if not isinstance(label, str) or not label:
            raise _Bad(f"an approval has no label: {entry!r}")
        value = _int(entry.get("value"), f"the {label} approval's value")
        every[label] = value
        detail: dict[str, Any] = {"label": label, "value": value}
        if "oldValue" in entry:
            detail["old_value"] = _int(entry["oldValue"], f"the {label} approval's oldValue")
            changed[label] = value
        if isinstance(entry.get("by"), dict):
            detail["by"] = _user(entry["by"])
        details.append(detail)
    return changed, every, details


def _parse(line_or_obj: str | bytes | dict[str, Any]) -> dict[str, Any] | Ignored:
    if isinstance(line_or_obj, dict):
        return line_or_obj
    text = line_or_obj
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Ignored(f"not UTF-8 ({exc.reason} at byte {exc.start})")
    if not text.strip():
        return Ignored("an empty line")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return Ignored(f"not JSON ({exc.msg} at column {exc.colno}): {text[:80]!r}")
    if not isinstance(obj, dict):
        return Ignored(f"not a JSON object but a {type(obj).__name__}")
    return obj


def normalize(line_or_obj: str | bytes | dict[str, Any]) -> NormalizedEvent | Ignored:
    """One Gerrit event as zuulish stores it, or why it is not stored."""
    obj = _parse(line_or_obj)
    if isinstance(obj, Ignored):
        return obj
    kind = obj.get("type")
    if not isinstance(kind, str):
        return Ignored("the event has no type")
    if kind == "dropped-output":
        return Ignored("Gerrit dropped events this stream was too slow to take",
                       lost_events=True)
    if kind not in EVENTS:
        return Ignored(f"{kind} events are not used by zuulish")
    try:
        if kind == "ref-updated":
            return _ref_updated(obj)
        return _change_event(kind, obj)
    except _Bad as exc:
        return Ignored(f"a {kind} event that cannot be used: {exc}")


def _created_on(obj: dict[str, Any]) -> float | None:
    value = obj.get("eventCreatedOn")
    if value is None:
        return None
    return float(_int(value, "eventCreatedOn"))


def _ref_updated(obj: dict[str, Any]) -> NormalizedEvent | Ignored:
    update = _dict(obj.get("refUpdate"), "refUpdate")
    ref = full_ref(_name(update.get("refName"), "refUpdate.refName"))
    project = _name(update.get("project") or obj.get("project"), "refUpdate.project")
    if ref.startswith(INTERNAL_REFS) or ref == "refs/meta":
        return Ignored(f"ref-updated of {ref} in {project} is Gerrit's own bookkeeping")
    oldrev = _name(update.get("oldRev"), "refUpdate.oldRev")
    newrev = _name(update.get("newRev"), "refUpdate.newRev")
    data: dict[str, Any] = {"ref": ref, "oldrev": oldrev, "newrev": newrev}
    account = _user(obj.get("submitter"))
    if account:
        data["account"] = account
    created = _created_on(obj)
    if created is not None:
        data["event_created_on"] = created
    key, repeatable = event_key("ref-updated", project=project, ref=ref, oldrev=oldrev,
                                newrev=newrev)
    return NormalizedEvent(type="ref-updated", project=project, branch=branch_of(ref),
                           change_number=None, patchset=None, data=data, created_on=created,
                           key=key, repeatable=repeatable)


#: Who did it, per event type (the account field Gerrit sets on it).
_ACTORS = {"patchset-created": "uploader", "comment-added": "author",
           "change-merged": "submitter", "change-abandoned": "abandoner",
           "change-restored": "restorer", "topic-changed": "changer",
           "hashtags-changed": "editor", "wip-state-changed": "changer",
           "private-state-changed": "changer"}


def _change_event(kind: str, obj: dict[str, Any]) -> NormalizedEvent:
    change = _dict(obj.get("change"), "change")
    number = _int(change.get("number"), "change.number")
    project = _name(obj.get("project") or change.get("project"), "project")
    branch = change.get("branch")
    if not isinstance(branch, str) or not branch:
        ref_name = obj.get("refName")
        if not isinstance(ref_name, str):
            raise _Bad("change.branch is missing")
        branch = branch_of(full_ref(ref_name))
    data: dict[str, Any] = {}
    change_id = change.get("id") or obj.get("changeKey")
    if change_id is not None:
        data["change_id"] = _name(change_id, "changeKey")
    for src, dst in (("url", "url"), ("subject", "subject"), ("status", "status")):
        if isinstance(change.get(src), str):
            data[dst] = change[src]
    data["topic"] = change.get("topic") if isinstance(change.get("topic"), str) else None
    data["hashtags"] = _strings(change.get("hashtags"))
    data["wip"] = change.get("wip") is True
    data["private"] = change.get("private") is True
    owner = _user(change.get("owner"))
    if owner:
        data["owner"] = owner
    patchset = None
    ps = obj.get("patchSet")
    if ps is not None:
        ps = _dict(ps, "patchSet")
        patchset = _int(ps.get("number"), "patchSet.number")
        for src, dst in (("revision", "revision"), ("ref", "patchset_ref"), ("kind", "kind")):
            if isinstance(ps.get(src), str):
                data[dst] = ps[src]
        if isinstance(ps.get("parents"), list):
            data["parents"] = _strings(ps["parents"])
        for src in ("uploader", "author"):
            if _user(ps.get(src)):
                data[src] = _user(ps.get(src))
    account = _user(obj.get(_ACTORS[kind]))
    if account:
        data["account"] = account
    comment = None
    if kind == "comment-added":
        comment = obj.get("comment")
        if comment is None:
            comment = ""
        if not isinstance(comment, str):
            raise _Bad("comment is not text")
        data["comment"] = comment
        changed, every, details = _approvals(obj.get("approvals"))
        if not any("old_value" in d for d in details):
            # Servers before oldValue existed: the message's first line says the votes.
            changed = votes_in(comment)
        data["approvals"] = changed
        data["all_approvals"] = every
        data["approval_details"] = details
    elif kind in ("change-abandoned", "change-restored"):
        reason = obj.get("reason")
        data["reason"] = reason if isinstance(reason, str) else ""
    elif kind == "change-merged":
        if isinstance(obj.get("newRev"), str):
            data["newrev"] = obj["newRev"]
    elif kind == "topic-changed":
        old = obj.get("oldTopic")
        data["old_topic"] = old if isinstance(old, str) else None
    elif kind == "hashtags-changed":
        data["added"] = _strings(obj.get("added"))
        data["removed"] = _strings(obj.get("removed"))
    created = _created_on(obj)
    if created is not None:
        data["event_created_on"] = created
    key, repeatable = event_key(kind, project=project, change=number, patchset=patchset,
                                account=account, comment=comment,
                                state=state_of_change(kind, data))
    return NormalizedEvent(type=kind, project=project, branch=branch, change_number=number,
                           patchset=patchset, data=data, created_on=created, key=key,
                           repeatable=repeatable)


def state_of_change(kind: str, data: dict[str, Any]) -> str | None:
    """What a topic-changed, hashtags-changed, wip-state-changed or
    private-state-changed event (normalised ``data``) changed, as text; None for
    other kinds."""
    if kind == "topic-changed":
        return f"{data.get('old_topic') or ''}\0{data.get('topic') or ''}"
    if kind == "hashtags-changed":
        return "+{}\0-{}".format(",".join(sorted(data.get("added") or ())),
                                 ",".join(sorted(data.get("removed") or ())))
    if kind == "wip-state-changed":
        return f"wip={data.get('wip') is True}"
    if kind == "private-state-changed":
        return f"private={data.get('private') is True}"
    return None


def _seen(session: Any, connection: str, event: NormalizedEvent) -> bool:
    rows = session.scalars(select(GerritSeenEventRow.at).where(
        GerritSeenEventRow.connection == connection, GerritSeenEventRow.key == event.key)).all()
    if not event.repeatable:
        return bool(rows)
    if event.created_on is None:
        return False
    return any(abs(at - event.created_on) <= SAME_EVENT_WITHIN for at in rows)


def store_event(store: Store, connection: str, event: NormalizedEvent, *,
                clock: Callable[[], float], source: str = "stream",
                cover: bool = True) -> int | None:
    """Store ``event`` for ``connection`` unless it was stored already; the new
    event's id, or None for a duplicate. With ``cover``, moves the connection's
    covered time on to the event's time (not while an earlier gap is still being
    caught up). ``source`` (stream, webhook, catch-up) is kept in data. The last
    known branch tips and change states (``snapshots.py``) follow what is stored."""
    with store.session() as s:
        store.lock(s, f"gerrit-events:{connection}")
        event_id = store_locked(s, connection, event, now=clock(), source=source,
                                cover=cover)
    if event_id is not None:
        store.notifier.notify(channels.SCHEDULER)
    return event_id


def store_locked(session: Any, connection: str, event: NormalizedEvent, *, now: float,
                 source: str, cover: bool, note: bool = True) -> int | None:
    """:func:`store_event` inside a transaction that holds the connection's lock
    (``gerrit-events:<connection>``). A stream event that shows, while a gap is
    open, that a branch tip or a change's state moved unseen before it (its old
    value is not the last known one) is preceded by the event that was missed
    (source ``deduced``). With ``note``, the snapshots follow ``event``."""
    if _seen(session, connection, event):
        log.debug("gerrit %s: %s already stored", connection, event.key)
        return None
    if note and source == "stream" and not cover:
        for raw in snapshots.missed_before(session, connection, event):
            deduced = normalize(raw)
            if isinstance(deduced, NormalizedEvent):
                log.info("gerrit %s: %s shows a %s that was missed; storing it", connection,
                         event.key, deduced.key)
                store_locked(session, connection, deduced, now=now, source="deduced",
                             cover=False, note=False)
    at = event.created_on if event.created_on is not None else now
    row = EventRow(connection=connection, type=event.type, project=event.project,
                   branch=event.branch, change_number=event.change_number,
                   patchset=event.patchset, data={**event.data, "source": source},
                   created_at=now)
    session.add(row)
    session.flush()
    session.add(GerritSeenEventRow(connection=connection, key=event.key, at=at,
                                   event_id=row.id))
    if cover:
        _cover(session, connection, at, now)
    if note:
        snapshots.note_stored(session, connection, event, now=now, complete=cover)
    return int(row.id)


def _cover(session: Any, connection: str, until: float, now: float) -> None:
    state = session.get(GerritStreamStateRow, connection)
    if state is None:
        session.add(GerritStreamStateRow(connection=connection, covered_until=until,
                                         updated_at=now))
    elif until > state.covered_until:
        state.covered_until, state.updated_at = until, now


def mark_covered(store: Store, connection: str, until: float, *,
                 clock: Callable[[], float]) -> None:
    """Record that every event of ``connection`` up to ``until`` is stored."""
    with store.session() as s:
        _cover(s, connection, until, clock())


def covered_until(store: Store, connection: str) -> float | None:
    """Up to when every event of ``connection`` is stored; None before the first."""
    with store.read() as s:
        state = s.get(GerritStreamStateRow, connection)
        return state.covered_until if state is not None else None


def forget_seen(store: Store, connection: str, before: float) -> int:
    """Drop the identities of events older than ``before`` (no catch-up looks that far
    back any more); how many were dropped."""
    from sqlalchemy import delete

    with store.session() as s:
        result = s.execute(delete(GerritSeenEventRow).where(
            GerritSeenEventRow.connection == connection, GerritSeenEventRow.at < before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
