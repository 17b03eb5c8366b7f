"""zuul_return through the whole system: a job returns data, artifacts and
``child_jobs``; the scheduler hands the data to the child it listed (below the
child's own vars), skips the child it left out, and the build keeps it all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.tenant import GateTenant
from zuulish.store import BuildRow

pytestmark = pytest.mark.slow

ZUUL_YAML = """
- job:
    name: producer
    run: playbooks/produce.yaml
- job:
    name: consumer
    dependencies: [producer]
    run: playbooks/consume.yaml
    vars:
      shared: from-child-vars
- job:
    name: left-out
    dependencies: [producer]
    run: playbooks/consume.yaml
- project:
    check:
      jobs: [producer, consumer, left-out]
"""
PRODUCE = """
- hosts: all
  gather_facts: false
  tasks:
    - zuul_return:
        data:
          version: "1.2"
          shared: from-parent
    - zuul_return:
        data:
          zuul:
            artifacts:
              - name: report
                url: report.html
                metadata: {type: html}
              - name: no-url
            child_jobs: [consumer, not-a-child]
"""
CONSUME = """
- hosts: all
  gather_facts: false
  tasks:
    - debug:
        msg: "got version={{ version }} shared={{ shared }} artifact={{ zuul.artifacts[0].url }}"
"""


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": ZUUL_YAML, "playbooks/produce.yaml": PRODUCE,
        "playbooks/consume.yaml": CONSUME}})
    t.start()
    yield t
    t.stop()


def test_returned_data_reaches_the_listed_child_and_skips_the_other(
        tenant: GateTenant) -> None:
    number = tenant.push("org/app", {"README": "more\n"}, "A change")
    report = tenant.wait_reported(number, "check", timeout=180)
    with tenant.aio.store.read() as s:
        done = {b.job: b for b in s.scalars(select(BuildRow))}
    assert report.result == "SUCCESS", [(b.job, b.result, b.message) for b in done.values()]
    assert {job: b.result for job, b in done.items()} == {
        "producer": "SUCCESS", "consumer": "SUCCESS", "left-out": "SKIPPED"}
    producer = done["producer"]
    assert producer.result_data is not None
    assert producer.result_data["version"] == "1.2"
    assert producer.child_jobs == ["consumer", "not-a-child"]
    produced = (Path(producer.log_path or "") / "job-output.txt").read_text()
    assert "zuul_return: artifact #2 has no url; ignored" in produced
    assert "zuul.child_jobs names 'not-a-child', which is not a job that depends" in produced
    seen = (Path(done["consumer"].log_path or "") / "job-output.txt").read_text()
    assert (f"got version=1.2 shared=from-child-vars artifact=http://zuulish.test/logs/"
            f"{producer.id}/report.html") in seen
    assert done["left-out"].message == ("skipped by producer's zuul_return: not in its "
                                        "zuul.child_jobs")


PAUSE_YAML = """
- job:
    name: registry
    run: playbooks/registry.yaml
    post-run: playbooks/registry-post.yaml
- job:
    name: user
    dependencies: [registry]
    run: playbooks/user.yaml
- project:
    check:
      jobs: [registry, user]
"""
REGISTRY = """
- hosts: all
  gather_facts: false
  tasks:
    - zuul_return:
        data:
          registry_url: http://registry.example:5000
          zuul: {pause: true}
"""
REGISTRY_POST = """
- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: registry-post-run}
"""
USER = """
- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: "user sees {{ registry_url }}"}
"""


def test_a_paused_job_waits_for_its_children_then_runs_post_run(
        tmp_path: Path, database_url: str) -> None:
    # one executor worker: the paused build must not hold it, or its child never runs
    tenant = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": PAUSE_YAML, "playbooks/registry.yaml": REGISTRY,
        "playbooks/registry-post.yaml": REGISTRY_POST, "playbooks/user.yaml": USER}},
        executor_workers=1)
    tenant.start()
    try:
        number = tenant.push("org/app", {"README": "more\n"}, "A change")
        report = tenant.wait_reported(number, "check", timeout=180)
        with tenant.aio.store.read() as s:
            done = {b.job: b for b in s.scalars(select(BuildRow))}
    finally:
        tenant.stop()
    assert report.result == "SUCCESS", [(b.job, b.result, b.message) for b in done.values()]
    registry, user = done["registry"], done["user"]
    assert not registry.paused and registry.result_data is not None
    assert "user sees http://registry.example:5000" in (
        Path(user.log_path or "") / "job-output.txt").read_text()
    text = (Path(registry.log_path or "") / "job-output.txt").read_text()
    assert "Paused (zuul_return zuul.pause): waiting for user to finish" in text
    assert text.index("Resumed") < text.index("registry-post-run")
    assert (user.started_at or 0) < (registry.finished_at or 0)
    assert (user.finished_at or 0) <= (registry.finished_at or 0)


NOTES_YAML = """
- job:
    name: lint
    run: playbooks/lint.yaml
- project:
    check:
      jobs: [lint]
"""
LINT = """
- hosts: all
  gather_facts: false
  tasks:
    - copy:
        dest: "{{ zuul.executor.work_root }}/lint.json"
        content: |
          {"zuul": {
            "warnings": ["tox.ini uses a deprecated setting", 5],
            "file_comments": {
              "README": [{"line": 1, "message": "Say more", "level": "info"},
                         {"message": "no line"}],
              "elsewhere.py": [{"line": 2, "message": "not in this change"}]}}}
    - zuul_return:
        file: lint.json
"""


def test_returned_warnings_and_file_comments_reach_the_report_and_the_api(
        tmp_path: Path, database_url: str) -> None:
    from zuulish.web.history import build_info

    tenant = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": NOTES_YAML, "playbooks/lint.yaml": LINT}})
    tenant.start()
    try:
        number = tenant.push("org/app", {"README": "more\n"}, "A change")
        report = tenant.wait_reported(number, "check", timeout=180)
        with tenant.aio.store.read() as s:
            [lint] = s.scalars(select(BuildRow)).all()
        info = build_info(tenant.aio.store, lint.id, "http://zuulish.test")
    finally:
        tenant.stop()
    assert report.result == "SUCCESS", (lint.result, lint.message)
    message = report.message
    assert "Warning: lint: tox.ini uses a deprecated setting\n" in message
    assert ("Warning: lint: comments left on elsewhere.py, which this change does not "
            "touch, were dropped\n") in message
    assert message.endswith("\n\nFile comments:\nREADME:1: Say more\n")
    assert info is not None and info["warnings"] == ["tox.ini uses a deprecated setting"]
    assert info["file_comments"] == {"README": [{"line": 1, "message": "Say more",
                                                 "level": "info"}]}
    log = (Path(lint.log_path or "") / "job-output.txt").read_text()
    assert "zuul_return: zuul.warnings #2 is an int, not a message; ignored" in log
    assert "comment #2 on README has no line (a whole number, 1 or more); ignored" in log
    assert "elsewhere.py is not a file of this change; its 1 comment(s) ignored" in log
