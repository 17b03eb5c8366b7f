"""The history pages as a user sees them, in headless Chromium over the real web app
and a seeded store: paging through builds, filtering, opening a failed build and
jumping to its failed task, reading earlier parts of a long log, following a live
log; phone widths and dark mode. With ``ZUULISH_SCREENSHOTS=1`` the pages are
photographed to ``docs/screenshots/{builds,build,change}-{desktop,phone}.png``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.history_seed import HELD
from tests.functional.test_dashboard_browser import Tab, browser, tab  # noqa: F401
from tests.functional.test_web_history import History, history_site
from zuulish.store import BuildRow

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails) with the reason
    expect = None  # type: ignore[assignment]

pytestmark = [pytest.mark.slow, pytest.mark.not_store]  # the pages are the subject
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


@pytest.fixture
def window(tab: Tab) -> Tab:  # noqa: F811  (the dashboard tests' tab, with its error log)
    return tab


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    tmp = tmp_path_factory.mktemp("history-browser")
    with history_site(tmp, f"sqlite:///{tmp / 'zuulish.db'}") as history:
        yield history


def test_paging_through_the_build_history(site: History, window: Tab) -> None:
    page = window.page
    page.goto(f"{site.url}/t/t/builds?limit=20")
    rows = page.locator("table.builds tbody tr")
    expect(rows).to_have_count(20)
    everything = site.finished()
    expect(page.locator(".pager").first).to_contain_text(f"1–20 of {len(everything)}")
    first_page = rows.first.locator("a").first.get_attribute("href")
    page.get_by_role("link", name="older →").first.click()
    expect(page.locator(".pager").first).to_contain_text(f"21–40 of {len(everything)}")
    expect(rows.first.locator("a").first).to_have_attribute(
        "href", f"{site.url}/t/t/build/{everything[20]}")
    page.get_by_role("link", name="← newer").first.click()
    expect(rows.first.locator("a").first).to_have_attribute("href", first_page or "")
    assert window.errors == []


def test_filtering_with_the_form(site: History, window: Tab) -> None:
    page = window.page
    page.goto(f"{site.url}/t/t/builds")
    page.get_by_label("Job").fill("integration")
    page.get_by_label("Result").select_option("FAILURE")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*job_name=integration.*result=FAILURE"))
    wanted = site.finished(job="integration", result="FAILURE")
    rows = page.locator("table.builds tbody tr")
    expect(rows).to_have_count(len(wanted))
    for n in range(len(wanted)):
        expect(rows.nth(n).locator(".badge")).to_have_text("FAILURE")
    expect(page.locator("#trend svg")).to_be_visible()
    expect(page.get_by_label("Job")).to_have_value("integration")
    assert window.errors == []


def test_opening_a_failed_build_and_jumping_to_its_failed_task(site: History,
                                                               window: Tab) -> None:
    page = window.page
    page.set_viewport_size(DESKTOP)
    page.goto(f"{site.url}/t/t/builds?held=true")
    page.locator("table.builds tbody tr").first.get_by_role("link", name="integration").click()
    page.wait_for_url(f"{site.url}/t/t/build/{HELD}")
    expect(page.locator("h2 .badge")).to_have_text("FAILURE")
    jump = page.locator("#failed-task a")
    expect(jump).to_have_text("run the tests")
    target = jump.get_attribute("href") or ""
    jump.click()
    page.wait_for_url(re.compile(re.escape(target) + "$"))
    task = page.locator(f"li{target}")
    expect(task).to_be_in_viewport()
    expect(task).to_have_class(re.compile(r"\bfailed\b"))
    expect(task.locator("details")).to_have_attribute("open", "")
    expect(task).to_contain_text("AssertionError: 3 != 2")
    # the timeline's bar of the task links to it too
    expect(page.locator(f'#timeline a[href="{target}"]')).to_have_count(1)
    assert window.errors == []


def test_reading_earlier_parts_of_a_long_log(site: History, window: Tab) -> None:
    page = window.page
    page.goto(f"{site.url}/t/t/build/{HELD}")
    log = page.locator("pre#log")
    expect(log).to_contain_text("log line 05000 of the job")
    expect(log).not_to_contain_text("log line 00001 of the job")
    earlier = page.get_by_role("button", name="Load earlier")
    while earlier.is_visible():
        before = log.inner_text()
        earlier.click()
        expect(log).not_to_have_text(before)
    text = log.inner_text()
    lines = [line for line in text.splitlines() if line]
    assert lines[0].endswith("log line 00001 of the job")
    assert lines == [f"2026-05-28 20:30:00.000000 | log line {n:05d} of the job"
                     for n in range(1, 5001)]  # every line once, whole, in order
    expect(page.locator("#log-shown")).to_have_text("The whole log.")
    assert window.errors == []


def test_following_a_live_log(site: History, window: Tab) -> None:
    log = site.state_dir / "logs" / "b-running" / "job-output.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("starting\n", encoding="utf-8")
    page = window.page
    page.goto(f"{site.url}/build/b-running")
    page.wait_for_url(f"{site.url}/t/t/build/b-running")
    expect(page.locator("#console-state")).to_have_text("streaming")
    expect(page.locator("#console")).to_contain_text("starting")
    with log.open("a", encoding="utf-8") as f:
        f.write("running <the> tests & more\n")
    expect(page.locator("#console")).to_contain_text("running <the> tests & more")
    with site.store.session() as s:
        row = s.get(BuildRow, "b-running")
        assert row is not None
        row.state, row.result, row.finished_at = "completed", "SUCCESS", time.time()
    try:
        expect(page.locator("#console-state")).to_have_text("build finished: SUCCESS")
        expect(page.locator("h2 .badge")).to_have_text("SUCCESS")
    finally:
        with site.store.session() as s:
            row = s.get(BuildRow, "b-running")
            assert row is not None
            row.state, row.result, row.finished_at = "running", None, None
    assert window.errors == []


PAGES = {"builds": "/t/t/builds?project=org/app&job_name=integration",
         "build": f"/t/t/build/{HELD}", "change": "/c/org/app/+/7"}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_pages_fit_a_phone_and_follow_the_dark_scheme(site: History, window: Tab,
                                                      name: str) -> None:
    page = window.page
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.emulate_media(color_scheme="light")
        page.goto(site.url + PAGES[name])
        page.wait_for_load_state("networkidle")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= size["width"], f"{name} overflows at {label}: {width}px"
        if os.environ.get("ZUULISH_SCREENSHOTS") == "1":
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=False)
    light = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert light != dark and dark != "rgb(255, 255, 255)"
    surface = ("() => getComputedStyle(document.querySelector("
               "'.history form.filters, .history .playbook, .history .patchset'))"
               ".backgroundColor")
    page.emulate_media(color_scheme="light")
    light_text = page.evaluate(surface)
    page.emulate_media(color_scheme="dark")
    assert page.evaluate(surface) != light_text  # the history's own parts follow too
    assert window.errors == []
