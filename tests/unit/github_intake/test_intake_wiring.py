"""The intake as a connection's parts: its route on the real web application, its
services running beside the real scheduler."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from aiohttp import web

from tests.fakes.trigger_world import TriggerWorld
from tests.fakes.web_server import served
from tests.unit.github_intake.conftest import Permissions
from tests.unit.github_intake.helpers import SECRET, corpus_body, deliver
from zuulish.drivers.github.intake_worker import intake_parts
from zuulish.web.app import create_app

pytestmark = pytest.mark.store

CONFIG = """
- pipeline:
    name: check
    manager: independent
    trigger:
      forge:
        - event: patchset-created
"""


def test_a_signed_delivery_reaches_the_scheduler_through_the_running_intake(
        tmp_path: Path, database_url: str) -> None:
    world = TriggerWorld(tmp_path, database_url, CONFIG, {"org/app": {"README": "x\n"}})
    routes, services = intake_parts("github", SECRET, world.store, Permissions(),
                                    world.clock)

    def make_app(url: str) -> web.Application:
        return create_app(world.store, world.aio.layouts, tmp_path / "state", url,
                          extra_routes=routes)

    try:
        for service in services:
            service.start()
        with served(make_app) as url:
            status, answer = deliver(url, "pull_request",
                                     corpus_body("pull_request.opened.1.json"),
                                     delivery="d-1")
            assert (status, answer["result"]) == (200, "stored")
            for _ in range(200):  # the worker runs in its own thread
                if world.events("pull_request"):
                    break
                time.sleep(0.05)
        world.settle()
        (event,) = world.events("pull_request")
        assert (event.project, event.data["delivery"], event.data["action"]) == \
            ("Codertocat/Hello-World", "d-1", "opened")
        assert event.outcome == ("ignored: no tenant includes project "
                                 "'Codertocat/Hello-World' on connection 'github'")
    finally:
        for service in reversed(services):
            service.stop()
        world.close()
