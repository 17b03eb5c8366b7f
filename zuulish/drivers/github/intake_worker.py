"""Stored GitHub deliveries, turned into the events the scheduler reads.

A service per GitHub connection: its own thread, woken when the webhook stores a
delivery (and polling meanwhile), takes the connection's deliveries in the order
they were received. For each it works out what the delivery means
(:mod:`zuulish.drivers.github.events`), records the pull request it concerns
(:mod:`zuulish.drivers.github.pulls`: change number, patch set, cached data), then
in one transaction stores the resulting ``EventRow``\\ s and marks the delivery done
with its outcome: a restart finds each delivery either untouched or done, so none
is lost and none doubled. What is ignored is logged with the reason.

A comment triggers only when its author may write to the repository; that takes
a :class:`PermissionLookup` (GitHub's API, through the driver's adapter of the
client). A lookup that fails for now (:class:`PermissionUnavailable`: GitHub down,
a rate limit) leaves the delivery pending, and later ones wait behind it so events
keep their order; after :data:`MAX_ATTEMPTS` it is given up, logged, and kept as
the delivery's outcome.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import bindparam, insert, select, update

from zuulish.clock import Clock, SystemClock
from zuulish.drivers.github import events, pulls
from zuulish.drivers.github.webhook import Webhook, intake_channel
from zuulish.service import Worker
from zuulish.store import EventRow, GithubDeliveryRow, Store
from zuulish.store.notify import SCHEDULER

if TYPE_CHECKING:
    from aiohttp.web import RouteDef

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
#: deliveries handled per transaction: few enough that the worker never holds the
#: database's write lock (SQLite has one) for long while the webhook waits on it
BATCH = 10


# plain SQL inside the write transaction (on SQLite, the whole database's write lock,
# which the webhook's inserts wait on): built once, compiled once
_NEW_EVENT = insert(EventRow.__table__).returning(EventRow.__table__.c.id)
_DONE = (update(GithubDeliveryRow.__table__)
         .where(GithubDeliveryRow.__table__.c.id == bindparam("delivery_id"))
         .values(processed_at=bindparam("done_at"), outcome=bindparam("done_outcome"),
                 attempts=bindparam("done_attempts")))


class PermissionUnavailable(Exception):
    """A permission lookup that failed for now (GitHub unreachable, a rate limit); the
    message says why. The delivery is tried again later."""


class PermissionLookup(Protocol):
    """A user's permission on a repository (``owner/repo``), as GitHub's collaborator
    permission API says it: ``admin``, ``maintain``, ``write``, ``triage``, ``read`` or
    ``none`` (a user GitHub does not know as a collaborator)."""

    def collaborator_permission(self, repo: str, user: str) -> str:
        """Raises PermissionUnavailable when GitHub cannot be asked now."""
        ...


@dataclass(frozen=True)
class _Pending:
    id: int
    delivery: str
    event: str
    body: bytes
    attempts: int


class IntakeWorker:
    """Turns one GitHub connection's stored deliveries into scheduler events."""

    def __init__(self, connection: str, store: Store, permissions: PermissionLookup,
                 clock: Clock | None = None, poll_interval: float = 1.0,
                 max_attempts: int = MAX_ATTEMPTS):
        self.connection = connection
        self.store = store
        self.permissions = permissions
        self.clock = clock or SystemClock()
        self.max_attempts = max_attempts
        self._worker = Worker(f"github-intake-{connection}", self.step, store.notifier,
                              intake_channel(connection), poll_interval)

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()
        self._worker.join(10)

    # ------------------------------------------------------------------ one pass
    def step(self) -> bool:
        """Process the pending deliveries, oldest first, in one transaction; True when
        it did all it found (so there may be more)."""
        with self.store.read() as session:
            rows = session.execute(
                select(GithubDeliveryRow.id, GithubDeliveryRow.delivery,
                       GithubDeliveryRow.event, GithubDeliveryRow.body,
                       GithubDeliveryRow.attempts)
                .where(GithubDeliveryRow.connection == self.connection,
                       GithubDeliveryRow.processed_at.is_(None))
                .order_by(GithubDeliveryRow.id).limit(BATCH)).all()
        decided: list[tuple[_Pending, events.Parsed | events.Ignored]] = []
        for row in rows:
            pending = _Pending(*row)
            verdict = self._decide(pending)
            if verdict is None:
                break  # a lookup failed for now: later deliveries wait behind it
            decided.append((pending, verdict))
        if decided:
            self._finish(decided)
        return bool(decided) and len(decided) == len(rows)

    def _decide(self, pending: _Pending) -> events.Parsed | events.Ignored | None:
        """What the delivery means; None when it must be tried again later."""
        try:
            payload: Any = json.loads(pending.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return events.Ignored(f"the body is not JSON: {exc}")
        try:
            parsed = events.parse(pending.event, payload)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # the fields checked at the webhook are there, but of the wrong shape
            return events.Ignored(f"the {pending.event} payload could not be read: "
                                  f"{type(exc).__name__}: {exc}")
        if isinstance(parsed, events.Parsed) and parsed.needs_write is not None:
            try:
                permission = self.permissions.collaborator_permission(
                    parsed.project, parsed.needs_write)
            except PermissionUnavailable as exc:
                return self._retry(pending, parsed, str(exc))
            if not events.may_trigger(permission):
                return events.Ignored(
                    f"comment by {parsed.needs_write} on "
                    f"{pulls.display(parsed.project, parsed.pull_number or 0)}: "
                    f"{parsed.needs_write} has {permission or 'no'} permission on "
                    f"{parsed.project}; only write, maintain or admin may trigger")
        return parsed

    def _retry(self, pending: _Pending, parsed: events.Parsed,
               reason: str) -> events.Ignored | None:
        attempts = pending.attempts + 1
        if attempts >= self.max_attempts:
            log.error("github %s: delivery %s: gave up looking up the permission of %s on "
                      "%s after %d attempts: %s", self.connection, pending.delivery,
                      parsed.needs_write, parsed.project, attempts, reason)
            return events.Ignored(
                f"the permission of {parsed.needs_write} on {parsed.project} could not be "
                f"looked up ({reason}); gave up after {attempts} attempts")
        log.warning("github %s: delivery %s waits: the permission of %s on %s could not be "
                    "looked up (%s); attempt %d of %d", self.connection, pending.delivery,
                    parsed.needs_write, parsed.project, reason, attempts, self.max_attempts)
        with self.store.session() as session:
            row = session.get(GithubDeliveryRow, pending.id)
            if row is not None:
                row.attempts = attempts
        return None

    def _finish(self, decided: list[tuple[_Pending, events.Parsed | events.Ignored]]) -> None:
        """Store the events of each delivery and mark it done with its outcome, all in
        one transaction."""
        now = self.clock.now()
        made: list[tuple[_Pending, events.Parsed | events.Ignored, list[int]]] = []
        with self.store.session() as session:
            self.store.lock(session, f"github-intake:{self.connection}")
            still_pending = set(session.scalars(select(GithubDeliveryRow.id).where(
                GithubDeliveryRow.id.in_([p.id for p, _ in decided]),
                GithubDeliveryRow.processed_at.is_(None))))
            for pending, parsed in decided:
                if pending.id not in still_pending:
                    continue  # another intake worker did it
                ids = (self._events(session, parsed, pending.delivery, now)
                       if isinstance(parsed, events.Parsed) else [])
                made.append((pending, parsed, ids))
            outcomes = [(pending, _outcome(parsed, ids)) for pending, parsed, ids in made]
            if outcomes:
                session.connection().execute(_DONE, [
                    {"delivery_id": pending.id, "done_at": now, "done_outcome": outcome,
                     "done_attempts": pending.attempts + 1} for pending, outcome in outcomes])
        for pending, outcome in outcomes:
            log.info("github %s: delivery %s (%s): %s", self.connection, pending.delivery,
                     pending.event, outcome)
        if any(ids for _, _, ids in made):
            self.store.notifier.notify(SCHEDULER)

    def _events(self, session: Any, parsed: events.Parsed, delivery: str,
                now: float) -> list[int]:
        """The ids of the events of ``parsed``, inserted in ``session``'s transaction
        (one per pull request it concerns; one for a push or a branch's check run)."""
        targets: list[tuple[pulls.PullRequest | None, int | None]] = []
        if parsed.pull is not None:
            recorded = pulls.record(self.store, session, self.connection, parsed.project,
                                    parsed.pull, now)
            targets.append((recorded.pull, recorded.patchset))
        elif parsed.pull_number is not None:
            pull = pulls.ensure(self.store, session, self.connection, parsed.project,
                                parsed.pull_number, now)
            targets.append((pull, pulls.patchset_in(session, pull, parsed.head_sha)))
        elif parsed.head_sha is not None:
            for pull in pulls.open_with_head(session, self.connection, parsed.project,
                                             parsed.head_sha):
                targets.append((pull, pulls.patchset_in(session, pull, parsed.head_sha)))
            if not targets and parsed.type == "check_run":
                targets.append((None, None))  # a check run on a branch
        else:
            targets.append((None, None))  # a push
        ids = []
        for pull, _ in targets:
            if pull is not None and parsed.pull is None:
                pulls.touch(session, pull.id, now)
        for pull, patchset in targets:
            data = dict(parsed.data, delivery=delivery)
            branch = parsed.branch
            if pull is not None:
                data.update(pull_number=pull.number, display=pull.display)
                branch = branch or pull.base_branch
            ids.append(session.connection().execute(_NEW_EVENT, {
                "connection": self.connection, "type": parsed.type,
                "project": parsed.project, "branch": branch,
                "change_number": pull.id if pull is not None else None,
                "patchset": patchset, "data": data, "created_at": now}).scalar_one())
        return ids


def _outcome(parsed: events.Parsed | events.Ignored, ids: list[int]) -> str:
    if isinstance(parsed, events.Ignored):
        return f"ignored: {parsed.reason}"
    if not ids:
        return (f"ignored: no open pull request of {parsed.project} known with head "
                f"{parsed.head_sha}")
    return "stored event(s) " + ", ".join(str(event_id) for event_id in ids)


def intake_parts(connection: str, webhook_token: str, store: Store,
                 permissions: PermissionLookup, clock: Clock | None = None
                 ) -> tuple[list[RouteDef], list[Webhook | IntakeWorker]]:
    """A GitHub connection's intake, for its ``ConnectionParts``: the webhook's route
    (``/api/connection/<connection>/payload``) and the services to start and stop
    with zuulish (the webhook's writer, the intake worker)."""
    hook = Webhook(connection, webhook_token, store, clock)
    worker = IntakeWorker(connection, store, permissions, clock)
    return hook.routes(), [hook, worker]
