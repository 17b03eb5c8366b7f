"""The status the API and the page show, read from a store set as the scheduler sets it:
the chain, the speculative state per repository, the queue options' roles, the times."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from zuulish.config.layout import Layout
from zuulish.config.objects import ConfigObject
from zuulish.model import Pipeline, PipelineManager
from zuulish.store import BuildRow, BuildSetRow, ChangeQueueRow, QueueItemRow, Store
from zuulish.web.estimates import Estimates
from zuulish.web.status import change_items, status_version, tenant_status

pytestmark = pytest.mark.store  # the queries are the subject

GRAPH = {"jobs": {"unit": {"name": "unit"}, "lint": {"name": "lint", "voting": False}},
         "fail_fast": False}
NOW = 10_000.0


def layout(queue_attrs: dict[str, Any] | None = None) -> Layout:
    found = Layout("t", pipelines={
        "check": Pipeline("check", PipelineManager.INDEPENDENT),
        "gate": Pipeline("gate", PipelineManager.DEPENDENT)})
    if queue_attrs is not None:
        found.objects["queue"] = {"shared": ConfigObject("queue", "shared", queue_attrs)}
    return found


def add_item(store: Store, number: int, project: str = "org/app", *, sequence: int,
             ahead: list[int] | None = None, builds: dict[str, tuple[str, str | None,
                                                                   float | None]] = (),
             merge_state: str = "merged", verified_at: float | None = None,
             repos: tuple[str, ...] = ("org/app",)) -> int:
    """A queued gate item with (unless ``ahead`` is None) a current build set on
    ``ahead`` and builds ``{job: (state, result, started_at)}``; its id."""
    with store.session() as s:
        item = QueueItemRow(tenant="t", pipeline="gate", queue_name="shared",
                            connection="forge", change_number=number, patchset=1,
                            commit_sha=f"{number:040d}", project=project, branch="main",
                            sequence=sequence, enqueued_at=NOW - 100 * number, state="queued",
                            verified_at=verified_at)
        s.add(item)
        s.flush()
        if ahead is not None:
            bs = BuildSetRow(uuid=f"bs{number}", item_id=item.id, ahead=ahead,
                             merge_state=merge_state, job_graph=GRAPH, created_at=0,
                             repo_state={r: {"branch": "main", "commit": f"{r}-{number}"}
                                         for r in repos})
            s.add(bs)
            s.flush()
            for job, (state, result, started) in dict(builds).items():
                s.add(BuildRow(id=f"b{number}-{job}", buildset_id=bs.id, job=job,
                               state=state, result=result, voting=job != "lint",
                               created_at=0, started_at=started,
                               finished_at=NOW - 1 if result else None))
        return item.id


def queue_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    [gate] = [p for p in data["pipelines"] if p["name"] == "gate"]
    [queue] = gate["queues"]
    return queue["items"]


ESTIMATES = Estimates({("org/app", "unit"): 100.0}, {"lint": 40.0})


def status(store: Store, found: Layout | None = None) -> dict[str, Any]:
    return tenant_status(store, found or layout(), "t", "http://z", estimates=ESTIMATES,
                         now=NOW)


def test_a_busy_gate_shows_the_chain_times_and_speculative_state(store: Store) -> None:
    with store.session() as s:
        s.add(ChangeQueueRow(tenant="t", pipeline="gate", name="shared", window=10))
    first = add_item(store, 1, sequence=1, ahead=[], builds={
        "unit": ("running", None, NOW - 25), "lint": ("completed", "SUCCESS", NOW - 30)})
    broken = add_item(store, 2, "org/lib", sequence=2, ahead=[first], repos=(
        "org/app", "org/lib"), builds={"unit": ("completed", "FAILURE", NOW - 50)})
    third = add_item(store, 3, sequence=3, ahead=[first], builds={
        "unit": ("waiting", None, None)})
    outside = add_item(store, 4, sequence=4, ahead=None)
    items = queue_of(status(store))
    assert [i["id"] for i in items] == [first, broken, third, outside]
    one, two, three, four = items
    # the chain: 2 failed and is drawn apart; 3 was restarted on 1; 4 waits behind 3
    assert (one["item_ahead"], two["item_ahead"], three["item_ahead"], four["item_ahead"]) \
        == (None, first, first, third)
    assert (two["in_chain"], two["column"], two["failing"]) == (False, 1, True)
    assert one["items_behind"] == [broken, third] and two["line_through"]
    # the jobs' times from the estimates
    unit = one["jobs"][0]
    assert (unit["name"], unit["estimated_time"], unit["elapsed_time"],
            unit["remaining_time"], unit["progress"]) == ("unit", 100.0, 25.0, 75.0, 25)
    lint = one["jobs"][1]
    assert (lint["remaining_time"], lint["progress"], lint["elapsed_time"]) == (0.0, 100, 29.0)
    assert three["jobs"][0]["state"] == "queued-for-nodes"
    assert three["jobs"][0]["remaining_time"] == 100.0
    # items: time in queue, and when they merge (no sooner than the item ahead)
    assert one["time_in_queue"] == 100.0 and one["remaining_time"] == 75.0
    assert three["remaining_time"] == 100.0  # lint not started: 40 s, unit 100 s
    assert two["remaining_time"] is None  # failing: it will not merge
    assert four["remaining_time"] is None and not four["active"]
    # 1's time is its running job's: it counts down; 3's is a job's that has not
    # started (its whole estimate stays ahead until it starts): it does not
    assert (one["remaining_shrinks"], two["remaining_shrinks"], three["remaining_shrinks"],
            four["remaining_shrinks"]) == (True, False, False, False)
    # the speculative state: per repository, the changes held there
    assert two["holds"] == [
        {"project": "org/app", "branch": "main", "commit": "org/app-2",
         "changes": [{"id": first, "label": "1,1", "display": "1,1", "own": False}]},
        {"project": "org/lib", "branch": "main", "commit": "org/lib-2",
         "changes": [{"id": broken, "label": "2,1", "display": "2,1", "own": True}]}]
    assert [c["label"] for c in three["holds"][0]["changes"]] == ["1,1", "3,1"]
    assert four["holds"] == []
    # no queue option is on: no roles
    assert all(i["probe"] is None and i["verified"] is None and i["independent_of"] is None
               for i in items)


def test_queue_options_show_each_items_role(store: Store) -> None:
    a = add_item(store, 1, sequence=1, ahead=[], verified_at=1.0)
    b = add_item(store, 2, sequence=2, ahead=[a], verified_at=1.0,
                 builds={"unit": ("running", None, NOW - 1)})
    c = add_item(store, 3, sequence=3, ahead=[a, b])
    add_item(store, 4, sequence=4, ahead=[a, b, c])
    data = status(store, layout({"batch-size": 3, "verify-first": True,
                                 "independent-subqueues": True}))
    [gate] = [p for p in data["pipelines"] if p["name"] == "gate"]
    assert gate["queues"][0]["options"] == {
        "independent_subqueues": True, "batch_size": 3, "verify_first": True,
        "speculate_failures": False, "retry_failed_jobs": 0}
    one, two, three, four = gate["queues"][0]["items"]
    # batching: 2's jobs run for the run 1..2; 3 and 4 have none running yet
    assert (one["probe"], one["batch"]) == (False, b)
    assert (two["probe"], two["batch"]) == (True, b)
    assert (three["probe"], three["batch"]) == (False, None)
    # verify-first: 3 and 4 are verified as one group, led by 3
    assert (one["verified"], three["verified"], three["group"], four["group"]) \
        == (True, False, c, c)
    assert one["independent_of"] == [] and four["independent_of"] == []


def test_independent_sub_queues_name_the_items_an_item_is_not_tested_with(
        store: Store) -> None:
    a = add_item(store, 1, sequence=1, ahead=[])
    b = add_item(store, 2, "org/lib", sequence=2, ahead=[], repos=("org/lib",))
    add_item(store, 3, sequence=3, ahead=[a])
    _, two, three = queue_of(status(store, layout({"independent-subqueues": True})))
    assert two["independent_of"] == [a] and three["independent_of"] == [b]
    assert (two["item_ahead"], three["item_ahead"]) == (None, a)


def test_the_version_moves_with_what_the_status_shows(store: Store) -> None:
    first = add_item(store, 1, sequence=1, ahead=[], builds={"unit": ("waiting", None, None)})
    before = status_version(store, "t")
    assert status_version(store, "t") == before
    with store.session() as s:
        s.execute(update(BuildRow).where(BuildRow.id == "b1-unit")
                  .values(state="running", started_at=NOW))
    running = status_version(store, "t")
    assert running != before
    with store.session() as s:
        s.execute(update(BuildSetRow).where(BuildSetRow.item_id == first)
                  .values(merge_state="conflict"))
    conflict = status_version(store, "t")
    assert conflict != running
    add_item(store, 2, sequence=2)
    assert status_version(store, "t") != conflict
    assert status_version(store, "other") != status_version(store, "t")


def test_the_status_of_one_change(store: Store) -> None:
    add_item(store, 12, sequence=1, ahead=[])
    data = status(store)
    [found] = change_items(data, "12")
    assert (found["pipeline"], found["queue"], found["change"]["label"]) \
        == ("gate", "shared", "12,1")
    assert change_items(data, "12,1") == [found]
    assert change_items(data, "12,2") == [] and change_items(data, "13") == []
    for bad in ("", "x", "12,", "12,a", "-1", "1" * 30, "12;drop", "١٢"):
        with pytest.raises(ValueError, match="a change is a number or NUMBER,PATCHSET"):
            change_items(data, bad)
