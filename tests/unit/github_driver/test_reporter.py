"""The GitHub reporter: a report's calls are recorded in the outbox, and the outbox's
sender makes them against the fake GitHub (every call checked against GitHub's
OpenAPI description)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.github.state import Pull
from tests.unit.github_driver.conftest import REPO, WEB_URL, World
from zuulish.store.outbox import FAILED, PENDING, SENT, OutboxRow

# the driver's logic is the subject; the outbox and pull requests it keeps have
# store tests of their own (tests/conftest.py)
pytestmark = pytest.mark.not_store


def report(world: World, number: int, *, action: str = "success",
           result: str | None = "SUCCESS", message: str = "Build succeeded.\n",
           options: dict[str, Any] | None = None, patchset: int | None = 1,
           pipeline: str = "check", **kw: Any) -> None:
    world.reporter.report(number, tenant="acme", pipeline=pipeline, action=action,
                          result=result, votes={}, message=message, patchset=patchset,
                          options=options or {}, **kw)


def opened(world: World) -> tuple[Pull, int]:
    pull = world.fake.add_pull(REPO, {"a.txt": "a\n"}, title="Add a")
    return pull, world.known(pull)


def test_status_with_the_pipelines_context_and_the_status_page(world: World):
    pull, number = opened(world)
    report(world, number, options={"status": "success"}, message="")
    world.deliver()
    [status] = world.repo.statuses[pull.head_sha]
    assert (status["state"], status["context"], status["target_url"]) == (
        "success", "acme/check", f"{WEB_URL}/t/acme/status")
    assert status["description"] == "check: SUCCESS"


def test_status_url_option_is_the_link(world: World):
    pull, number = opened(world)
    report(world, number, message="",
           options={"status": "pending", "status-url": "https://ci.example.org/x"})
    world.deliver()
    [status] = world.repo.statuses[pull.head_sha]
    assert (status["state"], status["target_url"]) == ("pending", "https://ci.example.org/x")


def test_one_check_run_per_name_and_head_updated_until_completed(world: World):
    pull, number = opened(world)
    report(world, number, action="start", result=None, message="Started.",
           options={"check": "in_progress"}, comment=False)
    world.deliver()
    report(world, number, message="Every job passed.", options={"check": "success"},
           comment=False)
    world.deliver()
    runs = [r for r in world.repo.check_runs if r["head_sha"] == pull.head_sha]
    assert len(runs) == 1
    run = runs[0]
    assert (run["name"], run["status"], run["conclusion"]) == (
        "acme/check", "completed", "success")
    assert run["output"]["summary"] == "Every job passed."
    assert run["details_url"] == f"{WEB_URL}/t/acme/status"
    assert len(world.fake.calls_to("POST", "/repos/{owner}/{repo}/check-runs")) == 1
    assert len(world.fake.calls_to(
        "PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}")) == 1
    assert pull.comments == []


def test_a_new_head_gets_its_own_check_run(world: World):
    pull, number = opened(world)
    report(world, number, options={"check": "failure"}, comment=False)
    world.deliver()
    world.fake.push_to_pull(REPO, pull, {"a.txt": "a2\n"})
    world.known(pull)
    report(world, number, options={"check": "success"}, comment=False, patchset=2)
    world.deliver()
    assert sorted((r["head_sha"], r["conclusion"]) for r in world.repo.check_runs) == sorted(
        [(world.fake.repo(REPO).bare.rev(f"refs/heads/{pull.head_branch}~1"), "failure"),
         (pull.head_sha, "success")])


def test_file_comments_become_annotations_capped_at_fifty(world: World):
    pull, number = opened(world)
    comments = {"a.txt": [{"line": n, "message": f"line {n}", "level": "error"}
                          for n in range(1, 61)]}
    report(world, number, options={"check": "failure"}, file_comments=comments)
    world.deliver()
    [run] = world.repo.check_runs
    assert len(run["annotations"]) == 50
    assert run["annotations"][0] == {"path": "a.txt", "start_line": 1, "end_line": 1,
                                     "annotation_level": "failure", "message": "line 1"}
    # with a check, the comment does not list them again
    [comment] = pull.comments
    assert "line 1" not in comment["body"]


def test_a_comment_lists_file_comments_when_there_is_no_check(world: World):
    pull, number = opened(world)
    report(world, number, message="Build failed.\n",
           file_comments={"a.txt": [{"line": 3, "message": "use a tab"}]})
    world.deliver()
    [comment] = pull.comments
    assert comment["body"].startswith("Build failed.\n\nFile comments:\n")
    assert "a.txt" in comment["body"] and "use a tab" in comment["body"]


def test_comment_false_posts_no_comment(world: World):
    pull, number = opened(world)
    report(world, number, options={"status": "success"}, comment=False)
    world.deliver()
    assert pull.comments == []
    assert world.repo.statuses[pull.head_sha]


def test_labels_added_and_removed(world: World):
    pull, number = opened(world)
    pull.labels.append("needs-ci")
    report(world, number, message="", options={"label": ("ci-passed",),
                                               "unlabel": ("needs-ci", "never-had")})
    world.deliver()
    assert pull.labels == ["ci-passed"]
    assert all(row.state == SENT for row in world.outbox())


def test_review_with_its_body(world: World):
    pull, number = opened(world)
    report(world, number, message="", options={"review": "request-changes",
                                               "review-body": "Tests failed."})
    world.deliver()
    [review] = pull.reviews
    assert (review["state"], review["body"], review["commit_id"]) == (
        "CHANGES_REQUESTED", "Tests failed.", pull.head_sha)


def test_reported_is_true_only_for_the_report_made(world: World):
    _, number = opened(world)
    report(world, number, options={"status": "success"})
    reported = world.reporter.reported
    assert reported(number, tenant="acme", pipeline="check", patchset=1, action="success")
    assert not reported(number, tenant="acme", pipeline="gate", patchset=1, action="success")
    assert not reported(number, tenant="acme", pipeline="check", patchset=2,
                        action="success")
    assert not reported(number, tenant="acme", pipeline="check", patchset=1,
                        action="failure")


def test_a_report_with_nothing_to_say_is_still_remembered(world: World):
    _, number = opened(world)
    report(world, number, message="", comment=False)
    mark = world.mark()
    world.deliver()
    assert world.calls_since(mark) == []
    assert world.reporter.reported(number, tenant="acme", pipeline="check", patchset=1,
                                   action="success")


# ------------------------------------------------------------------ delivery errors


def test_a_rate_limit_defers_the_call_until_github_allows_it(world: World):
    pull, number = opened(world)
    report(world, number)
    world.fake.secondary_limit(1, retry_after=120)
    world.deliver()
    [row] = world.outbox()
    assert (row.state, row.attempts) == (PENDING, 0)
    assert row.not_before == world.clock.now() + 120
    assert pull.comments == []
    world.clock.advance(119)
    world.deliver()
    assert pull.comments == []
    world.clock.advance(1)
    world.deliver()
    assert [c["body"] for c in pull.comments] == ["Build succeeded.\n"]
    assert world.outbox()[0].state == SENT


def test_a_call_github_refuses_is_not_tried_again(world: World):
    pull, number = opened(world)
    report(world, number, message="", options={"status": "success"})
    # the head is gone (force-pushed away): GitHub answers 422 "No commit found"
    with world.store.session() as s:
        row = s.query(OutboxRow).one()
        row.payload = {**row.payload, "sha": "0" * 40}
    world.deliver()
    [row] = world.outbox()
    assert (row.state, row.attempts) == (FAILED, 1)
    assert "422" in row.last_error and "No commit found" in row.last_error
    assert world.fake.take_violations() == []


def test_server_errors_are_retried_with_back_off(world: World):
    pull, number = opened(world)
    report(world, number)
    world.fake.fail_next(3, status=502)  # more than the client's own retries
    world.deliver()
    [row] = world.outbox()
    assert (row.state, row.attempts) == (PENDING, 1)
    assert "502" in row.last_error
    assert pull.comments == []
    world.clock.advance(2)
    world.deliver()
    assert world.outbox()[0].state == SENT
    assert len(pull.comments) == 1


def test_server_errors_without_end_fail_the_call_after_its_attempts(world: World):
    pull, number = opened(world)
    report(world, number)
    for _ in range(3):
        world.fake.fail_next(3, status=503)
        world.deliver()
        world.clock.advance(600)
    [row] = world.outbox()
    assert (row.state, row.attempts) == (FAILED, 3)
    assert pull.comments == []


def test_a_report_longer_than_github_takes_is_cut_short_and_says_so(world: World):
    pull, number = opened(world)
    lines = "".join(f"- job-{n}: SUCCESS in 1m {n}s\n" for n in range(4000))
    assert len(lines) > 65536
    report(world, number, message="Build succeeded.\n\n" + lines)
    world.deliver()
    [comment] = pull.comments
    assert len(comment["body"]) <= 65536
    assert comment["body"].startswith("Build succeeded.\n\n- job-0: SUCCESS")
    assert comment["body"].endswith("the whole report is on zuulish's dashboard.)\n")
    assert [row.state for row in world.outbox()] == [SENT]


def test_a_check_run_of_the_same_name_by_another_app_is_left_alone(world: World):
    """GitHub refuses an App the check runs of another: zuulish makes its own."""
    pull, number = opened(world)
    other = world.fake.add_app("other-ci")
    world.fake.add_check_run(world.repo, other, {"name": "acme/check",
                                                 "head_sha": pull.head_sha})
    report(world, number, message="Every job passed.", options={"check": "success"},
           comment=False)
    world.deliver()
    runs = [r for r in world.repo.check_runs if r["head_sha"] == pull.head_sha]
    assert [(r["app"]["slug"], r["conclusion"]) for r in runs] == [
        ("other-ci", None), (world.app.slug, "success")]
