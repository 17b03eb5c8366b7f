"""The executor's side of ``zuul.pause``: a build that asked for it is marked
paused with its data published, and waits until its dependants are done or it is
canceled."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.fakes.gitrepo import Repo
from tests.fakes.rows import item_with_buildset
from zuulish.clock import SimulatedClock, SystemClock
from zuulish.executor.ansible_run import JobLog
from zuulish.executor.returned import result_file
from zuulish.executor.server import Executor
from zuulish.model import FrozenJob, PlaybookRef
from zuulish.store import BuildRow, Store


@pytest.fixture
def executor(store: Store, tmp_path: Path) -> Executor:
    return Executor(store, tmp_path / "executor", SimulatedClock(start=100.0),
                    preload_ansible=False)


def running_build(store: Store) -> BuildRow:
    with store.session() as s:
        buildset_id = item_with_buildset(s, pipeline="check")
        s.add(BuildRow(id="b1", buildset_id=buildset_id, job="registry", state="running",
                       frozen_job=FrozenJob(name="registry").to_dict(),
                       params={"child_jobs": ["user"], "descendants": ["user"]},
                       created_at=0.0, started_at=1.0))
    with store.read() as s:
        row = s.get(BuildRow, "b1")
        assert row is not None
        return row


def paused(store: Store) -> bool:
    with store.read() as s:
        row = s.get(BuildRow, "b1")
        return bool(row and row.paused)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_paused_build_publishes_its_data_and_resumes_when_its_dependants_finish(
        store: Store, executor: Executor, tmp_path: Path) -> None:
    build = running_build(store)
    work = tmp_path / "work"
    work.mkdir()
    result_file(work).write_text(json.dumps({"data": {
        "url": "x", "zuul": {"pause": True, "child_jobs": ["user"]}}}))
    log = JobLog(tmp_path / "logs")
    waiter = threading.Thread(target=executor._pause_if_asked,
                              args=(build, work, log, threading.Event()))
    waiter.start()
    wait_until(lambda: paused(store))
    with store.read() as s:
        row = s.get(BuildRow, "b1")
        assert row is not None and row.result_data == {"url": "x", "zuul": {
            "pause": True, "child_jobs": ["user"]}}
        assert row.child_jobs == ["user"] and not row.noticed
    assert waiter.is_alive()
    with store.session() as s:
        s.add(BuildRow(id="b2", buildset_id=build.buildset_id, job="user", state="completed",
                       result="SUCCESS", created_at=2.0))
    waiter.join(10)
    assert not waiter.is_alive() and not paused(store)
    log.close()
    text = (tmp_path / "logs" / "job-output.txt").read_text()
    assert "Paused (zuul_return zuul.pause): waiting for user to finish" in text
    assert "Resumed" in text


def test_a_canceled_paused_build_stops_waiting(store: Store, executor: Executor,
                                               tmp_path: Path) -> None:
    build = running_build(store)
    work = tmp_path / "work"
    work.mkdir()
    result_file(work).write_text(json.dumps({"data": {"zuul": {"pause": True}}}))
    log = JobLog(tmp_path / "logs")
    cancel = threading.Event()
    waiter = threading.Thread(target=executor._pause_if_asked, args=(build, work, log, cancel))
    waiter.start()
    wait_until(lambda: paused(store))
    cancel.set()
    waiter.join(10)
    assert not waiter.is_alive() and not paused(store)
    log.close()
    assert "Canceled while paused" in (tmp_path / "logs" / "job-output.txt").read_text()


def test_a_build_that_did_not_ask_for_a_pause_goes_straight_on(
        store: Store, executor: Executor, tmp_path: Path) -> None:
    build = running_build(store)
    work = tmp_path / "work"
    work.mkdir()
    result_file(work).write_text(json.dumps({"data": {"zuul": {"pause": "yes"}}}))
    executor._pause_if_asked(build, work, JobLog(tmp_path / "logs"), threading.Event())
    assert not paused(store)


PARENT_RUN = """- hosts: all
  gather_facts: false
  tasks:
    - zuul_return:
        data:
          registry_url: http://registry.example:5000
          zuul: {pause: true}
"""
PARENT_POST = """- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: registry-post-run}
"""
CHILD_RUN = """- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: "user sees {{ registry_url | default('nothing') }}"}
"""


def queued_build(s: Any, build_id: str, buildset_id: int, job: FrozenJob,
                 jobs_url: str, created_at: float, **params: Any) -> None:
    s.add(BuildRow(id=build_id, buildset_id=buildset_id, job=job.name, state="queued",
                   frozen_job=job.to_dict(), created_at=created_at, params={
                       "project": "org/jobs", "project_urls": {"org/jobs": jobs_url},
                       "nodes": [{"name": "node", "id": 1, "label": "local",
                                  "hostname": "localhost",
                                  "host_vars": {"ansible_connection": "zuulish_local"}}],
                       **params}))


def test_a_paused_build_frees_its_worker_so_its_child_runs_on_a_one_worker_executor(
        store: Store, tmp_path: Path) -> None:
    jobs = Repo(tmp_path / "jobs")
    jobs.commit({"registry.yaml": PARENT_RUN, "registry-post.yaml": PARENT_POST,
                 "user.yaml": CHILD_RUN}, "Playbooks")

    def book(path: str) -> tuple[PlaybookRef, ...]:
        return (PlaybookRef("org/jobs", path, trusted=True, branch="main"),)

    with store.session() as s:
        buildset_id = item_with_buildset(s, pipeline="check")
        queued_build(s, "parent", buildset_id,
                     FrozenJob(name="registry", run=book("registry.yaml"),
                               post_run=book("registry-post.yaml")),
                     str(jobs.path), 0.0, child_jobs=["user"], descendants=["user"])
        # what the scheduler hands the child once the parent has paused
        queued_build(s, "child", buildset_id, FrozenJob(name="user", run=book("user.yaml")),
                     str(jobs.path), 1.0, parent_data={"registry_url": "http://r:5000"})
    one = Executor(store, tmp_path / "executor", SystemClock(), workers=1,
                   preload_ansible=False)
    try:
        def finished() -> bool:
            one.run_once()
            with store.read() as s:
                return all(b.state == "completed" for b in s.scalars(select(BuildRow)))

        wait_until(finished, timeout=120)
    finally:
        one.stop()
    with store.read() as s:
        done = {b.id: b for b in s.scalars(select(BuildRow))}
    assert {k: b.result for k, b in done.items()} == {"parent": "SUCCESS", "child": "SUCCESS"}
    parent = (tmp_path / "executor" / "logs" / "parent" / "job-output.txt").read_text()
    child = (tmp_path / "executor" / "logs" / "child" / "job-output.txt").read_text()
    assert "user sees http://r:5000" in child
    assert parent.index("Paused (zuul_return zuul.pause): waiting for user to finish") \
        < parent.index("Resumed") < parent.index("registry-post-run")
    assert (done["child"].finished_at or 0) <= (done["parent"].finished_at or 0)
    assert (done["parent"].started_at or 0) <= (done["child"].started_at or 0)
