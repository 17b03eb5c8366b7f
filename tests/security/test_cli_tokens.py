"""Attacks on the CLI's token and on the terminal of whoever runs ``zuulish status``
or ``zuulish autohold``, by a server (or what redirects to one) the CLI is pointed
at, and by a change's author whose subject the status draws: real aiohttp servers
on 127.0.0.1 (``tests.fakes.web_server``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from aiohttp import web

from tests.fakes.web_server import served
from zuulish.cli import main

ESCAPES = "\x1b]0;owned\x07\x1b[2J\u202e"


def a_token(user: str) -> str:
    now = int(time.time())
    return jwt.encode({"iss": "i", "aud": "a", "sub": user, "iat": now, "exp": now + 600},
                      "k" * 32, algorithm="HS256")


@dataclass
class Seen:
    """What a server received: each request's path and Authorization header."""

    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def app(self, answer: Any) -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.requests.append((request.path_qs, request.headers.get("Authorization")))
            return answer(request)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app


@pytest.fixture
def no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZUULISH_AUTH_TOKEN", raising=False)


@pytest.fixture
def collector() -> Iterator[tuple[str, Seen]]:
    """A server that records what it is sent (where a redirect points)."""
    seen = Seen()
    with served(lambda _url: seen.app(lambda _r: web.json_response([]))) as url:
        yield url, seen


def test_a_redirect_is_not_followed_and_the_token_never_reaches_its_target(
        collector: tuple[str, Seen], capsys: pytest.CaptureFixture[str],
        no_env_token: None) -> None:
    target, caught = collector
    token = a_token("redirected")
    first = Seen()

    def redirect(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": f"{target}/steal{request.path}"})
    with served(lambda _url: first.app(redirect)) as url:
        for argv in (["status", "--url", url, "--auth-token", token],
                     ["autohold", "--url", url, "--auth-token", token, "--tenant", "t",
                      "--project", "p", "--job", "j", "--reason", "r"]):
            assert main(argv) == 1
            err = capsys.readouterr().err
            assert f"a redirect to {target}/steal/api/" in err and "does not follow" in err
            assert token not in err
    assert caught.requests == []
    assert [header for _, header in first.requests] == [f"Bearer {token}"] * 2
    assert all(token not in path for path, _ in first.requests)  # never in a URL


def test_a_servers_error_cannot_write_escape_sequences_to_the_terminal(
        capsys: pytest.CaptureFixture[str], no_env_token: None) -> None:
    seen = Seen()
    answers = iter([web.json_response({"error": f"no{ESCAPES}pe\nsecond line"}, status=404),
                    web.json_response({"error": f"forbidden{ESCAPES}"}, status=403),
                    web.Response(text=f"<html>{ESCAPES}</html>", status=200)])
    with served(lambda _url: seen.app(lambda _r: next(answers))) as url:
        for _ in range(3):
            assert main(["status", "--url", url, "--tenant", "t"]) == 1
            err = capsys.readouterr().err
            assert err.count("\n") == 1
            assert not any(c in err for c in "\x1b\x07\u202e"), repr(err)


def test_a_change_subject_cannot_write_escape_sequences_to_the_terminal(
        capsys: pytest.CaptureFixture[str], no_env_token: None) -> None:
    item = {"change": {"label": "1,1", "project": "org/app", "branch": "main",
                       "subject": f"Fix it{ESCAPES}"}, "active": True, "jobs": [
                           {"name": f"unit{ESCAPES}", "state": "waiting"}],
            "failing": True, "message": f"boom{ESCAPES}"}
    status = {"tenant": "t", "pipelines": [{"name": "check", "manager": "independent",
                                            "queues": [{"name": "q", "items": [item]}]}]}
    seen = Seen()
    with served(lambda _url: seen.app(lambda _r: web.json_response(status))) as url:
        assert main(["status", "--url", url, "--tenant", "t"]) == 0
    out = capsys.readouterr().out
    assert "Fix it" in out and "boom" in out and "unit" in out
    assert not any(c in out for c in "\x1b\x07\u202e"), repr(out)


def test_a_token_cannot_smuggle_a_header_and_is_refused_before_any_request(
        capsys: pytest.CaptureFixture[str], no_env_token: None) -> None:
    seen = Seen()
    with served(lambda _url: seen.app(lambda _r: web.json_response([]))) as url:
        smuggled = a_token("x") + "\r\nX-Injected: yes"
        assert main(["status", "--url", url, "--auth-token", smuggled]) == 1
        assert "is not a JSON Web Token" in capsys.readouterr().err
    assert seen.requests == []


def test_the_static_admin_token_is_never_sent_to_another_url(
        tmp_path: Any, capsys: pytest.CaptureFixture[str], no_env_token: None) -> None:
    config = tmp_path / "zuulish.yaml"
    config.write_text("tenant_file: main.yaml\nweb: {admin_token: 'the-local-admin-token-1'}\n")
    seen = Seen()
    with served(lambda _url: seen.app(lambda _r: web.json_response([]))) as url:
        assert main(["-c", str(config), "status", "--url", url]) == 0
        assert main(["-c", str(config), "autohold", "--url", url, "--tenant", "t",
                     "--project", "p", "--job", "j", "--reason", "r"]) == 1
    assert "needs a token" in capsys.readouterr().err
    assert seen.requests == [("/api/tenants", None)]
