"""The live status over HTTP on 127.0.0.1: one shared, fresh status per tenant, and
its event stream, which drops a watcher that stops reading without holding up the
others."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from sqlalchemy import update

from tests.fakes.web_server import served
from tests.functional.test_web import seed
from zuulish.config.layout import Layout
from zuulish.model import Pipeline, PipelineManager
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import BuildRow, QueueItemRow, Store
from zuulish.web.app import create_app
from zuulish.web.live import STATUS_CACHE, STATUS_HUB

pytestmark = pytest.mark.store  # what the store says, and how soon it is seen

WAIT = 20.0  # seconds a test waits for what must happen (never a measure)


@dataclass
class Live:
    url: str
    store: Store
    app: web.Application
    layouts: TenantLayouts


@pytest.fixture
def live(store: Store, tmp_path: Path) -> Iterator[Live]:
    seed(store)
    layouts = TenantLayouts(tmp_path / "main.yaml", {}, {}, {})
    layouts.layouts = {"t": Layout("t", pipelines={
        "check": Pipeline("check", PipelineManager.INDEPENDENT),
        "gate": Pipeline("gate", PipelineManager.DEPENDENT)})}
    made: list[web.Application] = []

    def make(url: str) -> web.Application:
        made.append(create_app(store, layouts, tmp_path, url))
        made[0][STATUS_HUB].interval = 0.05
        return made[0]

    with served(make) as url:
        yield Live(url, store, made[0], layouts)


class Events:
    """A reading client of the event stream: each ``status`` event's JSON."""

    def __init__(self, url: str) -> None:
        self.response = urllib.request.urlopen(url, timeout=WAIT)  # noqa: S310 (127.0.0.1)
        assert self.response.headers["Content-Type"] == "text/event-stream"
        self.last_id: str | None = None  # the ``id`` of the last event read

    def next(self) -> tuple[str, Any]:
        kind = "message"
        while True:
            line = self.response.readline()
            assert line, "the stream ended"
            if line.startswith(b"id: "):
                self.last_id = line[4:].strip().decode()
            elif line.startswith(b"event: "):
                kind = line[7:].strip().decode()
            elif line.startswith(b"data: "):
                return kind, json.loads(line[6:])

    def until(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            kind, data = self.next()
            if kind == "status" and wanted(data):
                return data
        raise AssertionError("the stream never showed it")

    def ended(self) -> bool:
        """Whether the stream ends with no further status (reads what is left)."""
        try:
            rest = self.response.read()
        except (ConnectionError, http.client.IncompleteRead):
            return True
        return b"data:" not in rest

    def close(self) -> None:
        self.response.close()


def gate_jobs(data: dict[str, Any]) -> dict[str, str]:
    [gate] = [p for p in data["pipelines"] if p["name"] == "gate"]
    return {j["name"]: j["result"] or j["state"] for j in gate["queues"][0]["items"][0]["jobs"]}


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as answer:  # noqa: S310 (127.0.0.1)
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def finish_lint(store: Store, result: str = "FAILURE") -> None:
    with store.session() as s:
        s.execute(update(BuildRow).where(BuildRow.id == "build-2").values(
            state="completed", result=result, finished_at=time.time()))


def test_a_watcher_gets_the_status_at_once_then_each_change(live: Live) -> None:
    events = Events(f"{live.url}/api/tenant/t/status/events")
    kind, first = events.next()
    assert kind == "status" and gate_jobs(first)["lint"] == "running"
    finish_lint(live.store)  # written as an executor writes it, by another thread
    assert gate_jobs(events.until(lambda d: gate_jobs(d)["lint"] != "running"))["lint"] \
        == "FAILURE"
    events.close()


def test_every_watcher_of_a_tenant_shares_one_producer(live: Live) -> None:
    watchers = [Events(f"{live.url}/api/tenant/t/status/events") for _ in range(3)]
    for w in watchers:
        w.next()
    cache = live.app[STATUS_CACHE]
    before = cache.computed
    finish_lint(live.store)
    for w in watchers:
        w.until(lambda d: gate_jobs(d)["lint"] == "FAILURE")
    # one status computed for the change (maybe one more for the clock), not one a watcher
    assert cache.computed - before <= 2
    assert len(live.app[STATUS_HUB].watchers["t"]) == 3
    for w in watchers:
        w.close()


def test_a_watcher_that_never_reads_is_dropped_and_others_keep_up(live: Live) -> None:
    hub = live.app[STATUS_HUB]
    hub.queue_size = 2
    host, port = urlsplit(live.url).hostname, urlsplit(live.url).port
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect((host, port))
    stuck.sendall(b"GET /api/tenant/t/status/events HTTP/1.1\r\nHost: x\r\n\r\n")
    reader = Events(f"{live.url}/api/tenant/t/status/events")
    reader.next()
    # large statuses, one after another: the stuck watcher's buffers and queue fill
    for step in range(1, 200):
        message = "x" * (200_000 + step)
        with live.store.session() as s:
            s.execute(update(QueueItemRow).where(QueueItemRow.change_number == 3)
                      .values(message=message))
        reader.until(lambda d, m=message: _gate_item(d)["message"] == m)
        if hub.dropped:
            break
    assert hub.dropped == 1, "the watcher that never reads was not dropped"
    # its connection is reset: what it had not read yet is gone
    stuck.settimeout(WAIT)
    with pytest.raises(ConnectionResetError):
        while stuck.recv(1 << 20):
            pass
    stuck.close()
    # the reader still gets every change at once
    finish_lint(live.store, "SUCCESS")
    assert gate_jobs(reader.until(lambda d: gate_jobs(d)["lint"] == "SUCCESS"))
    assert len(hub.watchers["t"]) == 1
    reader.close()


def _gate_item(data: dict[str, Any]) -> dict[str, Any]:
    [gate] = [p for p in data["pipelines"] if p["name"] == "gate"]
    return gate["queues"][0]["items"][0]


def test_the_api_answers_what_was_written_before_the_request(live: Live) -> None:
    for result in ("FAILURE", "SUCCESS", "ERROR"):
        finish_lint(live.store, result)
        status, data = get(f"{live.url}/api/tenant/t/status")
        assert status == 200 and gate_jobs(data)["lint"] == result


def test_a_large_status_is_sent_gzipped_to_clients_that_take_it(live: Live) -> None:
    with live.store.session() as s:  # a large status
        s.execute(update(QueueItemRow).where(QueueItemRow.change_number == 3)
                  .values(message="long " * 2000))
    _, plain = get(f"{live.url}/api/tenant/t/status")
    request = urllib.request.Request(f"{live.url}/api/tenant/t/status",
                                     headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=WAIT) as answer:  # noqa: S310 (127.0.0.1)
        assert answer.headers["Content-Encoding"] == "gzip"
        assert answer.headers["Vary"] == "Accept-Encoding"
        body = answer.read()
    assert json.loads(gzip.decompress(body)) == plain
    assert len(body) < len(json.dumps(plain)) / 5


def test_concurrent_requests_share_the_status(live: Live) -> None:
    get(f"{live.url}/api/tenant/t/status")
    cache = live.app[STATUS_CACHE]
    before = cache.computed
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(get, [f"{live.url}/api/tenant/t/status"] * 40))
    assert all(status == 200 for status, _ in answers)
    assert cache.computed - before <= 2  # nothing moved: the clock's refresh at most


def test_a_tenant_that_goes_away_ends_its_streams(live: Live) -> None:
    events = Events(f"{live.url}/api/tenant/t/status/events")
    events.next()
    live.layouts.layouts = {}
    kind, _ = events.next()
    assert kind == "gone"
    assert events.ended()


def test_status_routes_refuse_what_they_do_not_know(live: Live) -> None:
    assert get(f"{live.url}/api/tenant/nope/status/events") == (
        404, {"error": "no tenant named 'nope'; tenants: t"})
    status, error = get(f"{live.url}/api/tenant/t/status/change/3%3Bx")
    assert status == 400 and "path parameter 'change'" in error["error"]
    status, found = get(f"{live.url}/api/tenant/t/status/change/3,1")
    assert status == 200 and [(i["pipeline"], i["change"]["label"]) for i in found] \
        == [("gate", "3,1")]
    assert get(f"{live.url}/api/tenant/t/status/change/99") == (200, [])


def test_the_server_stops_while_streams_are_open(store: Store, tmp_path: Path) -> None:
    """Stopping waits for no stream: ``served`` fails if the cleanup takes 10 s."""
    layouts = TenantLayouts(tmp_path / "main.yaml", {}, {}, {})
    layouts.layouts = {"t": Layout("t", pipelines={})}
    with served(lambda url: create_app(store, layouts, tmp_path, url)) as url:
        events = Events(f"{url}/api/tenant/t/status/events")
        assert events.next()[0] == "status"
    assert events.ended()


def _labels(data: dict[str, Any]) -> dict[int, str]:
    return {i["id"] if isinstance(i, dict) else i: i["change"]["label"]
            if isinstance(i, dict) else "" for p in data["pipelines"] for q in p["queues"]
            for i in q["items"]}


def test_a_delta_watcher_gets_the_status_then_only_what_changed(live: Live) -> None:
    deltas = Events(f"{live.url}/api/tenant/t/status/events?deltas=true")
    plain = Events(f"{live.url}/api/tenant/t/status/events")
    kind, first = deltas.next()
    assert kind == "status" and gate_jobs(first)["lint"] == "running"
    first_id = deltas.last_id
    assert first_id is not None and first_id.isdigit()
    assert plain.next()[0] == "status" and plain.last_id is None  # the old stream, as it was
    held = {i["id"]: i for p in first["pipelines"] for q in p["queues"] for i in q["items"]}
    finish_lint(live.store)
    kind, delta = deltas.next()
    assert kind == "delta" and delta["base"] == int(first_id)
    assert int(deltas.last_id or 0) > int(first_id)
    # the gate's item changed and is sent; the check's is named by its id
    entries = [i for p in delta["pipelines"] for q in p["queues"] for i in q["items"]]
    [gate] = [i for i in entries if isinstance(i, dict)]
    assert gate["change"]["label"] == "3,1"
    assert [i for i in entries if not isinstance(i, dict)] == \
        [i for i in held if held[i]["change"]["label"] == "4,2"]
    assert {j["name"]: j["result"] for j in gate["jobs"]}["lint"] == "FAILURE"
    # the full stream still carries the whole status
    assert gate_jobs(plain.until(lambda d: gate_jobs(d)["lint"] != "running"))["lint"] \
        == "FAILURE"
    # the next delta follows the last
    finish_lint(live.store, "SUCCESS")
    previous = deltas.last_id
    kind, delta = deltas.next()
    assert kind == "delta" and delta["base"] == int(previous or 0)
    deltas.close()
    plain.close()


def test_a_new_delta_watcher_starts_from_the_newest_status(live: Live) -> None:
    early = Events(f"{live.url}/api/tenant/t/status/events?deltas=true")
    early.next()
    finish_lint(live.store)
    assert early.next()[0] == "delta"
    late = Events(f"{live.url}/api/tenant/t/status/events?deltas=true")
    kind, data = late.next()
    assert kind == "status" and gate_jobs(data)["lint"] == "FAILURE"
    start = late.last_id
    assert start is not None and start == early.last_id  # both go on from one event
    finish_lint(live.store, "ERROR")
    for events in (early, late):
        kind, delta = events.next()
        assert kind == "delta" and delta["base"] == int(start)
        assert "ERROR" in json.dumps(delta)
    early.close()
    late.close()


def test_the_stream_takes_only_a_boolean_deltas(live: Live) -> None:
    status, error = get(f"{live.url}/api/tenant/t/status/events?deltas=maybe")
    assert status == 400 and "query parameter 'deltas'" in error["error"]
    status, error = get(f"{live.url}/api/tenant/t/status/events?deltas=true&since=3")
    assert status == 400 and "since" in error["error"]


def test_on_sqlite_a_write_is_seen_without_waiting_for_the_poll(live: Live) -> None:
    if not live.store.is_sqlite:
        pytest.skip("SQLite's data_version (PostgreSQL has its notifications)")
    hub = live.app[STATUS_HUB]
    hub.interval = 120.0  # the poll alone would send it two minutes later
    events = Events(f"{live.url}/api/tenant/t/status/events?deltas=true")
    events.next()
    finish_lint(live.store)
    written = time.monotonic()
    kind, delta = events.next()
    assert kind == "delta" and "FAILURE" in json.dumps(delta)
    assert time.monotonic() - written < 60.0  # woken by the write, not by the poll
    events.close()


def test_on_sqlite_an_idle_store_is_not_checked_again(live: Live) -> None:
    if not live.store.is_sqlite:
        pytest.skip("SQLite's data_version (PostgreSQL has its notifications)")
    hub = live.app[STATUS_HUB]
    events = Events(f"{live.url}/api/tenant/t/status/events?deltas=true")
    events.next()
    time.sleep(0.5)  # settled: the first checks are done
    before = hub.checks
    time.sleep(1.0)  # twenty poll intervals (0.05 s), nothing written
    assert hub.checks - before <= 2
    finish_lint(live.store)
    assert events.next()[0] == "delta"
    assert hub.checks > before
    events.close()
