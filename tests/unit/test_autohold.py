"""Autohold: a failed build's nodes are held for a matching request, then released."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.fakes.rows import item_with_buildset
from zuulish.clock import SimulatedClock
from zuulish.executor.server import Executor
from zuulish.model import FrozenJob
from zuulish.nodepool.holds import (
    HoldError,
    HoldRequest,
    change_ref_filter,
    create_hold,
    describe,
    expired_holds,
    release_hold,
)
from zuulish.store import AutoholdRow, BuildRow, NodeRequestRow, NodeRow, Store

CHANGE_1 = {"tenant": "t", "project": "org/app", "change": 1, "patchset": 1}
STATIC = {"ansible_host": "192.0.2.7", "ansible_port": 2222, "ansible_user": "zuul"}


@pytest.fixture
def executor(store: Store, tmp_path: Path) -> Executor:
    return Executor(store, tmp_path / "executor", SimulatedClock(start=100.0),
                    preload_ansible=False)


def running_build(store: Store, build_id: str, job: str = "unit",
                  params: dict[str, Any] | None = None, nodes: int = 1) -> BuildRow:
    """A build of ``job`` running on ``nodes`` static nodes."""
    with store.session() as s:
        if s.scalar(select(NodeRequestRow.id)) is None:
            item_with_buildset(s)
        buildset_id = s.scalar(select(BuildRow.buildset_id)) or 1
        req = NodeRequestRow(build_id=build_id, labels=["ubuntu"] * nodes, state="fulfilled",
                             priority=100, created_at=0.0)
        s.add(req)
        s.flush()
        for n in range(nodes):
            s.add(NodeRow(provider="p", label="ubuntu", state="in-use", hostname=f"h{n}",
                          host_vars=dict(STATIC), request_id=req.id, created_at=0.0))
        s.add(BuildRow(id=build_id, buildset_id=buildset_id, job=job, state="running",
                       frozen_job=FrozenJob(name=job, attempts=1).to_dict(),
                       params=dict(CHANGE_1 if params is None else params),
                       node_request_id=req.id, created_at=0.0, started_at=1.0))
    with store.read() as s:
        row = s.get(BuildRow, build_id)
        assert row is not None
        return row


def hold(store: Store, **fields: Any) -> int:
    with store.session() as s:
        args: dict[str, Any] = {"tenant": "t", "project": "org/app", "job": "unit",
                                "reason": "debugging flaky unit"}
        args.update(fields)
        return create_hold(s, HoldRequest(**args), 50.0).id


def node_states(store: Store) -> list[tuple[str, int | None, float | None]]:
    with store.read() as s:
        return [(n.state, n.hold_id, n.hold_until)
                for n in s.scalars(select(NodeRow).order_by(NodeRow.id))]


def test_a_failed_build_keeps_its_nodes_for_a_matching_request(
        store: Store, executor: Executor, tmp_path: Path) -> None:
    hold_id = hold(store, node_hold_expiration=3600)
    executor._finish(running_build(store, "b1", nodes=2), "FAILURE", "", tmp_path, None)
    assert node_states(store) == [("held", hold_id, 3700.0)] * 2
    with store.read() as s:
        [info] = describe(s)
    assert (info["current_count"], info["count"]) == (1, 1)
    assert info["held_builds"][0]["build"] == "b1"
    assert [n["login"] for n in info["nodes"]] == ["ssh zuul@192.0.2.7 -p 2222"] * 2


def test_a_used_up_request_holds_no_more(store: Store, executor: Executor,
                                         tmp_path: Path) -> None:
    hold(store)  # count 1
    executor._finish(running_build(store, "b1"), "FAILURE", "", tmp_path, None)
    executor._finish(running_build(store, "b2"), "FAILURE", "", tmp_path, None)
    assert [s for s, _, _ in node_states(store)] == ["held", "used"]


@pytest.mark.parametrize("result", ["FAILURE", "RETRY_LIMIT", "POST_FAILURE", "TIMED_OUT"])
def test_every_failure_zuul_holds_for_is_held(store: Store, executor: Executor,
                                              tmp_path: Path, result: str) -> None:
    hold(store)
    executor._finish(running_build(store, "b1"), result, "", tmp_path, None)
    assert node_states(store)[0][0] == "held"


@pytest.mark.parametrize("result", ["SUCCESS", "NODE_FAILURE", "SKIPPED", "DISK_FULL"])
def test_other_results_release_the_nodes(store: Store, executor: Executor, tmp_path: Path,
                                         result: str) -> None:
    hold(store)
    executor._finish(running_build(store, "b1"), result, "", tmp_path, None)
    assert node_states(store)[0][0] == "used"
    with store.read() as s:
        assert s.scalars(select(AutoholdRow.current_count)).one() == 0


def test_a_canceled_build_is_not_held(store: Store, executor: Executor,
                                      tmp_path: Path) -> None:
    hold(store)
    running_build(store, "b1")
    with store.session() as s:
        row = s.get(BuildRow, "b1")
        assert row is not None
        row.cancel_requested = True
    with store.read() as s:
        build = s.get(BuildRow, "b1")
    assert build is not None
    executor._finish(build, "FAILURE", "", tmp_path, None)
    assert node_states(store)[0][0] == "used"


def test_other_jobs_projects_tenants_and_refs_are_not_held(
        store: Store, executor: Executor, tmp_path: Path) -> None:
    hold(store, ref_filter="refs/heads/main")
    hold(store, job="lint")
    hold(store, project="org/lib")
    hold(store, tenant="other")
    executor._finish(running_build(store, "b1"), "FAILURE", "", tmp_path, None)
    assert node_states(store)[0][0] == "used"


def test_a_change_request_matches_every_patchset_of_that_change_only(
        store: Store, executor: Executor, tmp_path: Path) -> None:
    assert change_ref_filter(1234) == "refs/changes/34/1234/.*"
    hold(store, ref_filter=change_ref_filter(2))
    executor._finish(running_build(store, "b1"), "FAILURE", "", tmp_path, None)
    executor._finish(running_build(store, "b2", params={**CHANGE_1, "change": 2,
                                                        "patchset": 3}),
                     "FAILURE", "", tmp_path, None)
    assert [s for s, _, _ in node_states(store)] == ["used", "held"]


def test_a_ref_update_build_matches_its_ref(store: Store, executor: Executor,
                                            tmp_path: Path) -> None:
    hold(store, ref_filter="refs/tags/v.*")
    executor._finish(running_build(store, "b1", params={
        "tenant": "t", "project": "org/app", "ref": "refs/tags/v1.0"}),
        "FAILURE", "", tmp_path, None)
    assert node_states(store)[0][0] == "held"


def test_the_most_specific_request_wins(store: Store, executor: Executor,
                                        tmp_path: Path) -> None:
    any_ref = hold(store)
    change = hold(store, ref_filter=change_ref_filter(1))
    one_ref = hold(store, ref_filter="refs/changes/01/1/1")
    executor._finish(running_build(store, "b1"), "FAILURE", "", tmp_path, None)
    executor._finish(running_build(store, "b2"), "FAILURE", "", tmp_path, None)
    executor._finish(running_build(store, "b3"), "FAILURE", "", tmp_path, None)
    assert [h for _, h, _ in node_states(store)] == [one_ref, change, any_ref]


def test_expired_holds_release_the_nodes_and_drop_a_used_up_request(
        store: Store, executor: Executor, tmp_path: Path) -> None:
    forever = hold(store, count=2)
    expiring = hold(store, node_hold_expiration=60)  # the newer: matched first
    executor._finish(running_build(store, "b1"), "FAILURE", "", tmp_path, None)  # expiring
    executor._finish(running_build(store, "b2"), "FAILURE", "", tmp_path, None)  # forever
    with store.session() as s:
        assert expired_holds(s, 159.0) == []
    with store.session() as s:
        assert expired_holds(s, 160.0) == [1]
    assert node_states(store) == [("used", expiring, 160.0), ("held", forever, None)]
    with store.read() as s:
        assert [h["id"] for h in describe(s)] == [forever]  # the used-up one is gone
        assert s.get(NodeRow, 1).released_at == 160.0  # type: ignore[union-attr]


def test_deleting_a_request_releases_its_nodes(store: Store, executor: Executor,
                                               tmp_path: Path) -> None:
    hold_id = hold(store)
    executor._finish(running_build(store, "b1", nodes=2), "FAILURE", "", tmp_path, None)
    with store.session() as s:
        assert release_hold(s, hold_id, 500.0) == [1, 2]
    assert [s for s, _, _ in node_states(store)] == ["used", "used"]
    with store.session() as s, pytest.raises(HoldError, match="no autohold request 99"):
        release_hold(s, 99, 500.0)


@pytest.mark.parametrize(("fields", "words"), [
    ({"ref_filter": "refs/(heads"}, "not a regular expression"),
    ({"count": 0}, "count must be a whole number of 1 or more"),
    ({"count": -2}, "count must be"),
    ({"node_hold_expiration": -1}, "0 or more"),
    ({"reason": " "}, "needs a reason"),
    ({"job": ""}, "needs a job"),
])
def test_malformed_requests_are_refused(store: Store, fields: dict[str, Any],
                                        words: str) -> None:
    with pytest.raises(HoldError, match=words):
        hold(store, **fields)
    with store.read() as s:
        assert s.scalars(select(AutoholdRow)).all() == []


def test_login_says_what_applies_to_each_kind_of_node(store: Store) -> None:
    from zuulish.nodepool.holds import login

    local = NodeRow(hostname="localhost", host_vars={"ansible_connection": "zuulish_local"})
    assert "local node: nothing to log in to" in login(local)
    assert login(NodeRow(hostname="n1", host_vars={})) == "ssh n1 -p 22"
    assert login(NodeRow(hostname="n", host_vars={"ansible_host": "2001:db8::1",
                                                  "ansible_user": "u"})) \
        == "ssh u@[2001:db8::1] -p 22"
