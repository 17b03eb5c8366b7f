"""Where the CLI's token comes from, what it must look like, and how a refusal is
explained (``zuulish.cli_token``, ``zuulish.cli_api``)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jwt
import pytest

from zuulish.cli_api import parse_url, printable, refusal, why_refused
from zuulish.cli_token import ENV_VAR, Token, check_shape, resolve_token
from zuulish.errors import UserError

NOW = 1_800_000_000


def make(**claims: object) -> str:
    return jwt.encode({"iss": "i", "aud": "a", "sub": "u", **claims}, "s" * 32,
                      algorithm="HS256")


def part(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


GOOD = make(exp=NOW + 60)


def test_precedence_flag_then_file_then_environment_then_admin_token(tmp_path: Path) -> None:
    path = tmp_path / "t"
    path.write_text(make(exp=1) + "\n")
    path.chmod(0o600)
    env = {ENV_VAR: make(exp=2)}
    assert resolve_token(GOOD, None, "static-admin-token", environ=env) == \
        Token(GOOD, "--auth-token")
    found = resolve_token(None, str(path), "static-admin-token", environ=env)
    assert found is not None and found.value == make(exp=1)
    assert found.source == f"--auth-token-file {path}"
    assert resolve_token(None, None, "static-admin-token", environ=env) == \
        Token(make(exp=2), f"${ENV_VAR}")
    assert resolve_token(None, None, "static-admin-token", "web.admin_token of x",
                         environ={ENV_VAR: "  "}) == \
        Token("static-admin-token", "web.admin_token of x", static=True)
    assert resolve_token(None, None, None, environ={}) is None


def test_the_token_is_not_in_its_repr() -> None:
    assert GOOD not in repr(Token(GOOD, "--auth-token"))


@pytest.mark.parametrize(("value", "words"), [
    ("", "is empty"),
    ("abc", "it has 1 part(s)"),
    ("a.b.c.d", "it has 4 part(s)"),
    ("Bearer " + GOOD, "starts with 'Bearer '"),
    (GOOD[:10] + " " + GOOD[10:], "a space or another character"),
    (GOOD + "\r\nX-Injected: 1", "it has"),
    ("e30.e30.sig", "its header is not JSON naming an alg"),
    (part({"alg": "none"}) + "." + part({"sub": "u"}) + ".sig", "unsigned (alg none)"),
    (part({"alg": "HS256"}) + "." + part(["a"]) + ".sig", "its claims are not a JSON object"),
    (part({"alg": "HS256"}) + "." + "x" * 9000 + ".sig", "more than a server accepts"),
])
def test_what_is_not_a_jwt_is_refused_naming_only_where_it_came_from(
        value: str, words: str) -> None:
    with pytest.raises(UserError) as raised:
        check_shape(value, "--auth-token")
    assert words in str(raised.value)
    assert str(raised.value).startswith("the token of --auth-token ")
    if len(value) > 6:
        assert value not in str(raised.value)


def test_a_token_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(GOOD)
    path.chmod(0o644)
    with pytest.raises(UserError, match=r"may be read or written by other users \(mode "
                                        r"0644\).*chmod o-rw"):
        resolve_token(None, str(path), environ={})
    path.chmod(0o602)
    with pytest.raises(UserError, match="other users"):
        resolve_token(None, str(path), environ={})
    path.chmod(0o640)  # the owner's group may: a team's token
    assert resolve_token(None, str(path), environ={}) == Token(GOOD, f"--auth-token-file {path}")


@pytest.mark.parametrize(("setup", "words"), [
    ("missing", "cannot read --auth-token-file"),
    ("directory", "it is a directory"),
    ("binary", "not ASCII text"),
    ("huge", "not a token file"),
])
def test_a_token_file_that_is_no_token_file_is_a_clear_error(
        tmp_path: Path, setup: str, words: str) -> None:
    path = tmp_path / setup
    if setup == "directory":
        path.mkdir()
    elif setup == "binary":
        path.write_bytes(b"\xff\xfe")
    elif setup == "huge":
        path.write_bytes(b"a" * 70_000)
    if path.exists() and not path.is_dir():
        path.chmod(0o600)
    with pytest.raises(UserError, match=words):
        resolve_token(None, str(path), environ={})


def test_why_a_token_is_refused_from_its_own_claims() -> None:
    def why(**claims: object) -> str:
        return why_refused(Token(make(**claims), "x"), now=NOW)

    assert why(exp=NOW - 90) == "expired at 2027-01-15 07:58:30 UTC (90 s ago)"
    assert why(exp=NOW + 60, nbf=NOW + 30) == "not valid until 2027-01-15 08:00:30 UTC"
    assert why() == "it has no expiry (exp), which the server requires"
    assert why(exp=NOW + 60).startswith("not accepted by this server: its issuer (i), "
                                        "audience (a) or signature")
    assert why(exp="soon").startswith("it has no expiry")  # not a number: not an exp


def test_refusals_say_what_to_do() -> None:
    token = Token(make(exp=NOW + 60, zuul={"admin": "other"}), "$ZUULISH_AUTH_TOKEN")
    assert refusal(403, "forbidden", token, "administer tenant 't'") == (
        "the token of $ZUULISH_AUTH_TOKEN (user u) may not administer tenant 't' "
        "(forbidden); its zuul.admin claim lists other; ask for a token that may, e.g. "
        "`zuulish create-auth-token --tenant ...`")
    static = Token("static-admin-token", "web.admin_token of z.yaml", static=True)
    assert refusal(401, "authentication required", static, "x").startswith(
        "the server refused the token of web.admin_token of z.yaml (authentication "
        "required): it is not that server's web.admin_token; give one with --auth-token")
    assert refusal(403, "the management API is off: ...", None, "administer tenant 't'") \
        == "the server refused to administer tenant 't': the management API is off: ..."


@pytest.mark.parametrize(("url", "base"), [
    ("https://zuul.example.com/", "https://zuul.example.com"),
    ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
    ("https://example.com/ci/zuulish/", "https://example.com/ci/zuulish"),
])
def test_url_gives_the_base(url: str, base: str) -> None:
    assert parse_url(url) == base


@pytest.mark.parametrize(("url", "words"), [
    ("file:///etc/passwd", "must be an http:// or https://"),
    ("zuul.example.com", "must be an http:// or https://"),
    ("https://user:pw@zuul.example.com", "must not hold a user or password"),
    ("https://zuul.example.com/?token=x", "without ?query or #fragment"),
    ("http://127.0.0.1:99999", "is not a URL"),
])
def test_bad_urls_are_refused(url: str, words: str) -> None:
    with pytest.raises(UserError, match=words.replace("?", r"\?")):
        parse_url(url)


def test_printable_keeps_one_safe_line() -> None:
    assert printable("a\x1b]0;title\x07b\nc\u202ed") == "a ]0;title b c d"
    assert printable("x" * 400) == "x" * 299 + "…"
