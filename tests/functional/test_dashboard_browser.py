"""The dashboard as a user sees it: real pages in headless Chromium, driven by Playwright,
over the real web app and store on 127.0.0.1.

Chromium is Debian's (``apt-get install chromium``; ``ZUULISH_CHROMIUM`` names another
binary); Playwright drives it through ``executable_path``, so no browser is downloaded.
Without it these tests are skipped, unless ``ZUULISH_BROWSER_TESTS=required`` (as in CI),
which makes them fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import delete, select

from tests.fakes.web_server import served
from tests.functional.test_web import seed
from zuulish.config.layout import Layout
from zuulish.model import Pipeline, PipelineManager
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import BuildRow, BuildSetRow, ChangeRow, GithubPullRow, QueueItemRow, Store
from zuulish.web.app import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the browser fixture skips (or fails) with the reason
    expect = sync_playwright = None  # type: ignore[assignment]

pytestmark = [pytest.mark.slow, pytest.mark.not_store]  # the pages are the subject

#: Where Debian's package puts the browser.
DEBIAN_CHROMIUM = "/usr/bin/chromium"


def chromium_path() -> str:
    """The Chromium binary to drive: ``ZUULISH_CHROMIUM``, else the one on the PATH,
    else Debian's (which may not be installed)."""
    return (os.environ.get("ZUULISH_CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser") or DEBIAN_CHROMIUM)


def cannot_run(reason: str) -> None:
    """Skip, or fail where the browser tests are required to run."""
    if os.environ.get("ZUULISH_BROWSER_TESTS") == "required":
        pytest.fail(f"{reason}, and ZUULISH_BROWSER_TESTS=required")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        cannot_run("playwright is not installed (pip install -e '.[test]')")
    path = chromium_path()
    if not os.access(path, os.X_OK):
        cannot_run(f"chromium is not installed ({path} is not there; apt-get install "
                   "chromium, or set ZUULISH_CHROMIUM): the dashboard's browser tests need it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True)
        yield browser
        browser.close()


@dataclass
class Tab:
    """A browser page and every script error and console error it has shown."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def on_page_error(self, error: Error) -> None:
        self.errors.append(f"uncaught: {error.message}")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url')})")


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context()
    tab = Tab(context.new_page())
    tab.page.on("pageerror", tab.on_page_error)
    tab.page.on("console", tab.on_console)
    yield tab
    context.close()


@dataclass
class Dashboard:
    url: str
    state_dir: Path
    store: Store

    def log(self, uuid: str) -> Path:
        return self.state_dir / "logs" / uuid / "job-output.txt"

    def append(self, uuid: str, text: str) -> None:
        """Write to a build's console log as the executor does."""
        path = self.log(uuid)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(text)

    def finish(self, uuid: str, result: str) -> None:
        with self.store.session() as s:
            row = s.get(BuildRow, uuid)
            assert row is not None
            row.state, row.result, row.finished_at = "completed", result, time.time()


@pytest.fixture
def dashboard(store: Store, tmp_path: Path) -> Iterator[Dashboard]:
    """The web app over ``seed``'s store (change 3 in the gate with builds, change 4 in
    check), serving from a thread; build-1's log and one of its artifacts on disk."""
    seed(store)
    logs = tmp_path / "logs" / "build-1"
    (logs / "artifacts").mkdir(parents=True)
    (logs / "job-output.txt").write_text(
        "".join(f"unit line {n}\n" for n in range(1, 301)), encoding="utf-8")
    (logs / "artifacts" / "a.whl").write_bytes(b"PK\x03\x04 a wheel")
    layout = Layout("t", pipelines={
        "check": Pipeline("check", PipelineManager.INDEPENDENT, description="Fast feedback"),
        "gate": Pipeline("gate", PipelineManager.DEPENDENT)})
    layouts = TenantLayouts(tmp_path / "main.yaml", {}, {}, {})
    layouts.layouts = {"t": layout}
    with served(lambda url: create_app(store, layouts, tmp_path, url)) as url:
        yield Dashboard(url, tmp_path, store)


def test_status_page_shows_the_queued_items_of_each_pipeline(dashboard: Dashboard,
                                                              tab: Tab) -> None:
    page = tab.page
    page.goto(f"{dashboard.url}/t/t/status")
    gate = page.locator("section.pipeline", has=page.locator("h2", has_text="gate"))
    check = page.locator("section.pipeline", has=page.locator("h2", has_text="check"))
    item = gate.locator(".item")
    expect(item).to_have_count(1)
    expect(item.locator("a").first).to_have_text("3,1")
    expect(item.locator(".subject")).to_have_text("Make it fast")
    expect(gate.locator(".queue h3")).to_contain_text("window 20")
    jobs = item.locator(".job")
    expect(jobs).to_have_count(3)
    expect(jobs.nth(0)).to_contain_text("unit")
    expect(jobs.nth(0).locator(".badge")).to_have_text("SUCCESS")
    expect(jobs.nth(1)).to_contain_text("(non-voting)")
    expect(jobs.nth(1).locator(".badge")).to_have_text("running")
    expect(jobs.nth(2).locator(".badge")).to_have_text("waiting")
    # The subject is text, not markup.
    expect(check.locator(".item .subject")).to_have_text("Teach the lib <b>manners</b>")
    expect(check.locator(".item")).to_contain_text("org/lib")

    # The page refreshes itself from the API: a change enqueued now shows up.
    with dashboard.store.session() as s:
        s.add(ChangeRow(connection="forge", number=5, project="org/app", branch="main",
                        status="NEW", patchset=1, commit_sha="c" * 40, subject="Second in line",
                        message="", created_at=0, updated_at=30))
        s.add(QueueItemRow(tenant="t", pipeline="gate", queue_name="shared",
                           connection="forge", change_number=5, patchset=1,
                           commit_sha="c" * 40, project="org/app", branch="main", sequence=2,
                           enqueued_at=6, state="queued"))
    expect(item).to_have_count(2)
    expect(item.nth(1)).to_contain_text("Second in line")
    expect(page.locator("#updated")).to_contain_text("Updated")
    expect(item.nth(0).locator(".job")).to_have_count(3)  # the refresh keeps the jobs
    expect(item.nth(0).locator(".job a", has_text="unit")).to_have_attribute(
        "href", f"{dashboard.url}/build/build-1")
    expect(item.nth(0).locator(".job").nth(1).locator(".badge")).to_have_text("running")
    # The refreshed page escapes what it shows as the first rendering did.
    expect(check.locator(".item .subject")).to_have_text("Teach the lib <b>manners</b>")
    expect(check.locator(".item .subject b")).to_have_count(0)
    assert tab.errors == []


def test_a_running_build_page_streams_its_console_until_the_result(dashboard: Dashboard,
                                                                     tab: Tab) -> None:
    dashboard.append("build-2", "lint starts\n")
    page = tab.page
    page.goto(f"{dashboard.url}/build/build-2")
    console = page.locator("#console")
    state = page.locator("#console-state")
    expect(page.locator("h2 .badge")).to_have_text("running")
    expect(console).to_contain_text("lint starts")
    expect(state).to_have_text("streaming")

    for n in range(1, 4):
        dashboard.append("build-2", f"checking file {n} <of 3> & more\n")
        expect(console).to_contain_text(f"checking file {n} <of 3> & more")
    dashboard.append("build-2", "a half line")
    dashboard.append("build-2", " made whole\n")
    expect(console).to_contain_text("a half line made whole")
    assert console.locator("*").count() == 0  # the log is text: nothing became markup

    dashboard.append("build-2", "lint found nothing\n")
    dashboard.finish("build-2", "SUCCESS")
    expect(state).to_have_text("build finished: SUCCESS")
    expect(console).to_contain_text("lint found nothing")
    expect(page.locator("h2 .badge")).to_have_text("SUCCESS")
    assert console.inner_text().splitlines() == [
        "lint starts", "checking file 1 <of 3> & more", "checking file 2 <of 3> & more",
        "checking file 3 <of 3> & more", "a half line made whole", "lint found nothing"]
    assert tab.errors == []


def test_a_build_page_opened_before_the_log_exists_streams_it_and_links_it(
        dashboard: Dashboard, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{dashboard.url}/build/build-2")
    log_fact = page.locator("dl.facts dd#build-log")
    expect(log_fact).to_have_text("no log yet")
    expect(page.locator("#console-state")).to_have_text("streaming")
    dashboard.append("build-2", "the node is ready\n")
    expect(page.locator("#console")).to_have_text("the node is ready\n")
    expect(log_fact.get_by_role("link", name="job-output.txt")).to_have_attribute(
        "href", f"{dashboard.url}/logs/build-2/job-output.txt")
    dashboard.finish("build-2", "FAILURE")
    expect(page.locator("#console-state")).to_have_text("build finished: FAILURE")
    expect(page.locator("h2 .badge")).to_have_text("FAILURE")
    expect(page.locator("h2 .badge")).to_have_class("badge failure")
    assert tab.errors == []


def test_the_page_of_a_build_waiting_for_nodes_streams_once_it_starts(
        dashboard: Dashboard, tab: Tab) -> None:
    with dashboard.store.session() as s:
        row = s.get(BuildRow, "build-2")
        assert row is not None
        row.state, row.started_at = "waiting", None
    page = tab.page
    page.goto(f"{dashboard.url}/build/build-2")
    expect(page.locator("h2 .badge")).to_have_text("queued-for-nodes")
    expect(page.locator("#console-state")).to_have_text("streaming")
    with dashboard.store.session() as s:
        row = s.get(BuildRow, "build-2")
        assert row is not None
        row.state, row.started_at = "running", time.time()
    dashboard.append("build-2", "nodes are here\n")
    expect(page.locator("#console")).to_have_text("nodes are here\n")
    dashboard.finish("build-2", "SUCCESS")
    expect(page.locator("h2 .badge")).to_have_text("SUCCESS")
    assert tab.errors == []


def test_the_live_console_follows_the_end_unless_the_reader_scrolled_up(
        dashboard: Dashboard, tab: Tab) -> None:
    page = tab.page
    page.set_viewport_size({"width": 1000, "height": 600})
    page.goto(f"{dashboard.url}/build/build-2")
    expect(page.locator("#console-state")).to_have_text("streaming")
    at_end = ("() => window.innerHeight + window.scrollY"
              " >= document.documentElement.scrollHeight - 2")
    dashboard.append("build-2", "".join(f"early line {n}\n" for n in range(200)))
    expect(page.locator("#console")).to_contain_text("early line 199")
    page.wait_for_function(at_end)
    expect(page.locator("#console-state")).to_be_in_viewport()

    page.mouse.wheel(0, -1000)
    page.wait_for_function(f"() => !({at_end})()")
    top = page.evaluate("() => window.scrollY")
    dashboard.append("build-2", "".join(f"late line {n}\n" for n in range(200)))
    expect(page.locator("#console")).to_contain_text("late line 199")
    assert page.evaluate("() => window.scrollY") == top  # the reader's place is kept
    assert tab.errors == []


def test_a_finished_build_page_shows_its_result_log_and_artifacts(dashboard: Dashboard,
                                                                  tab: Tab) -> None:
    page = tab.page
    page.goto(f"{dashboard.url}/build/build-1")
    expect(page.locator("h2")).to_contain_text("unit")
    expect(page.locator("h2 .badge")).to_have_text("SUCCESS")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("3,1 Make it fast (org/app, main)")
    expect(facts).to_contain_text("gate")
    expect(facts).to_contain_text("Duration")
    expect(page.locator("#console")).to_have_count(0)  # no live console for it
    log = page.locator("pre.log")  # a log this small is shown whole (test_web_history:
    expect(log).to_contain_text("unit line 1\n")  # a big one from its end)
    expect(log).to_contain_text("unit line 300")
    expect(page.locator("#log-shown")).to_have_text("The whole log.")

    log_link = facts.get_by_role("link", name="job-output.txt")
    expect(log_link).to_have_attribute(
        "href", f"{dashboard.url}/logs/build-1/job-output.txt")
    artifacts = page.locator("ul.artifacts li")
    expect(artifacts).to_have_count(2)  # the one without a URL is left out
    wheel = artifacts.get_by_role("link", name="wheel")
    expect(wheel).to_have_attribute(
        "href", f"{dashboard.url}/logs/build-1/artifacts/a.whl")
    expect(artifacts.nth(0)).to_contain_text("python_wheel")
    expect(artifacts.get_by_role("link", name="docs")).to_have_attribute(
        "href", "https://docs.example/a/")
    response = page.request.get(wheel.get_attribute("href") or "")
    assert response.ok and response.body() == b"PK\x03\x04 a wheel"

    log_link.click()
    page.wait_for_url(re.compile(r".*/logs/build-1/job-output\.txt$"))
    expect(page.locator("body")).to_contain_text("unit line 300")
    assert tab.errors == []


def test_build_history_lists_finished_builds_newest_first(dashboard: Dashboard,
                                                          tab: Tab) -> None:
    page = tab.page
    page.goto(f"{dashboard.url}/t/t/builds")
    rows = page.locator("table.builds tbody tr")
    expect(rows).to_have_count(2)  # the running build is not history yet
    expect(rows.nth(0)).to_contain_text("unit")
    expect(rows.nth(0).locator(".badge")).to_have_text("SUCCESS")
    expect(rows.nth(1).locator(".badge")).to_have_text("NODE_FAILURE")
    expect(rows.nth(0).get_by_role("link", name="3,1")).to_have_attribute(
        "href", f"{dashboard.url}/c/org/app/+/3")

    rows.nth(1).get_by_role("link", name="unit").click()
    page.wait_for_url(f"{dashboard.url}/t/t/build/build-0")
    expect(page.locator("h2 .badge")).to_have_text("NODE_FAILURE")
    expect(page.locator("dl.facts")).to_contain_text("no log")
    assert tab.errors == []


def test_an_empty_build_history_says_so(dashboard: Dashboard, tab: Tab) -> None:
    with dashboard.store.session() as s:
        s.execute(delete(BuildRow))
    tab.page.goto(f"{dashboard.url}/t/t/builds")
    expect(tab.page.locator("table.builds tbody")).to_have_text("No builds yet.")
    assert tab.errors == []


@pytest.mark.parametrize("path", [
    "/t/t/status", "/t/t/builds", "/build/build-1", "/build/build-2", "/build/build-0",
    "/changes", "/c/org/app/+/3",
])
def test_dashboard_pages_run_without_script_errors(dashboard: Dashboard, tab: Tab,
                                                   path: str) -> None:
    page = tab.page
    response = page.goto(dashboard.url + path)
    assert response is not None and response.status == 200
    expect(page.locator("header .brand")).to_have_text("zuulish")
    if path.endswith("/status"):
        # Let the refresh run at least once: its rendering is a script too.
        expect(page.locator("#updated")).to_contain_text("Updated", timeout=10_000)
    if path == "/build/build-2":
        expect(page.locator("#console-state")).to_have_text("streaming")
    else:
        page.wait_for_load_state("networkidle")
    assert tab.errors == []


#: the status page's event stream, whatever its query (it asks for deltas)
EVENTS = re.compile(r"/api/tenant/t/status/events(\?.*)?$")


def test_the_status_page_says_when_a_refresh_fails(dashboard: Dashboard, tab: Tab) -> None:
    page = tab.page
    fail = lambda route: route.fulfill(  # noqa: E731
        status=500, content_type="application/json", body='{"error": "boom"}')
    # Neither the live updates nor the API answer: the page says so, and keeps what
    # the server rendered.
    page.route(EVENTS, fail)
    page.route("**/api/tenant/t/status", fail)
    page.goto(f"{dashboard.url}/t/t/status")
    expect(page.locator("#updated")).to_contain_text("Could not refresh (500")
    expect(page.locator("#updated")).to_have_class(re.compile(r"\bstale\b"))
    expect(page.locator(".item")).to_have_count(2)  # what was shown stays
    page.unroute(EVENTS)
    page.unroute("**/api/tenant/t/status")
    expect(page.locator("#updated")).not_to_have_class(re.compile(r"\bstale\b"))
    expect(page.locator("#updated")).to_contain_text("live", timeout=10_000)
    errors = [e for e in tab.errors if "500" not in e]  # the failed fetch itself is logged
    assert errors == []


def test_an_item_whose_jobs_have_not_started_shows_them_waiting(dashboard: Dashboard,
                                                                tab: Tab) -> None:
    with dashboard.store.session() as s:
        item = s.scalars(select(QueueItemRow).where(QueueItemRow.change_number == 4)).one()
        s.add(BuildSetRow(uuid="bs4", item_id=item.id, ahead=[], merge_state="pending",
                          job_graph={"jobs": {"unit": {"name": "unit"}}, "fail_fast": False},
                          created_at=0))
    page = tab.page
    page.goto(f"{dashboard.url}/t/t/status")
    check = page.locator("section.pipeline", has=page.locator("h2", has_text="check"))
    expect(check.locator(".job")).to_have_count(1)
    expect(page.locator("#updated")).to_contain_text("Updated")
    expect(check.locator(".job .badge")).to_have_text("waiting")
    assert tab.errors == []


def test_a_pull_request_reads_as_github_names_it_and_links_there(dashboard: Dashboard,
                                                                 tab: Tab) -> None:
    page = tab.page
    page.goto(f"{dashboard.url}/t/t/status")
    gate = page.locator("section.pipeline", has=page.locator("h2", has_text="gate"))
    expect(gate.locator(".item")).to_have_count(1)
    # A pull request enqueued now: the refresh (the script's rendering) names it as
    # GitHub does and links to it there, not by the connection's number 6.
    url = "https://github.example/acme/app/pull/12"
    with dashboard.store.session() as s:
        s.add(GithubPullRow(id=6, connection="github", repo="acme/app", number=12,
                            title="A pull request", data={"html_url": url}))
        s.add(QueueItemRow(tenant="t", pipeline="gate", queue_name="shared",
                           connection="github", change_number=6, patchset=1,
                           commit_sha="d" * 40, project="acme/app", branch="main",
                           sequence=2, enqueued_at=7, state="queued"))
    pull = gate.locator(".item").nth(1)
    expect(pull.locator("a.change")).to_have_text("acme/app#12")
    expect(pull.locator("a.change")).to_have_attribute("href", url)
    expect(pull.locator(".subject")).to_have_text("A pull request")
    expect(gate.locator(".item").nth(0).locator("a.change")).to_have_text("3,1")
    # the first rendering (the template) says the same
    page.reload()
    expect(pull.locator("a.change")).to_have_text("acme/app#12")
    expect(pull.locator("a.change")).to_have_attribute("href", url)
    assert tab.errors == []
