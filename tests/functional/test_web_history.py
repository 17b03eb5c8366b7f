"""The build history over real HTTP on 127.0.0.1: the builds and build-set APIs with
their filters, paging and totals, one build and one build set, the build page (task
summary, failed task, timeline, log tail), the change pages, bad input, and a log of
gigabytes served in ranges."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import PG_URL, _reset_postgres, _worker_database
from tests.fakes.web_server import served
from tests.functional.history_seed import HELD, T0, Seeded, seed_history
from zuulish.config.layout import Layout
from zuulish.model import Pipeline, PipelineManager
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import BuildRow, Store
from zuulish.web.app import create_app

pytestmark = pytest.mark.store  # the seeded store's queries are the subject
GB3 = 3 * 1024 ** 3


@dataclass
class History:
    url: str
    state_dir: Path
    store: Store
    builds: list[Seeded]

    def request(self, path: str, method: str = "GET", headers: dict[str, str] | None = None
                ) -> tuple[int, dict[str, str], bytes]:
        """``path`` as sent (no redirects followed)."""
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        status, headers, body = self.request(path)
        return status, headers, body.decode()

    def json(self, path: str) -> tuple[int, dict[str, str], Any]:
        status, headers, body = self.get(path)
        assert headers["Content-Type"].startswith("application/json"), body
        return status, headers, json.loads(body)

    def finished(self, **want: Any) -> list[str]:
        rows = [b for b in self.builds if b.tenant == "t" and b.finished_at is not None
                and all(getattr(b, k) == v for k, v in want.items())]
        rows.sort(key=lambda b: (b.finished_at, b.uuid), reverse=True)
        return [b.uuid for b in rows]


@contextlib.contextmanager
def history_site(tmp: Path, database_url: str) -> Iterator[History]:
    """The web app over a seeded store, served from a thread; the held build has a
    failed task and a log of 5000 lines."""
    store = Store(database_url)
    store.upgrade()
    builds = seed_history(store, tmp / "logs")
    pipelines = {name: Pipeline(name, PipelineManager.INDEPENDENT)
                 for name in ("check", "gate", "post")}
    layouts = TenantLayouts(tmp / "main.yaml", {}, {}, {})
    layouts.layouts = {"t": Layout("t", pipelines=pipelines),
                       "other": Layout("other", pipelines=dict(pipelines))}
    try:
        with served(lambda web_url: create_app(store, layouts, tmp, web_url)) as web_url:
            yield History(web_url, tmp, store, builds)
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """One seeded site for the module (PostgreSQL where the run uses it)."""
    tmp = tmp_path_factory.mktemp("history-web")
    if PG_URL:
        url = _worker_database(PG_URL)
        _reset_postgres(url)
    else:
        url = f"sqlite:///{tmp / 'zuulish.db'}"
    with history_site(tmp, url) as history:
        yield history


# ------------------------------------------------------------------ the lists


def test_builds_are_listed_newest_first_with_the_total_in_a_header(site: History) -> None:
    status, headers, rows = site.json("/api/tenant/t/builds")
    everything = site.finished()
    assert status == 200 and headers["X-Total-Count"] == str(len(everything))
    assert [r["uuid"] for r in rows] == everything[:50]
    first = rows[0]
    assert {"uuid", "job_name", "result", "start_time", "end_time", "duration", "voting",
            "log_url", "held", "pipeline", "project", "change", "patchset", "ref_url",
            "buildset", "artifacts"} <= set(first)


def test_builds_are_paged_with_limit_and_skip(site: History) -> None:
    everything = site.finished()
    _, headers, rows = site.json("/api/tenant/t/builds?limit=20&skip=40")
    assert [r["uuid"] for r in rows] == everything[40:60]
    assert headers["X-Total-Count"] == str(len(everything))
    _, _, rows = site.json(f"/api/tenant/t/builds?limit=500&skip={len(everything) - 3}")
    assert [r["uuid"] for r in rows] == everything[-3:]


@pytest.mark.parametrize(("query", "want"), [
    ("project=org/lib", {"project": "org/lib"}),
    ("pipeline=gate&job_name=docs", {"pipeline": "gate", "job": "docs"}),
    ("change=7&patchset=2", {"change": 7, "patchset": 2}),
    ("ref=refs/heads/main", {"ref": "refs/heads/main"}),
    ("branch=stable&voting=false", {"branch": "stable", "voting": False}),
    ("uuid=b-0010-1", {"uuid": "b-0010-1"}),
    ("result=FAILURE&job_name=integration", {"result": "FAILURE", "job": "integration"}),
])
def test_each_filter_of_the_builds_api(site: History, query: str, want: dict) -> None:
    _, headers, rows = site.json(f"/api/tenant/t/builds?{query}&limit=500")
    wanted = site.finished(**want)
    assert [r["uuid"] for r in rows] == wanted and headers["X-Total-Count"] == str(len(wanted))
    assert wanted


def test_results_are_repeatable_and_times_take_epochs_or_iso_dates(site: History) -> None:
    _, _, rows = site.json("/api/tenant/t/builds?result=TIMED_OUT&result=POST_FAILURE"
                           "&limit=500")
    assert {r["result"] for r in rows} == {"TIMED_OUT", "POST_FAILURE"}
    assert [r["uuid"] for r in rows] == [
        u for u in site.finished()
        if next(b.result for b in site.builds if b.uuid == u) in ("TIMED_OUT", "POST_FAILURE")]
    newer = T0 + 30_000
    by_epoch = site.json(f"/api/tenant/t/builds?newer_than={newer:.0f}&limit=500")[2]
    iso = "2026-05-29T04:46:40Z"  # T0 + 30000
    by_iso = site.json(f"/api/tenant/t/builds?newer_than={iso}&limit=500")[2]
    assert by_epoch == by_iso and by_epoch
    assert all(r["finished_at"] >= newer for r in by_epoch)
    day = site.json("/api/tenant/t/builds?older_than=2026-05-29&limit=500")[2]
    assert day and all(r["finished_at"] < T0 + 12_800 for r in day)


def test_held_and_unfinished_builds_are_asked_for(site: History) -> None:
    _, headers, rows = site.json("/api/tenant/t/builds?held=true")
    assert [r["uuid"] for r in rows] == [HELD] and rows[0]["held"] is True
    _, _, rows = site.json("/api/tenant/t/builds?complete=false")
    assert [(r["uuid"], r["state"], r["result"]) for r in rows] == [
        ("b-running", "running", None)]


def test_buildsets_are_listed_filtered_and_paged(site: History) -> None:
    status, headers, rows = site.json("/api/tenant/t/buildsets?limit=10&skip=5")
    assert status == 200 and headers["X-Total-Count"] == "90"
    assert [r["uuid"] for r in rows] == [f"bs-{n:04d}" for n in range(84, 74, -1)]
    _, headers, rows = site.json("/api/tenant/t/buildsets?change=7")
    assert headers["X-Total-Count"] == "2" and {r["patchset"] for r in rows} == {1, 2}
    _, _, failed = site.json("/api/tenant/t/buildsets?result=FAILURE&limit=500")
    assert failed and {r["result"] for r in failed} == {"FAILURE"}
    assert {"event_timestamp", "first_build_start_time", "last_build_end_time",
            "repos", "ref_url"} <= set(failed[0])


def test_one_buildset_and_one_build_of_the_tenant(site: History) -> None:
    status, _, bs = site.json("/api/tenant/t/buildset/bs-0003")
    assert status == 200 and bs["uuid"] == "bs-0003"
    assert [b["uuid"] for b in bs["builds"]] == [b.uuid for b in site.builds
                                                 if b.buildset == "bs-0003"]
    uuid = bs["builds"][0]["uuid"]
    status, _, build = site.json(f"/api/tenant/t/build/{uuid}")
    assert status == 200 and build["uuid"] == uuid and build["buildset"] == "bs-0003"
    assert build["repos"] and build["url"] == f"{site.url}/t/t/build/{uuid}"
    # the address reports link keeps answering the same
    assert site.json(f"/api/build/{uuid}")[2] == build


def test_unknown_or_foreign_things_are_404_with_a_message(site: History) -> None:
    secret = next(b for b in site.builds if b.tenant == "other")
    cases = [
        ("/api/tenant/nope/builds", "no tenant named 'nope'"),
        ("/api/tenant/nope/buildsets", "no tenant named 'nope'"),
        ("/api/tenant/t/build/nope", "no build 'nope' in tenant t"),
        (f"/api/tenant/t/build/{secret.uuid}", f"no build '{secret.uuid}' in tenant t"),
        ("/api/tenant/t/buildset/nope", "no build set 'nope' in tenant t"),
        (f"/api/tenant/t/buildset/{secret.buildset}", "no build set"),
        ("/api/build/nope", "no build with id 'nope'"),
        ("/api/tenant/t/build/b%00", "no build"),
        ("/api/tenant/t/buildset/b%00", "no build set"),
    ]
    for path, words in cases:
        status, _, data = site.json(path)
        assert (status, words in data["error"]) == (404, True), (path, data)
    for path in ("/t/nope/builds", "/t/t/build/nope", f"/t/t/build/{secret.uuid}",
                 "/t/t/buildset/nope", "/build/nope", "/c/org/app/+/999", "/c/org/app/+/x",
                 "/t/t/change/999", "/t/t/change/x", "/t/t/change/7?project=org/lib",
                 "/t/t/build/b%00", "/build/b%00", "/t/t/buildset/%00",
                 "/c/org%00app/+/7", "/c/org/app/+/99999999999999999999",
                 "/t/t/change/99999999999999999999"):
        status, _, body = site.get(path)
        assert status == 404 and "no " in body, (path, body)


@pytest.mark.parametrize(("query", "field"), [
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=ten", "limit"),
    ("skip=-1", "skip"), ("change=seven", "change"), ("patchset=1.5", "patchset"),
    ("voting=maybe", "voting"), ("held=sometimes", "held"), ("complete=2", "complete"),
    ("newer_than=yesterday", "newer_than"), ("older_than=2026-13-40", "older_than"),
    ("colour=red", "colour"), ("limit=5&limit=6", "limit"),
    ("change=99999999999999999999", "change"), ("project=org%00app", "project"),
    ("newer_than=inf", "newer_than"), ("skip=100001", "skip"),
])
def test_malformed_filters_answer_400_naming_the_field(site: History, query: str,
                                                       field: str) -> None:
    for what in ("builds", "buildsets"):
        # (voting and held are not build-set filters: refused there as unknown, named too)
        status, _, data = site.json(f"/api/tenant/t/{what}?{query}")
        assert status == 400 and f"'{field}'" in data["error"], (what, query, data)


# ------------------------------------------------------------------ the pages


def test_the_builds_page_filters_with_a_plain_form_and_pages(site: History) -> None:
    status, _, body = site.get("/t/t/builds?project=org/app&job_name=&pipeline=&limit=20")
    wanted = site.finished(project="org/app")
    assert status == 200 and f"1–20 of {len(wanted)}" in body
    for uuid in wanted[:20]:
        assert f'href="{site.url}/t/t/build/{uuid}"' in body
    assert wanted[20] not in body
    older = re.search(r'<a rel="next" href="([^"]+)"', body)
    assert older is not None
    link = older.group(1).replace("&amp;", "&")
    assert "skip=20" in link and "project=org%2Fapp" in link and "job_name" not in link
    status, _, body = site.get(link)
    assert status == 200 and f"21–40 of {len(wanted)}" in body and wanted[20] in body
    assert 'rel="prev"' in body
    assert '<form class="filters" method="get"' in body
    assert 'name="project" type="text" value="org/app"' in body


def test_a_job_filter_draws_its_duration_and_failure_rate(site: History) -> None:
    status, _, body = site.get("/t/t/builds?job_name=integration&project=org/app")
    assert status == 200 and '<svg class="chart trend" role="img"' in body
    runs = site.finished(job="integration", project="org/app")
    failures = sum(1 for u in runs
                   if next(b.result for b in site.builds if b.uuid == u) != "SUCCESS")
    assert f"the last {len(runs)} builds, oldest first; {failures} did not succeed" in body
    assert body.count('<rect class="mark failure"') == failures
    assert '<polyline class="rate"' in body
    assert "chart trend" not in site.get("/t/t/builds?project=org/app")[2]


def test_a_bad_filter_on_a_page_says_which_and_keeps_the_form(site: History) -> None:
    status, _, body = site.get("/t/t/builds?change=seven&project=org/app")
    assert status == 400 and "Bad filter &#39;change&#39;" in body
    assert 'value="seven"' in body and '<form class="filters"' in body


def test_the_buildsets_and_buildset_pages(site: History) -> None:
    status, _, body = site.get("/t/t/buildsets?change=7")
    assert status == 200 and "1–2 of 2" in body and "/t/t/buildset/" in body
    status, _, body = site.get("/t/t/buildset/bs-0012")
    assert status == 200 and "bs-0012" in body
    for b in (b for b in site.builds if b.buildset == "bs-0012"):
        assert f"/t/t/build/{b.uuid}" in body


def test_the_old_build_address_redirects_to_the_tenants_page(site: History) -> None:
    status, headers, _ = site.get("/build/b-0001-1")
    assert status == 302 and headers["Location"] == "/t/t/build/b-0001-1"


def test_a_failed_build_page_names_and_links_its_failed_task(site: History) -> None:
    status, _, body = site.get(f"/t/t/build/{HELD}")
    assert status == 200
    failed = re.search(r'<p class="failed-task" role="alert" id="failed-task">Failed task: '
                       r'<a href="#(task-\d+)">run the tests</a>', body)
    assert failed is not None
    anchor = failed.group(1)
    item = re.search(rf'<li class="task failed" id="{anchor}">\s*<details open>', body)
    assert item is not None, body
    assert "on node" in body  # the host it failed on
    # the summary: both playbooks' phases, plays, tasks and hosts; the job's text escaped
    for words in ("pre-run", "org/jobs/playbooks/pre.yaml", "Play: nodes",
                  "install &lt;deps&gt;", "hosts: node, helper", "AssertionError: 3 != 2", "rc 2",
                  "FAILED test_app.py::test_speed &lt;b&gt;slow&lt;/b&gt;"):
        assert words in body, words
    assert "<b>slow</b>" not in body and "<deps>" not in body
    assert '<svg class="chart timeline"' in body and f'href="#{anchor}"' in body
    # the log: its end, not its beginning, and a way to the rest
    assert "log line 05000 of the job" in body and "log line 00001 of" not in body
    assert 'id="log-earlier"' in body and "raw log" in body
    # its build set's other builds and the earlier builds of its job
    assert 'id="siblings"' in body and "/t/t/build/b-running" in body
    assert 'id="earlier"' in body
    assert "job_name=integration&amp;project=org/app" in body


def test_the_change_pages_show_every_patch_set_its_reports_and_builds(site: History) -> None:
    status, _, body = site.get("/c/org/app/+/7")
    assert status == 200 and "Change 7: Change number 7" in body
    assert body.index('id="patchset-2"') < body.index('id="patchset-1"')
    for b in (b for b in site.builds if b.change == 7):
        assert f"/t/t/build/{b.uuid}" in body
    # a report's link is a link
    assert re.search(r'<a href="http://zuulish.test/t/t/buildset/bs-\d{4}">', body)
    status, _, tenant_view = site.get("/t/t/change/7")
    assert status == 200 and "(only its reports and builds)" in tenant_view
    assert site.get("/t/t/change/7?project=org/app")[0] == 200
    status, _, other = site.get("/t/other/change/7")
    assert status == 200 and "/t/t/build/" not in other


# ------------------------------------------------------------------ big logs


@pytest.fixture(scope="module")
def huge(site: History) -> Iterator[str]:
    """A build whose job-output.txt is a sparse file of 3 GB ending in a known line,
    and whose job-output.json is too big to summarise."""
    uuid = "b-huge"
    with site.store.session() as s:
        s.add(BuildRow(id=uuid, buildset_id=1, job="unit", state="completed",
                       result="SUCCESS", created_at=T0, started_at=T0, finished_at=T0 + 5))
    folder = site.state_dir / "logs" / uuid
    folder.mkdir(parents=True)
    log = folder / "job-output.txt"
    with log.open("wb") as f:
        f.truncate(GB3)
        f.seek(GB3)
        f.write(b"\nthe very last line\n")
    with (folder / "job-output.json").open("wb") as f:
        f.truncate(20 * 1024 * 1024)
    yield uuid
    log.unlink()


def test_a_log_of_gigabytes_is_served_in_ranges(site: History, huge: str) -> None:
    path = f"/logs/{huge}/job-output.txt"
    size = GB3 + len(b"\nthe very last line\n")
    status, headers, body = site.request(path, "HEAD")
    assert status == 200 and headers["Content-Length"] == str(size) and body == b""
    assert headers["Accept-Ranges"] == "bytes"
    status, headers, body = site.request(path, headers={"Range": "bytes=-19"})
    assert status == 206 and body == b"the very last line\n"
    assert headers["Content-Range"] == f"bytes {size - 19}-{size - 1}/{size}"
    status, headers, body = site.request(path, headers={"Range": f"bytes={GB3 - 4}-{GB3 + 3}"})
    assert status == 206 and body == b"\0\0\0\0\nthe"
    status, headers, _ = site.request(path, headers={"Range": f"bytes={size}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{size}"


def test_the_page_of_a_build_with_a_huge_log_shows_its_tail(site: History, huge: str) -> None:
    status, _, body = site.get(f"/t/t/build/{huge}")
    assert status == 200 and "the very last line" in body and "3.2 GB" in body
    assert 'data-start="' in body and 'id="log-earlier"' in body
    assert "No task summary: job-output.json holds 20971520 bytes" in body


def test_the_openapi_document_describes_the_history(site: History) -> None:
    _, _, doc = site.json("/api/openapi.json")
    for path in ("/api/tenant/{tenant}/builds", "/api/tenant/{tenant}/buildsets",
                 "/api/tenant/{tenant}/build/{uuid}", "/api/tenant/{tenant}/buildset/{uuid}",
                 "/api/build/{uuid}"):
        assert path in doc["paths"], path
    params = {p["name"]: p for p in doc["paths"]["/api/tenant/{tenant}/builds"]["get"]
              ["parameters"]}
    assert {"project", "pipeline", "job_name", "change", "patchset", "ref", "branch",
            "result", "voting", "uuid", "complete", "held", "newer_than", "older_than",
            "limit", "skip"} <= set(params)
    assert "repeat" in params["result"]["description"]
    assert "BuildRecord" in doc["components"]["schemas"]


def test_no_file_is_left_open(site: History) -> None:
    """(Each range answer closes its file: the server holds no descriptor of the logs.)"""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc")
    held = [os.readlink(fds / fd) for fd in os.listdir(fds)
            if (fds / fd).exists() and "job-output" in os.readlink(fds / fd)]
    assert held == []
