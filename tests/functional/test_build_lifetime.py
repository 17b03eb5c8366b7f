"""A build's processes end with its executor, and a killed playbook is never blamed
on the change (issue 17, faults 2 and 3).

The job runs an untrusted playbook whose task sleeps where ansible-playbook runs
(a ``pipe`` lookup, in the playbook's sandbox), after a task on its local node: a
real ``zuulish run`` process (or the in-process tenant) with bubblewrap, pasta and
ansible-playbook as in production. The build's processes are found by walking
``/proc``: every process whose command line names the state directory's ``builds/``
or the task's marker, and every descendant of those.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.kill_watch import Proc, processes
from tests.fakes.tenant import GateTenant
from zuulish.runner import free_port
from zuulish.store import BuildRow

pytestmark = [pytest.mark.slow, pytest.mark.store, pytest.mark.postgres_e2e]



def _marker(tmp_path: Path) -> str:
    """The task's sleep: a command line no other process has, not even the same test's
    other runs on another xdist worker (they run at the same time)."""
    return f"7.{zlib.crc32(str(tmp_path).encode()):010d}"


JOBS = """
- job:
    name: sleepy
    run: playbooks/sleepy.yaml
    attempts: {attempts}
- project:
    check:
      jobs: [sleepy]
"""
BOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Sleep a while on the node
      ansible.builtin.shell: "true"
    - name: Sleep a while where ansible-playbook runs (its sandbox)
      ansible.builtin.debug:
        msg: "{{{{ lookup('pipe', 'sleep {marker}') }}}}"
"""

def _build_processes(state_dir: Path, marker: str) -> dict[Proc, str]:
    """The build's processes now: those naming ``<state>/builds`` or the marker, and
    everything they started; -> their command lines."""
    procs = processes()
    builds = str(state_dir / "builds")
    roots = [pid for pid, (_, _, argv) in procs.items()
             if any(builds in a or marker in a for a in argv)]
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[Proc, str] = {}
    while roots:
        pid = roots.pop()
        if pid in procs and (pid, procs[pid][1]) not in found:
            found[(pid, procs[pid][1])] = " ".join(procs[pid][2])[:200]
            roots += children.get(pid, [])
    return found


def _alive(procs: dict[Proc, str]) -> dict[Proc, str]:
    now = processes()
    return {p: cmd for p, cmd in procs.items() if p[0] in now and now[p[0]][1] == p[1]}


def _sleeping_tasks(marker: str) -> list[int]:
    """The task's ``sleep`` processes running now."""
    return [pid for pid, (_, _, argv) in processes().items() if argv == ["sleep", marker]]


def _tenant(tmp_path: Path, database_url: str, attempts: int) -> GateTenant:
    return GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": JOBS.format(attempts=attempts),
        "playbooks/sleepy.yaml": BOOK.format(marker=_marker(tmp_path))}})


def _builds(tenant: GateTenant) -> list[BuildRow]:
    with tenant.aio.store.read() as s:
        return list(s.scalars(select(BuildRow).where(BuildRow.job == "sleepy")))


def _start_server(tenant: GateTenant, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "zuulish.cli", "-c", str(tenant.tmp / "zuulish.yaml"), "run"],
        stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)


def test_sigkill_of_the_executor_ends_every_process_of_its_build_and_the_build_runs_once_again(
        tmp_path: Path, database_url: str) -> None:
    tenant = _tenant(tmp_path, database_url, attempts=3)
    config = tmp_path / "zuulish.yaml"
    config.write_text(config.read_text().replace("127.0.0.1:9", f"127.0.0.1:{free_port()}"))
    state = tenant.config.state_dir
    log = tmp_path / "server.log"
    server = _start_server(tenant, log)
    try:
        number = tenant.push("org/app", {"a.txt": "a\n"}, "A change")
        marker = _marker(tmp_path)
        tenant.wait_for(lambda: _sleeping_tasks(marker), timeout=120,
                        what="the build's task to run")
        procs = _build_processes(state, marker)
        names = " ".join(procs.values())
        assert "bwrap" in names and "pasta" in names and "ansible-playbook" in names, names
        os.kill(server.pid, signal.SIGKILL)  # the executor alone: no clean-up at all
        server.wait(10)
        deadline = time.monotonic() + 5
        while _alive(procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _alive(procs)
        assert not left, "outlived their executor:\n" + "\n".join(
            f"{pid}: {cmd}" for (pid, _), cmd in left.items())
        first_dirs = set((state / "builds").iterdir()) if (state / "builds").is_dir() else set()

        server = _start_server(tenant, log)
        most = 0
        deadline = time.monotonic() + 120
        while not any(r.result for r in tenant.reports(number, "check")):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            most = max(most, len(_sleeping_tasks(marker)))
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
    assert most <= 1, f"{most} runs of the build's task at once"
    [build] = _builds(tenant)
    assert build.result == "SUCCESS", (build.result, build.message)
    assert [r.result for r in tenant.reports(number, "check") if r.result] == ["SUCCESS"]
    output = (state / "logs" / build.id / "job-output.txt").read_text()
    assert output.count(f"Job sleepy (build {build.id}, attempt 1)") == 2, output
    # the killed run's directories were removed before its build ran again
    assert first_dirs, "the killed run left no directory"
    assert not first_dirs & set((state / "builds").iterdir())


def _kill_ansible_playbook(state_dir: Path) -> list[int]:
    """SIGKILL the build's ansible-playbook processes (not its launcher, nor bwrap)."""
    killed = []
    builds = str(state_dir / "builds")
    for pid, (_, _, argv) in processes().items():
        # ansible-playbook itself (trusted), or the guarded one an untrusted run
        # starts (``python -I <run>/zuulish-ansible-playbook``); the launcher is
        # ``python -IS <launch>/bin/ansible-playbook``
        playbook = len(argv) > 2 and (
            Path(argv[1]).name == "ansible-playbook"
            or (argv[1] == "-I" and Path(argv[2]).name == "zuulish-ansible-playbook"))
        if playbook and any(builds in a for a in argv):
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed


@pytest.mark.parametrize("kills", [1, 2])
def test_a_playbook_killed_by_a_signal_is_retried_never_a_failure_of_the_change(
        tmp_path: Path, database_url: str, kills: int) -> None:
    tenant = _tenant(tmp_path, database_url, attempts=2).start()
    state = tenant.config.state_dir
    try:
        number = tenant.push("org/app", {"a.txt": "a\n"}, "A good change")
        seen: set[int] = set()
        for _ in range(kills):
            tasks = tenant.wait_for(lambda old=frozenset(seen):
                                    set(_sleeping_tasks(_marker(tmp_path))) - old,
                                    timeout=120, what="a run of the build's task")
            seen |= tasks
            assert _kill_ansible_playbook(state)
        report = tenant.wait_reported(number, "check", timeout=120)
    finally:
        tenant.stop()
    [build] = _builds(tenant)
    output = (state / "logs" / build.id / "job-output.txt").read_text()
    assert build.attempt == 2, output
    if kills == 1:  # the second attempt ran to its end
        assert (build.result, report.result) == ("SUCCESS", "SUCCESS"), build.message
        return
    # the change is not merged (as in Zuul, a job that never finished is not a pass),
    # but its report names the job's result and why: not a failure of its tests
    assert build.result == "RETRY_LIMIT", build.message
    assert ": RETRY_LIMIT" in report.message and "sleepy" in report.message, report.message
    expected = "run playbook playbooks/sleepy.yaml in org/app"
    assert expected in build.message, build.message
    assert "killed by signal 9 (SIGKILL), not by the job" in build.message, build.message
    assert "killed by signal 9 (SIGKILL), not by the job" in output
    assert ": FAILURE" not in report.message, report.message
