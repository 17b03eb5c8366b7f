"""The live console over a real websocket on 127.0.0.1, read by a browser-free client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest

from tests.fakes.rows import item_with_buildset
from zuulish.config.layout import Layout
from zuulish.runner import free_port
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import BuildRow, Store
from zuulish.web.app import create_app, serve

# The websocket and the console's bytes are the subject, not the build rows they name.
pytestmark = pytest.mark.not_store


@dataclass
class Console:
    url: str
    logs: Path
    store: Store

    def finish(self, result: str = "SUCCESS") -> None:
        with self.store.session() as s:
            row = s.get(BuildRow, "b1")
            assert row is not None
            row.state, row.result, row.finished_at = "completed", result, time.time()


def running_build(store: Store) -> None:
    with store.session() as s:
        buildset_id = item_with_buildset(s, pipeline="check")
        s.add(BuildRow(id="b1", buildset_id=buildset_id, job="unit", state="running",
                       created_at=0, started_at=0))


@pytest.fixture
def console(store: Store, tmp_path: Path) -> Iterator[Console]:
    running_build(store)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    loop = asyncio.new_event_loop()
    layouts = TenantLayouts(tmp_path / "main.yaml", {}, {}, {})
    layouts.layouts = {"t": Layout("t")}  # the build's tenant
    app = create_app(store, layouts, tmp_path, url)
    runner = loop.run_until_complete(serve(app, "127.0.0.1", port))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield Console(url, tmp_path / "logs" / "b1", store)
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(text)
        f.flush()


async def read_stream(url: str, on_message: Callable[[int], None] | None = None
                      ) -> tuple[list[tuple[float, str]], int | None]:
    """Every text message with the time it arrived, and the close code; after each
    message, ``on_message`` (run in a thread) gets the count so far."""
    got: list[tuple[float, str]] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                got.append((time.monotonic(), message.data))
                if on_message is not None:
                    await asyncio.to_thread(on_message, len(got))
        return got, ws.close_code


def test_lines_arrive_while_the_build_runs_and_the_stream_ends_with_it(
        console: Console) -> None:
    log = console.logs / "job-output.txt"
    append(log, "line 1\n")
    written: dict[int, float] = {}

    def writer(count: int) -> None:
        # After each message, the executor writes the next line a little later.
        if count < 5:
            time.sleep(0.3)
            written[count + 1] = time.monotonic()
            append(log, f"line {count + 1}\n")
        else:
            console.finish()

    got, code = asyncio.run(read_stream(f"{console.url}/api/build/b1/console-stream", writer))
    assert [m for _, m in got] == [f"line {n}\n" for n in range(1, 6)]
    assert code == 1000
    for n, (arrived, _) in enumerate(got[1:], start=2):
        assert arrived - written[n] < 1.0  # the bound on the delay


def test_only_whole_lines_are_sent(console: Console) -> None:
    log = console.logs / "job-output.txt"

    def writer(count: int) -> None:
        if count == 1:
            append(log, "half a li")
            time.sleep(0.5)  # several polls see the half line: nothing is sent
            append(log, "ne\nthe rest\n")
        else:
            console.finish()

    append(log, "start\n")
    got, code = asyncio.run(read_stream(f"{console.url}/api/build/b1/console-stream", writer))
    assert [m for _, m in got] == ["start\n", "half a line\nthe rest\n"] and code == 1000


def test_a_finished_build_sends_its_whole_log_and_closes_with_the_result(
        console: Console) -> None:
    append(console.logs / "job-output.txt", "".join(f"line {n}\n" for n in range(20000)))
    console.finish("FAILURE")

    got, code = asyncio.run(read_stream(f"{console.url}/api/build/b1/console-stream"))
    assert len(got) > 1  # sent in chunks
    assert "".join(m for _, m in got).splitlines() == [f"line {n}" for n in range(20000)]
    assert code == 1000


def test_an_offset_skips_what_the_client_has(console: Console) -> None:
    append(console.logs / "job-output.txt", "first\nsecond\n")
    console.finish()
    got, code = asyncio.run(read_stream(f"{console.url}/api/build/b1/console-stream?offset=6"))
    assert "".join(m for _, m in got) == "second\n" and code == 1000


def test_a_build_without_a_log_yet_waits_for_it(console: Console) -> None:
    def later() -> None:
        time.sleep(0.5)
        append(console.logs / "job-output.txt", "started\n")
        time.sleep(0.3)
        console.finish()

    threading.Thread(target=later, daemon=True).start()
    got, code = asyncio.run(read_stream(f"{console.url}/api/build/b1/console-stream"))
    assert [m for _, m in got] == ["started\n"] and code == 1000


@pytest.mark.parametrize(("path", "status", "error"), [
    ("/api/build/nope/console-stream", 404, "no build with id 'nope'"),
    ("/api/build/b1/console-stream?offset=-3", 400,
     "query parameter 'offset': Input should be greater than or equal to 0"),
    ("/api/build/b1/console-stream?offset=x", 400,
     "query parameter 'offset': Input should be a valid integer"),
])
def test_bad_requests_get_json_errors_before_any_upgrade(console: Console, path: str,
                                                         status: int, error: str) -> None:
    async def get() -> tuple[int, dict]:
        async with aiohttp.ClientSession() as session, \
                session.get(console.url + path) as response:
            return response.status, await response.json()

    got_status, body = asyncio.run(get())
    assert got_status == status and error in body["error"]


def test_the_build_page_of_a_running_build_streams_its_console(console: Console) -> None:
    async def page() -> str:
        async with aiohttp.ClientSession() as session, \
                session.get(f"{console.url}/build/b1") as response:  # to /t/t/build/b1
            assert response.status == 200 and response.url.path == "/t/t/build/b1"
            return await response.text()

    html = asyncio.run(page())
    assert 'data-stream="/api/build/b1/console-stream"' in html and 'id="console"' in html
    assert '<script src="/static/history.js"' in html  # it opens the stream
    console.finish()
    assert 'id="console"' not in asyncio.run(page())  # a finished build shows its log


SLOW_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: first step
      ansible.builtin.debug:
        msg: "the first step is done"
    - name: a long step
      ansible.builtin.command: sleep 3
      changed_when: false
    - name: last step
      ansible.builtin.debug:
        msg: "the last step is done"
"""


@pytest.mark.slow
def test_a_real_build_streams_its_console_while_it_runs(tmp_path: Path) -> None:
    """A real executor runs a real playbook; a websocket client reads the first task's
    output seconds before the build ends."""
    from tests.functional.test_executor_overhead import load_benchmark

    bench_module = load_benchmark()
    bench_module.PLAYBOOK = SLOW_PLAYBOOK
    bench = bench_module.Bench(tmp_path, cold=False)
    port = free_port()
    loop = asyncio.new_event_loop()
    app = create_app(bench.store, SimpleNamespace(layouts={}, tenants={}), tmp_path / "state",
                     f"http://127.0.0.1:{port}")
    runner = loop.run_until_complete(serve(app, "127.0.0.1", port))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        bench.start()
        [build_id], _ = bench.request(1)
        got, code = asyncio.run(read_stream(
            f"http://127.0.0.1:{port}/api/build/{build_id}/console-stream"))
        bench.wait([build_id])
    finally:
        bench.stop()
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
    assert code == 1000
    text = "".join(m for _, m in got)
    assert "the first step is done" in text and "the last step is done" in text
    first = next(at for at, m in got if "the first step is done" in m)
    last = next(at for at, m in got if "the last step is done" in m)
    assert last - first > 2.0  # the first step's lines came while the long step ran
