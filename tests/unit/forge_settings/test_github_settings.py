"""A GitHub connection's settings: Zuul's names work, mistakes are refused at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from zuulish.drivers.github.settings import read_github_settings
from zuulish.errors import ConfigError


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "app.pem").write_text("-----BEGIN RSA PRIVATE KEY-----\n")
    return tmp_path / "zuulish.yaml"


def test_a_github_app_on_github_com(config_file: Path) -> None:
    s = read_github_settings("github", {"app_id": 42, "app_key": "app.pem",
                                        "webhook_token": "s3cret"}, config_file)
    assert s.uses_app and s.app_id == "42"
    assert s.app_key == config_file.parent / "app.pem"
    assert s.api_url == "https://api.github.com" and s.web_url == "https://github.com"
    assert s.canonical_hostname == "github.com"


def test_a_personal_token_on_github_enterprise_server(config_file: Path) -> None:
    s = read_github_settings("ghe", {"api_token": "ghp_x", "webhook_token": "w",
                                     "server": "ghe.example.com"}, config_file)
    assert not s.uses_app and s.api_token == "ghp_x"
    assert s.api_url == "https://ghe.example.com/api/v3"
    assert s.web_url == "https://ghe.example.com"


def test_an_explicit_api_url(config_file: Path) -> None:
    s = read_github_settings("gh", {"api_token": "t", "webhook_token": "w",
                                    "api_url": "http://127.0.0.1:8123/"}, config_file)
    assert s.api_url == "http://127.0.0.1:8123"


@pytest.mark.parametrize(("options", "message"), [
    ({"api_token": "t"}, "missing required setting 'connections.gh.webhook_token'"),
    ({"webhook_token": "w"}, "give app_id and app_key (a GitHub App, recommended) or "
                             "api_token"),
    ({"webhook_token": "w", "app_id": 1}, "needs both app_id and app_key; app_key is missing"),
    ({"webhook_token": "w", "app_id": 1, "app_key": "nope.pem"}, "app_key: no file"),
    ({"webhook_token": "", "api_token": "t"}, "webhook_token must not be empty"),
    ({"webhook_token": "w", "api_token": "t", "sshkey": "~/.ssh/id_rsa"},
     "over HTTPS with the app's or the token's credentials"),
    ({"webhook_token": "w", "api_token": "t", "webhok_token": "x"},
     "unknown setting 'webhok_token'; did you mean 'webhook_token'?"),
    ({"webhook_token": "w", "api_token": "t", "verify_ssl": "no"},
     "verify_ssl must be true or false, not 'no'"),
    ({"webhook_token": "w", "api_token": "t", "server": "https://ghe.example.com"},
     "must be a host name such as github.example.com"),
])
def test_a_bad_setting_is_refused_naming_it(config_file: Path, options: dict,
                                            message: str) -> None:
    with pytest.raises(ConfigError) as err:
        read_github_settings("gh", options, config_file)
    assert message in str(err.value)
    assert err.value.file == str(config_file)
