"""The autohold REST API over real HTTP on 127.0.0.1, behind the management token."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.fakes.web_server import served
from zuulish.config.layout import Layout
from zuulish.model import Job, Pipeline, PipelineManager
from zuulish.model.project import ProjectConfig
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import AutoholdRow, NodeRow, Store
from zuulish.web.app import create_app

pytestmark = pytest.mark.store

TOKEN = "an-autohold-token-for-tests"


def layout() -> Layout:
    return Layout("t", pipelines={"check": Pipeline("check", PipelineManager.INDEPENDENT)},
                  jobs={"unit": [Job("unit")], "lint": [Job("lint")]},
                  projects={"org/app": [ProjectConfig("org/app")],
                            "^org/lib-.*$": [ProjectConfig("^org/lib-.*$")]})


@dataclass
class Api:
    url: str
    store: Store

    def call(self, method: str, path: str, body: Any = None,
             token: str | None = TOKEN) -> tuple[int, Any]:
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            data = None if body is None else body if isinstance(body, str) \
                else json.dumps(body)
            conn.request(method, path, data, headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read().decode())
        finally:
            conn.close()


@pytest.fixture
def api(store: Store, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Api]:
    layouts = TenantLayouts(tmp_path / "main.yaml", {}, {}, {})
    layouts.layouts = {"t": layout()}
    token = getattr(request, "param", TOKEN)
    with served(lambda url: create_app(store, layouts, tmp_path, url,
                                       admin_token=token)) as url:
        yield Api(url, store)


def test_an_autohold_is_stored_listed_and_deleted_releasing_its_nodes(api: Api) -> None:
    status, hold = api.call("POST", "/api/tenant/t/project/org/app/autohold",
                            {"job": "unit", "reason": "flaky unit", "change": 12,
                             "count": 2, "node_hold_expiration": 3600})
    assert status == 201, hold
    assert (hold["project"], hold["job"], hold["ref_filter"], hold["count"],
            hold["current_count"], hold["node_hold_expiration"], hold["account"]) == \
        ("org/app", "unit", "refs/changes/12/12/.*", 2, 0, 3600, "api")
    with api.store.session() as s:  # as if a failed build's node had been held
        s.add(NodeRow(provider="static", label="ubuntu", state="held", hostname="node1",
                      host_vars={"ansible_host": "192.0.2.9", "ansible_user": "zuul",
                                 "ansible_port": 22}, created_at=0, hold_id=hold["id"],
                      hold_until=None))
    status, listed = api.call("GET", "/api/tenant/t/autohold")
    assert status == 200 and [h["id"] for h in listed] == [hold["id"]]
    assert listed[0]["nodes"][0]["login"] == "ssh zuul@192.0.2.9 -p 22"
    status, info = api.call("GET", f"/api/tenant/t/autohold/{hold['id']}")
    assert status == 200 and info["reason"] == "flaky unit"
    status, gone = api.call("DELETE", f"/api/tenant/t/autohold/{hold['id']}")
    assert (status, gone) == (200, {"id": hold["id"], "released_nodes": [1]})
    with api.store.read() as s:
        assert s.scalars(select(NodeRow.state)).all() == ["used"]
        assert s.scalars(select(AutoholdRow)).all() == []
    assert api.call("GET", "/api/tenant/t/autohold") == (200, [])


def test_a_project_matched_by_a_regex_stanza_or_named_canonically_is_accepted(
        api: Api) -> None:
    status, hold = api.call("POST", "/api/tenant/t/project/org/lib-x/autohold",
                            {"job": "lint", "reason": "r", "ref": "refs/heads/main"})
    assert status == 201 and (hold["project"], hold["ref_filter"]) == \
        ("org/lib-x", "refs/heads/main")
    status, hold = api.call("POST", "/api/tenant/t/project/review.example.com/org/app/autohold",
                            {"job": "unit", "reason": "r"})
    assert status == 201 and (hold["project"], hold["ref_filter"], hold["count"]) == \
        ("org/app", ".*", 1)


@pytest.mark.parametrize(("path", "body", "code", "words"), [
    ("/api/tenant/x/project/org/app/autohold", {"job": "unit", "reason": "r"}, 404,
     "no tenant named 'x'"),
    ("/api/tenant/t/project/org/nope/autohold", {"job": "unit", "reason": "r"}, 400,
     "project 'org/nope' is not in tenant 't'"),
    ("/api/tenant/t/project/org/app/autohold", {"job": "unti", "reason": "r"}, 400,
     "defines no job 'unti'; did you mean 'unit'?"),
    ("/api/tenant/t/project/org/app/autohold", {"job": "unit", "reason": "r",
                                                "ref": "refs/(x"}, 400,
     "not a regular expression"),
    ("/api/tenant/t/project/org/app/autohold", {"job": "unit", "reason": "r", "count": 0},
     400, "body field 'count': Input should be greater than or equal to 1"),
    ("/api/tenant/t/project/org/app/autohold", {"job": "unit", "reason": "r",
                                                "node_hold_expiration": -5}, 400,
     "'node_hold_expiration': Input should be greater than or equal to 0"),
    ("/api/tenant/t/project/org/app/autohold", {"job": "unit", "reason": "r",
                                                "change": 3, "ref": "refs/heads/main"}, 400,
     "not both"),
    ("/api/tenant/t/project/org/app/autohold", {"job": "unit"}, 400,
     "body field 'reason': Field required"),
    ("/api/tenant/t/project/org/app/autohold", "not json", 400, "JSON object"),
])
def test_bad_autohold_requests_get_a_clear_answer_and_store_nothing(
        api: Api, path: str, body: Any, code: int, words: str) -> None:
    status, data = api.call("POST", path, body)
    assert (status, words in data["error"]) == (code, True), data
    with api.store.read() as s:
        assert s.scalars(select(AutoholdRow)).all() == []


def test_deleting_an_unknown_or_another_tenants_request_is_404(api: Api) -> None:
    assert api.call("DELETE", "/api/tenant/t/autohold/7")[0] == 404
    assert api.call("DELETE", "/api/tenant/t/autohold/seven")[0] == 400
    status, hold = api.call("POST", "/api/tenant/t/project/org/app/autohold",
                            {"job": "unit", "reason": "r"})
    assert status == 201
    with api.store.session() as s:
        row = s.get(AutoholdRow, hold["id"])
        assert row is not None
        row.tenant = "other"
    status, data = api.call("DELETE", f"/api/tenant/t/autohold/{hold['id']}")
    assert status == 404 and "no autohold request" in data["error"]


def test_every_autohold_call_needs_the_token(api: Api) -> None:
    calls = [("POST", "/api/tenant/t/project/org/app/autohold", {"job": "unit",
                                                                 "reason": "r"}),
             ("GET", "/api/tenant/t/autohold", None),
             ("GET", "/api/tenant/t/autohold/1", None),
             ("DELETE", "/api/tenant/t/autohold/1", None)]
    for method, path, body in calls:
        assert api.call(method, path, body, token=None)[0] == 401
        status, data = api.call(method, path, body, token="wrong")
        assert status == 401 and data["error"] == "authentication required"
    with api.store.read() as s:
        assert s.scalars(select(AutoholdRow)).all() == []


@pytest.mark.parametrize("api", [None], indirect=True)
def test_autohold_is_off_without_a_configured_token(api: Api) -> None:
    status, data = api.call("GET", "/api/tenant/t/autohold")
    assert status == 403 and "web.admin_token" in data["error"]


def test_the_openapi_document_describes_autohold(api: Api) -> None:
    status, doc = api.call("GET", "/api/openapi.json", token=None)
    assert status == 200
    paths = doc["paths"]
    assert set(paths["/api/tenant/{tenant}/autohold/{id}"]) == {"get", "delete"}
    post = paths["/api/tenant/{tenant}/project/{project}/autohold"]["post"]
    assert post["security"] == [{"bearer": []}] and "201" in post["responses"]
    assert "login" in doc["components"]["schemas"]["HeldNode"]["properties"]
