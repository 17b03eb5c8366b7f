"""The commands a newcomer reaches for: status, show, changes' filters, reviews, projects.

Each runs as a user runs it (``zuulish.cli.main``) over a real store, real git
repositories and, for ``status``, the real web server on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.fakes.gitrepo import git
from tests.functional.test_web import Server, server  # noqa: F401 (the fixture)
from zuulish.cli import main
from zuulish.runner import free_port
from zuulish.store import ChangeRow, EventRow, Store

Capture = pytest.CaptureFixture[str]


def write_config(tmp: Path, database: str, port: int = 9000) -> str:
    path = tmp / "zuulish.yaml"
    path.write_text(f"state_dir: state\ndatabase: '{database}'\ntenant_file: main.yaml\n"
                    f"web: {{listen: '127.0.0.1:{port}', url: 'http://forge.test'}}\n"
                    "connections: {forge: {driver: git}}\n")
    return str(path)


def served_config(server: Server, tmp: Path) -> str:  # noqa: F811
    return write_config(tmp, str(server.store.engine.url), urlsplit(server.url).port or 0)


def push_change(tmp: Path, cfg: str, project: str, name: str, capsys: Capture) -> None:
    """Clone ``project`` from the forge and push one commit for review."""
    work = tmp / f"work-{name}"
    git(tmp, "clone", "-q", str(tmp / "state" / "git" / f"{project}.git"), str(work))
    (work / name).write_text(f"{name}\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"Add {name}\n\nChange-Id: I{name:0>40}")
    git(work, "push", "-q", "origin", "HEAD:refs/for/main")
    capsys.readouterr()


@pytest.fixture
def forge_cfg(tmp_path: Path, database_url: str, capsys: Capture) -> str:
    """A forge with org/app and org/lib and changes 1 (org/app) and 2 (org/lib)."""
    cfg = write_config(tmp_path, database_url)
    assert main(["-c", cfg, "db", "upgrade"]) == 0
    assert main(["-c", cfg, "project", "create", "org/app"]) == 0
    assert main(["-c", cfg, "project", "create", "org/lib"]) == 0
    push_change(tmp_path, cfg, "org/app", "a", capsys)
    push_change(tmp_path, cfg, "org/lib", "b", capsys)
    return cfg


# ------------------------------------------------------------------ status
def test_status_draws_pipelines_queues_items_and_jobs(
        server: Server, tmp_path: Path, capsys: Capture) -> None:  # noqa: F811
    cfg = served_config(server, tmp_path)
    assert main(["-c", cfg, "status", "--tenant", "t"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Tenant t"
    assert "  check (independent): 1 item" in out
    assert "  gate (dependent): 1 item" in out
    assert "    queue shared, window 20" in out
    [item] = [line for line in out if line.strip().startswith("3,1")]
    assert "org/app main" in item and "Make it fast" in item
    assert re.search(r" testing for \d+h\d\dm ", item)  # enqueued at 0: long ago
    jobs = {line.split()[0]: line.split(None, 1)[1] for line in out if line.startswith(" " * 8)}
    assert jobs["unit"] == "SUCCESS"
    assert jobs["lint"].startswith("running ") and jobs["lint"].endswith("(non-voting)")
    assert jobs["docs"] == "waiting"
    # Without --tenant: every tenant the server knows.
    assert main(["-c", cfg, "status"]) == 0

    def timeless(lines: list[str]) -> list[str]:  # a second may pass between the calls
        return [re.sub(r"\d+h\d\dm|\d+m\d\ds|\d+s", "T", line) for line in lines]
    assert timeless(capsys.readouterr().out.splitlines()) == timeless(out)


def test_status_of_an_unknown_tenant_is_a_clear_error(
        server: Server, tmp_path: Path, capsys: Capture) -> None:  # noqa: F811
    cfg = served_config(server, tmp_path)
    assert main(["-c", cfg, "status", "--tenant", "nope"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "zuulish: error: no tenant named 'nope'; tenants: t\n"
    assert captured.out == ""


def test_status_without_a_running_server_is_a_clear_error(
        tmp_path: Path, database_url: str, capsys: Capture) -> None:
    port = free_port()
    cfg = write_config(tmp_path, database_url, port)
    assert main(["-c", cfg, "status"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"cannot reach zuulish's web API at http://127.0.0.1:{port}" in err
    assert "is `zuulish run` running" in err


# -------------------------------------------------------------------- show
def test_show_prints_the_change_its_reports_and_builds(
        server: Server, tmp_path: Path, capsys: Capture) -> None:  # noqa: F811
    cfg = served_config(server, tmp_path)
    assert main(["-c", cfg, "show", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Change 3: Make it fast\n")
    assert "status:    NEW  patch set: 1" in out and "approvals: Verified+1" in out
    assert "url:       http://forge.test/c/org/app/+/3" in out
    assert "refs/changes/03/3/1" in out
    reports = out.split("Reports (oldest first):\n")[1].split("Builds")[0]
    assert reports.index("FAILURE") < reports.index("SUCCESS")  # oldest first
    assert "Build failed (check pipeline)." in reports
    builds = out.split("Builds (oldest first):\n")[1].splitlines()
    assert [b.split()[2:4] for b in builds] == [["unit", "NODE_FAILURE"], ["unit", "SUCCESS"],
                                                ["lint", "running"]]
    assert builds[2].split()[4] == "(non-voting)"
    assert builds[1].endswith("http://forge.test/build/build-1")
    assert main(["-c", cfg, "show", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [b["uuid"] for b in data["builds"]] == ["build-0", "build-1", "build-2"]
    assert len(data["reports"]) == 2


def test_show_of_an_unknown_change_is_a_clear_error(
        server: Server, tmp_path: Path, capsys: Capture) -> None:  # noqa: F811
    cfg = served_config(server, tmp_path)
    assert main(["-c", cfg, "show", "99"]) == 1
    assert capsys.readouterr().err == ("zuulish: error: no change 99 on connection 'forge'; "
                                       "`zuulish changes` lists them\n")


# ----------------------------------------------------------------- changes
def test_changes_has_a_header_and_filters(forge_cfg: str, capsys: Capture) -> None:
    assert main(["-c", forge_cfg, "changes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NUMBER", "STATE", "PROJECT", "BRANCH", "PS", "LAST",
                                "RESULT", "SUBJECT"]
    assert [line.split()[:3] for line in lines[1:]] == [["1", "NEW", "org/app"],
                                                       ["2", "NEW", "org/lib"]]
    assert main(["-c", forge_cfg, "changes", "--project", "org/lib"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["2"]
    assert main(["-c", forge_cfg, "review", "1", "--abandon"]) == 0
    capsys.readouterr()
    assert main(["-c", forge_cfg, "changes", "--state", "abandoned", "--json"]) == 0
    assert [c["number"] for c in json.loads(capsys.readouterr().out)] == [1]
    assert main(["-c", forge_cfg, "changes", "--state", "merged"]) == 0
    assert capsys.readouterr().out == "no changes match\n"


def test_changes_with_an_unknown_state_is_a_clear_error(forge_cfg: str,
                                                        capsys: Capture) -> None:
    assert main(["-c", forge_cfg, "changes", "--state", "open"]) == 1
    assert capsys.readouterr().err == ("zuulish: error: --state must be one of new, merged, "
                                       "abandoned, not 'open'\n")


# ------------------------------------------------------------------ review
def _approvals(database_url: str, number: int) -> dict:
    store = Store(database_url)
    try:
        with store.read() as s:
            return s.scalar(select(ChangeRow.approvals).where(ChangeRow.number == number))
    finally:
        store.dispose()


def test_review_votes_comments_and_restores(forge_cfg: str, database_url: str,
                                            capsys: Capture) -> None:
    assert main(["-c", forge_cfg, "review", "1", "--code-review", "-1", "-m", "Not yet"]) == 0
    assert capsys.readouterr().out == "voted Code-Review-1 on change 1\n"
    assert _approvals(database_url, 1) == {"Code-Review": -1}
    assert main(["-c", forge_cfg, "review", "1", "--code-review", "+2"]) == 0
    assert _approvals(database_url, 1) == {"Code-Review": 2}
    assert main(["-c", forge_cfg, "review", "1", "--code-review", "0"]) == 0
    assert "removed the Code-Review vote on change 1" in capsys.readouterr().out
    assert _approvals(database_url, 1) == {}
    assert main(["-c", forge_cfg, "review", "1", "--message", "Looks close"]) == 0
    assert capsys.readouterr().out == "commented on change 1\n"
    assert main(["-c", forge_cfg, "review", "1", "--abandon"]) == 0
    assert main(["-c", forge_cfg, "review", "1", "--restore", "-m", "Back"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "restored change 1"
    assert main(["-c", forge_cfg, "changes", "--state", "new", "--json"]) == 0
    assert [c["number"] for c in json.loads(capsys.readouterr().out)] == [1, 2]
    store = Store(database_url)
    try:
        with store.read() as s:
            events = [(e.type, e.data) for e in s.scalars(select(EventRow).where(
                EventRow.type != "patchset-created").order_by(EventRow.id))]
    finally:
        store.dispose()
    assert events == [
        ("comment-added", {"comment": "Not yet", "approvals": {"Code-Review": -1}}),
        ("comment-added", {"comment": "Code-Review+2", "approvals": {"Code-Review": 2}}),
        ("comment-added", {"comment": "Code-Review vote removed",
                           "approvals": {"Code-Review": 0}}),
        ("comment-added", {"comment": "Looks close", "approvals": {}}),
        ("change-abandoned", {"comment": "Abandoned"}),
        ("change-restored", {"comment": "Back"}),
    ]


@pytest.mark.parametrize("argv, error", [
    (["review", "1", "--code-review", "3"],
     "--code-review must be one of -2, -1, 0, +1, +2, not '3'"),
    (["review", "1", "--code-review", "x"],
     "--code-review must be one of -2, -1, 0, +1, +2, not 'x'"),
    (["review", "1"], "say what to do: --approve, --recheck, --abandon, --restore, "
                      "--code-review N or --message TEXT"),
    (["review", "1", "--restore"],
     "change 1 is new; only abandoned changes can be restored"),
    (["review", "9", "--code-review", "1"],
     "no change 9 on connection 'forge'; `zuulish changes` lists them"),
])
def test_bad_reviews_are_clear_errors_and_record_nothing(
        forge_cfg: str, database_url: str, capsys: Capture, argv: list[str],
        error: str) -> None:
    assert main(["-c", forge_cfg, *argv]) == 1
    assert capsys.readouterr().err == f"zuulish: error: {error}\n"
    assert _approvals(database_url, 1) == {}
    store = Store(database_url)
    try:
        with store.read() as s:
            assert s.scalars(select(EventRow.type).where(
                EventRow.type != "patchset-created")).all() == []
    finally:
        store.dispose()


# ---------------------------------------------------------------- projects
def test_project_list_and_branch_create(forge_cfg: str, tmp_path: Path,
                                        capsys: Capture) -> None:
    assert main(["-c", forge_cfg, "project", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PROJECT", "BRANCHES", "CLONE", "URL"]
    app_url = str(tmp_path / "state" / "git" / "org" / "app.git")
    assert lines[1].split() == ["org/app", "main", app_url]
    assert main(["-c", forge_cfg, "project", "branch", "create", "org/app", "stable/1",
                 "--from", "main"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("created branch stable/1 of org/app at ")
    assert main(["-c", forge_cfg, "project", "list", "--json"]) == 0
    [app, lib] = json.loads(capsys.readouterr().out)
    assert app["branches"] == ["main", "stable/1"] and lib["branches"] == ["main"]
    assert app["clone_url"] == app_url
    # A developer can push a change for review to the new branch.
    work = tmp_path / "work-a"
    git(work, "fetch", "-q", "origin")
    git(work, "checkout", "-q", "-b", "stable", "origin/stable/1")
    (work / "fix").write_text("fix\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"Fix on stable\n\nChange-Id: I{'5' * 40}")
    git(work, "push", "-q", "origin", "HEAD:refs/for/stable/1")
    assert main(["-c", forge_cfg, "changes", "--json"]) == 0
    changes = json.loads(capsys.readouterr().out)
    assert (changes[-1]["branch"], changes[-1]["subject"]) == ("stable/1", "Fix on stable")


@pytest.mark.parametrize("argv, error", [
    (["org/nope", "x"], "no project 'org/nope' on the forge; projects: org/app, org/lib"),
    (["org/app", "main"], "branch 'main' of 'org/app' already exists"),
    (["org/app", "bad..name"], "'bad..name' is not a valid branch name"),
    (["org/app", "x", "--from", "nowhere"], "'nowhere' names no commit of 'org/app'"),
])
def test_bad_branch_creations_are_clear_errors(forge_cfg: str, capsys: Capture,
                                               argv: list[str], error: str) -> None:
    assert main(["-c", forge_cfg, "project", "branch", "create", *argv]) == 1
    assert capsys.readouterr().err == f"zuulish: error: {error}\n"
    assert main(["-c", forge_cfg, "project", "list", "--json"]) == 0
    assert [p["branches"] for p in json.loads(capsys.readouterr().out)] == [["main"], ["main"]]
