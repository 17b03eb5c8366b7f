"""Attacks on the built-in forge over HTTP: whoever reaches the web server controls
the path, the headers, the credentials and the body. Wrong, missing or revoked
credentials get 401 and store nothing; paths that leave the forge's root (``..``,
``%2e%2e``, absolute paths, links, ``.git`` suffix games) get 404 and read
nothing; a user who is no administrator cannot push to a branch; a body past the
limit gets 413 and leaves no object behind; anything but git's smart protocol is
refused."""

from __future__ import annotations

import base64
import http.client
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.forge_http import ForgeServer, forge_server, git
from zuulish.store import ChangeRow, EventRow
from zuulish.store.users import create_user, delete_user, revoke_token

pytestmark = pytest.mark.store


def request(server: ForgeServer, path: str, *, method: str = "GET",
            headers: dict[str, str] | None = None, body: bytes | None = None
            ) -> http.client.HTTPResponse:
    """``path`` sent exactly as given (no client-side normalisation)."""
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)
    for name, value in (headers or {}).items():
        conn.putheader(name, value)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    answer = conn.getresponse()
    answer.read()
    conn.close()
    return answer


def basic(user: str, token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def objects(repo: Path) -> list[str]:
    """Every file under the repository's object store (loose, packs, quarantine)."""
    return sorted(str(p.relative_to(repo)) for p in (repo / "objects").rglob("*"))


def stored(server: ForgeServer) -> tuple[int, int]:
    with server.store.read() as s:
        return (len(s.scalars(select(ChangeRow)).all()), len(s.scalars(select(EventRow)).all()))


def commit(work: Path, name: str, data: bytes, message: str) -> None:
    (work / name).write_bytes(data)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)


@pytest.fixture
def server(tmp_path: Path, database_url: str):
    with forge_server(tmp_path, database_url, "max_request_bytes: 200000") as s:
        yield s


@pytest.fixture
def alice(server: ForgeServer) -> str:
    return create_user(server.store, "alice")[1]


def test_missing_or_wrong_credentials_get_401_and_store_nothing(
        tmp_path: Path, server: ForgeServer, alice: str) -> None:
    for headers in ({}, basic("alice", "zuulish_1_" + "0" * 48), basic("alice", "nope"),
                    basic("mallory", alice), {"Authorization": "Bearer zuulish_1_x"},
                    {"Authorization": "Basic !!!"}, {"Authorization": "Digest x"}):
        for service in ("git-upload-pack", "git-receive-pack"):
            answer = request(server, f"/git/org/app.git/info/refs?service={service}",
                             headers=headers)
            assert answer.status == 401, (headers, service)
            assert answer.getheader("WWW-Authenticate", "").startswith("Basic ")
    # a real push with a wrong token: refused, no change, no object in the repository
    git(tmp_path, "clone", "-q", server.repo_url("org/app", "alice", alice), "work")
    work = tmp_path / "work"
    commit(work, "a", b"a\n", "Add a\n\nChange-Id: I0123456789abcdef")
    repo = server.forge.repo_path("org/app")
    before = objects(repo)
    wrong = server.repo_url("org/app", "alice", "zuulish_1_" + "f" * 48)
    pushed = git(work, "push", wrong, "HEAD:refs/for/main", check=False)
    assert pushed.returncode != 0 and "Authentication failed" in pushed.stderr
    # a body sent straight at git-receive-pack without credentials: never reaches git
    answer = request(server, "/git/org/app.git/git-receive-pack", method="POST",
                     headers={"Content-Type": "application/x-git-receive-pack-request"},
                     body=b"0000")
    assert answer.status == 401
    assert objects(repo) == before and stored(server) == (0, 0)


def test_revoked_token_and_deleted_user_get_401(tmp_path: Path, server: ForgeServer) -> None:
    token_id, token = create_user(server.store, "bob")
    refs = "/git/org/app.git/info/refs?service=git-upload-pack"
    assert request(server, refs, headers=basic("bob", token)).status == 200
    assert request(server, refs, headers={"Authorization": f"Bearer {token}"}).status == 200
    revoke_token(server.store, token_id)
    assert request(server, refs, headers=basic("bob", token)).status == 401
    assert request(server, refs, headers={"Authorization": f"Bearer {token}"}).status == 401
    _id, second = create_user(server.store, "carol")
    delete_user(server.store, "carol")
    assert request(server, refs, headers=basic("carol", second)).status == 401


def test_a_token_is_good_only_with_its_own_user_name(server: ForgeServer, alice: str) -> None:
    create_user(server.store, "root", admin=True)
    refs = "/git/org/app.git/info/refs?service=git-receive-pack"
    assert request(server, refs, headers=basic("root", alice)).status == 401


@pytest.mark.parametrize("path", [
    "/git/../state/zuulish.db",
    "/git/org/../org/app.git/info/refs?service=git-upload-pack",
    "/git/%2e%2e/%2e%2e/etc/passwd/info/refs?service=git-upload-pack",
    "/git/org/%2e%2e/org/app.git/info/refs?service=git-upload-pack",
    "/git/org%2f..%2forg/app.git/info/refs?service=git-upload-pack",
    "/git//etc/app.git/info/refs?service=git-upload-pack",
    "/git/%2fetc/app.git/info/refs?service=git-upload-pack",
    "/git/org/app/info/refs?service=git-upload-pack",
    "/git/org/app.git.git/info/refs?service=git-upload-pack",
    "/git/org.git/app.git/info/refs?service=git-upload-pack",
    "/git/org/.app.git/info/refs?service=git-upload-pack",
    "/git/org/app.git/HEAD",
    "/git/org/app.git/objects/info/packs",
    "/git/org/app.git/config",
    "/git/org/app.git/hooks/pre-receive",
    "/git/org/nope.git/info/refs?service=git-upload-pack",
    "/git/outside.git/info/refs?service=git-upload-pack",
    "/git/org/linked.git/info/refs?service=git-upload-pack",
    "/git/linkdir/app.git/info/refs?service=git-upload-pack",
    "/git/org/app.git%00/info/refs?service=git-upload-pack",
])
def test_paths_outside_the_forge_get_404(tmp_path: Path, server: ForgeServer, alice: str,
                                         path: str) -> None:
    """Valid credentials, and still nothing outside the forge's repositories: not a
    repository outside its root reached by a link, nor one's files by the dumb
    protocol."""
    outside = tmp_path / "outside.git"
    git(tmp_path, "init", "-q", "--bare", str(outside))
    root = server.forge.root
    os.symlink(outside, root / "org" / "linked.git")
    os.symlink(root / "org", root / "linkdir")
    os.symlink(outside, root / "outside.git")
    answer = request(server, path, headers=basic("alice", alice))
    assert answer.status == 404, answer.status


def test_non_admin_push_to_a_branch_is_refused_with_the_hooks_message(
        tmp_path: Path, server: ForgeServer, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # not even when the web server itself runs with the administrator's variable set
    monkeypatch.setenv("ZUULISH_FORGE_ADMIN", "1")
    monkeypatch.setenv("ZUULISH_FORGE_USER", "root")
    git(tmp_path, "clone", "-q", server.repo_url("org/app", "alice", alice), "work")
    work = tmp_path / "work"
    commit(work, "a", b"a\n", "Add a")
    tip = server.forge.branch_tip("org/app", "main")
    pushed = git(work, "push", "origin", "HEAD:main", check=False)
    assert pushed.returncode != 0
    assert "refs/heads/main: push to refs/for/main for review" in pushed.stderr
    assert server.forge.branch_tip("org/app", "main") == tip
    # a tag, or deleting the branch: refused too
    pushed = git(work, "push", "origin", "HEAD:refs/tags/v1", check=False)
    assert pushed.returncode != 0 and "only pushes for review" in pushed.stderr
    pushed = git(work, "push", "origin", ":main", check=False)
    assert pushed.returncode != 0 and server.forge.branch_tip("org/app", "main") == tip
    assert stored(server) == (0, 0)


def test_components_credential_never_pushes(tmp_path: Path, server: ForgeServer) -> None:
    from zuulish.drivers.git.http_auth import COMPONENT_USER, component_password

    password = component_password(tmp_path / "state")
    auth = basic(COMPONENT_USER, password)
    assert request(server, "/git/org/app.git/info/refs?service=git-upload-pack",
                   headers=auth).status == 200
    assert request(server, "/git/org/app.git/info/refs?service=git-receive-pack",
                   headers=auth).status == 403
    assert request(server, "/git/org/app.git/git-receive-pack", method="POST",
                   headers={**auth,
                            "Content-Type": "application/x-git-receive-pack-request"},
                   body=b"0000").status == 403
    wrong = basic(COMPONENT_USER, password[:-1] + ("0" if password[-1] != "0" else "1"))
    assert request(server, "/git/org/app.git/info/refs?service=git-upload-pack",
                   headers=wrong).status == 401


@pytest.mark.parametrize("post_buffer", ["1m", "100k"])
def test_push_past_the_limit_gets_413_and_leaves_no_objects(
        tmp_path: Path, server: ForgeServer, alice: str, post_buffer: str) -> None:
    """With a Content-Length (answered before git runs) and chunked (cut off while
    streaming): nothing stored, no object or quarantine left in the repository."""
    git(tmp_path, "clone", "-q", server.repo_url("org/app", "alice", alice), "work")
    work = tmp_path / "work"
    commit(work, "big", os.urandom(400_000), "Add big\n\nChange-Id: I0123456789abcdef")
    repo = server.forge.repo_path("org/app")
    before = objects(repo)
    pushed = git(work, "-c", f"http.postBuffer={post_buffer}", "push", "origin",
                 "HEAD:refs/for/main", check=False)
    assert pushed.returncode != 0
    assert "HTTP 413" in pushed.stderr
    assert objects(repo) == before and stored(server) == (0, 0)
    subprocess.run(["git", "fsck", "--no-progress"], cwd=repo, check=True,
                   capture_output=True)


def test_requests_that_are_not_gits_smart_protocol_are_refused(server: ForgeServer,
                                                               alice: str) -> None:
    auth = basic("alice", alice)
    assert request(server, "/git/org/app.git/info/refs", headers=auth).status == 400
    assert request(server, "/git/org/app.git/info/refs?service=git-shell",
                   headers=auth).status == 400
    for endpoint in ("git-upload-pack", "git-receive-pack"):
        for content_type in (None, "application/json", "application/x-git-upload-pack-result",
                             "text/plain"):
            headers = dict(auth)
            if content_type:
                headers["Content-Type"] = content_type
            answer = request(server, f"/git/org/app.git/{endpoint}", method="POST",
                             headers=headers, body=b"0000")
            assert answer.status == 415, (endpoint, content_type)
        assert request(server, f"/git/org/app.git/{endpoint}", headers=auth).status == 405
    # a Git-Protocol header is passed on only when it looks like one
    answer = request(server, "/git/org/app.git/info/refs?service=git-upload-pack",
                     headers={**auth, "Git-Protocol": "version=2; rm -rf /"})
    assert answer.status == 200
    assert stored(server) == (0, 0)
