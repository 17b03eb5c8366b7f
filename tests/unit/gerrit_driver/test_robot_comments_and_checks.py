"""File comments as Gerrit robot comments (plain comments where Gerrit has none), and
the checks plugin's checks of a pipeline's ``checks-api`` reporter."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.gerrit_driver.conftest import PROJECT, Parts
from tests.unit.gerrit_driver.test_reporter import outbox, report, reviews, sender
from zuulish.clock import SimulatedClock
from zuulish.drivers.gerrit.reporter import GerritReporter, gerrit_timestamp
from zuulish.store import Store
from zuulish.store.outbox import FAILED, SENT

WEB = "https://zuul.example.org"
#: file comments as the scheduler hands them over: each with its job, build, build set
COMMENTS = {"a.py": [
    {"line": 3, "message": "unused import", "level": "warning", "job": "lint",
     "build": "b1", "buildset": 7},
    {"line": 9, "message": "boom", "level": "error", "job": "unit", "build": "b2",
     "buildset": 7, "range": {"start_line": 8, "start_character": 0, "end_line": 9,
                              "end_character": 4}}]}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    """The outbox's store: SQLite, whatever the run's database (the outbox is not the
    subject here; these are not ``store`` tests)."""
    s = Store(f"sqlite:///{tmp_path / 'zuulish.db'}")
    s.upgrade()
    yield s
    s.dispose()


@pytest.fixture
def reporter(parts: Parts, db: Store, clock: SimulatedClock) -> GerritReporter:
    return GerritReporter("review", parts.rest, parts.source, db, clock, parts.repos,
                          web_url=WEB + "/")


def checks_api(state: str, message: str | None = None) -> dict[str, Any]:
    pairs = [("checker", "zuul:check"), ("state", state)]
    return {"checks-api": tuple(pairs + ([("message", message)] if message else []))}


def test_file_comments_are_robot_comments_naming_job_build_set_and_build(
        parts: Parts, reporter: GerritReporter, db: Store, clock: SimulatedClock) -> None:
    n = parts.gerrit.upload(PROJECT, {"a.py": "import os\n"}, "A")["_number"]
    report(reporter, n, patchset=1, file_comments=COMMENTS)
    sender(db, reporter, clock).run_once()
    [(_path, body)] = reviews(parts)
    assert "comments" not in body
    assert body["robot_comments"] == {"a.py": [
        {"line": 3, "message": "unused import", "unresolved": False, "robot_id": "lint",
         "robot_run_id": "7", "url": f"{WEB}/build/b1", "properties": {"level": "warning"}},
        {"line": 9, "message": "boom", "unresolved": True, "robot_id": "unit",
         "robot_run_id": "7", "url": f"{WEB}/build/b2", "properties": {"level": "error"},
         "range": {"start_line": 8, "start_character": 0, "end_line": 9,
                   "end_character": 4}}]}
    assert [(c["path"], c["line"], c["robot"]) for c in parts.gerrit.inline_comments] == [
        ("a.py", 3, True), ("a.py", 9, True)]


def test_a_gerrit_refusing_robot_comments_gets_plain_ones_and_is_remembered(
        parts: Parts, reporter: GerritReporter, db: Store, clock: SimulatedClock,
        caplog: pytest.LogCaptureFixture) -> None:
    parts.gerrit.robot_comments = "removed"  # answers 400, as a Gerrit without them
    n = parts.gerrit.upload(PROJECT, {"a.py": "import os\n"}, "A")["_number"]
    report(reporter, n, patchset=1, file_comments=COMMENTS)
    with caplog.at_level(logging.WARNING):
        sender(db, reporter, clock).run_once()
    first, second = reviews(parts)
    assert "robot_comments" in first[1] and "robot_comments" not in second[1]
    assert second[1]["comments"]["a.py"][0] == {
        "line": 3, "unresolved": False,
        "message": f"unused import\n\n(lint {WEB}/build/b1)"}
    assert second[1]["message"].startswith("Build succeeded")
    assert second[1]["labels"] == {"Verified": 1}
    assert "refuses robot comments" in caplog.text
    assert [(c["line"], c["robot"]) for c in parts.gerrit.inline_comments] == [
        (3, False), (9, False)]
    assert [row.state for row in outbox(db)] == [SENT]
    # the next report is posted with plain comments at once
    report(reporter, n, patchset=1, action="failure", file_comments=COMMENTS)
    sender(db, reporter, clock).run_once()
    third = reviews(parts)[2][1]
    assert "robot_comments" not in third and len(reviews(parts)) == 3
    assert len(third["comments"]["a.py"]) == 2


def test_gerrit_3_13_gets_plain_comments_without_trying_robot_ones(
        parts: Parts, reporter: GerritReporter, db: Store, clock: SimulatedClock) -> None:
    parts.gerrit.version = "3.13.1"  # robot comments were removed in 3.13
    n = parts.gerrit.upload(PROJECT, {"a.py": "import os\n"}, "A")["_number"]
    report(reporter, n, patchset=1, file_comments=COMMENTS)
    sender(db, reporter, clock).run_once()
    [(_path, body)] = reviews(parts)
    assert "robot_comments" not in body and len(body["comments"]["a.py"]) == 2
    assert reporter.robot_comments is False


def test_another_400_is_refused_not_taken_for_missing_robot_comments(
        parts: Parts, reporter: GerritReporter, db: Store, clock: SimulatedClock) -> None:
    n = parts.gerrit.upload(PROJECT, {"a.py": "import os\n"}, "A")["_number"]
    report(reporter, n, patchset=1, file_comments={"a.py": [{"line": 1, "message": ""}]})
    sender(db, reporter, clock).run_once()  # a robot comment without a message: 400
    [row] = outbox(db)
    assert row.state == FAILED and "message is missing" in (row.last_error or "")
    assert len(reviews(parts)) == 1 and reporter.robot_comments is not False


def test_checks_api_records_the_pipelines_check_through_its_states(
        parts: Parts, reporter: GerritReporter, db: Store, clock: SimulatedClock) -> None:
    n = parts.gerrit.upload(PROJECT, {"a.py": "1\n"}, "A")["_number"]
    parts.source.get_change(n)  # as the scheduler did before reporting
    send = sender(db, reporter, clock)
    report(reporter, n, patchset=1, action="start", votes={}, comment=False,
           message="Starting check jobs.\n", options=checks_api("RUNNING"))
    send.run_once()
    assert reviews(parts) == []  # nothing to review: no comment, no votes
    check = parts.gerrit.checks[(n, 1)]["zuul:check"]
    assert check["state"] == "RUNNING" and check["message"] == "Starting check jobs."
    assert check["url"] == f"{WEB}/t/t/status"
    assert check["started"] == gerrit_timestamp(clock.now()) and "finished" not in check
    assert reporter.reported(n, tenant="t", pipeline="check", patchset=1, action="start")
    clock.advance(90)
    report(reporter, n, patchset=1, options=checks_api("SUCCESSFUL", "All jobs passed"))
    while send.run_once():  # a change's calls are made one after the other
        pass
    assert len(reviews(parts)) == 1  # the review, then the check
    check = parts.gerrit.checks[(n, 1)]["zuul:check"]
    assert (check["state"], check["message"]) == ("SUCCESSFUL", "All jobs passed")
    assert check["finished"] == gerrit_timestamp(clock.now())
    assert check["started"] < check["finished"]  # kept from the RUNNING report
    [post] = [c for c in parts.gerrit.calls if c.path.endswith("/checks/")][-1:]
    assert post.path == f"/a/changes/org%2Fwidget~{n}/revisions/1/checks/"
    assert [row.state for row in outbox(db)] == [SENT, SENT, SENT]


def test_without_the_checks_plugin_the_check_is_refused_and_the_review_still_made(
        parts: Parts, reporter: GerritReporter, db: Store, clock: SimulatedClock,
        caplog: pytest.LogCaptureFixture) -> None:
    parts.gerrit.checks_plugin = False
    n = parts.gerrit.upload(PROJECT, {"a.py": "1\n"}, "A")["_number"]
    report(reporter, n, patchset=1, options=checks_api("FAILED"), action="failure")
    report(reporter, n, patchset=1, votes={"Verified": -1}, action="failure")
    send = sender(db, reporter, clock)
    with caplog.at_level(logging.ERROR):
        while send.run_once():  # a change's calls are made one after the other
            pass
    assert [row.kind for row in outbox(db)] == ["review", "check", "review"]
    assert [row.state for row in outbox(db)] == [SENT, FAILED, SENT]
    assert "checks plugin is not installed" in caplog.text
    assert len(reviews(parts)) == 2 and parts.gerrit.checks == {}
    clock.advance(3600)
    calls = len(parts.gerrit.calls)
    assert not send.run_once() and len(parts.gerrit.calls) == calls  # not retried
