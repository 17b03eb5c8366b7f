"""``zuulish status`` and ``zuulish autohold`` against a server that requires JSON
Web Tokens: the real web app on 127.0.0.1 with a real zuulish.yaml (an HS256
authenticator that lets the token's zuul.admin claim decide) and real rules
(tenant ``t`` is private to ``t-readers``, ``pub`` is open), run as a user runs
them (``zuulish.cli.main``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest

from tests.fakes.auth_web import SECRET, Api, serve_auth_app
from tests.fakes.web_server import served
from tests.functional.test_web_autohold import layout
from zuulish.cli import main
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.server_config import load_server_config
from zuulish.store import Store
from zuulish.web.app import create_app

Capture = pytest.CaptureFixture[str]


def token(user: str, *, admin: list[str] | None = None, groups: list[str] | None = None,
          age: int = 0, lifetime: int = 600) -> str:
    """A token of the server's HS256 authenticator ``ops``, issued ``age`` s ago."""
    issued = int(time.time()) - age
    claims: dict[str, Any] = {"iss": "zuulish_operator", "aud": "zuulish", "sub": user,
                              "iat": issued, "exp": issued + lifetime}
    if admin is not None:
        claims["zuul"] = {"admin": admin}
    if groups is not None:
        claims["groups"] = groups
    return jwt.encode(claims, SECRET, algorithm="HS256")


def reader() -> str:
    return token("rita", groups=["t-readers"])


def expired() -> str:
    return token("eve", groups=["t-readers"], admin=["t"], age=7200)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_auth_app(tmp_path_factory.mktemp("cli-tokens")) as served_api:
        yield served_api


@pytest.fixture
def cfg(api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A CLI configuration whose web.listen is the served app's address (and no
    ZUULISH_AUTH_TOKEN from the environment running the tests)."""
    monkeypatch.delenv("ZUULISH_AUTH_TOKEN", raising=False)
    path = tmp_path / "zuulish.yaml"
    path.write_text(f"tenant_file: main.yaml\nweb: {{listen: "
                    f"'127.0.0.1:{urlsplit(api.url).port}'}}\n")
    return str(path)


def refused(argv: list[str], capsys: Capture, *secrets: str) -> str:
    """The one line of a refused command, checked to name none of ``secrets``."""
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("zuulish: error: ") and captured.err.count("\n") == 1, \
        captured.err
    for secret in secrets:
        assert secret not in captured.err
    return captured.err


# ------------------------------------------------------------------ status
def test_status_of_a_private_tenant_with_a_reading_token_from_flag_env_or_file(
        cfg: str, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    good = reader()
    assert main(["-c", cfg, "status", "--tenant", "t", "--auth-token", good]) == 0
    assert "Make it fast" in capsys.readouterr().out
    path = tmp_path / "token"
    path.write_text(good + "\n")  # a trailing newline, as `> file` leaves
    path.chmod(0o600)
    assert main(["-c", cfg, "status", "--tenant", "t", "--auth-token-file", str(path)]) == 0
    assert "Make it fast" in capsys.readouterr().out  # (the ages may have moved on)
    monkeypatch.setenv("ZUULISH_AUTH_TOKEN", good)
    assert main(["-c", cfg, "status", "--tenant", "t"]) == 0
    assert "Make it fast" in capsys.readouterr().out


def test_status_with_url_needs_no_configuration(
        api: Api, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZUULISH_AUTH_TOKEN", raising=False)
    missing = str(tmp_path / "absent.yaml")
    assert main(["-c", missing, "status", "--url", api.url + "/", "--tenant", "t",
                 "--auth-token", reader()]) == 0
    assert capsys.readouterr().out.startswith("Tenant t\n")


def test_status_lists_the_private_tenant_only_to_a_token_that_may_read_it(
        cfg: str, capsys: Capture) -> None:
    assert main(["-c", cfg, "status"]) == 0
    out = capsys.readouterr().out
    assert "Tenant pub" in out and "Tenant t\n" not in out
    assert main(["-c", cfg, "status", "--auth-token", reader()]) == 0
    out = capsys.readouterr().out
    assert "Tenant pub" in out and "Tenant t\n" in out


def test_status_of_a_private_tenant_without_a_token_says_how_to_give_one(
        cfg: str, capsys: Capture) -> None:
    err = refused(["-c", cfg, "status", "--tenant", "t"], capsys)
    assert "refused to read tenant 't' without a token (authentication required)" in err
    assert "--auth-token" in err and "$ZUULISH_AUTH_TOKEN" in err
    assert "create-auth-token" in err


def test_an_expired_token_is_named_expired_and_never_printed(
        cfg: str, capsys: Capture) -> None:
    old = expired()
    err = refused(["-c", cfg, "status", "--tenant", "t", "--auth-token", old], capsys, old)
    assert "the server refused the token of --auth-token: expired at " in err
    assert "mint a new one with `zuulish create-auth-token`" in err


def test_a_token_of_another_issuer_is_not_for_this_server(
        cfg: str, capsys: Capture) -> None:
    issued = int(time.time())
    other = jwt.encode({"iss": "elsewhere", "aud": "zuulish", "sub": "mallory",
                        "iat": issued, "exp": issued + 600}, "x" * 32, algorithm="HS256")
    err = refused(["-c", cfg, "status", "--tenant", "t", "--auth-token", other], capsys,
                  other)
    assert "not accepted by this server: its issuer (elsewhere), audience (zuulish)" in err


def test_a_token_for_another_tenant_may_not_read_this_one(
        cfg: str, capsys: Capture) -> None:
    pub_admin = token("paul", admin=["pub"])
    err = refused(["-c", cfg, "status", "--tenant", "t", "--auth-token", pub_admin],
                  capsys, pub_admin)
    assert ("the token of --auth-token (user paul) may not read tenant 't' (forbidden); "
            "its zuul.admin claim lists pub") in err


def test_the_flag_wins_over_the_environment_and_the_environment_over_nothing(
        cfg: str, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZUULISH_AUTH_TOKEN", expired())
    assert main(["-c", cfg, "status", "--tenant", "t", "--auth-token", reader()]) == 0
    capsys.readouterr()
    path = tmp_path / "token"
    path.write_text(reader())
    path.chmod(0o640)
    assert main(["-c", cfg, "status", "--tenant", "t", "--auth-token-file", str(path)]) == 0
    capsys.readouterr()
    err = refused(["-c", cfg, "status", "--tenant", "t"], capsys)
    assert "the token of $ZUULISH_AUTH_TOKEN: expired at" in err
    monkeypatch.setenv("ZUULISH_AUTH_TOKEN", reader())
    err = refused(["-c", cfg, "status", "--tenant", "t", "--auth-token", expired()], capsys)
    assert "the token of --auth-token: expired at" in err


def test_a_token_that_is_not_a_jwt_is_refused_before_it_is_sent(
        tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    from zuulish.runner import free_port

    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: nothing was sent
    err = refused(["status", "--url", nowhere, "--auth-token", "not-a-token"], capsys,
                  "not-a-token")
    assert "the token of --auth-token is not a JSON Web Token (it has 1 part(s))" in err
    monkeypatch.setenv("ZUULISH_AUTH_TOKEN", "Bearer " + reader())
    err = refused(["status", "--url", nowhere], capsys)
    assert "$ZUULISH_AUTH_TOKEN is not a JSON Web Token (it starts with 'Bearer '" in err


# ---------------------------------------------------------------- autohold
@pytest.fixture
def hold_cfg(api: Api, store: Store, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A server with tenant t (org/app, job unit) and the HS256 authenticator, and a
    CLI configuration that points at it (without web.admin_token)."""
    monkeypatch.delenv("ZUULISH_AUTH_TOKEN", raising=False)
    layouts = TenantLayouts(tmp_path / "main.yaml", {}, {}, {})
    layouts.layouts = {"t": layout()}
    auth = load_server_config(api.config).auth
    with served(lambda url: create_app(store, layouts, tmp_path, url,
                                       auth_config=auth)) as url:
        path = tmp_path / "zuulish.yaml"
        path.write_text(f"database: '{store.url}'\ntenant_file: main.yaml\n"
                        f"web: {{listen: '127.0.0.1:{urlsplit(url).port}'}}\n")
        yield str(path)


HOLD = ["autohold", "--tenant", "t", "--project", "org/app", "--job", "unit",
        "--reason", "why"]


def test_autohold_with_an_admin_token_and_the_refusals_of_the_others(
        hold_cfg: str, capsys: Capture) -> None:
    assert main(["-c", hold_cfg, *HOLD, "--auth-token", token("alice", admin=["t"])]) == 0
    assert capsys.readouterr().out.startswith("autohold request 1: tenant t, project "
                                              "org/app, job unit")
    old = expired()
    err = refused(["-c", hold_cfg, *HOLD, "--auth-token", old], capsys, old)
    assert "the server refused the token of --auth-token: expired at" in err
    other = token("paul", admin=["pub"])
    err = refused(["-c", hold_cfg, *HOLD, "--auth-token", other], capsys, other)
    assert ("the token of --auth-token (user paul) may not administer tenant 't' "
            "(forbidden); its zuul.admin claim lists pub") in err
    read_only = reader()
    err = refused(["-c", hold_cfg, *HOLD, "--auth-token", read_only], capsys, read_only)
    assert "(user rita) may not administer tenant 't' (forbidden); ask for" in err


def test_autohold_without_any_token_is_refused_before_asking(
        hold_cfg: str, capsys: Capture) -> None:
    err = refused(["-c", hold_cfg, *HOLD], capsys)
    assert "zuulish autohold needs a token that may administer tenant 't'" in err
    assert "--auth-token-file" in err and "set web.admin_token in" in err
