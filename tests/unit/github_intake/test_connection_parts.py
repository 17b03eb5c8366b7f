"""A ``driver: github`` connection, built by the registry, carries the intake: the
webhook's route under its own name, and the services that store and read deliveries."""

from __future__ import annotations

from pathlib import Path

from zuulish.drivers.github.intake_worker import IntakeWorker
from zuulish.drivers.github.webhook import Webhook, payload_path
from zuulish.drivers.registry import make_connections
from zuulish.server_config import load_server_config
from zuulish.store import Store


def test_a_github_connection_has_its_webhook_and_intake_worker(store: Store,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "zuulish.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\ntenant_file: main.yaml\n"
                    "connections:\n  github.com:\n    driver: github\n"
                    "    api_token: ghp_test\n    webhook_token: s3cret\n")
    conns = make_connections(load_server_config(path), store)
    try:
        assert payload_path("github.com") == "/api/connection/github.com/payload"
        assert [(r.method, r.path) for r in conns.routes] == \
            [("POST", "/api/connection/github.com/payload")]
        kinds = [type(s) for s in conns.services]
        assert Webhook in kinds and IntakeWorker in kinds
    finally:
        for service in conns.services:
            if isinstance(service, Webhook):
                service.stop()
