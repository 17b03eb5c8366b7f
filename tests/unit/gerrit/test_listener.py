"""What the listener stores is what the scheduler reads: the columns and data keys
of the built-in forge's events, from the stream and from the webhooks plugin."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.fakes.gerrit import stream_line
from tests.fakes.gerrit.rest import FakeGerritRest
from tests.unit.gerrit.test_catchup import updated_change
from zuulish.clock import SimulatedClock
from zuulish.drivers.gerrit.events import covered_until
from zuulish.drivers.gerrit.listener import GerritListener
from zuulish.drivers.gerrit.rest import GerritRest
from zuulish.store import EventRow, Store


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(start=1_700_003_000)


@pytest.fixture
def gerrit() -> Iterator[FakeGerritRest]:
    fake = FakeGerritRest()
    fake.add_change(updated_change())
    yield fake
    fake.close()


def rows(store: Store) -> list[EventRow]:
    with store.read() as s:
        return list(s.scalars(select(EventRow).order_by(EventRow.id)))


def test_a_vote_is_stored_as_the_scheduler_reads_it(store: Store,
                                                    clock: SimulatedClock) -> None:
    listener = GerritListener(store, "review", None, clock=clock.now)
    assert listener.handle_line(stream_line("comment-added.vote")) is False
    (row,) = rows(store)
    assert (row.connection, row.type, row.project, row.branch, row.change_number,
            row.patchset, row.processed_at) == ("review", "comment-added", "example/widget",
                                                "master", 4321, 2, None)
    assert row.data["comment"].startswith("Patch Set 2: Code-Review+2 Workflow+1\n\n")
    assert row.data["approvals"] == {"Code-Review": 2, "Workflow": 1}
    assert row.data["account"] == "bob"
    assert row.data["source"] == "stream"
    assert row.created_at == clock.now()


def test_a_ref_update_is_stored_as_the_scheduler_reads_it(store: Store,
                                                          clock: SimulatedClock) -> None:
    GerritListener(store, "review", None, clock=clock.now).handle_line(
        stream_line("ref-updated"))
    (row,) = rows(store)
    assert (row.type, row.project, row.branch, row.change_number) == (
        "ref-updated", "example/widget", "master", None)
    assert (row.data["ref"], row.data["oldrev"][:7], row.data["newrev"][:7]) == (
        "refs/heads/master", "0f1e2d3", "5d4c3b2")


def test_a_webhook_body_is_the_same_event_as_the_stream_line(store: Store,
                                                             clock: SimulatedClock) -> None:
    listener = GerritListener(store, "review", None, clock=clock.now)
    body = json.loads(stream_line("patchset-created"))
    body["project"] = {"name": "example/widget"}
    listener.handle_event(body)
    listener.handle_line(stream_line("patchset-created"))
    (row,) = rows(store)
    assert row.data["source"] == "webhook"


def test_input_that_cannot_be_used_is_remembered_with_its_reason(
        store: Store, clock: SimulatedClock) -> None:
    listener = GerritListener(store, "review", None, clock=clock.now)
    listener.handle_line(b'{"type": "comment-added", "change": 4321}\n')
    listener.handle_line(stream_line("change-merged"))
    assert listener.ignored == ["a comment-added event that cannot be used: change is "
                                "missing or not an object"]
    assert [r.type for r in rows(store)] == ["change-merged"]


def test_the_first_connection_covers_from_now_and_catches_nothing_up(
        store: Store, clock: SimulatedClock, gerrit: FakeGerritRest) -> None:
    rest = GerritRest(gerrit.url, user="zuul", password="secret")
    listener = GerritListener(store, "review", rest, clock=clock.now)
    assert listener.on_connect(1) is False
    assert covered_until(store, "review") == clock.now()
    assert gerrit.calls == []


def test_a_reconnection_asks_for_a_catch_up(store: Store, clock: SimulatedClock,
                                            gerrit: FakeGerritRest) -> None:
    rest = GerritRest(gerrit.url, user="zuul", password="secret")
    listener = GerritListener(store, "review", rest, clock=clock.now)
    listener.on_connect(1)
    clock.advance(20_000)
    assert listener.on_connect(2) is True
    result = listener.catch_up()
    assert result is not None and result.stored == 4


def test_events_while_a_gap_is_open_do_not_move_the_covered_time(
        store: Store, clock: SimulatedClock) -> None:
    listener = GerritListener(store, "review", None, clock=clock.now)
    listener.on_connect(1)
    listener.on_connect(2)  # reconnected: a catch-up is due, and has not run yet
    listener.handle_line(stream_line("change-merged"))
    assert covered_until(store, "review") == 1_700_003_000


def test_catching_up_at_start_looks_back_to_where_the_last_run_stopped(
        store: Store, clock: SimulatedClock, gerrit: FakeGerritRest) -> None:
    rest = GerritRest(gerrit.url, user="zuul", password="secret")
    first = GerritListener(store, "review", rest, clock=clock.now)
    first.on_connect(1)
    first.handle_line(stream_line("patchset-created"))
    clock.advance(20_000)  # zuulish was down meanwhile
    again = GerritListener(store, "review", rest, clock=clock.now, catch_up_on_start=True)
    assert again.on_connect(1) is True
    result = again.catch_up()
    assert result is not None and (result.stored, result.duplicates) == (3, 1)


def test_a_gap_opened_while_catching_up_stays_open_for_the_next_catch_up(
        store: Store, clock: SimulatedClock, gerrit: FakeGerritRest) -> None:
    rest = GerritRest(gerrit.url, user="zuul", password="secret")
    listener = GerritListener(store, "review", rest, clock=clock.now)
    listener.on_connect(1)
    listener.on_connect(2)

    class Reconnecting:
        """REST that sees the stream reconnect again while it answers."""

        def query_changes(self, query: str, options: object = (), limit: object = None
                          ) -> list[dict]:
            listener.on_connect(3)
            return rest.query_changes(query, options)  # type: ignore[arg-type]

    listener.rest = Reconnecting()
    listener.catch_up()
    assert listener.gap_pending
    listener.handle_line(stream_line("change-merged"))
    assert covered_until(store, "review") == 1_700_003_000  # not moved past the new gap
    listener.rest = rest
    listener.catch_up()
    assert not listener.gap_pending
