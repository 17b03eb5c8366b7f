"""Signing in to the dashboard in headless Chromium: the OpenID Connect
authorization-code flow with PKCE (web/static/auth.js) against an issuer on
127.0.0.1, then a tenant with access-rules shown with the token."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.fakes.auth_web import Api, serve_auth_app
from tests.functional import test_dashboard_browser as dashboard
from zuulish.config.auth_rules import TenantAuthRules
from zuulish.store import BuildRow, BuildSetRow

pytestmark = [pytest.mark.slow]

browser = dashboard.browser  # the module's Chromium (skipped where there is none)
tab = dashboard.tab


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_auth_app(tmp_path_factory.mktemp("browser"),
                        access_check_seconds=0.5) as served_api:
        yield served_api


def test_signing_in_shows_a_tenant_with_access_rules(api: Api, tab: dashboard.Tab) -> None:
    expect = dashboard.expect
    page = tab.page
    api.issuer.login_claims = {"sub": "dana", "groups": ["t-readers"]}
    response = page.goto(f"{api.url}/t/t/status")
    assert response is not None and response.status == 401
    expect(page.locator("#refused")).to_be_visible()
    assert "Make it fast" not in page.content()
    page.locator("a.sign-in").click()  # to the issuer and back, with a token
    expect(page.locator("text=Make it fast").first).to_be_visible(timeout=10_000)
    assert page.evaluate("sessionStorage.getItem('zuulish.token')").count(".") == 2
    assert page.url == f"{api.url}/t/t/status"
    expect(page.locator("a.sign-in")).to_have_text("Sign out dana")
    # the page's own refreshes of the status carry the token too
    with page.expect_response(lambda r: r.url.endswith("/api/tenant/t/status")) as got:
        page.evaluate("fetch('/api/tenant/t/status')")
    assert got.value.status == 200
    assert not [e for e in tab.errors if e.startswith("uncaught")], tab.errors
    assert api.issuer.requests["/token"] >= 1


def test_a_signed_in_reader_watches_a_private_tenants_status_live(api: Api,
                                                                  tab: dashboard.Tab) -> None:
    """The status page's event stream opens with a ticket (an EventSource cannot carry
    the token), and a change in the store comes to the open page over it."""
    expect = dashboard.expect
    page = tab.page
    api.issuer.login_claims = {"sub": "erin", "groups": ["t-readers"]}
    page.goto(f"{api.url}/t/t/status")
    with page.expect_response(lambda r: "/api/tenant/t/status/events?" in r.url,
                              timeout=20_000) as opened:
        page.locator("a.sign-in").click()
    assert opened.value.status == 200
    url = opened.value.url
    token = page.evaluate("sessionStorage.getItem('zuulish.token')")
    assert "ticket=zst1." in url and token not in url
    expect(page.locator("#updated")).to_contain_text("; live.", timeout=10_000)
    lint = page.locator("li.job", has_text="lint").locator(".bar")
    expect(lint).not_to_have_class(re.compile(r"\bfailure\b"))
    with api.store.session() as s:
        build = s.get(BuildRow, "build-2")
        assert build is not None
        build.state, build.result, build.finished_at = "completed", "FAILURE", 10
    expect(lint).to_have_class(re.compile(r"\bfailure\b"), timeout=10_000)
    expect(page.locator("#updated")).to_contain_text("; live.")
    assert not [e for e in tab.errors if e.startswith("uncaught")], tab.errors


def test_a_signed_in_reader_follows_a_private_builds_live_console(api: Api,
                                                                  tab: dashboard.Tab) -> None:
    expect = dashboard.expect
    page = tab.page
    with api.store.session() as s:  # a running build of its own
        buildset = s.scalars(select(BuildSetRow.id)).first()
        s.add(BuildRow(id="build-live", buildset_id=buildset, job="live", state="running",
                       created_at=5, started_at=5))
    api.issuer.login_claims = {"sub": "erin", "groups": ["t-readers"]}
    page.goto(f"{api.url}/t/t/status")  # signed in there (a build's page has no tenant)
    page.locator("a.sign-in").click()
    expect(page.locator("a.sign-in")).to_have_text("Sign out erin", timeout=10_000)
    with page.expect_websocket(lambda ws: "/console-stream?" in ws.url,
                               timeout=20_000) as opened:
        page.goto(f"{api.url}/build/build-live")
    assert "ticket=zst1." in opened.value.url
    expect(page.locator("#console-state")).to_have_text("streaming", timeout=10_000)
    log = api.config.parent / "logs" / "build-live" / "job-output.txt"
    log.parent.mkdir(parents=True)
    log.write_text("secret progress of tenant t\n")
    expect(page.locator("#console")).to_have_text("secret progress of tenant t\n",
                                                  timeout=10_000)


def test_the_pages_open_their_streams_again_when_the_tenants_rules_change(
        api: Api, tab: dashboard.Tab) -> None:
    """The server ends a stream when its tenant's rules change; the status page and the
    live console open theirs again at once, with new tickets, and go on live."""
    expect = dashboard.expect
    page = tab.page
    with api.store.session() as s:
        buildset = s.scalars(select(BuildSetRow.id)).first()
        s.add(BuildRow(id="build-rules", buildset_id=buildset, job="rules",
                       state="running", created_at=5, started_at=5))
    log = api.config.parent / "logs" / "build-rules" / "job-output.txt"
    log.parent.mkdir(parents=True)
    log.write_text("first line\n")
    api.issuer.login_claims = {"sub": "faye", "groups": ["t-readers"]}
    page.goto(f"{api.url}/t/t/status")
    with page.expect_response(lambda r: "/api/tenant/t/status/events?" in r.url,
                              timeout=20_000) as first:
        page.locator("a.sign-in").click()
    expect(page.locator("#updated")).to_contain_text("; live.", timeout=10_000)
    before = api.layouts.layouts
    rules = before["t"].auth_rules
    wider = TenantAuthRules(rules.admin, rules.access + rules.admin)  # readers still in

    def reconfigure(auth_rules: TenantAuthRules) -> None:
        api.layouts.layouts = {**api.layouts.layouts, "t": dataclasses.replace(
            api.layouts.layouts["t"], auth_rules=auth_rules)}

    try:
        with page.expect_response(lambda r: "/api/tenant/t/status/events?" in r.url,
                                  timeout=20_000) as again:
            reconfigure(wider)
        assert again.value.status == 200 and again.value.url != first.value.url
        expect(page.locator("#updated")).to_contain_text("; live.", timeout=10_000)
        # the console: closed with 4003, opened again from its start (shown once)
        with page.expect_websocket(lambda ws: "/console-stream?" in ws.url,
                                   timeout=20_000):
            page.goto(f"{api.url}/build/build-rules")
        expect(page.locator("#console")).to_have_text("first line\n", timeout=10_000)
        with page.expect_websocket(lambda ws: "/console-stream?" in ws.url,
                                   timeout=20_000) as reopened:
            reconfigure(rules)
        assert "ticket=zst1." in reopened.value.url
        expect(page.locator("#console-state")).to_have_text("streaming", timeout=10_000)
        with log.open("a") as out:
            out.write("second line\n")
        expect(page.locator("#console")).to_have_text("first line\nsecond line\n",
                                                      timeout=10_000)
    finally:
        api.layouts.layouts = before
    assert not [e for e in tab.errors if e.startswith("uncaught")], tab.errors
