"""zuul_return through real ansible-runner: data merged into the build's result
file, read back (masked) by the executor, and bad input named in the job log."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.unit.test_ansible_run import SECRET, Job, job, zygote  # noqa: F401 (fixtures)
from zuulish.executor.returned import read_returned, read_secret_data, result_file


def _calling(job: Job, *args: str) -> tuple[str, str]:  # noqa: F811
    """Run one playbook calling zuul_return with each of ``args`` (its arguments, as
    YAML lines); its result."""
    job.inventory["all"]["vars"] = {
        "zuul": {"executor": {"result_data_file": str(result_file(job.work))}},
        "token": SECRET}
    tasks = ["zuul_return:\n" + "\n".join(f"        {line}" for line in arg.splitlines())
             for arg in args]
    return job.phases(run=(job.book("returns", *tasks),))


def _failures(job: Job) -> list[str]:  # noqa: F811
    """The messages of the tasks that failed."""
    return [r["msg"] for r in job.records() if r["result"] == "failed"]


def _returning(job: Job, *calls: str) -> tuple[str, str]:  # noqa: F811
    """Run one playbook calling zuul_return with each of ``calls`` as its data."""
    return _calling(job, *(f"data: {call}" for call in calls))


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


def test_warnings_artifacts_and_file_comments_are_appended_across_calls(
        job: Job) -> None:  # noqa: F811
    outcome = _returning(
        job, '{"zuul": {"warnings": ["one"], "artifacts": [{"name": "a", "url": "a"}], '
             '"file_comments": {"x.py": [{"line": 1, "message": "m1"}]}}}',
        '{"zuul": {"warnings": ["two"], "artifacts": [{"name": "b", "url": "b"}], '
        '"file_comments": {"x.py": [{"line": 2, "message": "m2"}], '
        '"y.py": [{"line": 3, "message": "m3"}]}}}')
    assert outcome == ("SUCCESS", "")
    data = read_returned(job.work, job.log, [])
    assert data is not None
    assert data["zuul"]["warnings"] == ["one", "two"]
    assert [a["name"] for a in data["zuul"]["artifacts"]] == ["a", "b"]
    assert data["zuul"]["file_comments"] == {
        "x.py": [{"line": 1, "message": "m1"}, {"line": 2, "message": "m2"}],
        "y.py": [{"line": 3, "message": "m3"}]}


def test_malformed_warnings_and_file_comments_are_named_in_the_log(
        job: Job) -> None:  # noqa: F811
    outcome = _returning(job, '{"zuul": {"warnings": ["fine", 42], "file_comments": {'
                              '"a.py": [{"line": 1, "message": "ok"}, {"message": "no line"}], '
                              '"b.py": [{"line": 1, "message": "not in the change"}]}}}')
    assert outcome == ("SUCCESS", "")
    data = read_returned(job.work, job.log, [], files=["a.py"])
    assert data is not None and data["zuul"]["warnings"] == ["fine", 42]  # kept as returned
    text = job.text()
    assert "zuul_return: zuul.warnings #2 is an int, not a message; ignored" in text
    assert ("zuul_return: zuul.file_comments: comment #2 on a.py has no line (a whole "
            "number, 1 or more); ignored") in text
    assert ("zuul_return: zuul.file_comments: b.py is not a file of this change; its 1 "
            "comment(s) ignored") in text


def test_data_is_returned_from_a_json_file_in_the_work_dir(job: Job) -> None:  # noqa: F811
    (job.work / "out").mkdir()
    (job.work / "out" / "data.json").write_text('{"version": "2.0", "zuul": {"warnings": ["w"]}}')
    outcome = _calling(job, "file: out/data.json",
                       f"file: {job.work / 'out' / 'data.json'}", 'data: {"more": 1}')
    assert outcome == ("SUCCESS", "")
    assert read_returned(job.work, job.log, []) == {
        "version": "2.0", "more": 1, "zuul": {"warnings": ["w", "w"]}}


@pytest.mark.parametrize(("setup", "arg", "message"), [
    (None, "file: missing.json", "zuul_return: file missing.json does not exist"),
    ("not json", "file: bad.json", "zuul_return: file bad.json is not JSON"),
    ("[1, 2]", "file: bad.json",
     "zuul_return: file bad.json must hold a JSON object (a mapping), not a list"),
    ('{"a": 1}', 'file: bad.json\ndata: {"b": 2}', "zuul_return: give either data or file, "
                                                   "not both"),
])
def test_a_bad_file_fails_the_task_with_a_clear_message(
        job: Job, setup: str | None, arg: str, message: str) -> None:  # noqa: F811
    if setup is not None:
        (job.work / "bad.json").write_text(setup)
    outcome = _calling(job, arg)
    assert outcome[0] == "FAILURE"
    assert [m[:len(message)] for m in _failures(job)] == [message]
    assert read_returned(job.work, job.log, []) is None


def test_only_a_trusted_playbook_may_return_a_file_outside_the_work_dir(
        job: Job) -> None:  # noqa: F811
    outside = job.tmp / "outside.json"
    outside.write_text('{"from": "outside"}')
    for arg in (f"file: {outside}", "file: ../outside.json"):
        outcome = _calling(job, arg)
        if job.trusted:
            assert outcome == ("SUCCESS", ""), arg
            assert read_returned(job.work, job.log, []) == {"from": "outside"}
        else:
            assert outcome[0] == "FAILURE", arg
            assert read_returned(job.work, job.log, []) is None
    if not job.trusted:
        assert _failures(job) == [
            f"zuul_return: file {name} is outside the build's work directory ({job.work}); "
            "an untrusted playbook may only return a file from there"
            for name in (outside, "../outside.json")]


def test_no_playbook_returns_a_file_through_a_link_in_the_work_dir(
        job: Job) -> None:  # noqa: F811
    """A link planted in the work dir is never followed, not even by a trusted
    playbook (the work dir holds what untrusted code wrote)."""
    outside = job.tmp / "outside.json"
    outside.write_text('{"from": "outside"}')
    (job.work / "escape.json").symlink_to(outside)
    (job.work / "sub").symlink_to(job.tmp)
    for arg in ("file: escape.json", "file: sub/outside.json"):
        outcome = _calling(job, arg)
        assert outcome[0] == "FAILURE", arg
        assert read_returned(job.work, job.log, []) is None
    assert _failures(job) == [
        f"zuul_return: file {name} is reached through a symbolic link (or a non-directory): "
        "refused" for name in ("escape.json", "sub/outside.json")]


def test_a_planted_result_file_link_is_not_read_into_the_returned_data(
        job: Job) -> None:  # noqa: F811
    """zuul_return merges into the result file: a link in its place is refused,
    not read (its target would end up in the returned data)."""
    planted = job.tmp / "planted.json"
    planted.write_text('{"stolen": "planted-secret-5e1f"}')
    result_file(job.work).symlink_to(planted)
    outcome = _calling(job, "data: {a: 1}")
    assert outcome[0] == "FAILURE"
    assert "is reached through a symbolic link" in _failures(job)[0]
    refused: list[str] = []
    assert read_returned(job.work, job.log, [], refused=refused) is None
    assert refused == ["the returned data was ignored: results.json is a symbolic link: "
                       "refused"]
    assert "planted-secret-5e1f" not in job.text()


def test_returned_data_may_not_grow_past_the_limit(job: Job) -> None:  # noqa: F811
    job.returned_limit = 200
    outcome = _returning(job, '{"small": 1}', '{"big": "%s"}' % ("x" * 300))
    assert outcome[0] == "FAILURE"
    assert _failures(job) == ["zuul_return: the returned data would be 352 bytes, more than "
                              "the limit of 200 bytes (executor.max_returned_bytes)"]
    assert read_returned(job.work, job.log, [], limit=200) == {"small": 1}


def test_a_result_file_over_the_limit_is_ignored_with_the_limit_named(
        tmp_path: Path) -> None:
    plain = Job(tmp_path)
    result_file(plain.work).write_text(json.dumps({"data": {"big": "x" * 2000}}))
    refused: list[str] = []
    assert read_returned(plain.work, plain.log, [], limit=1000, refused=refused) is None
    message = ("results.json is larger than the limit of 1000 bytes "
               "(executor.max_returned_bytes)")
    assert refused == [f"the returned data was ignored: {message}"]
    assert f"zuul_return: {message}; the returned data is ignored" in plain.text()


def test_a_result_file_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    plain = Job(tmp_path)
    os.mkfifo(result_file(plain.work))  # opened without blocking, then refused
    refused: list[str] = []
    assert read_returned(plain.work, plain.log, [], refused=refused) is None
    assert refused == ["the returned data was ignored: results.json is not a regular file: "
                       "refused"]


def test_a_result_file_that_is_not_a_mapping_is_ignored_with_a_note(tmp_path: Path) -> None:
    plain = Job(tmp_path)
    result_file(plain.work).write_text('"just a string"')
    assert read_returned(plain.work, plain.log, []) is None
    assert "the returned data is a str, not a mapping; ignored" in plain.text()


def test_a_build_that_returns_nothing_has_no_data(tmp_path: Path) -> None:
    plain = Job(tmp_path)
    assert read_returned(plain.work, plain.log, []) is None


SECRET_PASSWORD = "registry-pass-0b7c2f"


def test_secret_data_is_kept_apart_and_masked_once_read(job: Job) -> None:  # noqa: F811
    outcome = _calling(
        job, f'secret_data: {{"registry": {{"user": "zuul", "password": "{SECRET_PASSWORD}"}}}}',
        f'data: {{"shown": "{SECRET_PASSWORD}", "plain": 1}}',
        'secret_data: {"zuul": {"pause": true}, "ansible_user": "root", "more": "x"}')
    assert outcome == ("SUCCESS", "")
    # Zuul's file shape: zuul-jobs' registry roles read secret_data from it
    stored = json.loads(result_file(job.work).read_text())
    assert stored["secret_data"]["registry"]["password"] == SECRET_PASSWORD
    assert stored["data"] == {"shown": SECRET_PASSWORD, "plain": 1}
    secret = read_secret_data(job.work, job.log)
    assert secret == {"registry": {"user": "zuul", "password": SECRET_PASSWORD}, "more": "x"}
    # once read, its values are masked in what is stored and written (short ones are not)
    assert read_returned(job.work, job.log, []) == {"shown": "******", "plain": 1}
    job.log.write(f"later {SECRET_PASSWORD} by zuul")
    text = job.text()
    assert "later ****** by zuul" in text
    assert "zuul_return: secret_data: zuul is Zuul's own variable" in text
    assert "zuul_return: secret_data: variable name 'ansible_user' is not allowed" in text
    # the task's result names what was returned, never a secret's value
    msgs = [r["msg"] for r in job.records() if r["action"] == "zuul_return"]
    assert msgs[0] == "secret_data registry"
    assert SECRET_PASSWORD not in json.dumps(job.records())


def test_secret_data_from_a_file_follows_the_file_rules(job: Job) -> None:  # noqa: F811
    (job.work / "secret.json").write_text('{"token": "from-a-file-123"}')
    outcome = _calling(job, "secret_file: secret.json", "secret_file: ../x.json",
                       'secret_data: [1]')
    assert outcome[0] == "FAILURE"
    assert read_secret_data(job.work, job.log) == {"token": "from-a-file-123"}


@pytest.mark.parametrize(("given", "note"), [
    ('"ftp://logs.example/1/"', "zuul.log_url must be an http(s) URL"),
    ('"https://logs.example/a b"', "zuul.log_url must be an http(s) URL"),
    ('"/relative/path"', "zuul.log_url must be an http(s) URL"),
    ("[1]", "zuul.log_url must be a URL, not a list"),
])
def test_a_log_url_that_is_not_an_http_url_is_named_in_the_log(
        tmp_path: Path, given: str, note: str) -> None:
    plain = Job(tmp_path)
    result_file(plain.work).write_text(f'{{"data": {{"zuul": {{"log_url": {given}}}}}}}')
    assert read_returned(plain.work, plain.log, []) is not None
    assert f"zuul_return: {note}" in plain.text()


def test_a_retry_that_is_not_a_boolean_is_named_in_the_log(tmp_path: Path) -> None:
    plain = Job(tmp_path)
    result_file(plain.work).write_text('{"data": {"zuul": {"retry": "no"}}}')
    read_returned(plain.work, plain.log, [])
    assert "zuul_return: zuul.retry must be true or false, not a str; ignored" in plain.text()


def test_secret_data_counts_towards_the_size_limit(job: Job) -> None:  # noqa: F811
    job.returned_limit = 200
    outcome = _calling(job, 'data: {"small": 1}',
                       'secret_data: {"big": "%s"}' % ("x" * 300))
    assert outcome[0] == "FAILURE"
    assert _failures(job)[0].startswith("zuul_return: the returned data would be ")
    assert read_secret_data(job.work, job.log, limit=200) is None
    assert read_returned(job.work, job.log, [], limit=200) == {"small": 1}
