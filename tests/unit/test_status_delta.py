"""What changed in a tenant's status since a page last had it: statuses computed from a
real store (SQLite) as the scheduler and the executors change it, turned into deltas
that send only the items that changed, and expanded back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.functional.test_web import seed
from zuulish.config.layout import Layout
from zuulish.model import Pipeline, PipelineManager
from zuulish.store import BuildRow, ChangeRow, QueueItemRow, Store
from zuulish.web.status import tenant_status
from zuulish.web.status_delta import Shown, expand, same_item

pytestmark = pytest.mark.store

LAYOUT = Layout("t", pipelines={"check": Pipeline("check", PipelineManager.INDEPENDENT),
                                "gate": Pipeline("gate", PipelineManager.DEPENDENT)})


@pytest.fixture
def seeded(store: Store, tmp_path: Path) -> Store:
    seed(store)
    return store


def status(store: Store, now: float) -> dict[str, Any]:
    return tenant_status(store, LAYOUT, "t", "http://zuulish.test", now=now)


def items(data: dict[str, Any]) -> dict[int, Any]:
    return {i["id"] if isinstance(i, dict) else i: i for p in data["pipelines"]
            for q in p["queues"] for i in q["items"]}


def sent(delta: dict[str, Any]) -> list[str]:
    """The labels of the items a delta sends in full."""
    return [i["change"]["label"] for i in items(delta).values() if isinstance(i, dict)]


def write(store: Store, build: str, **values: Any) -> None:
    with store.session() as s:
        s.execute(update(BuildRow).where(BuildRow.id == build).values(**values))


def test_time_passing_sends_no_item(seeded: Store) -> None:
    now = time.time()
    first = status(seeded, now)
    later = status(seeded, now + 95)  # the running lint's clocks and times in queue moved
    assert later != first
    delta = Shown(first).delta(later, base=7)
    assert delta["base"] == 7 and delta["generated_at"] == now + 95
    assert sent(delta) == []
    assert all(isinstance(i, int) for i in items(delta).values())


def test_a_job_that_changes_sends_its_item_alone(seeded: Store) -> None:
    now = time.time()
    first = status(seeded, now)
    shown = Shown(first)
    write(seeded, "build-2", state="completed", result="FAILURE", finished_at=now + 1)
    second = status(seeded, now + 2)
    delta = shown.delta(second, base=1)
    assert sent(delta) == ["3,1"]
    [gate] = [i for i in items(delta).values() if isinstance(i, dict)]
    assert [j["result"] for j in gate["jobs"]] == ["SUCCESS", "FAILURE", None]
    # what the page holds, expanded, is the new status but for the clocks of the rest
    assert expand(delta, items(first)) == {**second, "pipelines": [
        {**p, "queues": [{**q, "items": [i if i["id"] == gate["id"] else items(first)[i["id"]]
                                         for i in q["items"]]} for q in p["queues"]]}
        for p in second["pipelines"]]}
    # the next delta compares with what was sent: nothing changed since
    assert sent(shown.delta(status(seeded, now + 3), base=2)) == []


def test_items_that_come_go_and_change_subject_are_sent(seeded: Store) -> None:
    now = time.time()
    shown = Shown(status(seeded, now))
    with seeded.session() as s:
        s.add(ChangeRow(connection="forge", number=9, project="org/app", branch="main",
                        status="NEW", patchset=1, commit_sha="9" * 40, subject="Later",
                        message="", created_at=0, updated_at=0))
        s.add(QueueItemRow(tenant="t", pipeline="gate", queue_name="shared",
                           connection="forge", change_number=9, patchset=1,
                           commit_sha="9" * 40, project="org/app", branch="main",
                           sequence=2, enqueued_at=now, state="queued"))
        s.execute(update(ChangeRow).where(ChangeRow.number == 4).values(subject="Renamed"))
    second = status(seeded, now + 1)
    delta = shown.delta(second, base=1)
    # 9 is new, 4's subject changed, and 3 has an item behind it now (its lane goes on)
    assert sorted(sent(delta)) == ["3,1", "4,2", "9,1"]
    with seeded.session() as s:
        s.execute(update(QueueItemRow).where(QueueItemRow.change_number == 4)
                  .values(state="dequeued"))
    third = status(seeded, now + 2)
    delta = shown.delta(third, base=2)
    assert sent(delta) == [] and sorted(items(delta)) == sorted(items(third))
    assert set(shown.items) == set(items(third))


def test_a_running_job_s_clocks_are_the_page_s_but_a_waiting_job_s_estimate_is_not(
        seeded: Store) -> None:
    now = time.time()
    first = status(seeded, now)
    [gate] = [i for i in items(first).values() if i["change"]["label"] == "3,1"]
    lint = gate["jobs"][1]
    moved = {**gate, "jobs": [gate["jobs"][0], {**lint, "elapsed_time": 99.0},
                              gate["jobs"][2]], "time_in_queue": 1e6}
    assert same_item(gate, moved)
    docs = gate["jobs"][2]
    assert docs["state"] == "waiting"
    estimated = {**gate, "jobs": [*gate["jobs"][:2], {**docs, "remaining_time": 30.0,
                                                      "estimated_time": 30.0}]}
    assert not same_item(gate, estimated)
    assert not same_item(gate, {**gate, "failing": not gate["failing"]})
    assert not same_item(gate, {**gate, "jobs": gate["jobs"][:2]})


def test_expanding_an_id_the_page_does_not_hold_fails(seeded: Store) -> None:
    now = time.time()
    first = status(seeded, now)
    delta = Shown(first).delta(status(seeded, now + 1), base=1)
    with pytest.raises(KeyError):
        expand(delta, {})
