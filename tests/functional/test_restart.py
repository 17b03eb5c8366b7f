"""Promise 2: a restart of zuulish — even kill -9 — loses nothing and merges nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.tenant import GateTenant

pytestmark = [pytest.mark.slow, pytest.mark.store, pytest.mark.postgres_e2e]

APP = """
- job:
    name: slow-test
    parent: run-shell
    vars:
      command: sleep 2
- project:
    queue: shared
    gate:
      jobs: [slow-test]
"""


def start_server(config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zuulish.cli", "-c", str(config), "run"],
                            stdout=log.open("a"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_kill_9_during_the_gate_resumes_and_merges_each_change_once(
        tmp_path: Path, database_url: str) -> None:
    tenant = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": APP}})
    config = tmp_path / "zuulish.yaml"
    text = config.read_text().replace("127.0.0.1:9", f"127.0.0.1:{_free_port()}")
    config.write_text(text)
    log = tmp_path / "server.log"
    server = start_server(config, log)
    try:
        numbers = [tenant.push("org/app", {f"f{i}.txt": f"{i}\n"}, f"Change {i}")
                   for i in range(3)]
        for n in numbers:
            tenant.approve(n)
        tenant.wait_for(lambda: _running_builds(tenant), timeout=60, what="a running build")
        os.killpg(server.pid, signal.SIGKILL)  # no chance to clean up
        server.wait(10)
        server = start_server(config, log)
        tenant.wait_for(lambda: all(_merged_and_reported(tenant, n) for n in numbers),
                        timeout=180, what="every change to merge after the restart")
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
    for n in numbers:
        assert tenant.branch_file("org/app", f"f{n - 1}.txt") == f"{n - 1}\n"
        merged = [r for r in tenant.reports(n, "gate") if r.result == "SUCCESS"]
        assert len(merged) == 1, log.read_text()[-3000:]


def _running_builds(tenant: GateTenant) -> bool:
    from sqlalchemy import select

    from zuulish.store import BuildRow

    with tenant.aio.store.read() as s:
        return s.scalar(select(BuildRow.id).where(BuildRow.state == "running")) is not None


def _merged_and_reported(tenant: GateTenant, number: int) -> bool:
    """The reporter merges first, then leaves its report: wait for both."""
    return tenant.change(number).status == "MERGED" and any(
        r.result is not None for r in tenant.reports(number, "gate"))


def _free_port() -> int:
    from zuulish.runner import free_port

    return free_port()


def test_graceful_stop_requeues_builds_instead_of_failing_them(
        tmp_path: Path, database_url: str) -> None:
    tenant = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": APP}})
    tenant.start()
    n = tenant.push("org/app", {"a.txt": "a\n"}, "A")
    tenant.approve(n)
    tenant.wait_for(lambda: _running_builds(tenant), timeout=60, what="a running build")
    tenant.stop()
    again = GateTenant.__new__(GateTenant)
    again.__dict__.update(tenant.__dict__)
    from zuulish.app import AllInOne

    again.aio = AllInOne(tenant.config)
    again.start()
    try:
        again.wait_for(lambda: _merged_and_reported(again, n), timeout=120,
                       what="the change to merge and its result to be reported")
        assert [r.result for r in again.reports(n, "gate")] == ["SUCCESS"]
    finally:
        again.stop()



@pytest.mark.parametrize("reported", [False, True], ids=["before-report", "after-report"])
def test_a_restart_between_the_gate_merge_and_the_item_end_reports_it_merged_once(
        tmp_path: Path, database_url: str, reported: bool) -> None:
    """zuulish stopped (SIGKILL, say) after the gate merged a change, before its report
    (or after the report, before the item ended): the store holds the change merged,
    its change-merged event not yet handled and its gate item still queued. The
    restarted scheduler must finish that item as merged and report it exactly once,
    not dequeue it for a merge "elsewhere" (issue 17; the kill test found both)."""
    from sqlalchemy import delete, select, update

    from zuulish.app import AllInOne
    from zuulish.store import ChangeRow, EventRow, QueueItemRow, ReportRow

    tenant = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": APP}})
    tenant.start()
    try:
        n = tenant.push("org/app", {"a.txt": "a\n"}, "A")
        tenant.approve(n)
        tenant.wait_for(lambda: _merged_and_reported(tenant, n), timeout=120,
                        what="the change to merge")
        tenant.wait_for(lambda: _item_state(tenant, n) == "merged", timeout=30,
                        what="its gate item to end")
    finally:
        tenant.stop()
    # the store as a SIGKILL right after the merge (or the report) leaves it
    with tenant.aio.store.session() as s:
        change = s.scalars(select(ChangeRow).where(ChangeRow.number == n)).one()
        s.execute(update(QueueItemRow).where(QueueItemRow.pipeline == "gate",
                                             QueueItemRow.change_number == n)
                  .values(state="queued", result=None, message=None, dequeued_at=None))
        s.execute(update(EventRow).where(EventRow.type.in_(("change-merged", "ref-updated")),
                                         EventRow.project == "org/app")
                  .values(processed_at=None))
        if not reported:
            s.execute(delete(ReportRow).where(ReportRow.change_id == change.id,
                                              ReportRow.pipeline == "gate"))
    again = GateTenant.__new__(GateTenant)
    again.__dict__.update(tenant.__dict__)
    again.aio = AllInOne(tenant.config)
    again.start()
    try:
        again.wait_for(lambda: _item_state(again, n) != "queued", timeout=60,
                       what="the gate item to end after the restart")
        again.wait_for(lambda: _events_left(again) == 0, timeout=30, what="the events")
    finally:
        again.stop()
    with again.aio.store.read() as s:
        item = s.scalars(select(QueueItemRow).where(QueueItemRow.pipeline == "gate",
                                                    QueueItemRow.change_number == n)).one()
    assert (item.state, item.message) == ("merged", None)
    assert [r.result for r in again.reports(n, "gate")] == ["SUCCESS"]


def _item_state(tenant: GateTenant, number: int) -> str | None:
    from sqlalchemy import select

    from zuulish.store import QueueItemRow

    with tenant.aio.store.read() as s:
        return s.scalar(select(QueueItemRow.state).where(
            QueueItemRow.pipeline == "gate", QueueItemRow.change_number == number))


def _events_left(tenant: GateTenant) -> int:
    from sqlalchemy import func, select

    from zuulish.store import EventRow

    with tenant.aio.store.read() as s:
        return s.scalar(select(func.count()).select_from(EventRow)
                        .where(EventRow.processed_at.is_(None)))
