"""The built-in forge with real git pushes through its hooks."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.fakes.web_server import served
from zuulish.drivers.git.commit_msg import install_command
from zuulish.drivers.git.connection import GitForge
from zuulish.drivers.git.reporter import GitReporter
from zuulish.drivers.git.review import list_changes, review
from zuulish.drivers.git.source import GitSource
from zuulish.errors import ForgeError
from zuulish.merger.speculative import apply_commits
from zuulish.model import ChangeKey
from zuulish.store import ChangeRow, EventRow, ReportRow, Store
from zuulish.web.app import create_app

pytestmark = pytest.mark.store

ENV = {**os.environ, "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.org",
       "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.org"}
WEB = "http://forge.test"


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {args}: {proc.stderr}")
    return proc


def write_config(tmp: Path, database: str) -> Path:
    path = tmp / "zuulish.yaml"
    path.write_text(f"state_dir: state\ndatabase: '{database}'\ntenant_file: main.yaml\n"
                    f"web: {{url: '{WEB}'}}\nconnections: {{forge: {{driver: git}}}}\n")
    return path


@pytest.fixture
def forge(tmp_path: Path, store: Store) -> GitForge:
    config = write_config(tmp_path, store.url)
    f = GitForge("forge", tmp_path / "state", store, WEB, config)
    f.create_project("org/app", {"README": "hello\n"})
    return f


@pytest.fixture
def web_url(store: Store, tmp_path: Path) -> Iterator[str]:
    """zuulish's web server on 127.0.0.1, which hands out the commit-msg hook."""
    with served(lambda url: create_app(store, SimpleNamespace(layouts={}, tenants={}),
                                       tmp_path, url)) as url:
        yield url


def clone_with_hook(tmp_path: Path, forge: GitForge, web_url: str, name: str) -> Path:
    """Clone org/app and install the commit-msg hook with the command the forge prints."""
    git(tmp_path, "clone", "-q", str(forge.repo_path("org/app")), name)
    subprocess.run(["sh", "-c", install_command(web_url)], cwd=tmp_path / name, env=ENV,
                   check=True, capture_output=True)
    return tmp_path / name


@pytest.fixture
def work(tmp_path: Path, forge: GitForge, web_url: str) -> Path:
    return clone_with_hook(tmp_path, forge, web_url, "work")


def commit(work: Path, name: str, message: str) -> str:
    (work / name).write_text(f"{name}\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD").stdout.strip()


def change_rows(store: Store) -> list[ChangeRow]:
    with store.read() as s:
        return list(s.scalars(select(ChangeRow).order_by(ChangeRow.number)))


def events(store: Store) -> list[EventRow]:
    with store.read() as s:
        return list(s.scalars(select(EventRow).order_by(EventRow.id)))


def test_push_for_review_creates_change_with_an_event(store: Store, work: Path,
                                                      forge: GitForge) -> None:
    sha = commit(work, "a", "Add a\n\nChange-Id: I0123456789abcdef")
    out = git(work, "push", "origin", "HEAD:refs/for/main")
    assert f"New change: {WEB}/c/org/app/+/1 Add a" in out.stderr
    [row] = change_rows(store)
    assert (row.number, row.patchset, row.commit_sha, row.files) == (1, 1, sha, ["a"])
    [event] = events(store)
    assert (event.type, event.change_number, event.patchset) == ("patchset-created", 1, 1)
    refs = git(forge.repo_path("org/app"), "for-each-ref", "--format=%(refname)").stdout
    assert "refs/changes/01/1/1" in refs and "refs/for/" not in refs
    assert forge.branch_tip("org/app", "main") != sha  # nothing merged by a push


def test_amended_push_with_same_change_id_makes_patchset_two(store: Store, work: Path) -> None:
    commit(work, "a", "Add a\n\nChange-Id: I0123456789abcdef")
    git(work, "push", "origin", "HEAD:refs/for/main")
    review(store, "forge", 1, approve=True)
    (work / "a").write_text("better\n")
    git(work, "commit", "-q", "-a", "--amend", "--no-edit")
    out = git(work, "push", "origin", "HEAD:refs/for/main")
    assert "patch set 2" in out.stderr
    [row] = change_rows(store)
    assert row.patchset == 2 and row.approvals == {}  # a new patch set needs new votes


def test_pushing_the_same_commit_again_records_nothing(store: Store, work: Path) -> None:
    commit(work, "a", "Add a\n\nChange-Id: I0123456789abcdef")
    git(work, "push", "origin", "HEAD:refs/for/main")
    out = git(work, "push", "-f", "origin", "HEAD:refs/for/main")
    assert "no new changes" in out.stderr
    assert len(events(store)) == 1


def test_push_to_missing_branch_is_refused_naming_it(store: Store, work: Path) -> None:
    commit(work, "a", "Add a")
    proc = git(work, "push", "origin", "HEAD:refs/for/nope", check=False)
    assert proc.returncode != 0
    assert "branch 'nope' does not exist in project 'org/app'" in proc.stderr
    assert "existing branches: main" in proc.stderr
    assert change_rows(store) == []


def test_direct_push_to_a_branch_is_refused(store: Store, work: Path, forge: GitForge) -> None:
    before = forge.branch_tip("org/app", "main")
    commit(work, "a", "Sneak in")
    proc = git(work, "push", "origin", "HEAD:main", check=False)
    assert proc.returncode != 0 and "push to refs/for/main for review" in proc.stderr
    assert forge.branch_tip("org/app", "main") == before


def test_push_while_database_is_down_is_refused_and_loses_nothing(
        tmp_path: Path, store: Store, forge: GitForge, work: Path) -> None:
    write_config(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/none")
    commit(work, "a", "Add a")
    proc = git(work, "push", "origin", "HEAD:refs/for/main", check=False)
    assert proc.returncode != 0 and "cannot record this push" in proc.stderr
    assert change_rows(store) == []
    refs = git(forge.repo_path("org/app"), "for-each-ref").stdout
    assert "refs/for/" not in refs


def test_leftover_push_is_recorded_by_recovery(store: Store, forge: GitForge,
                                               work: Path) -> None:
    sha = commit(work, "a", "Add a")
    # As if post-receive could not reach the store: the ref stays behind.
    git(forge.repo_path("org/app"), "fetch", "-q", str(work), f"{sha}:refs/for/main")
    assert forge.recover_pending_pushes() == 1
    [row] = change_rows(store)
    assert row.commit_sha == sha
    assert "refs/for/" not in git(forge.repo_path("org/app"), "for-each-ref").stdout


def test_depends_on_footer_resolves_to_needs(store: Store, work: Path,
                                             forge: GitForge) -> None:
    commit(work, "a", "First\n\nChange-Id: Iaaaaaaaaaaaaaaaa")
    git(work, "push", "origin", "HEAD:refs/for/main")
    git(work, "reset", "-q", "--hard", "origin/main")
    commit(work, "c", f"Second\n\nDepends-On: {WEB}/c/org/app/+/1/\n"
                      f"Depends-On: {WEB}/c/org/app/+/99\nChange-Id: Icccccccccccccccc")
    git(work, "push", "origin", "HEAD:refs/for/main")
    second = GitSource(forge, store).get_change(2)
    assert second is not None
    assert second.needs == (ChangeKey("forge", 1),)
    assert second.unresolved_depends_on == (
        f"Depends-On {WEB}/c/org/app/+/99 points at change 99, which does not exist",)


def test_git_parent_change_is_a_need(store: Store, work: Path, forge: GitForge) -> None:
    commit(work, "a", "First\n\nChange-Id: Iaaaaaaaaaaaaaaaa")
    commit(work, "b", "Second on top\n\nChange-Id: Ibbbbbbbbbbbbbbbb")
    out = git(work, "push", "origin", "HEAD:refs/for/main")
    assert "New change: http://forge.test/c/org/app/+/1 First" in out.stderr
    assert "New change: http://forge.test/c/org/app/+/2 Second on top" in out.stderr
    source = GitSource(forge, store)
    assert source.get_change(2).needs == (ChangeKey("forge", 1),)
    assert source.get_change(1).needs == ()


def test_parent_that_is_an_outdated_patch_set_is_unresolved(store: Store, work: Path,
                                                            forge: GitForge) -> None:
    commit(work, "a", "First\n\nChange-Id: Iaaaaaaaaaaaaaaaa")
    commit(work, "b", "Second on top\n\nChange-Id: Ibbbbbbbbbbbbbbbb")
    git(work, "push", "origin", "HEAD:refs/for/main")
    git(work, "checkout", "-q", "HEAD~1")
    (work / "a").write_text("amended\n")
    git(work, "commit", "-q", "-a", "--amend", "--no-edit")
    git(work, "push", "origin", "HEAD:refs/for/main")  # change 1, patch set 2
    second = GitSource(forge, store).get_change(2)
    assert second.needs == ()
    [reason] = second.unresolved_depends_on
    assert "is patch set 1 of change 1, whose current patch set is 2" in reason


def test_review_approve_recheck_and_abandon_record_events(store: Store, work: Path) -> None:
    commit(work, "a", "Add a")
    git(work, "push", "origin", "HEAD:refs/for/main")
    assert "approved" in review(store, "forge", 1, approve=True)
    assert change_rows(store)[0].approvals == {"Code-Review": 2, "Workflow": 1}
    review(store, "forge", 1, recheck=True)
    review(store, "forge", 1, abandon=True)
    kinds = [(e.type, e.data.get("comment")) for e in events(store)[1:]]
    assert kinds == [("comment-added", "Approved"), ("comment-added", "recheck"),
                     ("change-abandoned", "Abandoned")]
    assert events(store)[1].data["approvals"] == {"Code-Review": 2, "Workflow": 1}
    assert change_rows(store)[0].status == "ABANDONED"
    with pytest.raises(ForgeError, match="change 1 is abandoned"):
        review(store, "forge", 1, approve=True)


def test_review_of_unknown_change_or_without_action_is_an_error(store: Store,
                                                                work: Path) -> None:
    with pytest.raises(ForgeError, match="no change 42 on connection 'forge'"):
        review(store, "forge", 42, approve=True)
    commit(work, "a", "Add a")
    git(work, "push", "origin", "HEAD:refs/for/main")
    with pytest.raises(ForgeError, match="exactly one of"):
        review(store, "forge", 1)
    assert len(events(store)) == 1


def test_list_changes_shows_the_last_result(store: Store, forge: GitForge, work: Path) -> None:
    commit(work, "a", "Add a")
    git(work, "push", "origin", "HEAD:refs/for/main")
    reporter = GitReporter(forge, store)
    reporter.report(1, tenant="t", pipeline="check", action="start", result=None,
                    votes={}, message="starting")
    reporter.report(1, tenant="t", pipeline="check", action="failure", result="FAILURE",
                    votes={"Verified": -1}, message="failed")
    reporter.report(1, tenant="t", pipeline="check", action="success", result="SUCCESS",
                    votes={"Verified": 1}, message="ok")
    [listed] = list_changes(store, "forge", WEB)
    assert listed["last_result"] == "check: SUCCESS"
    assert listed["approvals"] == {"Verified": 1}
    assert (listed["number"], listed["status"], listed["subject"]) == (1, "NEW", "Add a")
    assert listed["url"] == f"{WEB}/c/org/app/+/1"


def test_file_comments_are_listed_as_path_line_message_lines_in_the_report(
        store: Store, forge: GitForge, work: Path) -> None:
    commit(work, "a", "Add a")
    git(work, "push", "origin", "HEAD:refs/for/main")
    GitReporter(forge, store).report(
        1, tenant="t", pipeline="check", action="success", result="SUCCESS", votes={},
        message="Build succeeded (check pipeline).\n\n- unit ... : SUCCESS\n",
        file_comments={"src/b.py": [{"line": 7, "message": "unused import", "level": "info"}],
                       "a": [{"line": 12, "message": "too long"}, {"line": 2, "message": "typo"}]})
    with store.read() as s:
        [report] = s.scalars(select(ReportRow)).all()
    assert report.message == ("Build succeeded (check pipeline).\n\n- unit ... : SUCCESS\n\n"
                              "File comments:\na:2: typo\na:12: too long\n"
                              "src/b.py:7: unused import\n")


def test_submit_moves_branch_to_exactly_the_tested_commit(store: Store, forge: GitForge,
                                                          work: Path, tmp_path: Path) -> None:
    commit(work, "a", "Add a")
    git(work, "push", "origin", "HEAD:refs/for/main")
    [row] = change_rows(store)
    # The branch moved on since the change was written, so the tested state is a
    # merge commit made by the merger's plumbing, not the pushed commit.
    git(tmp_path, "clone", "-q", str(forge.repo_path("org/app")), "other")
    commit(tmp_path / "other", "z", "Someone else")
    subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=tmp_path / "other",
                   env={**ENV, "ZUULISH_FORGE_ADMIN": "1"}, check=True)
    base = forge.branch_tip("org/app", "main")
    tested = apply_commits(forge.repo_path("org/app"), base, [row.commit_sha]).commit
    assert tested not in (base, row.commit_sha)
    state = {"org/app": {"branch": "main", "pre": base, "commit": tested,
                         "changes": [row.commit_sha]}}
    assert GitReporter(forge, store).submit(1, state) == tested
    assert forge.branch_tip("org/app", "main") == tested
    [row] = change_rows(store)
    assert (row.status, row.merged_sha) == ("MERGED", tested)
    merged = [(e.type, e.data) for e in events(store)][-2:]
    assert merged == [("change-merged", {"commit": tested}),
                      ("ref-updated", {"ref": "refs/heads/main", "oldrev": base,
                                       "newrev": tested})]
    git(work, "pull", "-q", "--ff-only", "origin", "main")  # a user sees the tested tree
    assert (work / "a").read_text() == "a\n" and (work / "z").read_text() == "z\n"


def test_submit_refuses_when_the_branch_moved(store: Store, forge: GitForge, work: Path,
                                              tmp_path: Path) -> None:
    base = forge.branch_tip("org/app", "main")
    sha = commit(work, "a", "Add a")
    git(work, "push", "origin", "HEAD:refs/for/main")
    git(tmp_path, "clone", "-q", str(forge.repo_path("org/app")), "other")
    moved = commit(tmp_path / "other", "z", "Someone else")
    subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=tmp_path / "other",
                   env={**ENV, "ZUULISH_FORGE_ADMIN": "1"}, check=True)
    tested = apply_commits(forge.repo_path("org/app"), base, [sha]).commit
    state = {"org/app": {"branch": "main", "pre": base, "commit": tested, "changes": [sha]}}
    with pytest.raises(ForgeError, match="moved since the change was tested"):
        GitReporter(forge, store).submit(1, state)
    assert forge.branch_tip("org/app", "main") == moved
    assert change_rows(store)[0].status == "NEW"


def test_submit_refuses_a_state_that_differs_from_the_tested_one(
        store: Store, forge: GitForge, work: Path) -> None:
    base = forge.branch_tip("org/app", "main")
    sha = commit(work, "a", "Add a")
    git(work, "push", "origin", "HEAD:refs/for/main")
    state = {"org/app": {"branch": "main", "pre": base, "commit": "f" * 40, "changes": [sha]}}
    with pytest.raises(ForgeError, match="refusing to merge what was not tested"):
        GitReporter(forge, store).submit(1, state)
    assert forge.branch_tip("org/app", "main") == base


def test_submit_refuses_a_change_with_an_untested_patch_set(store: Store, forge: GitForge,
                                                           work: Path) -> None:
    base = forge.branch_tip("org/app", "main")
    first = commit(work, "a", "Add a\n\nChange-Id: I0123456789abcdef")
    git(work, "push", "origin", "HEAD:refs/for/main")
    (work / "a").write_text("later\n")
    git(work, "commit", "-q", "-a", "--amend", "--no-edit")
    git(work, "push", "origin", "HEAD:refs/for/main")
    state = {"org/app": {"branch": "main", "pre": base, "commit": first, "changes": [first]}}
    with pytest.raises(ForgeError, match="new patch set \\(2\\) that was not tested"):
        GitReporter(forge, store).submit(1, state)
    assert forge.branch_tip("org/app", "main") == base


def test_administrator_push_to_a_branch_records_ref_updated(store: Store, forge: GitForge,
                                                            work: Path) -> None:
    before = forge.branch_tip("org/app", "main")
    sha = commit(work, "zuul.yaml", "Seed config")
    subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work,
                   env={**ENV, "ZUULISH_FORGE_ADMIN": "1"}, check=True)
    assert forge.branch_tip("org/app", "main") == sha
    [event] = events(store)
    assert (event.type, event.branch, event.data) == (
        "ref-updated", "main", {"ref": "refs/heads/main", "oldrev": before, "newrev": sha})
    assert GitSource(forge, store).config_files("org/app", "main") == {
        "zuul.yaml": "zuul.yaml\n"}


def test_created_project_has_files_branches_and_hooks(store: Store, forge: GitForge) -> None:
    forge.create_project("org/lib", {"zuul.d/jobs.yaml": "- job: {name: x}\n", "src/x.py": ""},
                         branch="trunk")
    assert forge.projects() == ["org/app", "org/lib"]
    assert list(forge.branches("org/lib")) == ["trunk"]
    assert forge.clone_url("org/lib") == str(forge.repo_path("org/lib"))
    files = git(forge.repo_path("org/lib"), "ls-tree", "-r", "--name-only", "trunk").stdout
    assert files.split() == ["src/x.py", "zuul.d/jobs.yaml"]
    hooks = forge.repo_path("org/lib") / "hooks"
    assert all(os.access(hooks / h, os.X_OK) for h in ("pre-receive", "proc-receive",
                                                       "post-receive"))
    assert "--project org/lib" in (hooks / "proc-receive").read_text()
    with pytest.raises(ForgeError, match="already exists"):
        forge.create_project("org/lib")


def test_created_project_is_made_of_its_files_alone(store: Store, forge: GitForge,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixed identity and message, the files as given; no user configuration,
    templates or sample hooks."""
    template = tmp_path / "template"
    (template / "hooks").mkdir(parents=True)
    (template / "hooks" / "marker").write_text("from the user's template\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f"[init]\n\ttemplateDir = {template}\n"
                                     "[user]\n\tname = User\n\temail = user@example.org\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    path = forge.create_project("org/plain", {"b/x": "x\n", "a": "ä\n", "empty": ""})
    show = git(path, "cat-file", "commit", "main").stdout
    header, message = show.split("\n\n", 1)
    assert message == "Initial commit of org/plain\n"
    assert "author zuulish <zuulish@localhost>" in header
    assert "committer zuulish <zuulish@localhost>" in header
    assert "parent" not in header
    assert git(path, "show", "main:a").stdout == "ä\n"
    assert git(path, "show", "main:b/x").stdout == "x\n"
    assert git(path, "cat-file", "-s", "main:empty").stdout == "0\n"
    assert git(path, "symbolic-ref", "HEAD").stdout == "refs/heads/main\n"
    assert sorted(p.name for p in (path / "hooks").iterdir()) == [
        "post-receive", "pre-receive", "proc-receive"]
    assert git(path, "config", "receive.advertisePushOptions").stdout == "true\n"
    git(path, "fsck", "--strict")


def test_change_urls_resolve_in_every_accepted_form(forge: GitForge) -> None:
    assert forge.change_url("org/app", 7) == f"{WEB}/c/org/app/+/7"
    for url in (f"{WEB}/c/org/app/+/7", f"{WEB}/c/org/app/+/7/", f"{WEB}/7"):
        assert forge.resolve_change_url(url) == 7, url
    for url in ("https://elsewhere.test/c/org/app/+/7", f"{WEB}/c/org/app", f"{WEB}/x"):
        assert forge.resolve_change_url(url) is None, url


def test_concurrent_pushes_to_one_branch_all_become_changes(
        tmp_path: Path, store: Store, forge: GitForge, web_url: str) -> None:
    """No refs/for/<branch> ref is ever created, so pushes do not lock each other out."""
    import concurrent.futures

    clones = []
    for i in range(6):
        clones.append(clone_with_hook(tmp_path, forge, web_url, f"c{i}"))
        commit(clones[-1], f"f{i}", f"Change {i}")
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(
            lambda c: git(c, "push", "origin", "HEAD:refs/for/main", check=False), clones))
    assert [r.returncode for r in results] == [0] * 6, [r.stderr for r in results]
    assert sorted(r.number for r in change_rows(store)) == [1, 2, 3, 4, 5, 6]


def test_a_batch_merges_every_change_to_the_one_state_they_were_tested_in(
        store: Store, forge: GitForge, work: Path) -> None:
    base = forge.branch_tip("org/app", "main")
    first = commit(work, "a", "Add a")
    git(work, "push", "origin", "HEAD:refs/for/main")
    git(work, "reset", "-q", "--hard", base)
    second = commit(work, "b", "Add b")
    git(work, "push", "origin", "HEAD:refs/for/main")
    tested = apply_commits(forge.repo_path("org/app"), base, [first, second]).commit
    state = {"org/app": {"branch": "main", "pre": base, "commit": tested,
                         "changes": [first, second]}}
    reporter = GitReporter(forge, store)
    assert reporter.submit(1, state) == tested  # moves the branch straight there
    assert reporter.submit(2, state) == tested  # finds it there: merged as tested
    assert forge.branch_tip("org/app", "main") == tested
    assert [(r.status, r.merged_sha) for r in change_rows(store)] == [("MERGED", tested)] * 2


CHANGE_ID_LINE = re.compile(r"^Change-Id: I[0-9a-f]{40}$", re.MULTILINE)


def message(work: Path) -> str:
    return git(work, "log", "-1", "--format=%B").stdout.rstrip("\n")


def test_commit_msg_hook_adds_a_change_id_once_and_amending_updates_the_change(
        store: Store, work: Path) -> None:
    commit(work, "a", "Add a\n\nSome words.")
    first = message(work)
    assert len(CHANGE_ID_LINE.findall(first)) == 1 and first.startswith("Add a\n\nSome")
    git(work, "push", "origin", "HEAD:refs/for/main")
    (work / "a").write_text("better\n")
    git(work, "commit", "-q", "-a", "--amend", "--no-edit")
    assert message(work) == first  # kept, not doubled
    out = git(work, "push", "origin", "HEAD:refs/for/main")
    assert "Updated change" in out.stderr and "(patch set 2)" in out.stderr
    [row] = change_rows(store)
    assert (row.number, row.patchset) == (1, 2)
    assert row.change_id == CHANGE_ID_LINE.search(first).group(0).split()[1]


def test_commit_msg_hook_keeps_an_existing_change_id(work: Path) -> None:
    commit(work, "a", "Add a\n\nDepends-On: http://x/1\nChange-Id: I0123456789abcdef")
    assert message(work) == "Add a\n\nDepends-On: http://x/1\nChange-Id: I0123456789abcdef"
    commit(work, "b", "Add b\n\nDepends-On: http://x/1")
    assert re.fullmatch(r"Add b\n\nDepends-On: http://x/1\nChange-Id: I[0-9a-f]{40}",
                        message(work))


def test_push_without_change_id_is_refused_with_the_hook_command(
        tmp_path: Path, store: Store, forge: GitForge, web_url: str) -> None:
    git(tmp_path, "clone", "-q", str(forge.repo_path("org/app")), "plain")
    plain = tmp_path / "plain"
    commit(plain, "a", "With an id\n\nChange-Id: I0123456789abcdef")
    sha = commit(plain, "b", "Without an id")
    proc = git(plain, "push", "origin", "HEAD:refs/for/main", check=False)
    assert proc.returncode != 0
    assert f"commit {sha[:12]} has no Change-Id: footer" in proc.stderr
    assert install_command(WEB) in proc.stderr
    assert "git commit --amend --no-edit" in proc.stderr
    assert change_rows(store) == []  # nothing of the push was recorded
    # The developer does what it says (with this test's web server); the push goes in.
    subprocess.run(["sh", "-c", install_command(web_url)], cwd=plain, env=ENV, check=True)
    git(plain, "commit", "-q", "--amend", "--no-edit")
    assert CHANGE_ID_LINE.search(message(plain))
    git(plain, "push", "origin", "HEAD:refs/for/main")
    assert [r.subject for r in change_rows(store)] == ["With an id", "Without an id"]
