"""The catalog pages as a user sees them in headless Chromium: the shared layout's
navigation by keyboard, the job page's frozen-job picker, a phone's width and dark
mode, over the real web app, a tenant loaded from real git repositories and a
seeded store (``test_web_catalog``'s world).

With ``ZUULISH_SCREENSHOTS=1`` the project, job and nodes pages are also saved at
desktop and phone widths to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.fakes.web_server import served
from tests.functional.test_dashboard_browser import Tab, browser, tab  # noqa: F401
from tests.functional.test_web_catalog import POOL_LABELS, TOKEN, world  # noqa: F401
from zuulish.web.app import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails) with the reason
    expect = None  # type: ignore[assignment]

pytestmark = [pytest.mark.slow, pytest.mark.not_store]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PAGES = ["/t/t/status", "/t/t/projects", "/t/t/project/org/app", "/t/t/jobs",
         "/t/t/job/app-test", "/t/t/nodes", "/t/t/labels", "/t/t/semaphores",
         "/t/t/config-errors", "/t/other/config-errors", "/config-errors"]

# The contrast ratio (WCAG 2) of an element's text on the first opaque background
# found walking up from it.
CONTRAST_JS = """
(element) => {
  const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  let node = element, bg = null;
  while (node && node.nodeType === 1) {
    const colour = rgb(getComputedStyle(node).backgroundColor);
    if (colour.length < 4 || colour[3] === 1) { bg = colour; break; }
    node = node.parentElement;
  }
  const fg = lum(rgb(getComputedStyle(element).color));
  const back = lum(bg || [255, 255, 255]);
  return {ratio: (Math.max(fg, back) + 0.05) / (Math.min(fg, back) + 0.05), background: back};
}
"""


@pytest.fixture(scope="module")
def site(world) -> Iterator[str]:  # noqa: F811 (the imported fixture)
    tmp, store, layouts, _ids = world
    with served(lambda url: create_app(store, layouts, tmp, url, admin_token=TOKEN,
                                       pool_labels=POOL_LABELS)) as url:
        yield url


def new_page(browser: Browser, **options) -> tuple[Page, list[str]]:  # noqa: F811
    context = browser.new_context(**options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error.message}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page, errors


def test_the_nav_is_reached_and_followed_with_the_keyboard(site: str,
                                                           tab: Tab) -> None:  # noqa: F811
    page = tab.page
    page.goto(f"{site}/t/t/status")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # from the top again: skip link, brand, then the nav's links in order
    page.goto(f"{site}/t/t/status")
    for _ in range(4):  # skip link, brand, Status, Projects
        page.keyboard.press("Tab")
    projects = page.locator("header nav a", has_text="Projects")
    expect(projects).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site}/t/t/projects")
    expect(page.locator("header nav a[aria-current=page]")).to_have_text("Projects")
    expect(page.locator("#projects tbody tr")).to_have_count(3)
    # the nav names every page of the tenant, the configuration errors with their count
    names = page.locator("header nav a").all_inner_texts()
    assert [n.split()[0] for n in names] == [
        "Status", "Projects", "Jobs", "Builds", "Buildsets", "Nodes", "Labels",
        "Semaphores", "Autoholds", "Config", "Changes"]
    expect(page.locator("header nav a", has_text="Config errors")).to_have_text(
        "Config errors 0")
    assert tab.errors == []


def test_the_job_page_picks_a_project_branch_and_pipeline_to_freeze(site: str,
                                                                   tab: Tab  # noqa: F811
                                                                   ) -> None:
    page = tab.page
    page.goto(f"{site}/t/t/job/app-test")
    expect(page.locator("section.variant")).to_have_count(2)
    expect(page.locator("section.variant").nth(1).locator(".defined")).to_contain_text(
        "org/app@stable/1/.zuul.yaml:3")
    page.select_option("#freeze-project", "org/app")
    expect(page.locator("#freeze-branch option")).to_have_text(["main", "stable/1"])
    expect(page.locator("#freeze-pipeline option")).to_have_text(["check", "gate"])
    # the stable branch runs it in check only: the pipelines follow the branch
    page.select_option("#freeze-branch", "stable/1")
    expect(page.locator("#freeze-pipeline option")).to_have_text(["check"])
    page.get_by_role("button", name="Show frozen job").click()
    frozen = page.locator("#frozen section.frozen")
    expect(frozen.locator("h3")).to_have_text("app-test for org/app in check on stable/1")
    expect(frozen.locator(".frozen-vars")).to_contain_text('"flavour": "stable-flavour"')
    expect(frozen.locator(".inheritance")).to_have_text("base → app-test")
    # the choice stays selected after the page came back
    expect(page.locator("#freeze-branch")).to_have_value("stable/1")
    # the main branch's variant, from the choice made again
    page.select_option("#freeze-branch", "main")
    page.select_option("#freeze-pipeline", "gate")
    page.get_by_role("button", name="Show frozen job").click()
    expect(frozen.locator("h3")).to_have_text("app-test for org/app in gate on main")
    expect(frozen.locator(".frozen-vars")).to_contain_text('"flavour": "vanilla"')
    assert tab.errors == []


def test_no_page_overflows_a_phone_s_width(site: str, browser: Browser  # noqa: F811
                                           ) -> None:
    page, errors = new_page(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    for path in PAGES:
        response = page.goto(site + path)
        assert response is not None and response.status == 200, path
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
    assert errors == []
    page.context.close()


def test_dark_mode_keeps_body_text_readable(site: str, browser: Browser  # noqa: F811
                                            ) -> None:
    page, errors = new_page(browser, color_scheme="dark")
    for path in ("/t/t/project/org/app", "/t/t/job/app-test", "/t/t/nodes"):
        page.goto(site + path)
        body = page.evaluate(CONTRAST_JS, page.locator("main").element_handle())
        assert body["background"] < 0.1, f"{path}: not dark ({body})"
        for selector in ("main h1", "main .muted", "main a", "main td", "header nav a"):
            for handle in page.locator(selector).element_handles()[:5]:
                shown = page.evaluate(CONTRAST_JS, handle)
                assert shown["ratio"] >= 4.5, f"{path} {selector}: {shown}"
    assert errors == []
    page.context.close()


def test_light_mode_keeps_text_readable_too(site: str, browser: Browser  # noqa: F811
                                            ) -> None:
    page, errors = new_page(browser, color_scheme="light")
    for path in ("/t/t/project/org/app", "/t/t/nodes", "/t/other/config-errors"):
        page.goto(site + path)
        for selector in ("main h1", "main .muted", "main a", "main td", "header nav a",
                         ".badge"):
            for handle in page.locator(selector).element_handles()[:5]:
                shown = page.evaluate(CONTRAST_JS, handle)
                assert shown["ratio"] >= 4.5, f"{path} {selector}: {shown}"
    assert errors == []
    page.context.close()


@pytest.mark.skipif(os.environ.get("ZUULISH_SCREENSHOTS") != "1",
                    reason="screenshots are made with ZUULISH_SCREENSHOTS=1")
def test_screenshots_of_the_project_job_and_nodes_pages(site: str,
                                                        browser: Browser  # noqa: F811
                                                        ) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = {"project": "/t/t/project/org/app",
             "job": "/t/t/job/app-test?project=org/app&branch=main&pipeline=check",
             "nodes": "/t/t/nodes"}
    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page, errors = new_page(browser, viewport=viewport)
        for name, path in pages.items():
            page.goto(site + path)
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        assert errors == []
        page.context.close()
