"""The web server in a process of its own (what ``zuulish run`` starts): GitHub's
webhook is answered there and stored in the shared database, the scheduler's
process is woken, and the pages show the layouts the scheduler's process holds."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.corpus import CORPUS_ROOT
from zuulish.drivers.github.webhook import intake_channel, payload_path, sign
from zuulish.drivers.registry import trigger_parsers
from zuulish.errors import ConfigError
from zuulish.runner import free_port
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.server_config import ServerConfig, load_server_config
from zuulish.store import GithubDeliveryRow, Store
from zuulish.web.process import WebProcess

SECRET = "web-process-secret"
PAYLOAD = "pull_request.opened.2.json"


@dataclass
class Running:
    config: ServerConfig
    store: Store
    layouts: TenantLayouts
    web: WebProcess

    def url(self, path: str) -> str:
        return f"{self.config.web_url}{path}"


def write_config(tmp_path: Path, port: int) -> ServerConfig:
    (tmp_path / "main.yaml").write_text("- tenant:\n    name: first\n")
    (tmp_path / "zuulish.yaml").write_text(
        f"state_dir: {tmp_path / 'state'}\ntenant_file: main.yaml\n"
        f"web:\n  listen: 127.0.0.1:{port}\n  url: http://127.0.0.1:{port}\n"
        f"connections:\n  github:\n    driver: github\n    api_token: test-token\n"
        f"    webhook_token: {SECRET}\n")
    return load_server_config(tmp_path / "zuulish.yaml")


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    config = write_config(tmp_path, free_port())
    config.state_dir.mkdir()
    store = Store(config.database)
    store.upgrade()
    store.notifier.listen(config.state_dir)
    layouts = TenantLayouts(config.tenant_file, {"github": "github"}, {}, trigger_parsers())
    layouts.load_all()
    web = WebProcess(config, layouts)
    web.start()
    try:
        yield Running(config, store, layouts, web)
    finally:
        web.stop()
        store.notifier.close()
        store.dispose()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def stored(store: Store) -> list[str]:
    with store.read() as session:
        return list(session.scalars(select(GithubDeliveryRow.delivery)))


def test_a_signed_delivery_is_stored_by_the_web_process_and_wakes_the_intake(
        running: Running) -> None:
    body = (CORPUS_ROOT / "github" / PAYLOAD).read_bytes()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "pull_request",
               "X-GitHub-Delivery": "delivery-1", "X-Hub-Signature-256": sign(SECRET, body)}
    status, answer = post(running.url(payload_path("github")), body, headers)
    assert (status, answer["result"]) == (200, "stored")
    assert stored(running.store) == ["delivery-1"]  # stored before the 2xx
    assert running.store.notifier.wait(intake_channel("github"), 10)
    status, answer = post(running.url(payload_path("github")), body, headers)
    assert (status, answer["result"]) == (200, "already received")
    assert stored(running.store) == ["delivery-1"]


def test_a_delivery_with_a_wrong_signature_is_refused_and_not_stored(
        running: Running) -> None:
    body = (CORPUS_ROOT / "github" / PAYLOAD).read_bytes()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "pull_request",
               "X-GitHub-Delivery": "delivery-2",
               "X-Hub-Signature-256": sign("another secret", body)}
    status, _ = post(running.url(payload_path("github")), body, headers)
    assert status == 401
    assert stored(running.store) == []


def test_the_pages_follow_a_reconfiguration_made_in_the_parent(running: Running) -> None:
    names = [t["name"] for t in get_json(running.url("/api/tenants"))]  # type: ignore
    assert names == ["first"]
    running.config.tenant_file.write_text(
        "- tenant:\n    name: first\n- tenant:\n    name: second\n")
    running.layouts.reconfigure()
    deadline = time.monotonic() + 10
    while names != ["first", "second"] and time.monotonic() < deadline:
        time.sleep(0.05)
        names = [t["name"] for t in get_json(running.url("/api/tenants"))]  # type: ignore
    assert names == ["first", "second"]


def test_a_port_in_use_is_a_config_error_naming_it(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = write_config(tmp_path, taken.getsockname()[1])
        config.state_dir.mkdir()
        layouts = TenantLayouts(config.tenant_file, {"github": "github"}, {},
                                trigger_parsers())
        layouts.load_all()
        with pytest.raises(ConfigError, match="cannot serve on 127.0.0.1"):
            WebProcess(config, layouts).start()
