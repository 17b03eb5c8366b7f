"""The tokens and passwords that fetch private GitHub and Gerrit repositories stay
secret: after the merger and the executor have fetched with them, none of their
forms is in any file of the state directory (the caches' ``.git/config``,
``packed-refs``, ``FETCH_HEAD``, logs, build logs), in any column of the store, in
the log, or on the command line of any process while git fetches (every user can
read ``/proc/*/cmdline``). And a credential goes to its own host only."""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.git_http import GitHttpServer
from tests.fakes.gitrepo import Repo, git
from tests.fakes.tenant import GateTenant
from zuulish.executor.repo_checkouts import RepoCheckouts
from zuulish.executor.workspace import prepare_repo
from zuulish.merger.credentials import (
    CombinedCredentials,
    HttpCredentials,
    installation_token_credentials,
    static_credentials,
)
from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.worker import build_state
from zuulish.store import Base, Store

TOKEN = "ghs_Zq8ExampleInstallationToken0123456789"
USER = "x-access-token"


def forms(username: str, password: str) -> list[str]:
    """The ways a secret could be written down: itself, in a Basic header, URL-quoted."""
    pair = f"{username}:{password}"
    return [password, base64.b64encode(pair.encode()).decode(),
            base64.b64encode(password.encode()).decode(), urllib.parse.quote(password, safe=""),
            urllib.parse.quote(pair, safe="")]


def files_holding(root: Path, secrets: list[str]) -> list[str]:
    """Every file under ``root`` (links not followed) holding one of ``secrets``."""
    found = []
    wanted = [s.encode() for s in secrets]
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {s.decode()}" for s in wanted if s in data]
    return found


def rows_holding(store: Store, secrets: list[str]) -> list[str]:
    """Every value of every column of every table (JSON columns as their text) that
    holds one of ``secrets``."""
    found = []
    with store.read() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).mappings():
                for column, value in row.items():
                    text = value if isinstance(value, str) else json.dumps(value, default=str)
                    found += [f"{table.name}.{column}" for x in secrets if x in text]
    return found


class CommandLines:
    """The command line of every process seen while a client waits on the server."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self) -> None:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    self.seen.add((entry / "cmdline").read_bytes().replace(b"\0", b" ")
                                  .decode(errors="replace"))
                except OSError:
                    continue  # gone meanwhile

    def saw_git_fetching(self) -> bool:
        """Whether git's fetch and its HTTP helper were among them (so the check counts)."""
        return any(" fetch " in line for line in self.seen) \
            and any("remote-http" in line for line in self.seen)

    def holding(self, secrets: list[str]) -> list[str]:
        return [line for line in self.seen for s in secrets if s in line]


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)


@pytest.fixture
def private(tmp_path: Path) -> Iterator[tuple[GitHttpServer, CommandLines]]:
    """``org/p`` and ``org/roles`` served privately on 127.0.0.1."""
    root = tmp_path / "served"
    for name in ("p", "roles"):
        work = Repo(tmp_path / f"work-{name}")
        git(tmp_path, "clone", "-q", "--bare", str(work.path), str(root / "org" / f"{name}.git"))
    lines = CommandLines()
    with GitHttpServer(root, accepted={(USER, TOKEN)}, on_request=lines) as server:
        yield server, lines


def test_a_merge_and_a_builds_checkouts_leave_the_token_nowhere(
        private: tuple[GitHttpServer, CommandLines], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server, lines = private
    state_dir = tmp_path / "state"
    creds = CombinedCredentials([installation_token_credentials(server.url,
                                                                lambda _url: TOKEN)])
    urls = {p: f"{server.url}/{p}.git" for p in ("org/p", "org/roles")}
    merged = build_state(RepoCache(state_dir / "merger-cache", credentials=creds),
                         {"projects": {"org/p": {"connection": "gh", "url": urls["org/p"]}}})
    assert merged["status"] == "merged", merged
    executor = RepoCache(state_dir / "executor-cache", credentials=creds)
    build_dir = state_dir / "builds" / "b1"
    repo = prepare_repo(executor, "org/p", merged["repo_state"]["org/p"], build_dir / "work",
                        "localhost")
    checkouts = RepoCheckouts(executor, build_dir, [repo],
                              {"repo_state": merged["repo_state"], "project_urls": urls,
                               "trusted_projects": ["org/roles"], "branch": "main"})
    checkouts.root("org/roles", trusted_reader=True)  # a role project's branch tip
    executor.fetch("org/p", urls["org/p"])  # and once more, into the existing clone
    assert {s.path.split("/")[1] for s in server.seen} == {"org"}
    assert all(s.authorization is not None for s in server.seen)
    secrets = forms(USER, TOKEN)
    assert files_holding(state_dir, secrets) == []
    assert (build_dir / "trusted" / "org" / "roles" / "README").exists()
    assert lines.saw_git_fetching() and lines.holding(secrets) == []
    assert not any(s in logged(caplog) for s in secrets)
    assert json.dumps(merged).find(TOKEN) == -1


def test_a_credential_is_sent_to_its_own_host_only(tmp_path: Path) -> None:
    """Two connections' credentials (a GitHub App's token, a Gerrit HTTP password),
    three hosts: each gets its own credential, the third none."""
    root = tmp_path / "served"
    work = Repo(tmp_path / "work")
    git(tmp_path, "clone", "-q", "--bare", str(work.path), str(root / "org" / "p.git"))
    gerrit = ("zuul", "gerrit-http-password-42")
    with GitHttpServer(root, accepted={(USER, TOKEN)}) as github, \
            GitHttpServer(root, accepted={gerrit}) as review, \
            GitHttpServer(root, host="localhost") as elsewhere:
        creds = CombinedCredentials([
            installation_token_credentials(github.url, lambda _url: TOKEN),
            static_credentials(review.url + "/", *gerrit)])
        cache = RepoCache(tmp_path / "cache", credentials=creds)
        for name, server in (("gh/p", github), ("gerrit/p", review), ("other/p", elsewhere)):
            cache.ensure(name, f"{server.url}/org/p.git")
        assert {s.authorization for s in github.seen} == {HttpCredentials(USER, TOKEN).header()}
        assert {s.authorization for s in review.seen} == {HttpCredentials(*gerrit).header()}
        assert elsewhere.seen and {s.authorization for s in elsewhere.seen} == {None}


@pytest.fixture
def tenant(tmp_path: Path, database_url: str,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GateTenant, GitHttpServer,
                                                          CommandLines]]:
    """A tenant whose repositories the merger and the executor reach only over HTTP with
    a token (the forge's repositories served as a private GitHub would serve them)."""
    app = ("- job:\n    name: app-test\n    parent: run-shell\n    vars:\n"
           "      command: test -f value.txt\n"
           "- project:\n    check:\n      jobs: [app-test]\n    gate:\n      jobs: [app-test]\n")
    t = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": app,
                                                        "value.txt": "good\n"}})
    lines = CommandLines()
    server = GitHttpServer(t.forge.root, accepted={(USER, TOKEN)}, on_request=lines)
    monkeypatch.setattr(t.aio.connections.sources["forge"], "project_url",
                        lambda project: f"{server.url}/{project}.git")
    t.aio.connections.git_credentials.providers.append(
        installation_token_credentials(server.url, lambda _url: TOKEN))
    t.start()
    yield t, server, lines
    t.stop()
    server.close()


@pytest.mark.slow
def test_a_gated_change_of_a_private_repository_leaves_the_token_nowhere(
        tenant: tuple[GateTenant, GitHttpServer, CommandLines],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    t, server, lines = tenant
    number = t.push("org/app", {"new.txt": "x\n"}, "A change")
    t.approve(number)
    t.wait_for(lambda: t.change(number).status == "MERGED", timeout=180, what="the merge")
    assert t.branch_file("org/app", "new.txt") == "x\n"
    fetched = {s.path.split("/info/refs")[0] for s in server.seen if "/info/refs" in s.path}
    assert "/org/app.git" in fetched  # the merger and the executor came over HTTP
    assert {s.authorization for s in server.seen} == {HttpCredentials(USER, TOKEN).header()}
    secrets = forms(USER, TOKEN)
    for cache in ("merger-cache", "executor-cache"):
        assert (t.config.state_dir / cache / "org" / "app.git" / "config").exists()
    assert files_holding(t.config.state_dir, secrets) == []
    assert rows_holding(t.aio.store, secrets) == []
    assert lines.saw_git_fetching() and lines.holding(secrets) == []
    assert not any(s in logged(caplog) for s in secrets)
