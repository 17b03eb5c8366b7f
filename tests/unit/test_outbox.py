"""A remote forge's calls are kept until made: in order per key, with back-off, across
restarts."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from zuulish.clock import SimulatedClock
from zuulish.drivers.outbox import Deferred, Outbox, OutboxSender, Refused
from zuulish.store import OutboxRow, Store

pytestmark = pytest.mark.store


class Forge:
    """Records the calls it accepts; fails the ones it is told to."""

    def __init__(self) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []
        self.fail: list[Exception] = []

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        if self.fail:
            raise self.fail.pop(0)
        self.made.append((kind, payload))


def _states(store: Store) -> list[tuple[str, str, int]]:
    with store.read() as s:
        return [(r.key, r.state, r.attempts)
                for r in s.scalars(select(OutboxRow).order_by(OutboxRow.id))]


def test_calls_are_made_in_order_and_marked_sent(store: Store) -> None:
    clock, forge = SimulatedClock(), Forge()
    box = Outbox(store, "gh", clock)
    box.put("comment", "pr-1", {"text": "start"})
    box.put("comment", "pr-1", {"text": "success"})
    box.put("comment", "pr-2", {"text": "start"})
    sender = OutboxSender(store, "gh", forge, clock)
    while sender.run_once():
        pass
    assert [p["text"] for _, p in forge.made] == ["start", "start", "success"]
    assert [s for _, s, _ in _states(store)] == ["sent"] * 3


def test_a_failing_call_is_retried_with_back_off_and_holds_up_only_its_key(
        store: Store) -> None:
    clock, forge = SimulatedClock(), Forge()
    box = Outbox(store, "gh", clock)
    box.put("comment", "pr-1", {"n": 1})
    box.put("comment", "pr-1", {"n": 2})
    box.put("comment", "pr-2", {"n": 3})
    forge.fail = [ConnectionError("502 Bad Gateway")]
    sender = OutboxSender(store, "gh", forge, clock, base_delay=2.0)
    sender.run_once()
    assert forge.made == [("comment", {"n": 3})]  # pr-1 waits; pr-2 went ahead
    assert not sender.run_once() or forge.made == [("comment", {"n": 3})]
    clock.advance(2.0)
    while sender.run_once():
        pass
    assert [p["n"] for _, p in forge.made] == [3, 1, 2]
    assert _states(store)[0] == ("pr-1", "sent", 1)


def test_a_rate_limit_defers_without_counting_an_attempt(store: Store) -> None:
    clock, forge = SimulatedClock(), Forge()
    Outbox(store, "gh", clock).put("status", "pr-1", {})
    forge.fail = [Deferred("rate limit exhausted", after=60.0)]
    sender = OutboxSender(store, "gh", forge, clock, max_attempts=1)
    sender.run_once()
    clock.advance(59.0)
    assert sender.due() == []
    clock.advance(1.0)
    sender.run_once()
    assert _states(store) == [("pr-1", "sent", 0)]


def test_a_refused_call_fails_at_once_and_later_calls_still_go(store: Store,
                                                                caplog) -> None:
    clock, forge = SimulatedClock(), Forge()
    box = Outbox(store, "gh", clock)
    box.put("label", "pr-1", {"label": "gate"})
    box.put("comment", "pr-1", {"text": "done"})
    forge.fail = [Refused("422 Validation Failed: label does not exist")]
    sender = OutboxSender(store, "gh", forge, clock)
    while sender.run_once():
        pass
    assert _states(store) == [("pr-1", "failed", 1), ("pr-1", "sent", 0)]
    assert "label does not exist" in caplog.text


def test_a_call_that_keeps_failing_is_given_up_after_max_attempts(store: Store,
                                                                  caplog) -> None:
    clock, forge = SimulatedClock(), Forge()
    Outbox(store, "gh", clock).put("comment", "pr-1", {})
    forge.fail = [TimeoutError("read timed out")] * 3
    sender = OutboxSender(store, "gh", forge, clock, max_attempts=3, base_delay=1.0)
    for _ in range(3):
        sender.run_once()
        clock.advance(100.0)
    assert _states(store) == [("pr-1", "failed", 3)]
    assert forge.made == []
    assert "failed 3 times, given up" in caplog.text


def test_calls_not_yet_made_survive_a_restart(store: Store) -> None:
    clock = SimulatedClock()
    Outbox(store, "gh", clock).put("comment", "pr-1", {"text": "kept"})
    Outbox(store, "other", clock).put("comment", "pr-1", {"text": "not ours"})
    forge = Forge()  # a new process: a new sender over the same store
    OutboxSender(store, "gh", forge, clock).run_once()
    assert forge.made == [("comment", {"text": "kept"})]
