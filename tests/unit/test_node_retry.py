"""A build that loses its nodes is tried again on new ones while attempts remain."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.fakes.rows import item_with_buildset
from zuulish.clock import SimulatedClock
from zuulish.executor.server import Executor
from zuulish.model import FrozenJob
from zuulish.store import BuildRow, NodeRequestRow, NodeRow, Store


@pytest.fixture
def executor(store: Store, tmp_path: Path) -> Executor:
    return Executor(store, tmp_path / "executor", SimulatedClock(start=100.0),
                    preload_ansible=False)


def running_build(store: Store, attempt: int = 1, attempts: int = 3) -> BuildRow:
    """A build running on one node of a fulfilled request."""
    with store.session() as s:
        buildset_id = item_with_buildset(s)
        req = NodeRequestRow(build_id="b1", labels=["ubuntu"], state="fulfilled",
                             priority=100, created_at=0.0)
        s.add(req)
        s.flush()
        node = NodeRow(provider="p", label="ubuntu", state="in-use", hostname="h",
                       host_vars={}, request_id=req.id, created_at=0.0)
        s.add(node)
        s.flush()
        req.node_ids = [node.id]
        s.add(BuildRow(id="b1", buildset_id=buildset_id, job="unit", state="running",
                       frozen_job=FrozenJob(name="unit", attempts=attempts).to_dict(),
                       params={"nodes": [{"id": node.id, "name": "n"}]},
                       node_request_id=req.id, attempt=attempt, created_at=0.0,
                       started_at=1.0))
    with store.read() as s:
        row = s.get(BuildRow, "b1")
        assert row is not None
        return row


def test_a_vanished_node_makes_the_build_wait_for_a_new_node_request(
        store: Store, executor: Executor, tmp_path: Path) -> None:
    build = running_build(store)
    executor._finish(build, "NODE_FAILURE", "host h unreachable", tmp_path / "log", None)
    with store.read() as s:
        row = s.get(BuildRow, "b1")
        assert row is not None
        assert (row.state, row.result, row.attempt) == ("waiting", None, 2)
        assert "unreachable" in (row.message or "") and "nodes" not in row.params
        requests = s.scalars(select(NodeRequestRow).order_by(NodeRequestRow.id)).all()
        assert [(r.state, r.labels) for r in requests] == [("fulfilled", ["ubuntu"]),
                                                            ("requested", ["ubuntu"])]
        assert row.node_request_id == requests[1].id
        assert [n.state for n in s.scalars(select(NodeRow))] == ["used"]  # torn down


def test_the_last_attempt_losing_its_node_ends_in_node_failure(
        store: Store, executor: Executor, tmp_path: Path) -> None:
    build = running_build(store, attempt=2, attempts=2)
    executor._finish(build, "NODE_FAILURE", "host h unreachable", tmp_path / "log", None)
    with store.read() as s:
        row = s.get(BuildRow, "b1")
        assert row is not None
        assert (row.state, row.result, row.attempt) == ("completed", "NODE_FAILURE", 2)
        assert len(s.scalars(select(NodeRequestRow)).all()) == 1


def test_a_label_no_provider_offers_ends_in_node_failure_without_retries(
        store: Store, tmp_path: Path) -> None:
    from zuulish.nodepool.launcher import Launcher
    from zuulish.nodepool.local import LocalProvider
    from zuulish.scheduler.layouts import TenantLayouts
    from zuulish.scheduler.scheduler import Scheduler

    waiting_build(store, labels=["gpu-a100"])
    clock = SimulatedClock(start=100.0)
    launcher = Launcher(store, [LocalProvider("local", ("local", "ubuntu"))], clock)
    launcher.run_once()
    with store.read() as s:
        req = s.scalars(select(NodeRequestRow)).one()
        assert req.state == "declined"
        assert req.error == ("no node provider offers label(s) gpu-a100; "
                             "labels offered: local, ubuntu")
    layouts = TenantLayouts(tmp_path / "tenants.yaml", {}, {}, {})
    scheduler = Scheduler(store, clock, layouts, {}, {}, "http://127.0.0.1")
    assert scheduler.process_node_requests() == 1
    with store.read() as s:
        row = s.get(BuildRow, "b1")
        assert row is not None
        # Final at once: new nodes of a label nobody offers cannot come.
        assert (row.state, row.result, row.attempt) == ("completed", "NODE_FAILURE", 1)
        assert "gpu-a100" in (row.message or "")
        assert s.scalar(select(func.count()).select_from(NodeRequestRow)) == 1


def waiting_build(store: Store, labels: list[str]) -> None:
    """A build waiting on a new node request for ``labels``."""
    with store.session() as s:
        buildset_id = item_with_buildset(s)
        req = NodeRequestRow(build_id="b1", labels=labels, priority=100, created_at=0.0)
        s.add(req)
        s.flush()
        s.add(BuildRow(id="b1", buildset_id=buildset_id, job="unit", state="waiting",
                       frozen_job=FrozenJob(name="unit", attempts=3).to_dict(), params={},
                       node_request_id=req.id, attempt=1, created_at=0.0))
