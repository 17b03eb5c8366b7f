"""The forge connection's settings: anonymous_read, url, plain_http and
max_request_bytes, each refused with the connection, the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from zuulish.drivers.git.settings import read_forge_settings
from zuulish.drivers.registry import make_connections
from zuulish.errors import ConfigError
from zuulish.server_config import load_server_config
from zuulish.store import Store


def test_defaults_read_nothing_anonymously_and_serve_from_the_state_dir() -> None:
    settings = read_forge_settings("forge", {}, "zuulish.yaml")
    assert settings.anonymous_read is False and settings.url is None
    assert not settings.readable_by_anyone("org/app")


def test_anonymous_read_for_some_projects() -> None:
    settings = read_forge_settings("forge", {"anonymous_read": ["org/public"]}, None)
    assert settings.readable_by_anyone("org/public")
    assert not settings.readable_by_anyone("org/app")
    assert read_forge_settings("forge", {"anonymous_read": True}, None) \
        .readable_by_anyone("org/app")


@pytest.mark.parametrize(("options", "message"), [
    ({"anonymous_read": "yes"}, "connections.forge.anonymous_read must be true or false "
                                "or a list"),
    ({"anonymous_read": [1]}, "anonymous_read must be true, false or a list of project"),
    ({"url": "ftp://forge.example/git"}, "connections.forge.url:"),
    ({"url": "http://user@forge.example/git"}, "connections.forge.url:"),
    ({"max_request_bytes": 0}, "max_request_bytes must be a positive number"),
    ({"anonymous": True}, "unknown setting 'anonymous'; did you mean 'anonymous_read'?"),
])
def test_bad_settings_are_refused_with_the_file(options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        read_forge_settings("forge", options, "/etc/zuulish.yaml")
    assert message in str(raised.value) and "/etc/zuulish.yaml" in str(raised.value)


def test_plain_http_to_another_host_needs_saying_so(tmp_path: Path) -> None:
    config = tmp_path / "zuulish.yaml"
    store = Store(f"sqlite:///{tmp_path / 'z.db'}")
    config.write_text("tenant_file: main.yaml\nconnections:\n  forge:\n    driver: git\n"
                      "    url: http://forge.example:9000/git\n")
    with pytest.raises(ConfigError) as raised:
        make_connections(load_server_config(config), store)
    assert "connections.forge.url" in str(raised.value)
    assert "plain_http: true" in str(raised.value) and str(config) in str(raised.value)
    config.write_text("tenant_file: main.yaml\nconnections:\n  forge:\n    driver: git\n"
                      "    url: http://forge.example:9000/git\n    plain_http: true\n")
    forge = make_connections(load_server_config(config), store).forges["forge"]
    assert forge.clone_url("org/app") == "http://forge.example:9000/git/org/app.git"
    store.dispose()
