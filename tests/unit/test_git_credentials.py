"""Private repositories over HTTPS: the merger and the executor fetch them with the
HTTP credentials their connection supplies (a GitHub installation token, a
personal token, a Gerrit HTTP password), asked for at every fetch, sent only to
the host (and path) they belong to. A real git smart-HTTP server on 127.0.0.1
(``git http-backend``) asks for HTTP basic authentication."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.git_http import GitHttpServer
from tests.fakes.gitrepo import Repo, git
from zuulish.app import AllInOne
from zuulish.drivers.registry import FACTORIES, ConnectionParts
from zuulish.errors import ConfigError
from zuulish.executor.workspace import WorkspaceError, prepare_repo
from zuulish.merger import credentials
from zuulish.merger.credentials import (
    AuthenticationFailed,
    CombinedCredentials,
    CredentialsError,
    GitAuth,
    HttpCredentials,
    ScopedCredentials,
    UrlPrefix,
    auth_for,
    installation_token_credentials,
    static_credentials,
)
from zuulish.merger.gitcli import MergeError
from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.worker import build_state
from zuulish.server_config import load_server_config

TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[GitHttpServer, Repo]]:
    """``org/p`` served privately: only ``x-access-token`` with ``TOKEN`` may fetch it."""
    work = Repo(tmp_path / "work")
    root = tmp_path / "served"
    git(tmp_path, "clone", "-q", "--bare", str(work.path), str(root / "org" / "p.git"))
    git(work.path, "remote", "add", "origin", str(root / "org" / "p.git"))
    with GitHttpServer(root, accepted={("x-access-token", TOKEN)}) as server:
        yield server, work


def _token(server: GitHttpServer, token: str = TOKEN) -> ScopedCredentials:
    return installation_token_credentials(server.url, lambda _url: token)


def _push(work: Repo, files: dict[str, str], message: str) -> str:
    sha = work.commit(files, message)
    git(work.path, "push", "-q", "origin", "HEAD:refs/heads/main")
    return sha


# ---------------------------------------------------------------- which URLs

@pytest.mark.parametrize("url", [
    "https://github.com/org/p.git", "https://GitHub.com/org/p", "https://github.com:443/org/p",
    "https://github.com./org/p.git",
])
def test_a_prefix_matches_urls_of_its_host(url: str) -> None:
    assert UrlPrefix.parse("https://github.com").matches(url)


@pytest.mark.parametrize("url", [
    "https://github.com.evil.example/org/p.git",  # a longer host
    "https://github.com@evil.example/org/p.git",  # the host after the user name
    "https://user@github.com/org/p.git", "https://a@evil.example@github.com/org/p.git",
    "https://evil.example/github.com/org/p.git",  # the host in the path
    "https://evil.example/?https://github.com/org/p.git",
    "http://github.com/org/p.git",  # another scheme
    "https://github.com:8443/org/p.git",  # another port
    "ssh://github.com/org/p.git", "git@github.com:org/p.git", "/srv/git/org/p.git",
    "https://github.com\\@evil.example/org/p.git", "https://github.com%2eevil.example/p",
    "", "not a url",
])
def test_a_prefix_does_not_match_urls_of_another_host(url: str) -> None:
    assert not UrlPrefix.parse("https://github.com").matches(url)


@pytest.mark.parametrize(("url", "matches"), [
    ("https://gerrit.example/a/org/p", True), ("https://gerrit.example/a", True),
    ("https://gerrit.example/ab/p", False), ("https://gerrit.example/b/p", False),
    ("https://gerrit.example/a/../b/p", False), ("https://gerrit.example/a/%2e%2e/b/p", False),
    ("https://gerrit.example/a/./p", False),
])
def test_a_path_prefix_matches_whole_segments_and_no_dot_segments(url: str,
                                                                   matches: bool) -> None:
    assert UrlPrefix.parse("https://gerrit.example/a/").matches(url) is matches


@pytest.mark.parametrize("prefix", ["github.com", "ftp://github.com/", "https://u:p@github.com/",
                                    "https://github.com/?x=1", "https:///path"])
def test_a_prefix_that_is_no_http_url_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ConfigError, match="is no http"):
        UrlPrefix.parse(prefix)


def test_plain_http_credentials_are_refused_but_for_loopback_hosts() -> None:
    with pytest.raises(ConfigError, match="sent unencrypted: use https"):
        static_credentials("http://gerrit.example/", "zuul", "pw")
    assert static_credentials("http://127.0.0.1:8080/", "zuul", "pw").credentials_for(
        "http://127.0.0.1:8080/p") == HttpCredentials("zuul", "pw")
    allowed = static_credentials("http://gerrit.lab/", "zuul", "pw", allow_plain_http=True)
    assert allowed.credentials_for("http://gerrit.lab/p") is not None


def test_the_supplier_is_asked_only_for_urls_under_its_prefix() -> None:
    asked: list[str] = []

    def supply(url: str) -> HttpCredentials:
        asked.append(url)
        return HttpCredentials("x-access-token", TOKEN)

    scoped = ScopedCredentials("https://github.com/", supply)
    assert scoped.credentials_for("https://gitlab.example/org/p.git") is None
    assert scoped.credentials_for("https://github.com/org/p.git") is not None
    assert asked == ["https://github.com/org/p.git"]


def test_combined_credentials_ask_the_most_specific_prefix_first_then_the_others() -> None:
    host = static_credentials("https://git.example/", "host-wide", "a")
    team = ScopedCredentials("https://git.example/team/",
                             lambda url: HttpCredentials("team", "b") if "p.git" in url else None)
    both = CombinedCredentials([host, team])
    assert both.credentials_for("https://git.example/team/p.git").username == "team"
    assert both.credentials_for("https://git.example/team/q.git").username == "host-wide"
    assert both.credentials_for("https://git.example/other/p.git").username == "host-wide"
    assert both.credentials_for("https://elsewhere.example/team/p.git") is None
    assert CombinedCredentials().credentials_for("https://git.example/p.git") is None


def test_credentials_never_show_their_password() -> None:
    creds = HttpCredentials("x-access-token", TOKEN)
    assert TOKEN not in repr(creds) and TOKEN not in str(creds)
    assert creds.header() == "Basic " + base64.b64encode(
        f"x-access-token:{TOKEN}".encode()).decode()
    with pytest.raises(ConfigError, match="line break"):
        HttpCredentials("zuul", "pw\r\nX-Injected: 1")
    with pytest.raises(ConfigError, match="may not hold ':'"):
        HttpCredentials("a:b", "pw")


def test_the_header_goes_to_git_in_its_environment_scoped_to_the_url() -> None:
    env = GitAuth("https://github.com/org/p.git", HttpCredentials("x-access-token", TOKEN)).env()
    keys = {env[k]: env[k.replace("KEY", "VALUE")] for k in env if k.startswith("GIT_CONFIG_KEY")}
    assert keys["http.https://github.com/org/p.git.extraHeader"] == \
        "Authorization: " + HttpCredentials("x-access-token", TOKEN).header()
    assert keys["http.followRedirects"] == "false"
    assert int(env["GIT_CONFIG_COUNT"]) == len(keys)
    assert GitAuth("https://github.com/org/p.git").env() == {}


def test_a_provider_answering_for_a_url_that_is_no_plain_http_url_gets_nothing_sent() -> None:
    class Careless:
        def credentials_for(self, url: str) -> HttpCredentials:
            return HttpCredentials("x-access-token", TOKEN)

    with pytest.raises(CredentialsError, match="is no plain http"):
        auth_for(Careless(), "https://github.com/org/p.git\n[http]\n")
    assert auth_for(Careless(), "https://github.com/org/p.git").credentials is not None


def test_a_git_too_old_to_take_the_header_from_the_environment_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(credentials, "git_version", lambda: (2, 30))
    with pytest.raises(CredentialsError, match="needs git 2.31 or later; this git is 2.30"):
        auth_for(static_credentials("https://github.com/", "x-access-token", TOKEN),
                 "https://github.com/org/p.git")
    assert auth_for(static_credentials("https://github.com/", "x-access-token", TOKEN),
                    "/srv/git/org/p.git").credentials is None  # nothing to send: fine


# ------------------------------------------------------- fetching, for real

def test_the_merger_clones_and_fetches_a_private_repository(
        served: tuple[GitHttpServer, Repo], tmp_path: Path) -> None:
    server, work = served
    url = f"{server.url}/org/p.git"
    cache = RepoCache(tmp_path / "cache", credentials=_token(server))
    state = build_state(cache, {"projects": {"org/p": {"connection": "gh", "url": url}}})
    assert state["status"] == "merged"
    assert state["repo_state"]["org/p"]["base"] == git(work.path, "rev-parse", "HEAD")
    assert state["repo_state"]["org/p"]["url"] == url
    newer = _push(work, {"b.txt": "b\n"}, "Second")
    path = cache.fetch("org/p", url)
    assert git(path, "rev-parse", "refs/heads/main") == newer
    assert all(s.authorization == HttpCredentials("x-access-token", TOKEN).header()
               for s in server.seen)
    assert git(path, "config", "--list").find(TOKEN) == -1
    assert "remote." not in git(path, "config", "--list")


def test_the_executor_prepares_a_private_repository(served: tuple[GitHttpServer, Repo],
                                                    tmp_path: Path) -> None:
    server, work = served
    url = f"{server.url}/org/p.git"
    merger = RepoCache(tmp_path / "merger", credentials=_token(server))
    state = build_state(merger, {"projects": {"org/p": {"connection": "gh", "url": url}}})
    executor = RepoCache(tmp_path / "executor", credentials=_token(server))
    repo = prepare_repo(executor, "org/p", state["repo_state"]["org/p"], tmp_path / "w", "h")
    assert (repo.path / "README").read_text() == "hello\n"
    assert git(repo.path, "remote", "get-url", "origin") == "file:///dev/null"


@pytest.mark.parametrize("wrong", ["ghs_expired0000000000000000000000000000", ""])
def test_a_refused_credential_fails_the_fetch_naming_the_repository(
        served: tuple[GitHttpServer, Repo], tmp_path: Path, wrong: str) -> None:
    server, _ = served
    cache = RepoCache(tmp_path / "cache", credentials=_token(server, wrong))
    with pytest.raises(AuthenticationFailed) as caught:
        cache.ensure("org/p", f"{server.url}/org/p.git")
    message = str(caught.value)
    assert message.startswith(f"cannot fetch org/p from {server.url}/org/p.git: "
                              "authentication failed: the server refused the credentials of "
                              "'x-access-token' (wrong, expired or without access"), message
    assert wrong not in message or not wrong
    assert HttpCredentials("x-access-token", wrong).header()[6:] not in message
    assert not (tmp_path / "cache" / "org" / "p.git").exists()


def test_an_expired_credential_fails_a_fetch_into_an_existing_clone(
        served: tuple[GitHttpServer, Repo], tmp_path: Path) -> None:
    server, _ = served
    current = {"token": TOKEN}
    cache = RepoCache(tmp_path / "cache", credentials=installation_token_credentials(
        server.url, lambda _url: current["token"]))
    path = cache.ensure("org/p", f"{server.url}/org/p.git")
    current["token"] = "ghs_expired"
    with pytest.raises(AuthenticationFailed, match="^cannot fetch org/p from .*: authentication "
                                                   "failed: the server refused"):
        cache.ensure("org/p", f"{server.url}/org/p.git")
    assert (path / "HEAD").exists()  # the clone is kept: the remote refused, it is not broken


def test_a_private_repository_without_credentials_says_none_are_configured(
        served: tuple[GitHttpServer, Repo], tmp_path: Path) -> None:
    server, _ = served
    with pytest.raises(AuthenticationFailed, match="cannot fetch org/p from .*: authentication "
                                                   "failed: the server asks for credentials "
                                                   "and none are configured for this URL"):
        RepoCache(tmp_path / "cache").ensure("org/p", f"{server.url}/org/p.git")


def test_a_repository_the_credentials_cannot_see_says_so(
        served: tuple[GitHttpServer, Repo], tmp_path: Path) -> None:
    server, _ = served
    with pytest.raises(MergeError, match="cannot fetch org/gone from .*: the repository was "
                                         "not found, or the credentials of 'x-access-token' "
                                         "have no access to it"):
        RepoCache(tmp_path / "cache", credentials=_token(server)).ensure(
            "org/gone", f"{server.url}/org/gone.git")


def test_a_refused_credential_is_the_builds_error(served: tuple[GitHttpServer, Repo],
                                                  tmp_path: Path) -> None:
    server, _ = served
    url = f"{server.url}/org/p.git"
    state = build_state(RepoCache(tmp_path / "merger", credentials=_token(server)),
                        {"projects": {"org/p": {"connection": "gh", "url": url}}})
    executor = RepoCache(tmp_path / "executor", credentials=_token(server, "ghs_old"))
    with pytest.raises(WorkspaceError, match="cannot fetch org/p from .*: authentication failed"):
        prepare_repo(executor, "org/p", state["repo_state"]["org/p"], tmp_path / "w", "h")


def test_a_refreshed_token_is_used_on_the_next_fetch(served: tuple[GitHttpServer, Repo],
                                                     tmp_path: Path) -> None:
    server, work = served
    current = {"token": TOKEN}
    asked: list[str] = []

    def token_for(url: str) -> str:
        asked.append(url)
        return current["token"]

    cache = RepoCache(tmp_path / "cache",
                      credentials=installation_token_credentials(server.url, token_for))
    url = f"{server.url}/org/p.git"
    cache.ensure("org/p", url)
    # the hour is over: GitHub takes only the new installation token
    server.accepted = {("x-access-token", "ghs_refreshed")}
    current["token"] = "ghs_refreshed"
    newer = _push(work, {"c.txt": "c\n"}, "Third")
    server.seen.clear()
    asked.clear()
    path = cache.fetch("org/p", url)
    assert git(path, "rev-parse", "refs/heads/main") == newer
    assert asked == [url]
    assert {s.authorization for s in server.seen} == \
        {HttpCredentials("x-access-token", "ghs_refreshed").header()}


class TokenCache:
    """A driver's installation token cache: minted on demand, dropped when refused."""

    def __init__(self, tokens: list[str]):
        self.tokens = iter(tokens)
        self.current: str | None = None
        self.minted = 0

    def token_for(self, _url: str) -> str:
        if self.current is None:
            self.current = next(self.tokens)
            self.minted += 1
        return self.current

    def refused(self, _url: str, token: str) -> None:
        if token == self.current:
            self.current = None


def test_a_token_revoked_before_its_expiry_is_replaced_once_and_the_fetch_succeeds(
        served: tuple[GitHttpServer, Repo], tmp_path: Path) -> None:
    server, _ = served
    cache = TokenCache(["ghs_revoked", TOKEN])
    repos = RepoCache(tmp_path / "cache", credentials=installation_token_credentials(
        server.url, cache.token_for, on_refused=cache.refused))
    path = repos.ensure("org/p", f"{server.url}/org/p.git")
    assert (path / "HEAD").exists()
    assert cache.minted == 2
    assert [(s.status, s.authorization) for s in server.seen][:2] == [
        (401, HttpCredentials("x-access-token", "ghs_revoked").header()),
        (200, HttpCredentials("x-access-token", TOKEN).header())]


def test_a_fresh_token_refused_too_fails_the_fetch_without_asking_again(
        served: tuple[GitHttpServer, Repo], tmp_path: Path) -> None:
    server, _ = served
    cache = TokenCache([f"ghs_wrong{n}" for n in range(10)])
    repos = RepoCache(tmp_path / "cache", credentials=installation_token_credentials(
        server.url, cache.token_for, on_refused=cache.refused))
    with pytest.raises(AuthenticationFailed, match="authentication failed: the server refused"):
        repos.ensure("org/p", f"{server.url}/org/p.git")
    assert cache.minted == 2
    assert [s.status for s in server.seen] == [401, 401]


def test_a_supplier_that_cannot_get_a_token_fails_the_fetch_with_its_reason(
        served: tuple[GitHttpServer, Repo], tmp_path: Path) -> None:
    server, _ = served

    def broken(_url: str) -> str:
        raise CredentialsError("GitHub answered 502 to the installation token request")

    cache = RepoCache(tmp_path / "cache",
                      credentials=installation_token_credentials(server.url, broken))
    with pytest.raises(CredentialsError, match="^cannot fetch org/p from .*: GitHub answered "
                                               "502 to the installation token request$"):
        cache.ensure("org/p", f"{server.url}/org/p.git")
    assert server.seen == []


def test_a_repository_on_another_host_gets_no_credentials(
        served: tuple[GitHttpServer, Repo], tmp_path: Path) -> None:
    server, _ = served
    with GitHttpServer(server.root, host="localhost") as other:  # open, and listening
        cache = RepoCache(tmp_path / "cache", credentials=CombinedCredentials([_token(server)]))
        cache.ensure("org/p", f"{other.url}/org/p.git")
        assert other.seen and all(s.authorization is None for s in other.seen)
    assert server.seen == []


def test_a_redirect_to_another_host_is_not_followed_with_credentials(
        served: tuple[GitHttpServer, Repo], tmp_path: Path) -> None:
    """git itself, after a redirect of its first request, sends the rest of the fetch
    and its extra headers to the new host: with credentials no redirect is followed."""
    server, _ = served
    with GitHttpServer(server.root, host="localhost") as other:
        server.redirects["/moved/"] = f"{other.url}/org/"
        cache = RepoCache(tmp_path / "cache", credentials=_token(server))
        with pytest.raises(MergeError, match="cannot fetch org/p from .*: the server answered "
                                             "with a redirect, which is not followed with "
                                             "credentials"):
            cache.ensure("org/p", f"{server.url}/moved/p.git")
        assert other.seen == []


def test_the_built_in_forge_needs_no_credentials(tmp_path: Path) -> None:
    asked: list[str] = []
    repo = Repo(tmp_path / "local")
    creds = CombinedCredentials([ScopedCredentials(
        "https://github.com/", lambda url: asked.append(url) or None)])
    path = RepoCache(tmp_path / "cache", credentials=creds).ensure("org/p", str(repo.path))
    assert git(path, "rev-parse", "refs/heads/main") == git(repo.path, "rev-parse", "HEAD")
    assert asked == []


# ------------------------------------------------------------- the plumbing

PRIVATE = static_credentials("https://git.private.example/", "zuul", "pw")


def make_private_connection(name: str, options: dict, ctx: object) -> ConnectionParts:
    """A driver whose repositories are private (GitHub's and Gerrit's give theirs so)."""
    return ConnectionParts(git_credentials=PRIVATE)


def test_a_connections_credentials_reach_the_merger_and_the_executor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FACTORIES, "gerrit",
                        "tests.unit.test_git_credentials:make_private_connection")
    (tmp_path / "zuulish.yaml").write_text(
        f"state_dir: {tmp_path / 'state'}\ndatabase: sqlite:///{tmp_path / 'z.db'}\n"
        "tenant_file: main.yaml\nconnections:\n  forge: {driver: git}\n"
        "  review: {driver: gerrit, server: review.example, user: zuul}\n"
        "executor: {preload_ansible: false}\n")
    aio = AllInOne(load_server_config(tmp_path / "zuulish.yaml"))
    try:
        for cache in (aio.merger.cache, aio.executor.cache):
            assert cache.credentials is not None
            assert cache.credentials.credentials_for("https://git.private.example/a/p") == \
                HttpCredentials("zuul", "pw")
            assert cache.credentials.credentials_for(
                str(aio.project_path("forge", "org/p"))) is None
    finally:
        aio.store.dispose()
