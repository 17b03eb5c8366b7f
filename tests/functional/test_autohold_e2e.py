"""Autohold through the whole system: a failing build's local node is held for the
request, the passing job's node is not, and deleting the request releases the node
to the launcher, which deletes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.tenant import GateTenant
from zuulish.executor.sandbox import unavailable
from zuulish.nodepool import holds
from zuulish.store import BuildRow, NodeRequestRow, NodeRow

MISSING = unavailable()  # the local node's sandbox: bwrap, and pasta for its network
pytestmark = [pytest.mark.store, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

JOBS = """
- job:
    name: broken
    run: playbooks/broken.yaml
- job:
    name: fine
    run: playbooks/fine.yaml
- project:
    check:
      jobs: [broken, fine]
"""
BROKEN = """- hosts: all
  gather_facts: false
  tasks:
    - shell: exit 3
"""
FINE = """- hosts: all
  gather_facts: false
  tasks:
    - shell: "true"
"""


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": JOBS, "playbooks/broken.yaml": BROKEN,
        "playbooks/fine.yaml": FINE}})
    t.start()
    yield t
    t.stop()


def _nodes_of(tenant: GateTenant, job: str) -> list[NodeRow]:
    with tenant.aio.store.read() as s:
        return list(s.scalars(select(NodeRow).join(
            NodeRequestRow, NodeRequestRow.id == NodeRow.request_id).join(
            BuildRow, BuildRow.id == NodeRequestRow.build_id).where(BuildRow.job == job)))


def test_a_failed_builds_node_is_held_until_the_request_is_deleted(
        tenant: GateTenant) -> None:
    store = tenant.aio.store
    layout = tenant.wait_for(lambda: tenant.aio.layouts.layouts.get("t"), 30, "the layout")
    for job in ("broken", "fine"):
        wanted = holds.hold_request(layout, "t", "org/app", {"job": job, "reason": "look"})
        with store.session() as s:
            holds.create_hold(s, wanted, 0.0, account="test")
    number = tenant.push("org/app", {"x.txt": "x\n"}, "A change")
    report = tenant.wait_reported(number, "check")
    assert report.result == "FAILURE", report.message

    [held] = tenant.wait_for(lambda: [n for n in _nodes_of(tenant, "broken")
                                      if n.state == "held"], 30, "the held node")
    assert held.hold_until is None
    tenant.wait_for(lambda: [n.state for n in _nodes_of(tenant, "fine")] == ["deleted"],
                    30, "the passing build's node deleted")
    with store.read() as s:
        listed = holds.describe(s, tenant="t")
    by_job = {h["job"]: h for h in listed}
    assert by_job["broken"]["current_count"] == 1 and by_job["fine"]["current_count"] == 0
    assert [n["id"] for n in by_job["broken"]["nodes"]] == [held.id]
    assert "local node: nothing to log in to" in by_job["broken"]["nodes"][0]["login"]

    with store.session() as s:
        assert holds.release_hold(s, by_job["broken"]["id"], 1.0) == [held.id]
    store.notifier.notify("launcher")
    tenant.wait_for(lambda: [n.state for n in _nodes_of(tenant, "broken")] == ["deleted"],
                    30, "the released node deleted by the launcher")
