"""The status page and API of a real, busy gate: items running, failing and waiting
for nodes in check and in gate at once, read while it happens (not seeded rows).

The status page once answered 500 whenever an item's jobs had not all started; the
tests of the time only looked at an idle or a finished gate. Here a real tenant runs
real builds on local nodes: ``hold`` sleeps, ``fails`` fails at once, and
``starved`` asks for the only node of the ``tiny`` provider, which another build
holds, so it waits for nodes.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.tenant import GateTenant
from tests.fakes.web_server import served
from tests.functional.test_dashboard_browser import Tab, browser, tab  # noqa: F401
from zuulish.executor.sandbox import unavailable
from zuulish.web.app import create_app

WHY_NOT = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.store, pytest.mark.postgres_e2e,
              pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")]

ZUUL_YAML = """
- nodeset: {name: tiny, nodes: [{name: box, label: tiny}]}
- job: {name: hold, parent: base, run: playbooks/sleep.yaml}
- job: {name: fails, parent: base, run: playbooks/fail.yaml}
- job: {name: starved, parent: base, nodeset: tiny, run: playbooks/sleep.yaml}
- project:
    check: {jobs: [hold, starved]}
    gate: {jobs: [hold, fails, starved]}
"""
SLEEP = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.command: sleep 600
"""
FAIL = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.fail: {msg: this change breaks the build}
"""


@pytest.fixture
def busy(tmp_path: Path, database_url: str) -> Iterator[tuple[GateTenant, str]]:
    """A started tenant and the URL of its web app."""
    tenant = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": ZUUL_YAML, "README": "first\n", "playbooks/sleep.yaml": SLEEP,
        "playbooks/fail.yaml": FAIL}},
        providers=[{"name": "local", "driver": "local", "max_nodes": 8},
                   {"name": "tiny", "driver": "local", "labels": ["tiny"], "max_nodes": 1}],
        executor_workers=8).start()
    try:
        with served(lambda url: create_app(tenant.aio.store, tenant.aio.layouts,
                                           tenant.config.state_dir, url)) as url:
            yield tenant, url
    finally:
        tenant.stop()


def api(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (127.0.0.1)
        assert answer.status == 200
        return json.load(answer)


def items_of(status: dict[str, Any], pipeline: str) -> list[dict[str, Any]]:
    [shown] = [p for p in status["pipelines"] if p["name"] == pipeline]
    return [item for queue in shown["queues"] for item in queue["items"]]


def job_states(item: dict[str, Any]) -> dict[str, str]:
    return {j["name"]: j["result"] or j["state"] for j in item["jobs"]}


def is_busy(status: dict[str, Any]) -> bool:
    """Check: change 1 running its jobs, change 2 waiting for the tiny node; gate:
    change 2 failing (``fails`` failed), ``hold`` running, ``starved`` waiting."""
    check = {i["change"]["number"]: job_states(i) for i in items_of(status, "check")}
    gate = {i["change"]["number"]: (i["failing"], job_states(i))
            for i in items_of(status, "gate")}
    return (check.get(1) == {"hold": "running", "starved": "running"}
            and check.get(2) == {"hold": "running", "starved": "queued-for-nodes"}
            and gate.get(2) == (True, {"hold": "running", "fails": "FAILURE",
                                       "starved": "queued-for-nodes"}))


def test_the_status_page_and_api_of_a_busy_gate(busy: tuple[GateTenant, str],
                                                tab: Tab) -> None:  # noqa: F811
    tenant, url = busy
    first = tenant.push("org/app", {"README": "one\n"}, "Hold the tiny node")
    tenant.wait_for(lambda: job_states(next(iter(items_of(
        api(f"{url}/api/tenant/t/status"), "check")), {"jobs": []})).get("starved")
        == "running", timeout=180, what="change 1's starved job to run")
    second = tenant.push("org/app", {"README": "two\n"}, "Break the build")
    tenant.approve(second)
    assert (first, second) == (1, 2)
    status = tenant.wait_for(lambda: (lambda s: s if is_busy(s) else None)(
        api(f"{url}/api/tenant/t/status")), timeout=240, what="the gate to be busy")
    [gate_item] = items_of(status, "gate")
    assert gate_item["active"] and gate_item["change"]["subject"] == "Break the build"

    page = tab.page
    from playwright.sync_api import expect

    page.goto(f"{url}/t/t/status")
    gate = page.locator("section.pipeline", has=page.locator("h2", has_text="gate"))
    check = page.locator("section.pipeline", has=page.locator("h2", has_text="check"))
    expect(gate.locator(".item.failing")).to_have_count(1)
    expect(gate.locator(".item .job", has_text="fails").locator(".badge")) \
        .to_have_text("FAILURE")
    expect(gate.locator(".item .job", has_text="starved").locator(".badge")) \
        .to_have_text("queued-for-nodes")
    expect(gate.locator(".item .job", has_text="hold").locator(".badge")).to_have_text("running")
    expect(check.locator(".item")).to_have_count(2)
    expect(check.locator(".item").nth(1).locator(".job", has_text="starved")
           .locator(".badge")).to_have_text("queued-for-nodes")
    # the page refreshes itself from the API while the gate is busy: still no error
    expect(page.locator("#updated")).to_contain_text("Updated")
    for job in gate_item["jobs"]:
        if job["uuid"]:
            api(f"{url}/api/build/{job['uuid']}")
            page.goto(f"{url}/build/{job['uuid']}")
            expect(page.locator("h2")).to_contain_text(job["name"])
    page.goto(f"{url}/c/org/app/+/{second}")
    expect(page.locator("h2")).to_contain_text("Break the build")
    assert tab.errors == []
