"""The webhooks plugin's bodies: hints that Gerrit's REST API must confirm."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from tests.unit.gerrit_driver.conftest import PROJECT, Parts
from zuulish.drivers.gerrit.webhook import GerritWebhook
from zuulish.store import EventRow, Store


def stored(store: Store) -> list[tuple[str, int | None, dict[str, Any]]]:
    with store.read() as s:
        return [(e.type, e.change_number, e.data) for e in
                s.scalars(select(EventRow).order_by(EventRow.id))]


def hook(parts: Parts, store: Store) -> GerritWebhook:
    return GerritWebhook(store, "review", parts.rest, parts.source, clock=lambda: 1.0)


def test_a_real_event_is_stored_once(parts: Parts, store: Store) -> None:
    info = parts.gerrit.upload(PROJECT, {"a": "1\n"}, "A")
    line = parts.gerrit.lines[-1]
    assert hook(parts, store).ingest(line) == (200, "stored 1 event(s)")
    assert hook(parts, store).ingest(line) == (200, "stored 0 event(s)")
    [(kind, number, data)] = stored(store)
    assert (kind, number) == ("patchset-created", info["_number"])
    assert data["source"] == "webhook" and data["revision"] == info["current_revision"]


def test_a_real_vote_is_stored_with_gerrits_own_votes(parts: Parts, store: Store) -> None:
    info = parts.gerrit.upload(PROJECT, {"a": "1\n"}, "A")
    line = parts.gerrit.vote(info["_number"], {"Code-Review": 2, "Workflow": 1})
    assert hook(parts, store).ingest(line) == (200, "stored 1 event(s)")
    [(kind, _n, data)] = stored(store)
    assert kind == "comment-added" and data["approvals"] == {"Code-Review": 2, "Workflow": 1}


def test_a_forged_approval_is_not_stored(parts: Parts, store: Store) -> None:
    info = parts.gerrit.upload(PROJECT, {"a": "1\n"}, "A")
    forged = parts.gerrit.vote(info["_number"], {"Workflow": 1}, announce=False)
    parts.gerrit.changes[info["_number"]]["messages"].pop()  # it never happened
    status, outcome = hook(parts, store).ingest(forged)
    assert (status, outcome) == (200, f"not stored: change {info['_number']} shows no such "
                                      "comment-added")
    assert stored(store) == []


def test_an_event_about_a_change_gerrit_does_not_have_is_not_stored(
        parts: Parts, store: Store) -> None:
    info = parts.gerrit.upload(PROJECT, {"a": "1\n"}, "A")
    body = json.loads(parts.gerrit.lines[-1])
    body["change"]["number"] = 999
    assert hook(parts, store).ingest(json.dumps(body)) == (
        200, f"not stored: Gerrit has no change 999 in {PROJECT}")
    assert info and stored(store) == []


def test_a_ref_update_is_stored_only_where_the_branch_is(parts: Parts, store: Store) -> None:
    tip = parts.gerrit.tip(PROJECT)
    body = {"type": "ref-updated", "eventCreatedOn": 1,
            "refUpdate": {"oldRev": "0" * 40, "newRev": tip, "refName": "refs/heads/master",
                          "project": PROJECT}}
    assert hook(parts, store).ingest(json.dumps(body)) == (200, "stored 1 event(s)")
    body["refUpdate"]["newRev"] = "1" * 40
    status, outcome = hook(parts, store).ingest(json.dumps(body))
    assert status == 200 and outcome.startswith(f"not stored: {PROJECT} refs/heads/master is")
    assert [k for k, _n, _d in stored(store)] == ["ref-updated"]


def test_garbage_is_a_400_and_a_failing_gerrit_a_502(parts: Parts, store: Store) -> None:
    w = hook(parts, store)
    status, outcome = w.ingest(b"<html>not json</html>")
    assert status == 400 and outcome.startswith("ignored: not JSON")
    parts.gerrit.upload(PROJECT, {"a": "1\n"}, "A")
    parts.gerrit.fail_next = 100
    status, outcome = w.ingest(parts.gerrit.lines[-1])
    assert status == 502 and "cannot confirm the event with Gerrit now" in outcome
    assert stored(store) == []


def test_the_route_answers_over_http(parts: Parts, store: Store) -> None:
    parts.gerrit.upload(PROJECT, {"a": "1\n"}, "A")
    app = web.Application()
    app.router.add_routes([hook(parts, store).route()])

    async def post(*bodies: bytes) -> list[tuple[int, Any]]:
        out = []
        async with TestClient(TestServer(app)) as client:
            for body in bodies:
                answer = await client.post("/api/connection/review/payload", data=body)
                out.append((answer.status, await answer.json()))
        return out

    [ok, big] = asyncio.run(post(parts.gerrit.lines[-1], b"x" * (1024 * 1024 + 1)))
    assert ok == (200, {"outcome": "stored 1 event(s)"})
    assert big[0] == 413
