"""HTTP credentials for the git fetches of the merger and the executor.

GitHub and Gerrit repositories are often private: git fetches them over HTTPS
with HTTP basic authentication (a GitHub App's installation token as the
password of ``x-access-token``, a personal token, a Gerrit account's HTTP
password). Each connection that needs them supplies a ``GitCredentials``: asked
for the credentials of a fetch URL at every fetch (an installation token changes
every hour), answering only for URLs under the prefix it was built for
(``ScopedCredentials``), so a credential is never sent to another host — nor to
another path of its host than the one it was given for. A URL that two parsers
could read differently (a user name before the host, ``.``/``..`` segments,
backslashes, spaces) matches no prefix.

The secret reaches git in the environment of that one git process only
(``GitAuth.env``): git's ``GIT_CONFIG_COUNT`` / ``GIT_CONFIG_KEY_n`` /
``GIT_CONFIG_VALUE_n`` (git 2.31 and later) set ``http.<url>.extraHeader`` to
``Authorization: Basic ...`` for the URL being fetched. Never a file, never the
command line (``/proc/*/cmdline`` is readable by every user; ``environ`` by the
owner only), never the URL: the URLs in the store and the repositories'
configuration stay free of secrets.

Redirects. curl drops an ``Authorization`` header it was given when it follows a
redirect to another host, but git, after a redirect of its first request
(``http.followRedirects=initial``, the default), sends every later request of
the fetch to the new location with its extra headers: to another host too. So
with credentials redirects are not followed at all (``http.followRedirects=false``)
and a redirect fails the fetch, saying so: configure the repository's current
URL (a renamed GitHub repository answers with one).
"""

from __future__ import annotations

import base64
import functools
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import unquote, urlsplit

from zuulish.errors import ConfigError
from zuulish.hosts import is_loopback
from zuulish.merger.gitcli import MergeError

DEFAULT_PORTS = {"http": 80, "https": 443}
REDACTED = "<redacted>"


class CredentialsError(MergeError):
    """No credentials can be had for a fetch now (the token service failed, say)."""


class AuthenticationFailed(MergeError):
    """The server refused the credentials of a fetch (or asked for some, and there were none)."""


@dataclass(frozen=True)
class HttpCredentials:
    """HTTP basic credentials (the password is never shown by ``repr``)."""

    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        for name, value in (("username", self.username), ("password", self.password)):
            if any(c in value for c in "\r\n\0"):
                raise ConfigError(f"the {name} of HTTP credentials holds a line break")
        if ":" in self.username:
            raise ConfigError("the username of HTTP basic credentials may not hold ':'")

    def header(self) -> str:
        """The value of the ``Authorization`` header."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


class GitCredentials(Protocol):
    """HTTP credentials for git fetches; called from several threads at once."""

    def credentials_for(self, url: str) -> HttpCredentials | None:
        """The credentials for fetching ``url`` now, or None (a fetch without).
        CredentialsError when they cannot be had now."""
        ...

    def refused(self, url: str, credentials: HttpCredentials) -> None:
        """The server of ``url`` refused ``credentials`` (a revoked or expired token):
        a provider that caches them forgets them, so that the fetch, tried once more,
        gets fresh ones."""
        ...


#: What a driver supplies: the credentials for a URL under its prefix, or None.
Supplier = Callable[[str], "HttpCredentials | None"]
#: Told that the server of a URL refused the credentials it was given.
Refused = Callable[[str, "HttpCredentials"], None]


@dataclass(frozen=True)
class UrlPrefix:
    """``scheme://host[:port][/path]``: matches the URLs of that scheme, host and port
    whose path is the prefix's path or below it (by whole segments)."""

    scheme: str
    host: str
    port: int
    path: str  # "/" or "/a/b/": always ends with "/"

    @classmethod
    def parse(cls, text: str) -> UrlPrefix:
        parts = _split(text)
        if parts is None or parts.query or parts.fragment:
            raise ConfigError(f"{text!r} is no http(s)://host[:port][/path] URL prefix")
        scheme, host, port, path = parts.scheme, parts.host, parts.port, parts.path
        return cls(scheme, host, port, path if path.endswith("/") else path + "/")

    def matches(self, url: str) -> bool:
        parts = _split(url)
        if parts is None or (parts.scheme, parts.host, parts.port) != \
                (self.scheme, self.host, self.port):
            return False
        return (parts.path + "/").startswith(self.path)

    def __str__(self) -> str:
        default = DEFAULT_PORTS[self.scheme] == self.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}{'' if default else f':{self.port}'}{self.path}"


@dataclass(frozen=True)
class _Parts:
    scheme: str
    host: str
    port: int
    path: str
    query: str
    fragment: str


def _split(url: str) -> _Parts | None:
    """The parts of an http(s) URL, or None for anything else (another scheme, a path
    with ``.``/``..`` segments, a user name: anything that could make two readers of
    the URL disagree on its host)."""
    if any(c.isspace() or ord(c) < 0x20 or c in "\\" for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if "@" in parts.netloc:  # zuulish's URLs carry no user; one could hide the host
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    path = parts.path or "/"
    segments = unquote(path).split("/")
    if any(s in (".", "..") for s in segments) or "%" in parts.hostname:
        return None
    return _Parts(scheme, parts.hostname.lower().rstrip("."), port or DEFAULT_PORTS[scheme],
                  path, parts.query, parts.fragment)


class ScopedCredentials:
    """``supply``'s credentials, for the URLs under ``prefix`` only.

    ``supply`` is asked at every fetch with the fetch URL (a GitHub driver maps it
    to its installation and returns that installation's current token);
    ``on_refused`` is told when the server refused what it supplied (the driver
    drops its cached token). Plain ``http://`` sends the secret readable on the
    wire: refused but to a loopback host unless ``allow_plain_http``. A prefix that
    cannot be is a ConfigError (the driver adds its configuration file).
    """

    def __init__(self, prefix: str, supply: Supplier, *, on_refused: Refused | None = None,
                 allow_plain_http: bool = False):
        self.prefix = UrlPrefix.parse(prefix)
        if self.prefix.scheme == "http" and not allow_plain_http \
                and not is_loopback(self.prefix.host):
            raise ConfigError(f"credentials for {self.prefix} would be sent unencrypted: "
                              "use https")
        self.supply = supply
        self.on_refused = on_refused

    def credentials_for(self, url: str) -> HttpCredentials | None:
        if not self.prefix.matches(url):
            return None
        return self.supply(url)

    def refused(self, url: str, credentials: HttpCredentials) -> None:
        if self.on_refused is not None and self.prefix.matches(url):
            self.on_refused(url, credentials)

    def __repr__(self) -> str:
        return f"ScopedCredentials({str(self.prefix)!r})"


def static_credentials(prefix: str, username: str, password: str, *,
                       allow_plain_http: bool = False) -> ScopedCredentials:
    """The same credentials for every URL under ``prefix`` (a personal token, a
    Gerrit HTTP password)."""
    fixed = HttpCredentials(username, password)
    return ScopedCredentials(prefix, lambda _url: fixed, allow_plain_http=allow_plain_http)


def installation_token_credentials(prefix: str, token_for: Callable[[str], str | None], *,
                                   on_refused: Callable[[str, str], None] | None = None,
                                   allow_plain_http: bool = False) -> ScopedCredentials:
    """A GitHub App's credentials: ``token_for(url)`` is the installation token of
    the repository at ``url`` now (None: not installed there), sent as GitHub
    documents, as the password of ``x-access-token``; ``on_refused(url, token)``
    when GitHub refused it (drop it: the next ``token_for`` fetches a new one)."""
    def supply(url: str) -> HttpCredentials | None:
        token = token_for(url)
        return None if token is None else HttpCredentials("x-access-token", token)

    def refused(url: str, credentials: HttpCredentials) -> None:
        if on_refused is not None:
            on_refused(url, credentials.password)

    return ScopedCredentials(prefix, supply, on_refused=refused,
                             allow_plain_http=allow_plain_http)


class CombinedCredentials:
    """Every connection's credentials: for a URL, the first answer of the providers
    whose prefix matches it, the most specific prefix asked first."""

    def __init__(self, providers: Iterable[GitCredentials] = ()):
        self.providers = list(providers)

    def credentials_for(self, url: str) -> HttpCredentials | None:
        def specificity(p: GitCredentials) -> int:
            prefix = getattr(p, "prefix", None)
            return -len(prefix.path) if isinstance(prefix, UrlPrefix) else 0

        for provider in sorted(self.providers, key=specificity):
            found = provider.credentials_for(url)
            if found is not None:
                return found
        return None

    def refused(self, url: str, credentials: HttpCredentials) -> None:
        for provider in self.providers:  # each looks at its own prefix
            provider.refused(url, credentials)


# git's words when a server refused, or asked for, credentials
_AUTH_FAILED = re.compile(r"Authentication failed|could not read (Username|Password)|"
                          r"returned error: 40[13]\b|HTTP 40[13]\b", re.IGNORECASE)
_REDIRECTED = re.compile(r"returned error: 30[1278]\b")
_NOT_FOUND = re.compile(r"repository '[^']*' not found|returned error: 404\b")


@dataclass(frozen=True)
class GitAuth:
    """The authentication of one git process that reaches ``url``."""

    url: str
    credentials: HttpCredentials | None = None

    def env(self) -> dict[str, str]:
        """Environment entries for git: the header for ``url``, no redirects, no
        prompts and no other source of credentials. Empty without credentials."""
        if self.credentials is None:
            return {}
        config = [("http.followRedirects", "false"), ("credential.helper", ""),
                  (f"http.{self.url}.extraHeader",
                   f"Authorization: {self.credentials.header()}")]
        env = {"GIT_CONFIG_COUNT": str(len(config)), "GIT_ASKPASS": "",
               "SSH_ASKPASS": "", "GIT_TERMINAL_PROMPT": "0", "GIT_TRACE_REDACT": "1"}
        for n, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{n}"] = key
            env[f"GIT_CONFIG_VALUE_{n}"] = value
        return env

    def redact(self, text: str) -> str:
        """``text`` with every form of the secret this process had replaced."""
        if self.credentials is None:
            return text
        header = self.credentials.header()
        for secret in (header, header.removeprefix("Basic "), self.credentials.password):
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    def explain(self, error: MergeError) -> MergeError:
        """``error`` (of a git command that reached ``url``) without the secret, and
        as AuthenticationFailed where the server refused or wanted credentials."""
        message = self.redact(str(error))
        if _AUTH_FAILED.search(message):
            if self.credentials is None:
                why = "the server asks for credentials and none are configured for this URL"
            else:
                why = (f"the server refused the credentials of {self.credentials.username!r} "
                       "(wrong, expired or without access to the repository)")
            return AuthenticationFailed(f"authentication failed: {why}")
        if self.credentials is not None and _REDIRECTED.search(message):
            return MergeError("the server answered with a redirect, which is not followed "
                              "with credentials (they could be sent elsewhere): configure the "
                              f"repository's current URL ({message})")
        if self.credentials is not None and _NOT_FOUND.search(message):
            # GitHub answers 404, not 403, for a private repository a token cannot see
            return MergeError("the repository was not found, or the credentials of "
                              f"{self.credentials.username!r} have no access to it ({message})")
        return error if message == str(error) else MergeError(message)


#: the first git that reads configuration from GIT_CONFIG_COUNT and its pairs
CONFIG_ENV_SINCE = (2, 31)


@functools.cache
def git_version() -> tuple[int, int]:
    """The (major, minor) version of the git that runs; (0, 0) if it cannot be told."""
    try:
        out = subprocess.run(["git", "version"], capture_output=True, text=True,
                             check=False).stdout
    except OSError:
        return (0, 0)
    found = re.search(r"(\d+)\.(\d+)", out)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def auth_for(provider: GitCredentials | None, url: str) -> GitAuth:
    """The authentication of a git process reaching ``url`` now."""
    if provider is None:
        return GitAuth(url)
    found = provider.credentials_for(url)
    if found is None:
        return GitAuth(url)
    if _split(url) is None:
        raise CredentialsError(f"{url!r} is no plain http(s) URL: credentials are not sent "
                               "to it")
    if git_version() < CONFIG_ENV_SINCE:
        # an older git ignores the variables: it would fetch without the credentials
        raise CredentialsError("fetching with credentials needs git 2.31 or later; this "
                               f"git is {'.'.join(map(str, git_version()))}")
    return GitAuth(url, found)
