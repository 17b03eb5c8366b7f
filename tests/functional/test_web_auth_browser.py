"""Signing in to the dashboard in headless Chromium: the OpenID Connect
authorization-code flow with PKCE (web/static/auth.js) against an issuer on
127.0.0.1, then a tenant with access-rules shown with the token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.auth_web import Api, serve_auth_app
from tests.functional import test_dashboard_browser as dashboard

pytestmark = [pytest.mark.slow]

browser = dashboard.browser  # the module's Chromium (skipped where there is none)
tab = dashboard.tab


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_auth_app(tmp_path_factory.mktemp("browser")) as served_api:
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
