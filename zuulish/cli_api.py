"""The CLI's client of a running server's web API (``zuulish status``, ``zuulish
autohold``): where the server is, the token it is sent (``zuulish.cli_token``), and
its answers, refusals included, turned into one-line :class:`UserError` messages.

The server is the configuration's ``web.listen`` address, or ``--url`` (then the
configuration is not read, and its ``web.admin_token`` is never sent elsewhere).
The token goes only in the ``Authorization`` header, never in a URL, and never
follows a redirect: redirects are not followed at all (the message names where
the server points to). Why a server refused a token is not in its answer (it
logs it), so a refusal is explained from the token's own claims, read here
without checking its signature: expired, not valid yet, or not for this server.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from zuulish.cli_token import ENV_VAR, Token, resolve_token
from zuulish.errors import UserError
from zuulish.hosts import is_loopback

TIMEOUT_S = 10.0
#: The most of a server's error message shown.
MAX_MESSAGE = 300
GIVE_TOKEN = (f"give one with --auth-token, --auth-token-file or ${ENV_VAR} "
              "(`zuulish create-auth-token` mints one)")


def _opener() -> urllib.request.OpenerDirector:
    """HTTP and HTTPS only (no file: or ftp:), proxies from the environment as
    urllib's default, and no redirect handler: a 3xx is an error."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(),
                    urllib.request.HTTPSHandler(), urllib.request.HTTPDefaultErrorHandler(),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def terminal_safe(text: str) -> str:
    """``text`` with each character that is not printable (control characters, so
    terminal escape sequences; bidirectional overrides) replaced by a space."""
    return "".join(c if c.isprintable() else " " for c in text)


def printable(text: str, limit: int = MAX_MESSAGE) -> str:
    """A server's text made safe for the terminal: one line, no control characters
    (no escape sequences), at most ``limit`` characters."""
    flat = " ".join(terminal_safe(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def api_base(config: Any) -> str:
    """Where this host reaches the server's API: its listen address (a wildcard
    address is reached on the loopback)."""
    host = config.listen_host
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = "127.0.0.1"
    return f"http://{host}:{config.listen_port}"


def parse_url(url: str) -> str:
    """``--url`` checked: http or https, a host, no credentials, query or fragment;
    the base without its trailing slash."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        raise UserError(f"--url {printable(url)!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"--url must be an http:// or https:// URL of the server, not "
                        f"{printable(url)!r}")
    if parts.username is not None or parts.password is not None:
        raise UserError("--url must not hold a user or password: give a token with "
                        "--auth-token, --auth-token-file or $" + ENV_VAR)
    if parts.query or parts.fragment:
        raise UserError(f"--url must be the server's base URL, without ?query or #fragment, "
                        f"not {printable(url)!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def why_refused(token: Token, now: float | None = None) -> str:
    """Why a server would refuse ``token``, as far as its claims tell."""
    now = time.time() if now is None else now
    claims = token.claims()
    expires, starts = _number(claims, "exp"), _number(claims, "nbf")
    if expires is not None and expires <= now:
        return f"expired at {_when(expires)} ({int(now - expires)} s ago)"
    if starts is not None and starts > now:
        return f"not valid until {_when(starts)}"
    if expires is None:
        return "it has no expiry (exp), which the server requires"
    issuer, audience = claims.get("iss"), claims.get("aud")
    return (f"not accepted by this server: its issuer ({printable(str(issuer), 80)}), "
            f"audience ({printable(str(audience), 80)}) or signature is none of the "
            "server's authenticators', or it is older than their max_validity_time")


def _admin_claim(token: Token) -> str:
    zuul = token.claims().get("zuul")
    tenants = zuul.get("admin") if isinstance(zuul, dict) else None
    if isinstance(tenants, str):
        tenants = [tenants]
    if not isinstance(tenants, list):
        return ""
    names = ", ".join(printable(str(t), 80) for t in tenants) or "no tenant"
    return f"; its zuul.admin claim lists {names}"


def refusal(status: int, message: str, token: Token | None, doing: str) -> str:
    """The one line that explains a 401 or 403 answer (``message``: the server's error)
    to a caller who tried to ``doing`` (e.g. "read tenant 't'") with ``token``."""
    if status == 403 and message not in ("forbidden", "authentication required"):
        return f"the server refused to {doing}: {message}"  # e.g. its management API is off
    if token is None:
        return f"the server refused to {doing} without a token ({message}): {GIVE_TOKEN}"
    if token.static:
        return (f"the server refused the token of {token.source} ({message}): it is not "
                f"that server's web.admin_token; {GIVE_TOKEN}")
    if status == 401:
        return (f"the server refused the token of {token.source}: {why_refused(token)}; "
                "mint a new one with `zuulish create-auth-token` (or get one from your "
                "identity provider)")
    user = token.claims().get("sub")
    who = f" (user {printable(str(user), 80)})" if user is not None else ""
    return (f"the token of {token.source}{who} may not {doing} ({message}){_admin_claim(token)}"
            f"; ask for a token that may, e.g. `zuulish create-auth-token --tenant ...`")


def _server_error(exc: urllib.error.HTTPError) -> str | None:
    """The API's ``error`` in an error answer (None: the answer has none)."""
    try:
        answer = json.loads(exc.read())
    except (ValueError, OSError):
        return None
    error = answer.get("error") if isinstance(answer, dict) else None
    return printable(error) if isinstance(error, str) and error.strip() else None


@dataclass(frozen=True)
class Api:
    """A running server's web API at ``base``, asked with ``token`` (None: none)."""

    base: str
    token: Token | None = None
    unreachable: str = ""  # added to the message when the server cannot be reached
    config_path: str = ""  # the configuration that named the server ("": --url)

    def call(self, method: str, path: str, doing: str, body: Any = None) -> Any:
        """The JSON answer to ``method path``; a refusal, an API error, an answer that
        is not JSON or a server that cannot be reached is a :class:`UserError`."""
        request = urllib.request.Request(
            self.base + path, method=method,
            data=None if body is None else json.dumps(body).encode())
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if self.token is not None:  # never copied onto a redirect's request
            request.add_unredirected_header("Authorization", f"Bearer {self.token.value}")
        try:
            with _opener().open(request, timeout=TIMEOUT_S) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            error = _server_error(exc)
            message = error or printable(str(exc.reason))
            if exc.code in (401, 403):
                raise UserError(refusal(exc.code, message, self.token, doing)) from None
            if 300 <= exc.code < 400:
                where = printable(exc.headers.get("Location") or "nowhere", 200)
                raise UserError(f"the server at {self.base} answered {exc.code}, a redirect to "
                                f"{where}, which zuulish does not follow (a token would "
                                "go there too): give --url with the server's own address"
                                ) from None
            if error is None:  # not zuulish's API, or a proxy's answer
                raise UserError(f"the server at {self.base} answered {path} with {exc.code} "
                                f"{message}: is it zuulish's web API?") from None
            raise UserError(error) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = printable(str(getattr(exc, "reason", exc)))
            raise UserError(f"cannot reach zuulish's web API at {self.base} ({reason})"
                            f"{self.unreachable}") from None
        try:
            return json.loads(text)
        except ValueError:
            raise UserError(f"the server at {self.base} answered {path} with something that "
                            "is not JSON: is it zuulish's web API?") from None

    def get(self, path: str, doing: str) -> Any:
        return self.call("GET", path, doing)

    def post(self, path: str, body: Any, doing: str) -> Any:
        return self.call("POST", path, doing, body)


def connect(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any],
            unreachable: str = "") -> Api:
    """The API the command's arguments point at: ``--url``, else the configuration's
    server (then its ``web.admin_token`` is the last resort for the token)."""
    url = getattr(args, "url", None)
    flag, flag_file = getattr(args, "auth_token", None), getattr(args, "auth_token_file", None)
    if url:
        base = parse_url(url)
        token = resolve_token(flag, flag_file)
        hint, config_path = unreachable, ""
    else:
        config = load(args)
        base = api_base(config)
        token = resolve_token(flag, flag_file, config.admin_token,
                              f"web.admin_token of {config.path}")
        hint = "; is `zuulish run` running with this configuration?" + unreachable
        config_path = str(config.path)
    host = urlsplit(base).hostname or ""
    if token is not None and base.startswith("http://") and not is_loopback(host):
        print(f"zuulish: warning: the token goes over plain http to {host}, where anyone "
              "on the way can read it; use an https:// --url", file=sys.stderr)
    return Api(base, token, hint, config_path)


def add_api_arguments(parser: argparse.ArgumentParser) -> None:
    """``--url``, ``--auth-token`` and ``--auth-token-file`` on a command that calls
    the web API."""
    parser.add_argument("--url", help="the server's base URL, e.g. https://zuulish.example.com "
                        "(default: web.listen of the configuration, which is then read)")
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--auth-token", metavar="TOKEN",
                       help=f"a JSON Web Token to send (default: ${ENV_VAR}, else, without "
                            "--url, the configuration's web.admin_token); other users can "
                            "see a command's arguments: prefer --auth-token-file or "
                            f"${ENV_VAR}")
    token.add_argument("--auth-token-file", metavar="PATH",
                       help="read the token from this file (not readable by other users)")
