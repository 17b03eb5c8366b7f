"""Running playbooks through ansible-runner with Zuul's result rules (real Ansible)."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from zuulish.executor.ansible_run import JobLog, PlaybookRun
from zuulish.executor.phases import run_phases


def book(tmp: Path, name: str, tasks: str) -> PlaybookRun:
    path = tmp / "books" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"- hosts: all\n  gather_facts: false\n  tasks:\n{tasks}")
    return PlaybookRun(path, "run", True)


def shell(cmd: str) -> str:
    return f"    - shell: {json.dumps(cmd)}\n"


@pytest.fixture
def env(tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    inventory = {"all": {"hosts": {"node": {
        "ansible_connection": "zuulish_local", "zuulish_work_dir": str(work),
        "ansible_python_interpreter": sys.executable}}}}
    log = JobLog(tmp_path / "logs", secrets=["s3cr3t-value"], max_bytes=200_000)

    def run(pre=(), run=(), post=(), cleanup=(), timeout=60.0, cancel=None):
        def phase(books, name):
            return [PlaybookRun(b.playbook, name, b.trusted) for b in books]
        return run_phases(tmp_path / "priv", phase(pre, "pre-run"), phase(run, "run"),
                          phase(post, "post-run"), phase(cleanup, "cleanup-run"), inventory,
                          {}, log, timeout, cancel, work)

    return tmp_path, work, log, run


def test_successful_playbook_writes_text_and_json_logs(env) -> None:
    tmp, _work, log, run = env
    assert run(run=[book(tmp, "ok", shell("echo hello-from-job"))]) == ("SUCCESS", "")
    log.close()
    assert "hello-from-job" in (tmp / "logs" / "job-output.txt").read_text()
    [task] = json.loads((tmp / "logs" / "job-output.json").read_text())
    assert task["host"] == "node" and task["result"] == "ok"
    assert log.first_task_started is not None


def test_commands_run_in_the_node_work_dir(env) -> None:
    tmp, work, log, run = env
    (work / "src").mkdir()
    (work / "src" / "marker").write_text("x")
    tasks = "    - command: ls marker\n      args: {chdir: src}\n"
    assert run(run=[book(tmp, "cwd", tasks)])[0] == "SUCCESS"


def test_failing_task_is_failure_and_post_run_still_runs(env) -> None:
    tmp, work, _log, run = env
    result = run(run=[book(tmp, "bad", shell("exit 3"))],
                 post=[book(tmp, "post", shell("touch post-ran"))])
    assert result[0] == "FAILURE"
    assert (work / "post-ran").exists()


def test_missing_playbook_is_an_error_with_a_message(env) -> None:
    tmp, _work, log, run = env
    result, message = run(run=[PlaybookRun(tmp / "nope.yaml", "run", False)])
    assert result == "ERROR" and "not found" in message
    log.close()
    assert "nope.yaml not found" in (tmp / "logs" / "job-output.txt").read_text()


def test_playbook_with_syntax_error_fails_the_run(env) -> None:
    # as in Zuul: a run playbook Ansible cannot load is the job's FAILURE
    tmp, _work, _log, run = env
    path = tmp / "broken.yaml"
    path.write_text("- hosts: all\n  tasks:\n    - shell: [unclosed\n")
    result, message = run(run=[PlaybookRun(path, "run", False)])
    assert result == "FAILURE" and "YAML syntax error" in message


def test_pre_run_failure_asks_for_a_retry_and_skips_run(env) -> None:
    tmp, work, _log, run = env
    result = run(pre=[book(tmp, "pre", shell("exit 1"))],
                 run=[book(tmp, "run", shell("touch run-ran"))])
    assert result[0] == "RETRY"
    assert not (work / "run-ran").exists()


def test_post_run_failure_after_success_is_post_failure(env) -> None:
    tmp, work, _log, run = env
    result = run(run=[book(tmp, "ok", shell("true"))], post=[book(tmp, "post", shell("false"))],
                 cleanup=[book(tmp, "clean", shell("touch cleaned"))])
    assert result[0] == "POST_FAILURE"
    assert (work / "cleaned").exists()


def test_job_that_never_ends_times_out(env) -> None:
    tmp, _work, _log, run = env
    start = time.monotonic()
    result = run(run=[book(tmp, "slow", shell("sleep 60"))], timeout=3)
    assert result[0] == "TIMED_OUT"
    assert time.monotonic() - start < 30


def test_abort_cancels_within_seconds(env) -> None:
    tmp, _work, _log, run = env
    cancel = threading.Event()
    threading.Timer(2.0, cancel.set).start()
    start = time.monotonic()
    assert run(run=[book(tmp, "slow", shell("sleep 60"))], cancel=cancel)[0] == "CANCELED"
    assert time.monotonic() - start < 30


def test_secret_values_are_masked_in_every_log(env) -> None:
    tmp, _work, log, run = env
    run(run=[book(tmp, "leak", shell("echo the secret is s3cr3t-value"))])
    log.close()
    for name in ("job-output.txt", "job-output.json"):
        text = (tmp / "logs" / name).read_text()
        assert "s3cr3t-value" not in text
    assert "the secret is ******" in (tmp / "logs" / "job-output.txt").read_text()


def test_huge_output_is_bounded_with_a_note(env) -> None:
    tmp, _work, log, run = env
    run(run=[book(tmp, "huge", shell("seq 1 40000"))])
    log.close()
    text = (tmp / "logs" / "job-output.txt").read_text()
    assert len(text) < 210_000 and "[log truncated" in text
