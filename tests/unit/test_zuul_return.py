"""zuul_return through real ansible-runner: data merged into the build's result
file, read back (masked) by the executor, and bad input named in the job log."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.test_ansible_run import SECRET, Job, job, zygote  # noqa: F401 (fixtures)
from zuulish.executor.returned import read_returned, result_file


def _returning(job: Job, *calls: str) -> tuple[str, str]:  # noqa: F811
    """Run one playbook calling zuul_return with each of ``calls``; its result."""
    job.inventory["all"]["vars"] = {
        "zuul": {"executor": {"result_data_file": str(result_file(job.work))}},
        "token": SECRET}
    tasks = [f"zuul_return:\n        data: {call}" for call in calls]
    return job.phases(run=(job.book("returns", *tasks),))


def test_returned_data_is_merged_across_calls(job: Job) -> None:  # noqa: F811
    outcome = _returning(job, '{"a": {"x": 1, "y": [1, 2]}, "b": 1}',
               '{"a": {"y": [3], "z": "{{ 1 + 1 }}"}, "zuul": {"child_jobs": ["c"]}}')
    assert outcome == ("SUCCESS", "")
    data = read_returned(job.work, job.log, ["c"])
    assert data == {"a": {"x": 1, "y": [3], "z": "2"}, "b": 1, "zuul": {"child_jobs": ["c"]}}
    assert "zuul_return: zuul.child_jobs" not in job.text()


def test_returned_secrets_are_masked_in_the_log_and_the_stored_data(job: Job) -> None:  # noqa: F811
    outcome = _returning(job, '{"leak": "{{ token }}"}')
    assert outcome[0] == "SUCCESS"
    data = read_returned(job.work, job.log, [])
    assert data == {"leak": "******"}
    assert SECRET not in job.text() and SECRET not in json.dumps(job.records())


def test_data_that_is_not_a_mapping_fails_the_task_with_a_clear_message(job: Job) -> None:  # noqa: F811
    outcome = _returning(job, '[1, 2]')
    assert outcome[0] == "FAILURE"
    assert read_returned(job.work, job.log, []) is None
    assert "zuul_return: data must be a mapping, got a list" in job.text()


def test_bad_artifacts_and_unknown_child_jobs_are_named_in_the_log(job: Job) -> None:  # noqa: F811
    outcome = _returning(job, '{"zuul": {"artifacts": [{"name": "docs"}, {"url": "x/"}, '
                    '{"name": "ok", "url": "ok.tgz"}], "child_jobs": ["deploy", "nope"]}}')
    assert outcome[0] == "SUCCESS"
    data = read_returned(job.work, job.log, ["deploy", "docs"])
    assert data is not None and data["zuul"]["child_jobs"] == ["deploy", "nope"]
    text = job.text()
    assert "zuul_return: artifact #1 has no url; ignored" in text
    assert "zuul_return: artifact #2 has no name; ignored" in text
    assert ("zuul.child_jobs names 'nope', which is not a job that depends on this one "
            "(those are: deploy, docs); ignored") in text


def test_a_result_file_that_is_not_a_mapping_is_ignored_with_a_note(tmp_path: Path) -> None:
    plain = Job(tmp_path)
    result_file(plain.work).write_text('"just a string"')
    assert read_returned(plain.work, plain.log, []) is None
    assert "the returned data is a str, not a mapping; ignored" in plain.text()


def test_a_build_that_returns_nothing_has_no_data(tmp_path: Path) -> None:
    plain = Job(tmp_path)
    assert read_returned(plain.work, plain.log, []) is None
