"""A ``driver: gerrit`` connection in zuulish.yaml, built into its parts."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from zuulish.drivers.gerrit.reporter import GerritReporter
from zuulish.drivers.gerrit.source import GerritSource
from zuulish.drivers.gerrit.stream import GerritStream
from zuulish.drivers.outbox import OutboxSender
from zuulish.drivers.registry import make_connections
from zuulish.errors import ConfigError
from zuulish.merger.credentials import HttpCredentials
from zuulish.model import ChangeKey
from zuulish.server_config import load_server_config
from zuulish.store import Store

with warnings.catch_warnings():  # asyncssh still imports DSA, which cryptography deprecates
    warnings.filterwarnings("ignore", message=".*DSA.*")
    import asyncssh


def config(tmp_path: Path, connection: str) -> Path:
    path = tmp_path / "zuulish.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\ndatabase: sqlite:///{tmp_path / 'z.db'}\n"
                    "tenant_file: main.yaml\nconnections:\n  forge: {driver: git}\n"
                    f"  review: {connection}\n")
    return path


def test_a_gerrit_connection_has_a_source_a_reporter_an_outbox_and_credentials(
        tmp_path: Path, store: Store) -> None:
    path = config(tmp_path, "{driver: gerrit, server: review.example.org, user: zuul, "
                            "password: pw, stream_events: false}")
    conns = make_connections(load_server_config(path), store)
    assert isinstance(conns.sources["review"], GerritSource)
    assert isinstance(conns.reporters["review"], GerritReporter)
    assert [type(s) for s in conns.services] == [OutboxSender]
    assert conns.sources["review"].project_url("org/p") == \
        "https://review.example.org/a/org/p"
    assert conns.git_credentials.credentials_for("https://review.example.org/a/org/p") == \
        HttpCredentials("zuul", "pw")
    assert conns.git_credentials.credentials_for("https://review.example.org/org/p") is None
    # the forge's changes may depend on Gerrit's, by URL
    forge = conns.sources["forge"]
    assert forge.change_urls is not None
    assert forge.change_urls.resolve("https://review.example.org/c/org/p/+/42") == \
        ChangeKey("review", 42)


def test_without_a_password_gerrit_is_read_anonymously(tmp_path: Path, store: Store) -> None:
    path = config(tmp_path, "{driver: gerrit, server: review.example.org, user: zuul, "
                            "stream_events: false}")
    conns = make_connections(load_server_config(path), store)
    assert conns.sources["review"].project_url("org/p") == "https://review.example.org/org/p"
    assert conns.git_credentials.providers == []


def test_stream_events_runs_the_ssh_reader(tmp_path: Path, store: Store) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    (tmp_path / "id").write_bytes(key.export_private_key())
    (tmp_path / "known_hosts").write_text("")
    path = config(tmp_path, "{driver: gerrit, server: review.example.org, user: zuul, "
                            "sshkey: id, known_hosts: known_hosts}")
    conns = make_connections(load_server_config(path), store)
    assert sorted(type(s).__name__ for s in conns.services) == ["GerritStream",
                                                                 "OutboxSender"]
    assert any(isinstance(s, GerritStream) for s in conns.services)


def test_a_missing_ssh_key_is_a_configuration_error(tmp_path: Path, store: Store) -> None:
    path = config(tmp_path, "{driver: gerrit, server: review.example.org, user: zuul, "
                            "sshkey: nope}")
    with pytest.raises(ConfigError, match="sshkey: no file"):
        make_connections(load_server_config(path), store)


def test_a_catch_up_compares_the_branches_of_the_tenants_projects_on_its_connection(
        tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    (tmp_path / "id").write_bytes(key.export_private_key())
    (tmp_path / "known_hosts").write_text("")
    tenants = tmp_path / "main.yaml"
    tenants.write_text("- tenant:\n    name: a\n    source:\n"
                       "      review: {config-projects: [org/config], "
                       "untrusted-projects: [org/app]}\n"
                       "      forge: {untrusted-projects: [org/local]}\n"
                       "- tenant:\n    name: b\n    source:\n"
                       "      review: {untrusted-projects: [org/app, org/lib]}\n")
    path = config(tmp_path, "{driver: gerrit, server: review.example.org, user: zuul, "
                            "sshkey: id, known_hosts: known_hosts}")
    conns = make_connections(load_server_config(path), store)
    stream = next(s for s in conns.services if isinstance(s, GerritStream))
    listener = stream._on_gap.__self__  # type: ignore[union-attr]
    assert listener._watched() == ["org/app", "org/config", "org/lib"]
    tenants.write_text("- tenant: [not, a, mapping]\n")
    assert listener._watched() == []
    assert "cannot tell the tenants' projects" in caplog.text
