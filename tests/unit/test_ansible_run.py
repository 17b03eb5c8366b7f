"""Playbooks through real ansible-runner on the local connection, with Zuul's phase rules."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import stat
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zuulish.executor.ansible_run import (
    JobLog,
    PhaseOutcome,
    PlaybookRun,
    ansible_env,
    run_playbook,
)
from zuulish.executor.ansible_zygote import SERVED_ENV, AnsibleZygote
from zuulish.executor.phases import run_phases
from zuulish.executor.sandbox import TrustedSpec, unavailable
from zuulish.executor.trusted_view import BuildSandbox

SECRET = "hunter2-s3cr3t-Value"
KEY = "-----BEGIN KEY-----\nAAAAB3NzaC1yc2EAAAADAQAB\nQQQQQQQQQQQQQQQQQQQQ\n-----END KEY-----"
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \| ")


class Job:
    """A work dir, a job log and playbooks written on demand.

    ``preload`` is a warm zygote's environment (forking into a sandbox of
    ``view``), or None to start Ansible cold; ``trusted`` says whose playbooks
    they are (untrusted ones run in the untrusted sandbox, always cold; trusted
    ones in a sandbox of ``view``, by default the job's whole directory). Every
    behaviour here is tested untrusted, trusted and cold, and trusted and preloaded.
    """

    def __init__(self, tmp: Path, preload: dict[str, str] | None = None,
                 trusted: bool = False, view: TrustedSpec | None = None) -> None:
        self.tmp = tmp
        self.preload = preload
        self.trusted = trusted
        self.view = view or TrustedSpec(((tmp, True),))
        self.work = tmp / "work"
        self.work.mkdir()
        self.logs = tmp / "logs"
        self.log = JobLog(self.logs, secrets=[SECRET, KEY], max_bytes=100_000)
        self.inventory: dict[str, Any] = {
            "all": {"hosts": {"node": {"ansible_connection": "zuulish_local"}}}}
        self.returned_limit: int | None = None  # zuul_return's (None: its default)

    def book(self, name: str, *tasks: str, phase: str = "run") -> PlaybookRun:
        path = self.tmp / "playbooks" / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        body = "".join(f"    - {task}\n" for task in tasks)
        path.write_text(f"- hosts: all\n  gather_facts: false\n  tasks:\n{body}")
        return PlaybookRun(path, phase, trusted=self.trusted)

    def phases(self, pre: tuple[PlaybookRun, ...] = (), run: tuple[PlaybookRun, ...] = (),
               post: tuple[PlaybookRun, ...] = (), cleanup: tuple[PlaybookRun, ...] = (),
               timeout: float | None = 60, cancel: threading.Event | None = None,
               ) -> tuple[str, str]:
        def as_phase(books: tuple[PlaybookRun, ...], phase: str) -> list[PlaybookRun]:
            return [PlaybookRun(b.playbook, phase, b.trusted) for b in books]

        return run_phases(self.tmp / "ansible", as_phase(pre, "pre-run"), as_phase(run, "run"),
                          as_phase(post, "post-run"), as_phase(cleanup, "cleanup-run"),
                          self.inventory, {"greeting": "hello"}, self.log, timeout, cancel,
                          self.work, preload=self.preload, returned_limit=self.returned_limit,
                          trusted=self.view)

    def play(self, book: PlaybookRun, extra_vars: dict[str, Any] | None = None) -> PhaseOutcome:
        return run_playbook(self.tmp / "ansible", book, self.inventory, extra_vars or {},
                            self.log, None, None, self.work, preload=self.preload,
                            returned_limit=self.returned_limit, trusted=self.view)

    def text(self) -> str:
        self.log.close()
        return (self.logs / "job-output.txt").read_text()

    def records(self) -> list[dict[str, Any]]:
        self.log.close()
        return json.loads((self.logs / "job-output.json").read_text())


def shell(cmd: str) -> str:
    return f"shell: {json.dumps(cmd)}"


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnsibleZygote]:
    if not AnsibleZygote.usable() or unavailable("host") is not None:
        pytest.skip("the preloaded Ansible forks into sandboxes: root and bwrap needed")
    z = AnsibleZygote(tmp_path_factory.mktemp("zygote"), ansible_env())
    z.start()
    assert z.wait_ready(), (z.directory / "zygote.log").read_text()
    yield z
    z.stop()


@contextlib.contextmanager
def warm_sandbox(zygote: AnsibleZygote, spec: TrustedSpec) -> Iterator[dict[str, str]]:
    """A build's sandbox of ``spec``, registered with ``zygote``: the client's env."""
    box = BuildSandbox(spec)
    box.start()
    name = uuid.uuid4().hex
    handles = box.handles()
    try:
        assert zygote.register(name, handles)
    finally:
        for fd in handles.values():
            os.close(fd)
    try:
        yield zygote.playbook_env(name, "")
    finally:
        zygote.unregister(name)
        box.stop()


@pytest.fixture(params=["sandboxed", "cold", "preloaded"])
def job(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Job]:
    if request.param == "sandboxed":
        missing = unavailable()
        if missing is not None:
            pytest.skip(missing)
        yield Job(tmp_path)
        return
    if request.param == "cold":
        yield Job(tmp_path, trusted=True)
        return
    zygote: AnsibleZygote = request.getfixturevalue("zygote")
    view = TrustedSpec(((tmp_path, True),))
    with warm_sandbox(zygote, view) as env:
        yield Job(tmp_path, env, trusted=True, view=view)
        assert zygote.playbook_env("x", ""), "the zygote died during the test"


def _processes_running(needle: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if needle in cmdline and str(os.getpid()) != proc.name:
            found.append(cmdline)
    return found


def test_successful_playbook_logs_each_line_and_a_task_record(job: Job) -> None:
    started = time.time()
    book = job.book("hello", 'name: say hello\n      command: echo "{{ greeting }} world"')
    outcome = job.play(book, {"greeting": "hello"})
    assert (outcome.status, outcome.rc, outcome.message) == ("successful", 0, "")
    text = job.text()
    assert "TASK [say hello]" in text and "node | hello world" in text
    assert all(STAMP.match(line) for line in text.splitlines())
    [record] = job.records()
    assert record["host"] == "node" and record["task"] == "say hello"
    assert record["result"] == "ok" and record["stdout"] == "hello world"
    assert isinstance(record["duration"], float)
    task_start = datetime.datetime.fromisoformat(record["start"]).timestamp()
    task_end = datetime.datetime.fromisoformat(record["end"]).timestamp()
    assert started < task_start <= task_end < time.time()
    assert job.log.first_task_started is not None
    assert started < job.log.first_task_started < time.time()


def test_failing_task_is_failure_and_post_run_still_runs(job: Job) -> None:
    result, message = job.phases(run=(job.book("bad", shell("exit 3")),),
                                 post=(job.book("post", "command: touch post-ran"),))
    assert result == "FAILURE" and "bad.yaml" in message
    assert (job.work / "post-ran").exists()
    assert any(r["result"] == "failed" and r["rc"] == 3 for r in job.records())


def test_missing_playbook_is_an_error_named_in_the_log(job: Job) -> None:
    missing = PlaybookRun(job.tmp / "nope.yaml", "run", trusted=True)
    outcome = job.play(missing)
    assert outcome.status == "error"
    assert outcome.message == f"playbook {job.tmp / 'nope.yaml'} not found"
    assert not (job.tmp / "ansible").exists()  # ansible never started
    result, message = job.phases(pre=(job.book("pre", "command: touch pre-ran"),),
                                 run=(missing,))
    assert result == "ERROR" and "nope.yaml not found" in message
    assert not (job.work / "pre-ran").exists()  # found before anything runs
    assert f"playbook {job.tmp / 'nope.yaml'} not found" in job.text()


def test_playbook_with_a_syntax_error_fails_the_run_with_ansibles_message(job: Job) -> None:
    # as in Zuul, where a run playbook that does not load is a FAILURE
    path = job.tmp / "broken.yaml"
    path.write_text("- hosts: all\n  tasks:\n    - shell: [unclosed\n")
    result, message = job.phases(run=(PlaybookRun(path, "run", False),))
    assert result == "FAILURE"
    assert "YAML syntax error" in message and f"{path}:4:1" in message
    assert "did not find expected ',' or ']'" in job.text()


def _unloadable(job: Job, name: str, kind: str) -> PlaybookRun:
    """A playbook Ansible cannot load: a syntax error, a missing role, an unknown module."""
    path = job.tmp / "playbooks" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text({
        "syntax": "- hosts: all\n  tasks:\n    - shell: [unclosed\n",
        "role": "- hosts: all\n  gather_facts: false\n  roles:\n    - no-such-role\n",
        "module": "- hosts: all\n  gather_facts: false\n  tasks:\n"
                  "    - no_such_module_zuulish: {x: 1}\n"}[kind])
    return PlaybookRun(path, "run", job.trusted)


@pytest.mark.parametrize("kind", ["syntax", "role", "module"])
def test_a_post_run_playbook_that_cannot_load_is_a_post_failure(job: Job, kind: str) -> None:
    result, message = job.phases(run=(job.book("ok", "command: touch run-ran"),),
                                 post=(_unloadable(job, "post", kind),
                                       job.book("post2", "command: touch post2-ran")))
    assert result == "POST_FAILURE", message
    assert "post-run" in message and "could not run" in message
    assert {"syntax": "YAML syntax error", "role": "no-such-role",
            "module": "no_such_module_zuulish"}[kind] in message
    # the other post-run playbooks still run (they upload the logs)
    assert (job.work / "run-ran").exists() and (job.work / "post2-ran").exists()


def test_a_pre_run_playbook_that_cannot_load_asks_for_a_retry(job: Job) -> None:
    result, message = job.phases(pre=(_unloadable(job, "pre", "role"),),
                                 run=(job.book("run", "command: touch run-ran"),))
    assert result == "RETRY" and "no-such-role" in message
    assert not (job.work / "run-ran").exists()


def test_a_pre_run_failure_is_not_retried_when_the_build_returned_retry_false(
        tmp_path: Path) -> None:
    job = Job(tmp_path, trusted=True)
    pre = job.book("pre", "command: /bin/false")
    asked: list[bool] = []

    def retry_returned() -> bool | None:
        asked.append(True)
        return False

    result, message = run_phases(
        job.tmp / "ansible", [PlaybookRun(pre.playbook, "pre-run", True)], [
            PlaybookRun(job.book("run", "command: 'true'").playbook, "run", True)],
        [PlaybookRun(job.book("post", "debug: {msg: 'will retry {{ zuul_will_retry }}'}")
                     .playbook, "post-run", True)], [], job.inventory, {}, job.log, 60,
        None, job.work, attempts_left=True, trusted=job.view, retry_returned=retry_returned)
    assert result == "FAILURE" and asked
    assert "not retried: the build returned zuul.retry: false" in message
    assert "will retry False" in job.text()


def test_a_run_failure_does_not_ask_for_the_returned_retry(tmp_path: Path) -> None:
    job = Job(tmp_path, trusted=True)
    result, _ = run_phases(
        job.tmp / "ansible", [], [PlaybookRun(job.book("run", "command: /bin/false").playbook,
                                              "run", True)], [], [], job.inventory, {},
        job.log, 60, None, job.work, trusted=job.view,
        retry_returned=lambda: pytest.fail("asked"))
    assert result == "FAILURE"


def test_pre_run_failure_asks_for_a_retry_and_run_is_skipped(job: Job) -> None:
    result, _ = job.phases(pre=(job.book("pre", "command: /bin/false"),),
                           run=(job.book("run", "command: touch run-ran"),),
                           cleanup=(job.book("clean", "command: touch cleaned"),))
    assert result == "RETRY"
    assert not (job.work / "run-ran").exists()
    assert (job.work / "cleaned").exists()


def test_post_run_failure_after_success_is_post_failure(job: Job) -> None:
    result, _ = job.phases(run=(job.book("ok", "command: 'true'"),),
                           post=(job.book("post", "command: /bin/false"),))
    assert result == "POST_FAILURE"


def test_cleanup_runs_after_a_failure_and_does_not_change_the_result(job: Job) -> None:
    result, _ = job.phases(run=(job.book("bad", "command: /bin/false"),),
                           cleanup=(job.book("clean", "command: touch cleaned",
                                             "command: /bin/false"),))
    assert result == "FAILURE"
    assert (job.work / "cleaned").exists()


def test_unreachable_node_is_a_node_failure(job: Job) -> None:
    job.inventory = {"all": {"hosts": {"node": {
        "ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh",
        "ansible_ssh_timeout": 2}}}}
    result, message = job.phases(run=(job.book("run", "command: 'true'"),))
    assert result == "NODE_FAILURE" and "unreachable" in message


def test_job_exceeding_its_timeout_is_timed_out_quickly(job: Job) -> None:
    started = time.monotonic()
    result, message = job.phases(run=(job.book("slow", shell("sleep 30.25")),),
                                 post=(job.book("post", "command: touch post-ran"),),
                                 timeout=2)
    assert result == "TIMED_OUT" and "timeout of 2s" in message
    assert time.monotonic() - started < 15
    assert (job.work / "post-ran").exists()
    assert not _processes_running("sleep 30.25")


def test_cancel_ends_the_build_within_seconds_and_cleanup_still_runs(job: Job) -> None:
    cancel = threading.Event()
    timer = threading.Timer(1.5, cancel.set)
    timer.start()
    started = time.monotonic()
    result, _ = job.phases(run=(job.book("slow", shell("sleep 30.5")),),
                           post=(job.book("post", "command: touch post-ran"),),
                           cleanup=(job.book("clean", "command: touch cleaned"),),
                           cancel=cancel)
    elapsed = time.monotonic() - started
    timer.cancel()
    assert result == "CANCELED"
    assert elapsed < 15
    assert not (job.work / "post-ran").exists()
    assert (job.work / "cleaned").exists()
    assert not _processes_running("sleep 30.5")


def test_secrets_never_reach_the_logs(job: Job) -> None:
    job.inventory["all"]["vars"] = {"token": SECRET, "key": KEY}
    result, _ = job.phases(run=(job.book(
        "leak", shell(f"echo the secret is {SECRET}"), "debug: var=key",
        'fail: msg="token={{ token }}"'),))
    assert result == "FAILURE"
    text, records = job.text(), json.dumps(job.records())
    for secret in (SECRET, *KEY.splitlines()[1:3]):
        assert secret not in text and secret not in records
    assert "the secret is ******" in text


def test_output_beyond_the_size_bound_is_dropped_with_a_note(job: Job) -> None:
    result, _ = job.phases(run=(job.book("huge", shell("seq 1 30000")),))
    assert result == "SUCCESS"
    text = job.text()
    assert len(text.encode()) < 100_000 + 200
    assert text.rstrip().endswith("[log truncated: output exceeded 100000 bytes]")
    assert text.count("[log truncated") == 1


def test_job_log_is_line_stamped_and_bounded_across_writers(tmp_path: Path) -> None:
    log = JobLog(tmp_path, secrets=[SECRET], max_bytes=20_000)

    def writer(name: str) -> None:
        for i in range(200):
            log.write(f"{name} line {i} {SECRET}")

    threads = [threading.Thread(target=writer, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    text = (tmp_path / "job-output.txt").read_text()
    lines = text.splitlines()
    assert all(STAMP.match(line) for line in lines)
    assert SECRET not in text and lines[0].endswith(" ******")
    assert lines[-1].endswith("[log truncated: output exceeded 20000 bytes]")
    assert len(text.encode()) <= 20_000 + len(lines[-1]) + 1
    assert json.loads((tmp_path / "job-output.json").read_text()) == []


def test_relative_chdir_resolves_against_the_work_dir(job: Job) -> None:
    (job.work / "src" / "project").mkdir(parents=True)
    (job.work / "src" / "project" / "marker").write_text("found-it")
    book = job.book("cwd", "command: cat marker\n      args: {chdir: src/project}",
                    "command: pwd")
    assert job.phases(run=(book,)) == ("SUCCESS", "")
    outputs = [r["stdout"] for r in job.records()]
    assert outputs == ["found-it", str(job.work)]


def test_playbook_runs_warm_exactly_when_preloaded(job: Job) -> None:
    book = job.book("which", f'debug: msg="served={{{{ lookup(\'env\', \'{SERVED_ENV}\') }}}}"')
    assert job.play(book).status == "successful"
    expected = "served=1" if job.preload else "served="
    assert [r["msg"] for r in job.records()] == [expected]


def test_settings_the_zygote_cannot_honour_run_cold(tmp_path: Path,
                                                    zygote: AnsibleZygote) -> None:
    """A different module path is read when Ansible is imported: such a run starts cold."""
    library = tmp_path / "library"
    library.mkdir()
    (library / "hello_module.py").write_text(
        "#!/usr/bin/python\nimport json\n"
        "print(json.dumps({'changed': False, 'msg': 'from my library'}))\n")
    view = TrustedSpec(((tmp_path, True),))
    with warm_sandbox(zygote, view) as env:
        job = Job(tmp_path, {**env, "ANSIBLE_LIBRARY": str(library)}, trusted=True, view=view)
        book = job.book("lib", "hello_module: {}",
                        f'debug: msg="served={{{{ lookup(\'env\', \'{SERVED_ENV}\') }}}}"')
        assert job.play(book).status == "successful"
    assert [r["msg"] for r in job.records()] == ["from my library", "served="]


def test_playbooks_start_cold_when_the_zygote_is_gone(tmp_path: Path,
                                                      zygote: AnsibleZygote) -> None:
    z = AnsibleZygote(tmp_path / "zygote", ansible_env())
    z.start()
    assert z.wait_ready()
    view = TrustedSpec(((tmp_path, True),))
    with warm_sandbox(z, view) as preload:
        z.stop()
    assert z.playbook_env("x", "") == {}  # the executor stops asking a stopped zygote
    # A client that still tries it falls back to a cold start, in the sandbox.
    job = Job(tmp_path, preload, trusted=True, view=view)
    book = job.book("ok", f'debug: msg="served={{{{ lookup(\'env\', \'{SERVED_ENV}\') }}}}"',
                    "command: ls /root")
    assert job.play(book).status == "successful"
    assert [r["msg"] for r in job.records()][0] == "served="
    assert job.records()[1]["stdout"] == ""  # the sandbox's empty home, not the host's


def test_a_sandbox_the_zygote_does_not_hold_starts_cold(tmp_path: Path,
                                                        zygote: AnsibleZygote) -> None:
    view = TrustedSpec(((tmp_path, True),))
    job = Job(tmp_path, zygote.playbook_env("not-registered", ""), trusted=True, view=view)
    book = job.book("which", f'debug: msg="served={{{{ lookup(\'env\', \'{SERVED_ENV}\') }}}}"')
    assert job.play(book).status == "successful"
    assert [r["msg"] for r in job.records()] == ["served="]


def test_a_zygote_under_a_deep_state_directory_listens_in_a_short_one_and_serves(
        tmp_path: Path, zygote: AnsibleZygote) -> None:
    """A Unix socket's path holds at most 107 bytes: under a deep state directory the
    zygote could not bind and every playbook started cold (CI's cluster tests)."""
    deep = tmp_path / ("d" * 120) / "zygote"
    z = AnsibleZygote(deep, ansible_env())
    z.start()
    try:
        assert z.wait_ready(), (deep / "zygote.log").read_text()
        assert len(os.fsencode(z.socket_path)) <= 107 and z.socket_path.is_socket()
        assert stat.S_IMODE(z.socket_path.parent.stat().st_mode) == 0o700
        view = TrustedSpec(((tmp_path, True),))
        with warm_sandbox(z, view) as preload:
            job = Job(tmp_path, preload, trusted=True, view=view)
            book = job.book("which", f'debug: msg="served={{{{ lookup(\'env\', '
                                     f'\'{SERVED_ENV}\') }}}}"')
            assert job.play(book).status == "successful"
        assert [r["msg"] for r in job.records()] == ["served=1"]
        socket_dir = z.socket_path.parent
    finally:
        z.stop()
    assert not socket_dir.exists()


def test_a_crashed_zygote_is_started_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           zygote: AnsibleZygote) -> None:
    import signal

    from zuulish.executor import ansible_zygote

    monkeypatch.setattr(ansible_zygote, "RESTART_SECONDS", 0.0)
    z = AnsibleZygote(tmp_path / "zygote", ansible_env())
    z.start()
    try:
        assert z.wait_ready()
        assert z._proc is not None
        os.killpg(z._proc.pid, signal.SIGKILL)
        z._proc.wait(5)
        assert z.playbook_env("x", "") == {}  # builds start cold meanwhile
        z.start()
        assert z.wait_ready()
        view = TrustedSpec(((tmp_path, True),))
        with warm_sandbox(z, view) as env:
            job = Job(tmp_path, env, trusted=True, view=view)
            book = job.book("which",
                            f'debug: msg="{{{{ lookup(\'env\', \'{SERVED_ENV}\') }}}}"')
            assert job.play(book).status == "successful"
        assert [r["msg"] for r in job.records()] == ["1"]
    finally:
        z.stop()


def _when_logged(job: Job, needle: str, done: threading.Event, limit: float = 30) -> bool:
    """Whether ``needle`` reached job-output.txt before ``done`` was set."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and not done.is_set():
        if needle in (job.logs / "job-output.txt").read_text():
            return not done.is_set()
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("action", ["ansible.builtin.shell", "command"])
def test_command_output_is_in_the_log_while_the_task_runs(job: Job, action: str) -> None:
    script = f"echo first {SECRET}; sleep 3; echo second >&2"
    task = (f"{action}: {json.dumps(script)}" if "shell" in action else
            f"{action}:\n        argv: [sh, -c, {json.dumps(script)}]")
    book = job.book("slow", "name: take a while\n      " + task)
    done = threading.Event()
    outcome: list[PhaseOutcome] = []

    def play() -> None:
        outcome.append(job.play(book))
        done.set()

    thread = threading.Thread(target=play)
    thread.start()
    try:
        assert _when_logged(job, "node | first ******", done), \
            "the first line was not in the log while the task ran"
        assert "node | second" not in (job.logs / "job-output.txt").read_text()
    finally:
        thread.join(60)
    assert outcome[0].status == "successful"
    text = job.text()
    assert SECRET not in text
    assert text.count("node | first ******") == 1 and text.count("node | second") == 1
    [record] = job.records()  # the result is whole, as the task wrote it
    assert record["action"] == action
    assert (record["stdout"], record["stderr"]) == ("first ******", "second")
    assert not (job.work / ".zuulish-console").exists()


COMMAND_CASES = (
    'command: echo "hello  world"',
    'ansible.builtin.shell: echo out; echo err >&2; exit 3\n      ignore_errors: true',
    "ansible.builtin.command:\n        argv: [printf, '%s|', a b, c]",
    "shell: echo no\n      args: {creates: /etc/pass*}",
    "ansible.builtin.command: echo no\n      args: {removes: /no/such/file}",
    # (cat reads its stdin: a program that exits before Ansible's builtin writes
    # the stdin makes the builtin fail with a broken pipe now and then)
    "command: cat marker -\n      args: {chdir: sub, stdin: given, stdin_add_newline: false}",
    "shell: printf 'x\\n\\n'\n      args: {strip_empty_ends: false}",
    "ansible.builtin.command: ls\n      args: {chdir: /no/such/dir}\n      ignore_errors: true",
    "command: echo checked\n      check_mode: true",
    "ansible.builtin.command: echo $HOME\n      args: {expand_argument_vars: false}",
    "command: pwd\n      args: {executable: /bin/bash}",
    "ansible.builtin.shell: echo $0\n      args: {executable: /bin/bash}",
    "command: /no/such/program\n      ignore_errors: true",
)


def test_command_and_shell_results_are_ansibles_own(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """zuulish's command module and actions give every result Ansible's builtins give."""
    from zuulish.executor import ansible_run

    def results(name: str) -> list[dict[str, Any]]:
        job = Job(tmp_path / name, trusted=True)
        (job.work / "sub").mkdir()
        (job.work / "sub" / "marker").write_text("in sub")
        job.play(job.book("cases", *COMMAND_CASES))
        records = json.loads(json.dumps(job.records()).replace(str(tmp_path / name), "ROOT"))
        return [{k: v for k, v in r.items() if k not in ("duration", "start", "end")}
                for r in records]

    (tmp_path / "ours").mkdir()
    (tmp_path / "builtin").mkdir()
    ours = results("ours")
    for name in ("ANSIBLE_LIBRARY", "ANSIBLE_ACTION_PLUGINS", "ANSIBLE_CALLBACK_PLUGINS"):
        monkeypatch.delitem(ansible_run.ANSIBLE_ENV, name)
    builtin = results("builtin")
    assert len(ours) == len(COMMAND_CASES), ours
    for mine, theirs in zip(ours, builtin, strict=True):
        assert mine == theirs


def test_trusted_playbooks_have_no_privilege_and_nothing_of_the_host_open(job: Job) -> None:
    """Cold or forked warm: no capability (none to gain), and no descriptor onto the
    host's files or another sandbox's namespaces (``/proc/*/fd`` of the sandbox)."""
    if not job.trusted:
        pytest.skip("trusted playbooks only")
    book = job.book(
        "privileges", shell("grep -E '^Cap(Eff|Prm|Bnd|Amb)' /proc/self/status"),
        shell("grep NoNewPrivs /proc/self/status"),
        shell("for fd in /proc/[0-9]*/fd/*; do readlink $fd; done 2>/dev/null | sort -u"),
        shell("test -e /root/.zuulish-host-marker || echo no-host-home"))
    marker = Path(os.path.expanduser("~")) / ".zuulish-host-marker"
    marker.write_text("x")
    try:
        assert job.play(book).status == "successful"
    finally:
        marker.unlink()
    caps, nnp, fds, home = [r["stdout"] for r in job.records()]
    found = dict(zip(caps.split()[::2], caps.split()[1::2], strict=True))
    # (bwrap keeps a bounding set but makes root gain nothing from it; the zygote empties it)
    assert [found[k] for k in ("CapPrm:", "CapEff:", "CapAmb:")] == ["0" * 16] * 3, caps
    if job.preload:
        assert found["CapBnd:"] == "0" * 16
    assert nnp.split() == ["NoNewPrivs:", "1"]
    opened = fds.splitlines()
    assert not [f for f in opened if f.startswith(("mnt:", "pid:", "ipc:", "uts:", "net:"))]
    assert all(f.startswith(("/dev/", "pipe:", "socket:", "anon_inode:", str(job.tmp), "/tmp/"))
               or f.startswith(str(Path(sys.executable).parents[1])) for f in opened), opened
    assert home == "no-host-home"


def test_each_trusted_playbook_of_a_build_gets_its_own_roles_path(tmp_path: Path) -> None:
    """Playbooks of one build share ansible-runner's data dir: the second must not
    run with the first one's environment (its ANSIBLE_ROLES_PATH, say)."""
    job = Job(tmp_path, trusted=True)
    books = []
    for name in ("one", "two"):
        repo = tmp_path / f"repo-{name}"
        # (not roles/ beside the playbook, which Ansible searches anyway)
        (repo / "shared-roles" / f"role-{name}" / "tasks").mkdir(parents=True)
        (repo / "shared-roles" / f"role-{name}" / "tasks" / "main.yaml").write_text(
            f"- debug: {{msg: from-role-{name}}}\n")
        book = repo / "play.yaml"
        book.write_text(f"- hosts: all\n  gather_facts: false\n  roles: [role-{name}]\n")
        books.append((PlaybookRun(book, "run", trusted=True), [repo / "shared-roles"]))
    view = TrustedSpec(((tmp_path, True),))
    for book, roles in books:
        outcome = run_playbook(tmp_path / "ansible", book, job.inventory, {}, job.log, None,
                               None, job.work, roles, trusted=view)
        assert outcome.status == "successful", (outcome.message, job.text())
    text = job.text()
    assert "from-role-one" in text and "from-role-two" in text
