"""A post pipeline: every push to a branch runs its jobs on exactly the pushed commit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.trigger_world import TriggerWorld
from zuulish.model import NULL_REV

pytestmark = pytest.mark.store

CONFIG = """
- pipeline:
    name: post
    manager: independent
    post-review: true
    trigger:
      forge:
        - event: ref-updated
          ref: ^refs/heads/.*$
- pipeline:
    name: release
    manager: supercedent
    trigger:
      forge:
        - event: ref-updated
          ref: ^refs/heads/stable/.*$
          ignore-deletes: false
- job:
    name: publish
    nodeset: {nodes: []}
    run: playbooks/noop.yaml
- job:
    name: release-notes
    nodeset: {nodes: []}
    run: playbooks/noop.yaml
"""

APP = """
- project:
    post:
      jobs: [publish]
    release:
      jobs: [release-notes]
"""


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[TriggerWorld]:
    w = TriggerWorld(tmp_path, database_url, CONFIG,
                     {"org/app": {".zuul.yaml": APP, "README": "app\n"},
                      "org/quiet": {"README": "no jobs here\n"}})
    yield w
    w.close()


def test_a_push_to_a_branch_runs_post_jobs_on_exactly_the_pushed_commit(world) -> None:
    before = world.forge.branch_tip("org/app", "main")
    sha = world.push_branch("org/app", {"docs.txt": "v1\n"})
    world.settle()
    [build] = world.builds("post")
    assert (build["job"], build["result"]) == ("publish", "SUCCESS")
    assert (build["ref"], build["oldrev"], build["newrev"]) == ("refs/heads/main", before, sha)
    state = build["repo_state"]["org/app"]
    assert state["commit"] == state["base"] == sha and state["changes"] == []
    assert "change" not in build  # a ref, not a change: no change number to show
    [item] = world.items("post")
    assert (item.state, item.result, item.change_number, item.ref) == (
        "reported", "SUCCESS", None, "refs/heads/main")


def test_each_push_is_tested_at_its_own_commit_even_when_the_branch_moved_on(world) -> None:
    first = world.push_branch("org/app", {"a.txt": "1\n"})
    second = world.push_branch("org/app", {"a.txt": "2\n"})
    world.settle()
    tested = [b["repo_state"]["org/app"]["commit"] for b in world.builds("post")]
    assert tested == [first, second]


def test_a_push_to_a_project_without_post_jobs_enqueues_nothing(world) -> None:
    world.push_branch("org/quiet", {"x": "1\n"})
    world.settle()
    assert world.builds() == []
    [event] = world.events("ref-updated")
    assert "has no jobs in pipeline 'post'" in event.outcome


def test_a_ref_updated_event_for_an_unknown_project_is_ignored_with_a_reason(world) -> None:
    from zuulish.store import EventRow
    with world.store.session() as s:
        s.add(EventRow(connection="forge", type="ref-updated", project="org/nobody",
                       branch="main", data={"ref": "refs/heads/main", "oldrev": NULL_REV,
                                            "newrev": "1" * 40}, created_at=0.0))
    world.settle()
    [event] = world.events("ref-updated")
    assert event.outcome == "ignored: no tenant includes project 'org/nobody' on " \
                            "connection 'forge'"
    sha = world.push_branch("org/app", {"b.txt": "b\n"})
    world.settle()  # the queues carry on
    assert [b["newrev"] for b in world.builds("post")] == [sha]


def test_deleting_a_branch_runs_nothing(world) -> None:
    sha = world.push_branch("org/app", {"f.txt": "f\n"}, branch="stable/1")
    world.settle()
    assert sorted((b["pipeline"], b["newrev"], b["oldrev"]) for b in world.builds()) == [
        ("post", sha, None), ("release", sha, None)]  # a new branch: no oldrev
    world.delete_branch("org/app", "stable/1")
    world.settle()
    assert len(world.builds()) == 2
    deletion = world.events("ref-updated")[-1]
    assert deletion.data["newrev"] == NULL_REV
    # post ignores deletes (Zuul's default); release asked for them and is told why not
    assert "post" not in deletion.outcome
    assert "t/release: ignored: the event deletes refs/heads/stable/1" in deletion.outcome


def test_a_ref_item_is_shown_on_the_status_page_without_a_change(world) -> None:
    from zuulish.web.history import HistoryFilter, find_builds
    from zuulish.web.status import tenant_status
    sha = world.push_branch("org/app", {"c.txt": "c\n"})
    world.aio.scheduler.process_events()  # enqueued, not yet run
    status = tenant_status(world.store, world.aio.layouts.layouts["t"], "t", "http://z")
    [queue] = next(p for p in status["pipelines"] if p["name"] == "post")["queues"]
    [item] = queue["items"]
    assert item["change"]["number"] is None and item["change"]["url"] is None
    assert item["change"]["label"] == f"refs/heads/main@{sha[:12]}"
    world.settle()
    [build] = find_builds(world.store, "t", HistoryFilter(), "http://z").rows
    assert (build["label"], build["newrev"], build["change_url"]) == (
        f"refs/heads/main@{sha[:12]}", sha, None)


def test_a_post_jobs_zuul_variable_names_the_ref_and_both_revisions(world, tmp_path) -> None:
    from sqlalchemy import select

    from zuulish.executor.job_vars import zuul_var
    from zuulish.model import FrozenJob
    from zuulish.store import BuildRow
    before = world.forge.branch_tip("org/app", "main")
    sha = world.push_branch("org/app", {"d.txt": "d\n"})
    world.settle()
    with world.store.read() as s:
        row = s.scalars(select(BuildRow)).one()
    zuul = zuul_var(row.params, FrozenJob.from_dict(row.frozen_job), row.id, [], tmp_path,
                    tmp_path, "zuulish.test", 1)
    assert (zuul["ref"], zuul["oldrev"], zuul["newrev"]) == ("refs/heads/main", before, sha)
    assert (zuul["project"]["name"], zuul["branch"], zuul["pipeline"]) == (
        "org/app", "main", "post")
    assert "change" not in zuul and "patchset" not in zuul  # as Zuul: a ref has no change
    this = {"project": zuul["project"], "branch": "main", "ref": "refs/heads/main",
            "oldrev": before, "newrev": sha, "commit_id": sha}
    assert zuul["items"] == zuul["buildset_refs"] == zuul["build_refs"] == [this]
    assert zuul["commit_id"] == sha


def enqueue_ref(world: TriggerWorld, ref: str, newrev: str | None = None,
                pipeline: str = "post", project: str = "org/app") -> str:
    from zuulish.scheduler import management
    data = management.request_data("enqueue", "t", pipeline, project=project, ref=ref,
                                   newrev=newrev)
    event_id = management.record(world.store, "enqueue", data, world.clock.now, "admin")
    world.settle()
    [event] = [e for e in world.events() if e.id == event_id]
    return event.outcome


def test_enqueue_of_a_ref_runs_it_at_the_branch_tip_or_the_commit_named(world) -> None:
    older = world.push_branch("org/app", {"e.txt": "1\n"})
    newer = world.push_branch("org/app", {"e.txt": "2\n"})
    world.settle()
    assert enqueue_ref(world, "refs/heads/main") == \
        f"t/post: enqueued ref refs/heads/main of org/app at {newer[:12]} (by admin)"
    assert enqueue_ref(world, "refs/heads/main", older).startswith("t/post: enqueued")
    runs = [(b["newrev"], b["repo_state"]["org/app"]["commit"]) for b in world.builds("post")]
    assert runs == [(older, older), (newer, newer), (newer, newer), (older, older)]


@pytest.mark.parametrize(("ref", "newrev", "outcome"), [
    ("refs/heads/nope", None, "error: project org/app has no branch 'nope'"),
    ("refs/tags/1.0", None, "error: refs/tags/1.0 is not a branch; name the commit"),
])
def test_enqueue_of_a_ref_that_cannot_be_run_says_why(world, ref, newrev, outcome) -> None:
    assert enqueue_ref(world, ref, newrev).startswith(outcome)
    assert world.items("post") == []


def test_malformed_ref_requests_are_refused_before_they_are_recorded() -> None:
    from zuulish.scheduler.management import ManagementError, request_data
    with pytest.raises(ManagementError, match="a full ref name such as refs/heads/main"):
        request_data("enqueue", "t", "post", project="p", ref="main")
    with pytest.raises(ManagementError, match="40 hex digits"):
        request_data("enqueue", "t", "post", project="p", ref="refs/heads/main", newrev="abc")
    with pytest.raises(ManagementError, match="only an enqueue names a ref"):
        request_data("dequeue", "t", "post", project="p", ref="refs/heads/main")
    assert request_data("enqueue", "t", "post", project="p", ref="refs/heads/main") == {
        "tenant": "t", "pipeline": "post", "project": "p", "ref": "refs/heads/main",
        "newrev": None}


def test_the_cli_enqueues_a_change_or_a_ref_not_both(capsys) -> None:
    from zuulish.cli import build_parser
    parser = build_parser()
    args = parser.parse_args(["enqueue", "--tenant", "t", "--pipeline", "post", "--project",
                              "p", "--ref", "refs/heads/main", "--newrev", "a" * 40])
    assert (args.ref, args.newrev, args.change) == ("refs/heads/main", "a" * 40, None)
    with pytest.raises(SystemExit):
        parser.parse_args(["enqueue", "--tenant", "t", "--pipeline", "post", "--project", "p",
                           "--ref", "refs/heads/main", "--change", "3"])
    assert "not allowed with argument" in capsys.readouterr().err
