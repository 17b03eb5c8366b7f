"""The REST API and pages over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from zuulish.config.layout import Layout
from zuulish.model import Pipeline, PipelineManager
from zuulish.runner import free_port
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import (
    BuildRow,
    BuildSetRow,
    ChangeQueueRow,
    ChangeRow,
    PatchsetRow,
    QueueItemRow,
    ReportRow,
    Store,
)
from zuulish.web.app import create_app, serve

pytestmark = pytest.mark.store


def seed(store: Store) -> None:
    """Change 3 in the gate (unit passed, lint running, docs waiting); change 4 in check."""
    with store.session() as s:
        change = ChangeRow(connection="forge", number=3, project="org/app", branch="main",
                           status="NEW", patchset=1, commit_sha="a" * 40, subject="Make it fast",
                           message="Make it fast\n", approvals={"Verified": 1}, created_at=0,
                           updated_at=10)
        other = ChangeRow(connection="forge", number=4, project="org/lib", branch="main",
                          status="NEW", patchset=2, commit_sha="b" * 40,
                          subject="Teach the lib <b>manners</b>", message="", created_at=0,
                          updated_at=20)
        s.add_all([change, other])
        s.add(ChangeQueueRow(tenant="t", pipeline="gate", name="shared", window=20))
        item = QueueItemRow(tenant="t", pipeline="gate", queue_name="shared", connection="forge",
                            change_number=3, patchset=1, commit_sha="a" * 40, project="org/app",
                            branch="main", sequence=1, enqueued_at=0, state="queued")
        check_item = QueueItemRow(tenant="t", pipeline="check", queue_name="org/lib",
                                  connection="forge", change_number=4, patchset=2,
                                  commit_sha="b" * 40, project="org/lib", branch="main",
                                  sequence=1, enqueued_at=5, state="queued")
        s.add_all([item, check_item])
        s.flush()
        s.add(PatchsetRow(change_id=change.id, number=1, commit_sha="a" * 40,
                          ref="refs/changes/03/3/1", created_at=0))
        s.add_all([
            ReportRow(change_id=change.id, patchset=1, tenant="t", pipeline="check",
                      action="failure", result="FAILURE", votes={"Verified": -1},
                      message="Build failed (check pipeline).", created_at=1),
            ReportRow(change_id=change.id, patchset=1, tenant="t", pipeline="check",
                      action="success", result="SUCCESS", votes={"Verified": 1},
                      message="Build succeeded (check pipeline).", created_at=2),
        ])
        bs = BuildSetRow(uuid="bs1", item_id=item.id, ahead=[], merge_state="merged",
                         # stored as the scheduler stores it (JobGraph.to_dict)
                         job_graph={"jobs": {"unit": {"name": "unit", "voting": True},
                                             "lint": {"name": "lint", "voting": False},
                                             "docs": {"name": "docs", "voting": True}},
                                    "fail_fast": False},
                         created_at=0)
        s.add(bs)
        s.flush()
        s.add_all([
            BuildRow(id="build-0", buildset_id=bs.id, job="unit", state="completed",
                     result="NODE_FAILURE", created_at=0, started_at=0, finished_at=1),
            BuildRow(id="build-1", buildset_id=bs.id, job="unit", state="completed",
                     result="SUCCESS", attempt=2, created_at=1, started_at=1, finished_at=4,
                     # as the scheduler stores them (Scheduler._build_params)
                     params={"repo_state": {
                         "org/app": {"branch": "main", "base": "c" * 40, "pre": "c" * 40,
                                     "commit": "d" * 40, "changes": ["a" * 40]},
                         "org/lib": {"branch": "stable", "base": "e" * 40,
                                     "pre": "e" * 40, "commit": "e" * 40, "changes": []}}},
                     result_data={"zuul": {"artifacts": [
                         {"name": "wheel", "url": "artifacts/a.whl",
                          "metadata": {"type": "python_wheel"}},
                         {"name": "docs", "url": "https://docs.example/a/"},
                         {"name": "no url"}]}}),
            BuildRow(id="build-2", buildset_id=bs.id, job="lint", state="running",
                     voting=False, created_at=2, started_at=3),
        ])


@dataclass
class Server:
    url: str
    state_dir: Path
    store: Store

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        """GET ``path`` as sent (no normalising, no redirects followed)."""
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode()
        finally:
            conn.close()

    def post(self, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request("POST", path, body if isinstance(body, str) else json.dumps(body),
                         headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read().decode())
        finally:
            conn.close()

    def json(self, path: str) -> tuple[int, Any]:
        status, headers, body = self.get(path)
        assert headers["Content-Type"].startswith("application/json"), body
        return status, json.loads(body)


TOKEN = "a-management-token-for-tests"


@pytest.fixture
def server(store: Store, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    seed(store)
    logs = tmp_path / "logs" / "build-1"
    logs.mkdir(parents=True)
    (logs / "job-output.txt").write_text(
        "".join(f"line {n} | hello from the job ✓\n" for n in range(1, 1001)), encoding="utf-8")
    (tmp_path / "secret.txt").write_text("not for you")
    (tmp_path / "logs" / "secret.txt").write_text("not for you either")
    (logs / "escape.txt").symlink_to(tmp_path / "secret.txt")
    layout = Layout("t", pipelines={
        "check": Pipeline("check", PipelineManager.INDEPENDENT, description="Fast feedback"),
        "gate": Pipeline("gate", PipelineManager.DEPENDENT)})
    layouts = TenantLayouts(tmp_path / "main.yaml", {}, {}, {})
    layouts.layouts = {"t": layout}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    loop = asyncio.new_event_loop()
    app = create_app(store, layouts, tmp_path, url,
                     admin_token=getattr(request, "param", TOKEN))
    runner = loop.run_until_complete(serve(app, "127.0.0.1", port))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield Server(url, tmp_path, store)
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_status_lists_pipelines_queues_items_and_jobs(server: Server) -> None:
    status, data = server.json("/api/tenant/t/status")
    assert status == 200 and data["tenant"] == "t"
    gate = next(p for p in data["pipelines"] if p["name"] == "gate")
    assert gate["manager"] == "dependent"
    [queue] = gate["queues"]
    assert queue["name"] == "shared" and queue["window"] == 20
    [item] = queue["items"]
    assert item["change"] == {"number": 3, "patchset": 1, "project": "org/app",
                              "branch": "main", "subject": "Make it fast",
                              "url": f"{server.url}/c/org/app/+/3", "label": "3,1",
                              "display": "3,1"}
    assert item["active"] and not item["failing"] and item["merge_state"] == "merged"
    jobs = [(j["name"], j["state"], j["result"], j["voting"]) for j in item["jobs"]]
    assert jobs == [("unit", "completed", "SUCCESS", True), ("lint", "running", None, False),
                    ("docs", "waiting", None, True)]
    unit = item["jobs"][0]
    assert unit["url"] == f"{server.url}/build/build-1"
    assert unit["log_url"] == f"{server.url}/logs/build-1/job-output.txt"


def test_independent_pipeline_queues_have_no_window(server: Server) -> None:
    _, data = server.json("/api/tenant/t/status")
    check = next(p for p in data["pipelines"] if p["name"] == "check")
    assert check["description"] == "Fast feedback"
    [queue] = check["queues"]
    assert queue["window"] is None
    [item] = queue["items"]
    assert not item["active"] and item["jobs"] == [] and item["merge_state"] is None


def test_unknown_tenant_is_404_naming_the_tenants(server: Server) -> None:
    status, data = server.json("/api/tenant/nope/status")
    assert status == 404 and data["error"] == "no tenant named 'nope'; tenants: t"
    status, _, body = server.get("/t/nope/status")
    assert status == 404 and "no tenant named 'nope'" in body


def test_tenants_are_listed_with_pipeline_counts(server: Server) -> None:
    assert server.json("/api/tenants") == (200, [{"name": "t", "pipelines": 2,
                                                  "config_errors": 0}])


def test_openapi_document_describes_the_status_route(server: Server) -> None:
    status, doc = server.json("/api/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    assert {"/api/tenant/{tenant}/status", "/api/tenant/{tenant}/builds",
            "/api/build/{uuid}", "/api/tenants"} <= set(doc["paths"])
    refs = {m for m in json.dumps(doc).split('"') if m.startswith("#/components/schemas/")}
    assert {r.rsplit("/", 1)[1] for r in refs} <= set(doc["components"]["schemas"])


def test_status_page_shows_the_change_and_refreshes_itself(server: Server) -> None:
    status, headers, body = server.get("/t/t/status")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "Make it fast" in body and "/api/tenant/" in body and "/static/status.js" in body
    assert "Teach the lib &lt;b&gt;manners&lt;/b&gt;" in body
    assert 'class="bar success"' in body and 'class="bar running"' in body


def test_index_redirects_to_the_first_tenant(server: Server) -> None:
    status, headers, _ = server.get("/")
    assert status == 302 and headers["Location"] == "/t/t/status"


def test_build_page_shows_the_result_and_the_end_of_the_log(server: Server) -> None:
    status, headers, _ = server.get("/build/build-1")  # the address reports link
    assert status == 302 and headers["Location"] == "/t/t/build/build-1"
    status, _, body = server.get("/t/t/build/build-1")
    assert status == 200 and "SUCCESS" in body and "Make it fast" in body
    # a log this small is shown whole; a bigger one from its end (test_web_history)
    assert "line 1 | hello from the job ✓" in body and "line 1000 | hello" in body
    assert f"{server.url}/logs/build-1/job-output.txt" in body
    status, data = server.json("/api/build/build-1")
    assert status == 200 and data["pipeline"] == "gate" and data["attempt"] == 2
    assert data["artifacts"] == [
        {"name": "wheel", "url": f"{server.url}/logs/build-1/artifacts/a.whl",
         "metadata": {"type": "python_wheel"}},
        {"name": "docs", "url": "https://docs.example/a/", "metadata": {}}]
    assert f'<a href="{server.url}/logs/build-1/artifacts/a.whl">wheel</a>' in body
    assert '<a href="https://docs.example/a/">docs</a>' in body
    assert server.json("/api/build/build-0")[1]["artifacts"] == []
    assert server.json("/api/build/nope")[0] == 404


def test_build_shows_the_commit_it_tested_in_each_repository(server: Server) -> None:
    status, data = server.json("/api/build/build-1")
    assert status == 200 and data["repos"] == {
        "org/app": {"branch": "main", "commit": "d" * 40},
        "org/lib": {"branch": "stable", "commit": "e" * 40}}
    _, _, body = server.get("/t/t/build/build-1")
    assert f"<li>org/app <small>main</small> <code>{'d' * 40}</code></li>" in body
    assert f"<li>org/lib <small>stable</small> <code>{'e' * 40}</code></li>" in body
    assert server.json("/api/build/build-0")[1]["repos"] == {}
    _, doc = server.json("/api/openapi.json")
    described = doc["components"]["schemas"]["Build"]["properties"]["repos"]
    assert described["additionalProperties"] == {"$ref": "#/components/schemas/TestedRepo"}
    assert doc["components"]["schemas"]["TestedRepo"]["required"] == ["branch", "commit"]


def test_build_shows_its_warnings_and_file_comments_on_its_change_files(
        server: Server) -> None:
    with server.store.session() as s:
        build = s.get(BuildRow, "build-1")
        assert build is not None
        build.params = {"files": ["src/app.py", "README"]}
        build.result_data = {"zuul": {
            "warnings": ["Deprecated <option> used", 7],
            "file_comments": {
                "src/app.py": [{"line": 3, "message": "Line too long", "level": "warning",
                                "range": {"start_line": 2, "start_character": 0,
                                          "end_line": 3, "end_character": 9}},
                               {"line": "x", "message": "no line"}],
                "elsewhere.py": [{"line": 1, "message": "not in the change"}]}}}
    status, data = server.json("/api/build/build-1")
    assert status == 200
    assert data["warnings"] == ["Deprecated <option> used"]
    assert data["file_comments"] == {"src/app.py": [
        {"line": 3, "message": "Line too long", "level": "warning",
         "range": {"start_line": 2, "start_character": 0, "end_line": 3, "end_character": 9}}]}
    _, _, body = server.get("/t/t/build/build-1")
    assert "<li>Deprecated &lt;option&gt; used</li>" in body
    assert "<code>src/app.py:3</code> <small>warning</small> Line too long" in body
    assert "elsewhere.py" not in body
    other = server.json("/api/build/build-0")[1]
    assert other["warnings"] == [] and other["file_comments"] == {}
    _, doc = server.json("/api/openapi.json")
    build_schema = doc["components"]["schemas"]["Build"]["properties"]
    assert {"warnings", "file_comments"} <= set(build_schema)
    assert doc["components"]["schemas"]["FileComment"]["required"] == ["line", "message"]


def test_a_paused_build_reads_paused_and_keeps_its_live_console(server: Server) -> None:
    with server.store.session() as s:
        build = s.get(BuildRow, "build-2")
        assert build is not None
        build.paused = True
    assert server.json("/api/build/build-2")[1]["state"] == "paused"
    status, _, body = server.get("/t/t/build/build-2")
    assert status == 200 and "paused" in body and 'id="console"' in body


def test_log_files_are_served_as_utf8_text(server: Server) -> None:
    status, headers, body = server.get("/logs/build-1/job-output.txt")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert body.startswith("line 1 | hello from the job ✓\n") and body.count("\n") == 1000


@pytest.mark.parametrize("path", [
    "/logs/build-1/..%2F..%2Fsecret.txt",
    "/logs/build-1/../../secret.txt",
    "/logs/..%2F/secret.txt",
    "/logs/%2E%2E/secret.txt",
    "/logs/./secret.txt",
    "/logs/build-1/escape.txt",
    "/logs/build-1/%2Fetc%2Fpasswd",
    "/logs/build-1/nothing-here.txt",
])
def test_log_paths_outside_the_build_are_refused(server: Server, path: str) -> None:
    status, _, body = server.get(path)
    assert status == 404 and "not for you" not in body


def test_build_history_lists_finished_builds_newest_first(server: Server) -> None:
    status, builds = server.json("/api/tenant/t/builds")
    assert status == 200
    assert [(b["uuid"], b["result"]) for b in builds] == [("build-1", "SUCCESS"),
                                                          ("build-0", "NODE_FAILURE")]
    assert server.json("/api/tenant/t/builds?limit=1")[1][0]["uuid"] == "build-1"
    assert server.json("/api/tenant/t/builds?limit=x")[0] == 400
    status, _, body = server.get("/t/t/builds")
    assert status == 200 and "NODE_FAILURE" in body and "/build/build-0" in body


def test_change_page_shows_reports_newest_first(server: Server) -> None:
    status, _, body = server.get("/c/org/app/+/3")
    assert status == 200 and "Make it fast" in body and "refs/changes/03/3/1" in body
    assert body.index("Build succeeded") < body.index("Build failed")
    assert server.get("/c/org/app/+/99")[0] == 404


def test_change_list_shows_every_change_with_its_last_result(server: Server) -> None:
    status, changes = server.json("/api/changes")
    assert status == 200 and [c["number"] for c in changes] == [4, 3]
    assert changes[1]["last_result"] == {"pipeline": "check", "result": "SUCCESS"}
    status, _, body = server.get("/changes")
    assert status == 200 and f"{server.url}/c/org/lib/+/4" in body


def test_unknown_api_routes_answer_json(server: Server) -> None:
    status, data = server.json("/api/nothing")
    assert status == 404 and "/api/nothing" in data["error"]
    assert server.json("/health") == (200, {"status": "ok"})


def test_wrong_methods_and_unknown_routes_answer_the_apis_json_error(server: Server) -> None:
    parts = urlsplit(server.url)
    answers = []
    for method, path in (("DELETE", "/api/tenants"), ("GET", "/api/nothing")):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            answers.append((response.status, response.getheader("Content-Type"),
                            response.getheader("Allow"), response.read().decode()))
        finally:
            conn.close()
    assert answers == [
        (405, "application/json; charset=utf-8", "GET,HEAD",
         '{"error": "Method Not Allowed: DELETE /api/tenants"}'),
        (404, "application/json; charset=utf-8", None,
         '{"error": "Not Found: GET /api/nothing"}')]


def test_management_calls_are_stored_as_events_for_the_scheduler(server: Server) -> None:
    status, data = server.post("/api/tenant/t/project/org/app/enqueue",
                               {"pipeline": "gate", "change": "3,1"}, TOKEN)
    assert status == 202 and data["url"] == f"{server.url}/api/event/{data['event']}"
    status, event = server.json(f"/api/event/{data['event']}")
    assert status == 200
    assert (event["type"], event["connection"], event["processed"]) == \
        ("enqueue", "zuulish", False)
    with server.store.read() as s:
        from zuulish.store import EventRow
        row = s.get(EventRow, data["event"])
        assert row.data == {"tenant": "t", "pipeline": "gate", "project": "org/app",
                            "change": "3,1", "account": "api"}
    status, data = server.post("/api/tenant/t/promote",
                               {"pipeline": "gate", "changes": ["3", "4,2"]}, TOKEN)
    assert status == 202


def test_management_calls_need_the_token(server: Server) -> None:
    body = {"pipeline": "gate", "change": "3"}
    assert server.post("/api/tenant/t/project/org/app/dequeue", body)[0] == 401
    status, data = server.post("/api/tenant/t/project/org/app/dequeue", body, "wrong")
    assert status == 401 and data["error"] == "authentication required"


@pytest.mark.parametrize("server", [None], indirect=True)
def test_management_api_is_off_without_a_configured_token(server: Server) -> None:
    status, data = server.post("/api/tenant/t/promote", {"pipeline": "gate",
                                                          "changes": ["3"]}, TOKEN)
    assert status == 403 and "web.admin_token" in data["error"]


def test_bad_management_requests_get_a_clear_400_or_404(server: Server) -> None:
    enqueue = "/api/tenant/t/project/org/app/enqueue"
    cases = [
        (enqueue, "not json", 400, "JSON object"),
        (enqueue, ["a list"], 400, "JSON object"),
        (enqueue, {"pipeline": "nope", "change": "3"}, 400, "no pipeline 'nope'"),
        (enqueue, {"pipeline": "gate", "change": "three"}, 400, "NUMBER,PATCHSET"),
        (enqueue, {"pipeline": "gate"}, 400, "needs a change"),
        ("/api/tenant/t/promote", {"pipeline": "gate", "changes": "3"}, 400, "list"),
        ("/api/tenant/x/promote", {"pipeline": "gate", "changes": ["3"]}, 404, "no tenant"),
    ]
    for path, body, code, words in cases:
        status, data = server.post(path, body, TOKEN)
        assert (status, words in data["error"]) == (code, True), (body, data)
    assert server.json("/api/event/99999")[0] == 404
    with server.store.read() as s:
        from sqlalchemy import func, select

        from zuulish.store import EventRow
        assert s.scalar(select(func.count()).select_from(EventRow)) == 0  # none recorded
