"""The live status page in headless Chromium, over the real app and a store driven as the
scheduler and the executors drive it: an item moves through a busy gate (queued, running,
failing with the items behind it restarted, waiting for nodes) and the open page follows
without a reload; the filter, the progress bars and the speculative state.

``ZUULISH_SCREENSHOTS=1`` also saves the page at desktop and phone widths to
``docs/screenshots/status-desktop.png`` and ``status-phone.png`` (and the desktop in
dark mode, ``status-desktop-dark.png``).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.fakes.web_server import served
from tests.functional.test_dashboard_browser import Tab, browser, tab  # noqa: F401, F811
from zuulish.config.layout import Layout
from zuulish.model import Pipeline, PipelineManager
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import BuildRow, BuildSetRow, ChangeQueueRow, ChangeRow, QueueItemRow, Store
from zuulish.web.app import create_app

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails) with the reason
    expect = None  # type: ignore[assignment]

pytestmark = [pytest.mark.slow, pytest.mark.not_store]  # the page is the subject

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
GRAPH = {"jobs": {"unit": {"name": "unit"}, "lint": {"name": "lint", "voting": False}},
         "fail_fast": False}
UNIT_SECONDS = 600.0  # what unit took every time before: its estimate
SUBJECTS = {1: "Make the parser faster", 2: "Break the build", 3: "Document the parser",
            4: "Teach the lib new tricks"}


@dataclass
class Gate:
    url: str
    store: Store
    items: dict[int, int]  # change number -> item id

    def buildset(self, number: int, ahead: list[int], jobs: dict[str, str]) -> None:
        """A new current build set for change ``number`` on the items of ``ahead``
        (change numbers), with builds of ``jobs`` in their states (as a restart makes)."""
        now = time.time()
        with self.store.session() as s:
            item_id = self.items[number]
            s.execute(update(BuildSetRow).where(BuildSetRow.item_id == item_id)
                      .values(current=False))
            held = [self.items[n] for n in ahead]
            projects = {"org/app"} | {"org/lib" for n in [*ahead, number] if n == 4}
            bs = BuildSetRow(uuid=uuid.uuid4().hex, item_id=item_id, ahead=held,
                             merge_state="merged", job_graph=GRAPH, created_at=now,
                             repo_state={p: {"branch": "main",
                                             "commit": f"{number:x}{p[-3:]}".ljust(40, "0")}
                                         for p in sorted(projects)})
            s.add(bs)
            s.flush()
            for job, state in jobs.items():
                s.add(BuildRow(id=f"{number}-{job}-{uuid.uuid4().hex[:8]}", buildset_id=bs.id,
                               job=job, state=state, voting=job != "lint", created_at=now))

    def build(self, number: int, job: str, **values: Any) -> None:
        with self.store.session() as s:
            bs_id = s.scalars(select(BuildSetRow.id).where(
                BuildSetRow.item_id == self.items[number], BuildSetRow.current.is_(True))).one()
            s.execute(update(BuildRow).where(BuildRow.buildset_id == bs_id,
                                             BuildRow.job == job).values(**values))


def _history(s: Any) -> None:
    """Merged items whose unit builds took UNIT_SECONDS: the estimate."""
    for n in range(3):
        item = QueueItemRow(tenant="t", pipeline="gate", queue_name="shared",
                            connection="forge", change_number=90 + n, patchset=1,
                            commit_sha="9" * 40, project="org/app", branch="main",
                            state="merged", sequence=0, enqueued_at=0)
        s.add(item)
        s.flush()
        bs = BuildSetRow(uuid=uuid.uuid4().hex, item_id=item.id, ahead=[],
                         merge_state="merged", created_at=0)
        s.add(bs)
        s.flush()
        s.add(BuildRow(id=uuid.uuid4().hex, buildset_id=bs.id, job="unit", state="completed",
                       result="SUCCESS", created_at=0, started_at=100.0 * n,
                       finished_at=100.0 * n + UNIT_SECONDS))


@pytest.fixture
def gate(store: Store, tmp_path: Path) -> Iterator[Gate]:
    """Changes 1-3 of org/app and 4 of org/lib queued in the gate, 1 and 2 started."""
    now = time.time()
    items: dict[int, int] = {}
    with store.session() as s:
        _history(s)
        s.add(ChangeQueueRow(tenant="t", pipeline="gate", name="shared", window=10))
        for n, subject in SUBJECTS.items():
            project = "org/lib" if n == 4 else "org/app"
            s.add(ChangeRow(connection="forge", number=n, project=project, branch="main",
                            status="NEW", patchset=1, commit_sha=f"{n}" * 40, subject=subject,
                            message="", created_at=0, updated_at=0))
            item = QueueItemRow(tenant="t", pipeline="gate", queue_name="shared",
                                connection="forge", change_number=n, patchset=1,
                                commit_sha=f"{n}" * 40, project=project, branch="main",
                                sequence=n, enqueued_at=now - 60 * (5 - n), state="queued")
            s.add(item)
            s.flush()
            items[n] = item.id
    layouts = TenantLayouts(tmp_path / "main.yaml", {}, {}, {})
    layouts.layouts = {"t": Layout("t", pipelines={
        "check": Pipeline("check", PipelineManager.INDEPENDENT, description="Fast feedback"),
        "gate": Pipeline("gate", PipelineManager.DEPENDENT,
                         description="Changes approved for merge")})}
    with served(lambda url: create_app(store, layouts, tmp_path, url)) as url:
        g = Gate(url, store, items)
        g.buildset(1, [], {"unit": "waiting", "lint": "waiting"})
        g.buildset(2, [1], {"unit": "waiting", "lint": "waiting"})
        yield g


def test_an_item_moves_through_a_busy_gate_on_the_open_page(gate: Gate, tab: Tab) -> None:  # noqa: F811
    page = tab.page
    page.goto(f"{gate.url}/t/t/status")
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#updated")).to_contain_text("live")
    items = page.locator("section.pipeline", has=page.locator("h2", has_text="gate")) \
        .locator("li.item")
    one, two, three = items.nth(0), items.nth(1), items.nth(2)
    expect(items).to_have_count(4)
    expect(two.locator(".ahead")).to_have_text("on top of 1,1")
    expect(three.locator(".badge.inactive")).to_have_text("not started")
    expect(three.locator(".ahead")).to_have_text("on top of 2,1")  # where it will go

    # an update renders again only the items that changed
    four = items.nth(3)
    four.evaluate("e => { e.dataset.mark = 'kept'; }")

    # queued: asked for nodes, then nodes assigned (waiting for an executor)
    unit = one.locator(".job", has_text="unit")
    expect(unit.locator(".badge")).to_have_text("queued-for-nodes")
    gate.build(1, "unit", state="queued")
    expect(unit.locator(".badge")).to_have_text("queued")
    expect(unit.locator(".remaining")).to_have_text("10m 00s")  # the whole estimate

    # running: the bar follows the elapsed time over the estimate (600 s)
    started = time.time() - 300
    gate.build(1, "unit", state="running", started_at=started)
    expect(unit.locator(".badge")).to_have_text("running")
    bar = unit.locator(".bar")
    expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^5[0-4]$"))
    width = bar.locator(".fill").evaluate("e => parseFloat(e.style.width)")
    assert 50 <= width <= 54
    expect(unit.locator(".elapsed")).to_contain_text("5m")
    expect(one.locator(".eta")).to_contain_text("merges in about 4m")
    expect(two.locator(".eta")).to_contain_text("merges in about")  # no sooner than 1

    # failing: 2's unit fails; 3 was built on 2, then restarted on 1 alone
    gate.buildset(3, [1, 2], {"unit": "running", "lint": "running"})
    expect(three.locator(".ahead")).to_have_text("on top of 2,1")
    gate.build(2, "unit", state="completed", result="FAILURE", started_at=started,
               finished_at=time.time())
    expect(two).to_have_class(re.compile(r"\bfailing\b"))
    expect(two).to_have_class(re.compile(r"\bcol-1\b"))  # drawn apart
    expect(two.locator(".badge.failing")).to_have_text("failing")
    expect(two.locator(".eta")).to_have_count(0)
    gate.buildset(3, [1], {"unit": "waiting", "lint": "waiting"})
    expect(three.locator(".ahead")).to_have_text("on top of 1,1")
    expect(three).to_have_class(re.compile(r"\bcol-0\b"))
    expect(two).to_have_class(re.compile(r"\bline-through\b"))  # the chain passes it by

    # waiting for nodes, and paused
    expect(three.locator(".job", has_text="unit").locator(".badge")) \
        .to_have_text("queued-for-nodes")
    gate.build(1, "lint", state="running", started_at=time.time(), paused=True)
    expect(one.locator(".job", has_text="lint").locator(".badge")).to_have_text("paused")
    assert page.evaluate("window.notReloaded") is True
    expect(four).to_have_attribute("data-mark", "kept")
    assert tab.errors == []


def test_a_live_update_redraws_the_changed_item_alone_and_keeps_focus(gate: Gate,
                                                                     tab: Tab  # noqa: F811
                                                                     ) -> None:
    page = tab.page
    page.goto(f"{gate.url}/t/t/status")
    expect(page.locator("#updated")).to_contain_text("live")
    page.evaluate("""() => {
      window.added = [];
      new MutationObserver((changes) => changes.forEach((c) => c.addedNodes.forEach((n) => {
        if (n.matches && n.matches("li.item")) window.added.push(n.id);
      }))).observe(document.getElementById("pipelines"), {childList: true, subtree: true});
    }""")
    one = page.locator(f"#item-{gate.items[1]}")
    one.locator(".job a", has_text="unit").focus()
    gate.build(1, "unit", state="running", started_at=time.time())
    expect(one.locator(".job", has_text="unit").locator(".badge")).to_have_text("running")
    # one item drawn again, no other moved or replaced; the reader's focus is where it was
    assert page.evaluate("window.added") == [f"item-{gate.items[1]}"]
    assert page.evaluate("[document.activeElement.closest('li.item').id,"
                         " document.activeElement.textContent]") \
        == [f"item-{gate.items[1]}", "unit"]
    assert tab.errors == []


@pytest.mark.parametrize("follows", [True, False], ids=["follows", "missed-one"])
def test_a_delta_applies_only_on_the_event_it_follows(gate: Gate, tab: Tab,  # noqa: F811
                                                      follows: bool) -> None:
    """A delta whose base is not the last event the page read (it missed one) is not
    applied: the page reads a full status again."""
    with urllib.request.urlopen(f"{gate.url}/api/tenant/t/status") as answer:  # noqa: S310
        status = json.load(answer)
    [gate_pipeline] = [p for p in status["pipelines"] if p["name"] == "gate"]
    first, *rest = gate_pipeline["queues"][0]["items"]
    marker = f"Renamed {uuid.uuid4().hex[:6]}"
    changed = {**first, "change": {**first["change"], "subject": marker}}
    delta = {**status, "base": 41 if follows else 40, "pipelines": [
        {**p, "queues": [{**q, "items": [changed if i["id"] == first["id"] else i["id"]
                                         for i in q["items"]]} for q in p["queues"]]}
        for p in status["pipelines"]]}
    # the first stream: a status, then the delta; the stream ends there, and the page
    # neither reconnects soon (retry) nor gets a status by polling meanwhile
    body = (f"retry: 60000\n\nid: 41\nevent: status\ndata: {json.dumps(status)}\n\n"
            f"id: 42\nevent: delta\ndata: {json.dumps(delta)}\n\n")
    opened: list[str] = []

    def events(route: Any) -> None:
        opened.append(route.request.url)
        route.fulfill(status=200, content_type="text/event-stream",
                      body=body if len(opened) == 1 else "retry: 60000\n\n")

    page = tab.page
    page.route(re.compile(r"/api/tenant/t/status/events\?deltas=true$"), events)
    page.route(re.compile(r"/api/tenant/t/status$"), lambda route: route.fulfill(
        status=503, content_type="application/json", body='{"error": "not now"}'))
    page.goto(f"{gate.url}/t/t/status")
    subject = page.locator(f"#item-{first['id']} .subject")
    if follows:
        expect(subject).to_have_text(marker)
    else:
        deadline = time.monotonic() + 20
        while len(opened) < 2 and time.monotonic() < deadline:  # it asks again
            page.wait_for_timeout(100)
        assert len(opened) >= 2
        expect(subject).to_have_text(first["change"]["subject"])
        assert marker not in page.locator("#pipelines").inner_text()
    assert [e for e in tab.errors if "503" not in e] == []  # the failed polls are logged


def test_the_speculative_state_shows_the_changes_held_per_repository(gate: Gate,
                                                                     tab: Tab  # noqa: F811
                                                                     ) -> None:
    gate.buildset(4, [1, 2], {"unit": "waiting"})
    page = tab.page
    page.goto(f"{gate.url}/t/t/status")
    lib = page.locator("li.item", has_text="Teach the lib")
    spec = lib.locator("details.spec")
    expect(spec.locator("summary")).to_have_text(
        "Speculative state: 2 changes ahead, 2 repositories")
    spec.locator("summary").click()
    repos = spec.locator("li")
    expect(repos).to_have_count(2)
    expect(repos.nth(0)).to_contain_text("org/app main at 4app")
    expect(repos.nth(0)).to_contain_text("1,1, 2,1")
    expect(repos.nth(1)).to_contain_text("org/lib")
    expect(repos.nth(1)).to_contain_text("4,1 (this change)")
    # a live update keeps it open
    gate.build(4, "unit", state="running", started_at=time.time())
    expect(lib.locator(".job", has_text="unit").locator(".badge")).to_have_text("running")
    expect(lib.locator("details.spec")).to_have_attribute("open", "")
    assert tab.errors == []


def test_the_filter_keeps_to_the_url_and_survives_updates(gate: Gate, tab: Tab) -> None:  # noqa: F811
    page = tab.page
    page.goto(f"{gate.url}/t/t/status")
    expect(page.locator("#updated")).to_contain_text("live")
    visible = page.locator("li.item:visible")
    expect(visible).to_have_count(4)
    page.get_by_label("Filter by project or change").fill("org/lib")
    expect(visible).to_have_count(1)
    expect(visible).to_contain_text("Teach the lib")
    assert page.url.endswith("?q=org%2Flib")
    gate.build(1, "unit", state="running", started_at=time.time())  # a live update
    expect(page.locator("li.item", has_text="Make the parser").locator(".job .badge").first) \
        .to_have_text("running")
    expect(visible).to_have_count(1)
    page.get_by_label("Filter by project or change").fill("3,1")
    expect(visible).to_have_count(1)
    expect(visible).to_contain_text("Document the parser")
    # the server filters the first rendering the same way (it works without scripts)
    page.goto(f"{gate.url}/t/t/status?q=org/lib")
    expect(page.get_by_label("Filter by project or change")).to_have_value("org/lib")
    expect(visible).to_have_count(1)
    page.get_by_label("Filter by project or change").fill("")
    expect(visible).to_have_count(4)
    assert "q=" not in page.url
    assert tab.errors == []


def test_the_page_works_from_the_keyboard_and_has_landmarks(gate: Gate, tab: Tab) -> None:  # noqa: F811
    page = tab.page
    page.goto(f"{gate.url}/t/t/status")
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("search")).to_have_count(1)
    expect(page.get_by_role("status")).to_contain_text("live")
    expect(page.get_by_role("region", name="gate dependent")).to_have_count(1)
    expect(page.get_by_role("progressbar", name="unit progress")).to_have_count(2)
    page.get_by_label("Filter by project or change").focus()
    page.keyboard.type("2,1")
    expect(page.locator("li.item:visible")).to_have_count(1)
    assert tab.errors == []


@pytest.mark.skipif(os.environ.get("ZUULISH_SCREENSHOTS") != "1",
                    reason="screenshots are made with ZUULISH_SCREENSHOTS=1")
def test_screenshots_of_the_status_page(gate: Gate, tab: Tab) -> None:  # noqa: F811
    started = time.time() - 240
    gate.build(1, "unit", state="running", started_at=started)
    gate.build(1, "lint", state="completed", result="SUCCESS", started_at=started,
               finished_at=started + 50)
    gate.build(2, "unit", state="completed", result="FAILURE", started_at=started,
               finished_at=started + 90)
    gate.buildset(3, [1], {"unit": "running", "lint": "waiting"})
    gate.build(3, "unit", started_at=time.time() - 60)
    gate.buildset(4, [1, 3], {"unit": "queued", "lint": "waiting"})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = tab.page
    for name, size, scheme in (("desktop", (1280, 800), "light"),
                               ("phone", (390, 844), "light"),
                               ("desktop-dark", (1280, 800), "dark")):
        page.set_viewport_size({"width": size[0], "height": size[1]})
        page.emulate_media(color_scheme=scheme)
        page.goto(f"{gate.url}/t/t/status")
        expect(page.locator("#updated")).to_contain_text("live")
        page.locator("li.item", has_text="Teach the lib").locator("details.spec summary") \
            .click()
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SCREENSHOTS / f"status-{name}.png"), full_page=False)
    assert tab.errors == []
