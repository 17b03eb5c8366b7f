"""A Gerrit connection's settings: Zuul's names work, mistakes are refused at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from zuulish.drivers.gerrit.settings import read_gerrit_settings
from zuulish.errors import ConfigError


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "id_ed25519").write_text("key")
    (tmp_path / "known_hosts").write_text("[review.example.com]:29418 ssh-ed25519 AAAA\n")
    return tmp_path / "zuulish.yaml"


BASE = {"server": "review.example.com", "user": "zuul", "sshkey": "id_ed25519"}


def test_zuuls_defaults(config_file: Path) -> None:
    s = read_gerrit_settings("gerrit", dict(BASE), config_file)
    assert (s.port, s.baseurl, s.canonical_hostname) == (
        29418, "https://review.example.com", "review.example.com")
    assert s.sshkey == config_file.parent / "id_ed25519" and s.known_hosts is None


def test_a_web_path_an_http_password_and_known_hosts(config_file: Path) -> None:
    s = read_gerrit_settings("gerrit", {**BASE, "baseurl": "https://review.example.com/r/",
                                        "password": "pw", "known_hosts": "known_hosts",
                                        "port": 2222}, config_file)
    assert s.baseurl == "https://review.example.com/r" and s.password == "pw"
    assert s.known_hosts == config_file.parent / "known_hosts" and s.port == 2222


def test_without_stream_events_no_ssh_key_is_needed(config_file: Path) -> None:
    s = read_gerrit_settings("gerrit", {"server": "r", "user": "zuul",
                                        "stream_events": False, "sshkey": "missing"},
                             config_file)
    assert s.stream_events is False


@pytest.mark.parametrize(("options", "message"), [
    ({"user": "zuul"}, "missing required setting 'connections.g.server'"),
    ({**BASE, "sshkey": "missing"}, "sshkey: no file"),
    ({**BASE, "port": 0}, "port must be a TCP port"),
    ({**BASE, "port": "29418"}, "port must be an integer"),
    ({**BASE, "baseurl": "review.example.com"}, "baseurl must be an http(s) URL"),
    ({**BASE, "auth_type": "digest"}, "auth_type must be one of basic"),
    ({**BASE, "known_hosts": "nope"}, "known_hosts: no file"),
    ({**BASE, "event_source": "kafka"}, "Kafka, Kinesis and Pub/Sub are not supported"),
    ({**BASE, "usr": "x"}, "unknown setting 'usr'; did you mean 'user'?"),
])
def test_a_bad_setting_is_refused_naming_it(config_file: Path, options: dict,
                                            message: str) -> None:
    with pytest.raises(ConfigError) as err:
        read_gerrit_settings("g", options, config_file)
    assert message in str(err.value)
