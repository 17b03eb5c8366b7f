"""What builds return with zuul_return in the report on the change: ``zuul.warnings``
as ``Warning: ...`` lines, ``zuul.file_comments`` on the change's files handed to the
reporter (the real scheduler, in the simulated world)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.gate_world import GateWorld, SimChange
from zuulish.scheduler.reporting import returned_for_report


@pytest.fixture
def world() -> Iterator[GateWorld]:
    w = GateWorld(repos=["a", "b"], nodes=10)
    yield w
    w.close()


def test_warnings_a_build_returned_are_listed_in_the_report(world: GateWorld) -> None:
    world.executor.returns["test-a"] = {"zuul": {"warnings": [
        "This job is deprecated, use test-a2", 42]}}
    world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0))
    world.run()
    assert [m.number for m in world.forge.merges] == [1]
    [text] = [m for n, m in world.forge.messages if n == 1]
    assert text.endswith("\n\nWarning: test-a: This job is deprecated, use test-a2\n")
    assert text.index("- test-a ") < text.index("Warning:")
    assert text.count("Warning:") == 1  # the malformed one was named in the job log only


def test_file_comments_on_the_change_files_go_to_the_reporter(world: GateWorld) -> None:
    world.executor.returns["test-a"] = {"zuul": {"file_comments": {
        "src/1.py": [{"line": 3, "message": "Line too long", "level": "warning"},
                     {"message": "no line"}],
        "src/other.py": [{"line": 1, "message": "not this change's file"}]}}}
    world.add_change(SimChange(1, "a", ("src/1.py",), True, 0.0))
    world.run()
    assert world.forge.reports[-1] == (1, "failure", "FAILURE")
    # each comment says where it came from (the build and its build set), for Gerrit's
    # robot comments
    [(_n, comments)] = world.forge.file_comments
    comment_origin = comments["src/1.py"][0]
    assert comment_origin["build"] and isinstance(comment_origin["buildset"], int)
    assert world.forge.file_comments == [
        (1, {"src/1.py": [{"line": 3, "message": "Line too long", "level": "warning",
                           "job": "test-a", "build": comment_origin["build"],
                           "buildset": comment_origin["buildset"]}]})]
    [text] = [m for n, m in world.forge.messages if n == 1]
    assert ("Warning: test-a: comments left on src/other.py, which this change does not "
            "touch, were dropped") in text


def test_a_batch_drops_comments_on_other_changes_files_without_a_warning() -> None:
    returned = {"zuul": {"warnings": ["w"], "file_comments": {
        "mine.py": [{"line": 1, "message": "m"}], "theirs.py": [{"line": 2, "message": "t"}]}}}
    own = returned_for_report([("unit", returned), ("lint", None)], ["mine.py"])
    assert own.warnings == ["unit: w", "unit: comments left on theirs.py, which this change "
                                       "does not touch, were dropped"]
    assert own.file_comments == {"mine.py": [{"line": 1, "message": "m"}]}
    batched = returned_for_report([("unit", returned)], ["mine.py"], own=False)
    assert batched.warnings == ["unit: w"]
    assert batched.file_comments == own.file_comments
    unknown = returned_for_report([("unit", returned)], None)
    assert set(unknown.file_comments) == {"mine.py", "theirs.py"}


def test_a_build_that_ended_in_an_error_gives_its_reason_after_its_line() -> None:
    from zuulish.model import Build, BuildSet, BuildState
    from zuulish.scheduler.reporting import report_message

    bs = BuildSet(1, 1, ())
    bs.builds["unit"] = Build("b1", 1, "unit", BuildState.COMPLETED, result="ERROR",
                              started_at=10, finished_at=10,
                              message="run playbook playbooks/run.yaml not found in org/app "
                                      "at 0123456789ab\nmore detail")
    bs.builds["lint"] = Build("b2", 1, "lint", BuildState.COMPLETED, result="FAILURE",
                              started_at=10, finished_at=15, message="a task failed")
    text = report_message("failure", "check", bs, "http://z.test")
    assert text.splitlines()[2:] == [
        "- unit http://z.test/build/b1 : ERROR in 0s: run playbook playbooks/run.yaml not "
        "found in org/app at 0123456789ab",
        "- lint http://z.test/build/b2 : FAILURE in 5s"]  # its log says why


def test_a_returned_log_url_is_the_base_of_relative_artifact_urls() -> None:
    from zuulish.model.returned_data import artifacts, log_url, logs_base

    data = {"zuul": {"log_url": "https://logs.example/1/abc",
                     "artifacts": [{"name": "docs", "url": "docs/index.html"}]}}
    assert log_url(data) == ("https://logs.example/1/abc", [])
    base = logs_base(data, "http://zuulish.test", "b1")
    assert base == "https://logs.example/1/abc/"
    assert artifacts(data, base)[0][0].url == "https://logs.example/1/abc/docs/index.html"
    # without one (or with one that is not http(s)): the build's log directory here
    assert logs_base({"zuul": {"log_url": "javascript:alert(1)"}}, "http://zuulish.test",
                     "b1") == "http://zuulish.test/logs/b1/"
