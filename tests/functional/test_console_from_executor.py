"""The live console of a build on another host: a web proxies the executor's console
server (a real process of its own) into the client's websocket."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest

from tests.fakes.console_process import remote_console
from tests.fakes.moto_server import closed_port_url
from tests.fakes.rows import item_with_buildset
from tests.fakes.web_server import served
from zuulish.secrets import master_key
from zuulish.store import BuildRow, ComponentRow, Store
from zuulish.web.app import create_app


@dataclass
class TwoHosts:
    store: Store
    executor_state: Path  # the executor's host
    web_url: str
    console_url: str

    @property
    def log(self) -> Path:
        return self.executor_state / "logs" / "b1" / "job-output.txt"

    def write(self, text: str) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a", encoding="utf-8") as f:
            f.write(text)

    def finish(self, result: str = "SUCCESS") -> None:
        with self.store.session() as s:
            row = s.get(BuildRow, "b1")
            assert row is not None
            row.state, row.result, row.finished_at = "completed", result, time.time()

    def stream_url(self, offset: int = 0) -> str:
        return f"{self.web_url}/api/build/b1/console-stream?offset={offset}"


def add_build(store: Store, worker: str, address: str | None,
              worker_state: str = "running") -> None:
    """A build running on the executor component ``worker``, reached at ``address``."""
    with store.session() as s:
        buildset_id = item_with_buildset(s, pipeline="check")
        s.add(ComponentRow(id=worker, kind="executor", hostname="executor-1", pid=1,
                           machine="executor-1-machine",
                           address=address, state=worker_state, started_at=0,
                           heartbeat_at=time.time()))
        s.add(BuildRow(id="b1", buildset_id=buildset_id, job="unit", state="running",
                       worker=worker, created_at=0, started_at=0))


@pytest.fixture
def web_state(tmp_path: Path) -> Path:
    state = tmp_path / "web-host"
    master_key(state)
    return state


@pytest.fixture
def executor_state(tmp_path: Path, web_state: Path) -> Path:
    state = tmp_path / "executor-host"
    state.mkdir()
    shutil.copy(web_state / "secrets.key", state / "secrets.key")  # as deployed
    return state


@pytest.fixture
def two_hosts(store: Store, database_url: str, web_state: Path,
              executor_state: Path) -> Iterator[TwoHosts]:
    with remote_console(database_url, executor_state) as (console_url, _process):
        add_build(store, "executor-1", console_url)
        layouts = SimpleNamespace(layouts={}, tenants={})
        with served(lambda url: create_app(store, layouts, web_state, url)) as web_url:
            yield TwoHosts(store, executor_state, web_url, console_url)


async def read_all(url: str, after_first: object = None, timeout: float = 30
                   ) -> tuple[str, int | None, str]:
    """Everything the websocket sends, its close code and reason; ``after_first``
    (called in a thread) runs once the first message has come."""
    text = []
    reason = ""
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        async with asyncio.timeout(timeout):
            while True:
                message = await ws.receive()
                if message.type == aiohttp.WSMsgType.TEXT:
                    text.append(message.data)
                    if len(text) == 1 and callable(after_first):
                        await asyncio.to_thread(after_first)
                    continue
                if message.type == aiohttp.WSMsgType.CLOSE:
                    reason = str(message.extra or "")
                break
        return "".join(text), ws.close_code, reason


def test_lines_written_on_the_executor_host_reach_the_client_until_the_build_ends(
        two_hosts: TwoHosts) -> None:
    two_hosts.write("line 1\n")

    def executor_goes_on() -> None:
        for n in range(2, 5):
            time.sleep(0.2)
            two_hosts.write(f"line {n}\n")
        two_hosts.write("no newline at the end")
        time.sleep(0.3)
        two_hosts.finish("FAILURE")

    text, code, _ = asyncio.run(read_all(two_hosts.stream_url(), executor_goes_on))
    assert text == "line 1\nline 2\nline 3\nline 4\nno newline at the end"
    assert code == 1000


def test_an_offset_is_passed_on_to_the_executor(two_hosts: TwoHosts) -> None:
    two_hosts.write("first\nsecond\n")
    two_hosts.finish()
    text, code, _ = asyncio.run(read_all(two_hosts.stream_url(offset=6)))
    assert text == "second\n" and code == 1000


def test_the_web_host_has_no_copy_of_the_log(two_hosts: TwoHosts, web_state: Path) -> None:
    two_hosts.write("only on the executor\n")
    two_hosts.finish()
    text, _, _ = asyncio.run(read_all(two_hosts.stream_url()))
    assert text == "only on the executor\n"
    assert not (web_state / "logs" / "b1").exists()


def test_a_build_whose_executor_is_gone_closes_the_socket_with_a_reason(
        store: Store, web_state: Path) -> None:
    add_build(store, "executor-9", closed_port_url())
    layouts = SimpleNamespace(layouts={}, tenants={})
    with served(lambda url: create_app(store, layouts, web_state, url)) as web_url:
        started = time.monotonic()
        text, code, reason = asyncio.run(read_all(
            f"{web_url}/api/build/b1/console-stream", timeout=20))
    assert text == "" and code == 1011
    assert "executor executor-9 unreachable" in reason
    assert time.monotonic() - started < 15  # a clear end, not a hang


def test_an_executor_marked_dead_is_not_waited_for(store: Store, web_state: Path) -> None:
    add_build(store, "executor-7", "http://127.0.0.1:9", worker_state="dead")
    layouts = SimpleNamespace(layouts={}, tenants={})
    with served(lambda url: create_app(store, layouts, web_state, url)) as web_url:
        text, code, reason = asyncio.run(read_all(f"{web_url}/api/build/b1/console-stream"))
    assert (text, code) == ("", 1011) and "executor-7 is dead" in reason


def test_a_web_with_another_secrets_key_is_refused_by_the_executor(
        store: Store, database_url: str, tmp_path: Path, executor_state: Path) -> None:
    stranger = tmp_path / "other-web"
    master_key(stranger)  # a key of its own: not this deployment's
    with remote_console(database_url, executor_state) as (console_url, _process):
        add_build(store, "executor-1", console_url)
        (executor_state / "logs" / "b1").mkdir(parents=True)
        (executor_state / "logs" / "b1" / "job-output.txt").write_text("secret output\n")
        layouts = SimpleNamespace(layouts={}, tenants={})
        with served(lambda url: create_app(store, layouts, stranger, url)) as web_url:
            text, code, reason = asyncio.run(read_all(
                f"{web_url}/api/build/b1/console-stream"))
    assert text == "" and code == 1011
    assert "refused this web's signature" in reason


def test_an_executor_component_serves_its_console_and_advertises_it(
        tmp_path: Path, database_url: str) -> None:
    from zuulish.app import Components
    from zuulish.runner import free_port
    from zuulish.server_config import load_server_config

    port = free_port()
    (tmp_path / "main.yaml").write_text("- tenant:\n    name: t\n    source: {}\n")
    (tmp_path / "zuulish.yaml").write_text(
        f"state_dir: state\ndatabase: '{database_url}'\ntenant_file: main.yaml\n"
        f"executor: {{preload_ansible: false, console_listen: '127.0.0.1:{port}', "
        f"console_url: 'http://127.0.0.1:{port}'}}\n")
    config = load_server_config(tmp_path / "zuulish.yaml")
    Store(database_url).upgrade()
    components = Components(config, ("executor",), embedded=False)
    components.start()
    try:
        with components.store.read() as s:
            row = s.get(ComponentRow, components.registries["executor"].id)
            assert row is not None and row.address == f"http://127.0.0.1:{port}"
        import requests

        answer = requests.get(f"http://127.0.0.1:{port}/console/b1", timeout=10)
        assert answer.status_code == 401  # served, and only to components
    finally:
        components.stop()
