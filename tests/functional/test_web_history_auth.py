"""The history under access rules: a tenant with access-rules (``t``) shows its
builds, build sets and reports only to its readers, on its own pages and on the
built-in forge's change page (which anyone may read)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.auth_web import Api, serve_auth_app


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_auth_app(tmp_path_factory.mktemp("history-auth")) as served_api:
        yield served_api


def test_the_forge_change_page_shows_a_private_tenants_reports_to_its_readers_only(
        api: Api) -> None:
    status, _, anonymous = api.call("GET", "/c/org/app/+/3")
    assert status == 200 and "Make it fast" in anonymous  # the change is the forge's
    assert "Build succeeded" not in anonymous and "/t/t/build/" not in anonymous
    reader = api.sso(groups=["t-readers"])
    status, _, shown = api.call("GET", "/c/org/app/+/3", reader)
    assert status == 200 and "Build succeeded" in shown and "/t/t/build/build-1" in shown
    stranger = api.sso(groups=["other-readers"])
    assert "Build succeeded" not in api.call("GET", "/c/org/app/+/3", stranger)[2]


def test_the_old_build_address_tells_nothing_to_who_may_not_read_its_tenant(
        api: Api) -> None:
    status, headers, body = api.call("GET", "/build/build-1")
    assert status == 401 and "Location" not in headers and "Make it fast" not in body
    status, headers, _ = api.call("GET", "/build/build-1", api.sso(groups=["t-readers"]))
    assert status == 302 and headers["Location"] == "/t/t/build/build-1"
