"""Gerrit's webhooks plugin as an event source: ``POST /api/connection/{name}/payload``.

The webhooks plugin signs nothing, so a body that reaches this URL is taken as a
hint, never as the truth: what it says happened is looked up in Gerrit's REST
API (as the connection's own account), and only what Gerrit confirms is stored.
A change event is rebuilt from the change's REST record, as a catch-up does
(new patch sets, review messages with their votes, abandons, restores, merges);
a topic, hashtag, work-in-progress or private change is stored when the change
holds that state now; a ref-updated when the branch or tag is at the new commit
now. A forged body can make zuulish read Gerrit, never act on what did not
happen. An event the stream has already stored is not stored again.

Answers: 200 with what was done; 400 for a body that is not a usable Gerrit
event (the plugin need not send it again); 502 when Gerrit's REST API cannot
confirm it now (the plugin retries). The event is stored before the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from zuulish.drivers.gerrit.catchup import CATCH_UP_OPTIONS, DEFAULT_MARGIN, missed_events
from zuulish.drivers.gerrit.events import Ignored, NormalizedEvent, normalize, store_event
from zuulish.drivers.gerrit.rest import GerritRest, GerritRestError
from zuulish.drivers.gerrit.source import GerritSource
from zuulish.store import Store

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
#: REST look-ups made at once for webhook bodies (the rest wait their turn)
CONCURRENCY = 4
REBUILT = ("patchset-created", "comment-added", "change-abandoned", "change-restored",
           "change-merged")


class Unconfirmed(Exception):
    """Gerrit does not confirm the event (said in the answer and the log)."""


class GerritWebhook:
    """The webhooks-plugin intake of one Gerrit connection."""

    def __init__(self, store: Store, connection: str, rest: GerritRest, source: GerritSource,
                 *, clock: Callable[[], float], margin: float = DEFAULT_MARGIN):
        self.store = store
        self.connection = connection
        self.rest = rest
        self.source = source
        self.clock = clock
        self.margin = margin
        self._slots: asyncio.Semaphore | None = None

    # ------------------------------------------------------------ HTTP
    def route(self) -> web.RouteDef:
        return web.post(f"/api/connection/{self.connection}/payload", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _answer(413, f"a webhook body is at most {MAX_BODY} bytes")
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return _answer(413, f"a webhook body is at most {MAX_BODY} bytes")
        if self._slots is None:
            self._slots = asyncio.Semaphore(CONCURRENCY)
        async with self._slots:
            status, outcome = await asyncio.get_running_loop().run_in_executor(
                None, self.ingest, body)
        return _answer(status, outcome)

    # ------------------------------------------------------------ work
    def ingest(self, body: bytes | str | dict[str, Any]) -> tuple[int, str]:
        """(HTTP status, what was done) for one webhook body; see the module."""
        event = normalize(body)
        if isinstance(event, Ignored):
            log.info("gerrit %s webhook: ignored: %s", self.connection, event.reason)
            return 400, f"ignored: {event.reason}"
        try:
            stored = self._confirm(event)
        except Unconfirmed as exc:
            log.warning("gerrit %s webhook: %s not stored: %s", self.connection, event.type,
                        exc)
            return 200, f"not stored: {exc}"
        except GerritRestError as exc:
            log.warning("gerrit %s webhook: cannot confirm %s through REST: %s",
                        self.connection, event.type, exc)
            return 502, f"cannot confirm the event with Gerrit now: {exc}"
        return 200, f"stored {stored} event(s)"

    def _confirm(self, event: NormalizedEvent) -> int:
        if event.type == "ref-updated":
            self._confirm_ref(event)
            return self._store([event])
        number = event.change_number
        assert number is not None  # every other event zuulish stores is a change's
        found = self.rest.query_changes(f"change:{number}", options=CATCH_UP_OPTIONS)
        change = next((c for c in found if isinstance(c, dict)
                       and c.get("_number") == number and c.get("project") == event.project),
                      None)
        if change is None:
            raise Unconfirmed(f"Gerrit has no change {number} in {event.project}")
        self.source.invalidate(number)
        if event.type in REBUILT:
            since = (event.created_on if event.created_on is not None else self.clock())
            events = [e for e in missed_events([change], since - self.margin)
                      if e.type == event.type and e.patchset == event.patchset]
            if not events:
                raise Unconfirmed(f"change {number} shows no such {event.type}")
            return self._store(events)
        self._confirm_state(event, change)
        return self._store([event])

    @staticmethod
    def _confirm_state(event: NormalizedEvent, change: dict[str, Any]) -> None:
        data = event.data
        if event.type == "topic-changed":
            agrees = change.get("topic") == data.get("topic")
        elif event.type == "hashtags-changed":
            tags = set(change.get("hashtags") or ())
            agrees = set(data.get("added") or ()) <= tags \
                and not set(data.get("removed") or ()) & tags
        elif event.type == "wip-state-changed":
            agrees = (change.get("work_in_progress") is True) == data.get("wip")
        elif event.type == "private-state-changed":
            agrees = (change.get("is_private") is True) == data.get("private")
        else:
            agrees = False
        if not agrees:
            raise Unconfirmed(f"change {change.get('_number')} does not hold what the "
                              f"{event.type} says")

    def _confirm_ref(self, event: NormalizedEvent) -> None:
        ref = str(event.data.get("ref", ""))
        project = quote(event.project, safe="")
        if ref.startswith("refs/heads/"):
            path = f"projects/{project}/branches/{quote(ref, safe='')}"
        elif ref.startswith("refs/tags/"):
            path = f"projects/{project}/tags/{quote(ref, safe='')}"
        else:
            raise Unconfirmed(f"{ref} is neither a branch nor a tag")
        try:
            info = self.rest.get(path)
        except GerritRestError as exc:
            if exc.status == 404:
                raise Unconfirmed(f"{event.project} has no {ref}") from None
            raise
        revision = info.get("revision") if isinstance(info, dict) else None
        if revision != event.data.get("newrev"):
            raise Unconfirmed(f"{event.project} {ref} is at {revision}, not at "
                              f"{event.data.get('newrev')}")

    def _store(self, events: list[NormalizedEvent]) -> int:
        stored = 0
        for event in events:
            if store_event(self.store, self.connection, event, clock=self.clock,
                           source="webhook", cover=False) is not None:
                stored += 1
        return stored


def _answer(status: int, outcome: str) -> web.Response:
    return web.Response(status=status, text=json.dumps({"outcome": outcome}),
                        content_type="application/json")
