"""The built-in forge over HTTP: a real git client clones, fetches and pushes for
review against the real web application on 127.0.0.1, with users' tokens, the
components' credential and per-project anonymous read."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.forge_http import ForgeServer, forge_server, git
from zuulish.cli import main
from zuulish.drivers.git.http_auth import COMPONENT_USER, component_password
from zuulish.merger.credentials import AuthenticationFailed
from zuulish.merger.repo_cache import RepoCache
from zuulish.store import ChangeRow, EventRow
from zuulish.store.users import create_user

pytestmark = pytest.mark.store


def commit(work: Path, name: str, message: str) -> str:
    (work / name).write_text(f"{name}\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD").stdout.strip()


def changes(server: ForgeServer) -> list[ChangeRow]:
    with server.store.read() as s:
        return list(s.scalars(select(ChangeRow).order_by(ChangeRow.number)))


def events(server: ForgeServer) -> list[EventRow]:
    with server.store.read() as s:
        return list(s.scalars(select(EventRow).order_by(EventRow.id)))


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_user_clones_and_pushes_for_review_and_owns_the_change(tmp_path: Path,
                                                               database_url: str) -> None:
    with forge_server(tmp_path, database_url) as server:
        _id, token = create_user(server.store, "alice", email="alice@example.org")
        git(tmp_path, "clone", "-q", server.repo_url("org/app", "alice", token), "work")
        work = tmp_path / "work"
        assert (work / "README").read_text() == "hello\n"
        sha = commit(work, "a", "Add a\n\nChange-Id: I0123456789abcdef")
        out = git(work, "push", "origin", "HEAD:refs/for/main")
        assert f"New change: {server.url}/c/org/app/+/1 Add a" in out.stderr
        [row] = changes(server)
        assert (row.number, row.patchset, row.commit_sha, row.owner) == (1, 1, sha, "alice")
        [event] = events(server)
        assert (event.type, event.change_number) == ("patchset-created", 1)
        assert event.data["uploader"] == "alice"
        refs = git(server.forge.repo_path("org/app"), "for-each-ref",
                   "--format=%(refname)").stdout
        assert "refs/changes/01/1/1" in refs and "refs/for/" not in refs
        assert server.forge.branch_tip("org/app", "main") != sha  # only the gate merges
        # a new patch set, pushed by another user, keeps the change's owner
        _id, bob = create_user(server.store, "bob")
        (work / "a").write_text("better\n")
        git(work, "commit", "-q", "-a", "--amend", "--no-edit")
        out = git(work, "push", server.repo_url("org/app", "bob", bob), "HEAD:refs/for/main")
        assert "patch set 2" in out.stderr
        [row] = changes(server)
        assert (row.patchset, row.owner) == (2, "alice")
        assert events(server)[-1].data["uploader"] == "bob"
        # and the change's patch set is fetched back over HTTP
        git(work, "fetch", "-q", "origin", "refs/changes/01/1/2")
        assert git(work, "rev-parse", "FETCH_HEAD").stdout.strip() == row.commit_sha


def test_bearer_token_clones_and_pushes(tmp_path: Path, database_url: str) -> None:
    with forge_server(tmp_path, database_url) as server:
        _id, token = create_user(server.store, "carol")
        header = f"http.extraHeader=Authorization: Bearer {token}"
        git(tmp_path, "-c", header, "clone", "-q", server.repo_url("org/app"), "work")
        work = tmp_path / "work"
        commit(work, "b", "Add b\n\nChange-Id: I1111111111111111")
        git(work, "-c", header, "push", "origin", "HEAD:refs/for/main")
        assert [r.owner for r in changes(server)] == ["carol"]


def test_admin_pushes_straight_to_a_branch(tmp_path: Path, database_url: str) -> None:
    with forge_server(tmp_path, database_url) as server:
        _id, token = create_user(server.store, "root", admin=True)
        git(tmp_path, "clone", "-q", server.repo_url("org/app", "root", token), "work")
        work = tmp_path / "work"
        sha = commit(work, "c", "Add c")
        git(work, "push", "origin", "HEAD:main")
        assert server.forge.branch_tip("org/app", "main") == sha
        [event] = events(server)
        assert (event.type, event.data["newrev"]) == ("ref-updated", sha)


def test_anonymous_read_is_a_per_project_choice(tmp_path: Path, database_url: str) -> None:
    with forge_server(tmp_path, database_url, "anonymous_read: [org/public]") as server:
        server.forge.create_project("org/public", {"README": "open\n"})
        git(tmp_path, "clone", "-q", server.repo_url("org/public"), "public")
        assert (tmp_path / "public" / "README").read_text() == "open\n"
        refused = git(tmp_path, "clone", "-q", server.repo_url("org/app"), "app", check=False)
        assert refused.returncode != 0 and not (tmp_path / "app").exists()
        assert status_of(f"{server.url}/git/org/app.git/info/refs?service=git-upload-pack") \
            == 401
        # anonymous push: never, not even where anyone may read
        work = tmp_path / "public"
        commit(work, "d", "Add d\n\nChange-Id: I2222222222222222")
        pushed = git(work, "push", "origin", "HEAD:refs/for/main", check=False)
        assert pushed.returncode != 0 and changes(server) == []


def test_anonymous_read_true_opens_every_project(tmp_path: Path, database_url: str) -> None:
    with forge_server(tmp_path, database_url, "anonymous_read: true") as server:
        git(tmp_path, "clone", "-q", server.repo_url("org/app"), "app")
        assert (tmp_path / "app" / "README").exists()


def test_fetch_with_a_compressed_request_and_protocol_v2(tmp_path: Path,
                                                         database_url: str) -> None:
    """Many local commits make git compress its upload-pack request (gzip); both
    protocol versions negotiate over the web server."""
    with forge_server(tmp_path, database_url) as server:
        _id, token = create_user(server.store, "dave", admin=True)
        url = server.repo_url("org/app", "dave", token)
        git(tmp_path, "clone", "-q", url, "one")
        git(tmp_path, "clone", "-q", url, "two")
        one, two = tmp_path / "one", tmp_path / "two"
        for n in range(60):
            commit(two, f"local{n}", f"Local {n}")  # haves the server never saw
        upstream = commit(one, "up", "Upstream")
        git(one, "push", "-q", "origin", "HEAD:main")
        for version in ("0", "2"):
            git(two, "-c", f"protocol.version={version}", "fetch", "-q", "origin")
            assert git(two, "rev-parse", "origin/main").stdout.strip() == upstream


def test_components_fetch_over_http_with_the_key_derived_credential(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """With ``url`` set, mergers and executors are handed the HTTP URL and fetch it
    with the credential derived from secrets.key; `project clone-url` prints it."""
    with forge_server(tmp_path, database_url, "url: '{url}/git'") as server:
        url = server.connections.sources["forge"].project_url("org/app")
        assert url == f"{server.url}/git/org/app.git"
        cache = RepoCache(tmp_path / "cache", credentials=server.connections.git_credentials)
        repo = cache.ensure("org/app", url)
        tip = server.forge.branch_tip("org/app", "main")
        assert tip in git(repo, "for-each-ref", "--format=%(objectname)").stdout
        # without the credential the same fetch is refused
        bare = RepoCache(tmp_path / "bare-cache")
        with pytest.raises(AuthenticationFailed):
            bare.ensure("org/app", url)
        # the same credential, by hand: it reads, and it never pushes
        password = component_password(tmp_path / "state")
        basic = base64.b64encode(f"{COMPONENT_USER}:{password}".encode()).decode()
        refs = f"{server.url}/git/org/app.git/info/refs?service="
        assert status_of(refs + "git-upload-pack", {"Authorization": f"Basic {basic}"}) == 200
        assert status_of(refs + "git-receive-pack", {"Authorization": f"Basic {basic}"}) == 403
        assert status_of(refs + "git-upload-pack") == 401  # nobody else reads it
        assert main(["-c", str(server.config), "project", "clone-url", "org/app"]) == 0
        assert capsys.readouterr().out == f"{server.url}/git/org/app.git\n"


def test_user_commands_create_list_token_revoke_and_delete(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with forge_server(tmp_path, database_url) as server:
        cfg = str(server.config)
        assert main(["-c", cfg, "user", "create", "erin", "--admin",
                     "--email", "erin@example.org"]) == 0
        out = capsys.readouterr().out
        first = out.splitlines()[-1]
        assert out.startswith("created administrator erin") and first.startswith("zuulish_")
        git(tmp_path, "clone", "-q", server.repo_url("org/app", "erin", first), "a")
        assert main(["-c", cfg, "user", "token", "erin"]) == 0
        second = capsys.readouterr().out.splitlines()[-1]
        assert main(["-c", cfg, "user", "list"]) == 0
        listed = capsys.readouterr().out
        assert "erin  admin  erin@example.org  tokens: 1,2" in listed
        assert main(["-c", cfg, "user", "revoke", "1"]) == 0
        assert "revoked token 1 of erin" in capsys.readouterr().out
        assert main(["-c", cfg, "user", "list"]) == 0
        assert "tokens: 2 (revoked: 1)" in capsys.readouterr().out
        refused = git(tmp_path, "clone", "-q", server.repo_url("org/app", "erin", first), "b",
                      check=False)
        assert refused.returncode != 0
        git(tmp_path, "clone", "-q", server.repo_url("org/app", "erin", second), "c")
        assert main(["-c", cfg, "user", "create", "erin"]) == 1
        assert "a user named 'erin' already exists" in capsys.readouterr().err
        assert main(["-c", cfg, "user", "create", "zuulish-component"]) == 1
        assert "reserved" in capsys.readouterr().err
        assert main(["-c", cfg, "user", "delete", "erin"]) == 0
        capsys.readouterr()
        refused = git(tmp_path, "clone", "-q", server.repo_url("org/app", "erin", second), "d",
                      check=False)
        assert refused.returncode != 0
        assert main(["-c", cfg, "user", "revoke", "99"]) == 1
        assert "no token with id 99" in capsys.readouterr().err


def test_push_through_the_web_process_reaches_the_running_server_with_its_user(
        tmp_path: Path) -> None:
    """As in ``zuulish run``: the web server in its own process runs the hooks, which
    hand the push (and who made it) to the server's intake, which records it."""
    from zuulish.drivers.git.hook import proc_receive
    from zuulish.drivers.git.intake import IntakeServer
    from zuulish.drivers.registry import make_connections, trigger_parsers
    from zuulish.runner import free_port
    from zuulish.scheduler.layouts import TenantLayouts
    from zuulish.server_config import load_server_config
    from zuulish.store import Store
    from zuulish.web.process import WebProcess

    port = free_port()
    (tmp_path / "main.yaml").write_text("- tenant:\n    name: t\n")
    (tmp_path / "zuulish.yaml").write_text(
        f"state_dir: state\ntenant_file: main.yaml\n"
        f"web: {{listen: '127.0.0.1:{port}', url: 'http://127.0.0.1:{port}'}}\n"
        "connections: {forge: {driver: git}}\n")
    config = load_server_config(tmp_path / "zuulish.yaml")
    config.state_dir.mkdir()
    store = Store(config.database)
    store.upgrade()
    forge = make_connections(config, store).forges["forge"]
    forge.create_project("org/app", {"README": "hello\n"})
    _id, token = create_user(store, "frank")
    handed: list[str | None] = []

    def handler(connection, project, commands, user):
        handed.append(user)
        return proc_receive(forge, project, commands, owner=user)

    intake = IntakeServer(config.path, handler)
    assert intake.start()
    layouts = TenantLayouts(config.tenant_file, {"forge": "git"}, {}, trigger_parsers())
    layouts.load_all()
    web = WebProcess(config, layouts)
    web.start()
    try:
        url = f"http://frank:{token}@127.0.0.1:{port}/git/org/app.git"
        git(tmp_path, "clone", "-q", url, "work")
        commit(tmp_path / "work", "g", "Add g\n\nChange-Id: I3333333333333333")
        out = git(tmp_path / "work", "push", "origin", "HEAD:refs/for/main")
        assert "New change:" in out.stderr
    finally:
        web.stop()
        intake.stop()
    assert handed == ["frank"]
    with store.read() as s:
        assert [r.owner for r in s.scalars(select(ChangeRow))] == ["frank"]
    store.dispose()


APP_CONFIG = """
- job:
    name: app-test
    parent: run-shell
    vars:
      command: test "$(cat value.txt)" = good
- project:
    check:
      jobs: [app-test]
    gate:
      jobs: [app-test]
"""


@pytest.mark.slow
def test_the_gate_merges_with_merger_and_executor_fetching_over_http(
        tmp_path: Path, database_url: str) -> None:
    """With ``url`` set, the merger and the executor get every repository from the
    web server (with the components' credential), and the gate still merges."""
    from tests.fakes.tenant import GateTenant
    from tests.fakes.web_server import served
    from zuulish.runner import free_port
    from zuulish.web.app import create_app

    port = free_port()
    tenant = GateTenant(tmp_path, database_url, {
        "org/app": {".zuul.yaml": APP_CONFIG, "value.txt": "good\n"}},
        connections={"forge": {"driver": "git", "url": f"http://127.0.0.1:{port}/git"}})
    aio = tenant.aio
    # who the forge's web routes let in, as they let them in
    http = aio.connections.routes[0].handler.__self__  # type: ignore[attr-defined]
    identify = http.auth.identify
    seen: list[str | None] = []

    def recording(header: str | None):
        identity = identify(header)
        seen.append(identity.name if identity is not None else None)
        return identity

    http.auth.identify = recording

    with served(lambda _url: create_app(aio.store, aio.layouts, aio.config.state_dir, _url,
                                        extra_routes=aio.connections.routes), port):
        tenant.start()
        try:
            number = tenant.push("org/app", {"new.txt": "x\n"}, "Over HTTP")
            assert tenant.wait_reported(number, "check").result == "SUCCESS"
            tenant.approve(number)
            tenant.wait_for(lambda: tenant.change(number).status == "MERGED", 180,
                            "the change merged")
            assert tenant.branch_file("org/app", "new.txt") == "x\n"
        finally:
            tenant.stop()
    assert tenant.forge.clone_url("org/app") == f"http://127.0.0.1:{port}/git/org/app.git"
    # every request came from the components, with their credential, and none failed
    assert seen and set(seen) == {COMPONENT_USER}
    for cache in ("merger-cache", "executor-cache"):
        assert any((aio.config.state_dir / cache).rglob("org/app*")), cache
