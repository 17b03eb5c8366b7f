"""Playbooks in the bubblewrap sandbox, through real ansible-runner.

Each escape is tried by an untrusted playbook (refused) and, where it differs,
by a trusted one (trusted playbooks run in a sandbox of their own view: the
build's directories and what the operator lists, never the state directory).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from zuulish.executor import sandbox
from zuulish.executor.ansible_plugins.untrusted.connection.local import REFUSAL
from zuulish.executor.ansible_run import JobLog, PlaybookRun
from zuulish.executor.phases import run_phases
from zuulish.executor.sandbox import TrustedSpec

# untrusted playbooks run in the default sandbox (a private network: pasta too)
MISSING = sandbox.unavailable()
needs_bwrap = pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")

PLANTED = "planted-in-the-state-dir-7f3a"
SECRET = "trusted-only-secret-91c2"


class Build:
    """A build's directories as the executor lays them out: a state dir with a
    planted file, the build's work dir, ansible-runner's data dir and logs."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.state = tmp / "state"
        self.state.mkdir()
        self.planted = self.state / "zuulish.db"
        self.planted.write_text(PLANTED + "\n")
        build = self.state / "builds" / "b1"
        self.work = build / "work"
        self.work.mkdir(parents=True)
        self.private = build / "ansible"
        self.logs = self.state / "logs" / "b1"
        self.log = JobLog(self.logs, secrets=[])
        self.inventory: dict[str, Any] = {"all": {"hosts": {"node": {
            "ansible_connection": "zuulish_local"}}}}

    def book(self, name: str, tasks: str, trusted: bool, hosts: str = "all",
             extra_vars: dict[str, Any] | None = None) -> PlaybookRun:
        kind = "trusted" if trusted else "untrusted"
        path = self.state / "builds" / "b1" / kind / "project" / "playbooks" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"- hosts: {hosts}\n  gather_facts: false\n  tasks:\n{tasks}")
        return PlaybookRun(path, "run", trusted, extra_vars=extra_vars or {})

    def run(self, *books: PlaybookRun) -> tuple[str, str]:
        return run_phases(self.private, [], list(books), [], [], self.inventory, {},
                          self.log, 60, None, self.work)

    def text(self) -> str:
        self.log.close()
        return (self.logs / "job-output.txt").read_text()


def task(text: str) -> str:
    return "".join(f"      {line}\n" if i else f"    - {line}\n"
                   for i, line in enumerate(text.splitlines()))


VERDICT = re.compile(r"^[\d:. -]+ \| node \| (ALLOWED|DENIED)$", re.MULTILINE)


def verdicts(text: str) -> list[str]:
    """What each probe printed, in order."""
    return VERDICT.findall(text)


def probe(command: str) -> str:
    """A task that prints ALLOWED when ``command`` succeeds and DENIED when it fails."""
    return task(f"shell: {json.dumps(f'if {command}; then echo ALLOWED; else echo DENIED; fi')}")


@pytest.fixture
def build(tmp_path: Path) -> Build:
    return Build(tmp_path)


LOCALHOST_TASKS = {
    "hosts: localhost": ("localhost", task("command: echo ran-on-localhost")),
    "delegate_to": ("all", task("command: echo ran-on-localhost\ndelegate_to: localhost")),
    "local_action": ("all", task("local_action: command echo ran-on-localhost")),
    "connection: local": ("all", task("command: echo ran-on-localhost\nconnection: local\n"
                                      "vars: {ansible_connection: local}")),
}


@needs_bwrap
@pytest.mark.parametrize("form", sorted(LOCALHOST_TASKS))
def test_untrusted_localhost_task_is_refused_and_fails_the_build(build: Build,
                                                                 form: str) -> None:
    hosts, tasks = LOCALHOST_TASKS[form]
    result, message = build.run(build.book("local", tasks, trusted=False, hosts=hosts))
    assert result == "FAILURE", message
    text = build.text()
    assert REFUSAL in text
    assert "ran-on-localhost" not in text.replace("echo ran-on-localhost", "")


@pytest.mark.parametrize("form", sorted(LOCALHOST_TASKS))
def test_trusted_playbook_may_run_tasks_on_localhost(build: Build, form: str) -> None:
    hosts, tasks = LOCALHOST_TASKS[form]
    result, message = build.run(build.book("local", tasks, trusted=True, hosts=hosts))
    assert result == "SUCCESS", message
    assert REFUSAL not in build.text()


@needs_bwrap
def test_untrusted_playbook_may_still_use_ansible_only_actions_on_localhost(
        build: Build) -> None:
    tasks = (task("set_fact:\n  answer: 42") + task("debug:\n  msg: 'answer={{ answer }}'")
             + task("assert:\n  that: answer | int == 42"))
    result, message = build.run(build.book("facts", tasks, trusted=False, hosts="localhost"))
    assert result == "SUCCESS", message
    assert "answer=42" in build.text()


def _reads(build: Build) -> str:
    other = build.state / "builds" / "b2" / "work" / "secret.txt"
    other.parent.mkdir(parents=True)
    other.write_text(PLANTED + "\n")
    return "".join(probe(f"cat {path}") for path in (build.planted, "/etc/shadow", other))


@needs_bwrap
def test_untrusted_playbook_cannot_read_outside_its_work_dir(build: Build) -> None:
    """Not the state dir (the store database), not /etc/shadow, not another build."""
    result, message = build.run(build.book("read", _reads(build), trusted=False))
    assert result == "SUCCESS", message
    text = build.text()
    assert verdicts(text) == ["DENIED"] * 3
    assert PLANTED not in text and "root:" not in text


@needs_bwrap
def test_trusted_playbook_cannot_read_the_state_dir_either(build: Build) -> None:
    result, message = build.run(build.book("read", _reads(build), trusted=True))
    assert result == "SUCCESS", message
    text = build.text()
    assert verdicts(text) == ["DENIED"] * 3
    assert PLANTED not in text and "root:" not in text


@needs_bwrap
def test_trusted_playbook_reads_what_its_view_lists(build: Build, tmp_path: Path) -> None:
    listed = tmp_path / "tools" / "version.txt"
    listed.parent.mkdir()
    listed.write_text("tools-1.2\n")
    view = TrustedSpec(((build.work, True), (build.logs, True), (listed.parent, False)))
    result, message = run_phases(
        build.private, [], [build.book("read", probe(f"grep -q tools-1.2 {listed}")
                                       + probe(f"echo x > {listed}"), trusted=True)],
        [], [], build.inventory, {}, build.log, 60, None, build.work, trusted=view)
    assert result == "SUCCESS", message
    assert verdicts(build.text()) == ["ALLOWED", "DENIED"]
    assert listed.read_text() == "tools-1.2\n"


def _writes(build: Build, marker: str) -> str:
    return "".join(probe(f"echo x > {path}") for path in
                   (Path("/usr") / marker, Path("/etc") / marker, Path("/") / marker,
                    build.state / marker, build.work.parent / marker, Path("/tmp") / marker,
                    "mine.txt"))


@needs_bwrap
def test_untrusted_playbook_cannot_write_outside_its_work_dir(build: Build) -> None:
    """System dirs are read-only; the sandbox's own /tmp (and mount points made in
    it, as the test's state dir under /tmp is) takes writes that never reach the host."""
    marker = f"escape-{uuid.uuid4().hex}"
    outside = (Path("/usr"), Path("/etc"), Path("/"), build.state, build.work.parent,
               Path("/tmp"))
    try:
        result, message = build.run(build.book("write", _writes(build, marker), trusted=False))
        assert result == "SUCCESS", message
        assert verdicts(build.text())[:3] == ["DENIED"] * 3
        assert verdicts(build.text())[-1] == "ALLOWED"
        assert (build.work / "mine.txt").read_text() == "x\n"
        for where in outside:
            assert not (where / marker).exists(), where
    finally:
        for where in outside:
            (where / marker).unlink(missing_ok=True)


@needs_bwrap
def test_trusted_playbook_writes_its_work_and_log_dirs_only(build: Build) -> None:
    marker = f"escape-{uuid.uuid4().hex}"
    tasks = (probe(f"echo x > {build.state / marker}")
             + probe(f"echo x > {build.logs / 'fetched.txt'}")
             + probe(f"echo x > {build.work / 'mine.txt'}"))
    result, message = build.run(build.book("write", tasks, trusted=True))
    assert result == "SUCCESS", message
    # (the state dir lies under /tmp here: the sandbox's private /tmp takes the write)
    assert verdicts(build.text())[1:] == ["ALLOWED", "ALLOWED"]
    assert not (build.state / marker).exists()
    assert (build.logs / "fetched.txt").read_text() == "x\n"


def test_trusted_playbook_without_bubblewrap_is_an_error(
        build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: None)
    result, message = build.run(build.book("any", task("command: 'true'"), trusted=True))
    assert result == "ERROR"
    assert message == ("bubblewrap (bwrap) is not installed on this executor: trusted "
                       "playbooks cannot run")
    assert message in build.text()


@needs_bwrap
def test_untrusted_playbook_sees_neither_executor_processes_nor_its_environment(
        build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZUULISH_DATABASE_URL", "postgresql://zuul:pw-5b1e@db/zuul")
    tasks = (probe(f"test -e /proc/{os.getpid()}/environ && grep -q pw-5b1e "
                   f"/proc/{os.getpid()}/environ")
             + task("shell: env; ls /proc | grep -c '^[0-9]' || true"))
    result, message = build.run(build.book("peek", tasks, trusted=False))
    assert result == "SUCCESS", message
    text = build.text()
    assert verdicts(text) == ["DENIED"] and "pw-5b1e" not in text


@needs_bwrap
def test_untrusted_playbook_cannot_read_a_trusted_playbooks_data(build: Build) -> None:
    """A trusted playbook's extra vars (its secrets) stay in its own data dir."""
    trusted = build.book("deploy", task("debug:\n  msg: deployed"), trusted=True,
                         extra_vars={"creds": SECRET})
    # The secret's text is spelled apart, so the playbook and its events never hold it.
    grep = "grep -r \"$(printf '%s-%s' {} {})\" ".format(*SECRET.rsplit("-", 1))
    untrusted = build.book("snoop", probe(grep + str(build.private))
                           + probe(grep + str(build.work.parent)), trusted=False)
    result, message = build.run(trusted, untrusted)
    assert result == "SUCCESS", message
    assert verdicts(build.text()) == ["DENIED", "DENIED"]


@needs_bwrap
def test_normal_untrusted_job_passes_in_its_work_dir(build: Build) -> None:
    tasks = (task("shell: echo built > artifact.txt && python3 -c 'print(6 * 7)'")
             + task("copy:\n  content: copied\n  dest: copied.txt")
             + task("command: cat artifact.txt copied.txt"))
    result, message = build.run(build.book("build", tasks, trusted=False))
    assert result == "SUCCESS", message
    assert (build.work / "artifact.txt").read_text() == "built\n"
    assert (build.work / "copied.txt").read_text() == "copied"
    assert "42" in build.text()


def test_untrusted_playbook_without_bubblewrap_is_an_error(
        build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: None)
    result, message = build.run(build.book("any", task("command: 'true'"), trusted=False))
    assert result == "ERROR"
    assert "bubblewrap (bwrap) is not installed" in message
    assert "bubblewrap (bwrap) is not installed" in build.text()


@pytest.mark.parametrize("where", ["connection_plugins", "roles/evil/lookup_plugins",
                                   "collections/ansible_collections/evil/x/plugins/action"])
def test_untrusted_playbook_shipping_ansible_plugins_is_an_error(build: Build,
                                                                 where: str) -> None:
    """Its own ``local`` connection would replace the refusing one."""
    book = build.book("local", task("command: echo ran-on-localhost"), trusted=False,
                      hosts="localhost")
    plugins = book.playbook.parent / where
    plugins.mkdir(parents=True)
    (plugins / "local.py").write_text("raise SystemExit('loaded')\n")
    result, message = build.run(book)
    assert result == "ERROR"
    assert f"untrusted playbooks may not ship Ansible plugins: {where} (used by " in message
    assert message in build.text() and str(plugins) not in message  # no executor paths


def test_trusted_playbook_may_ship_ansible_plugins(build: Build) -> None:
    book = build.book("filtered", task("debug:\n  msg: \"{{ 'x' | shout }}\""), trusted=True)
    plugins = book.playbook.parent / "filter_plugins"
    plugins.mkdir()
    (plugins / "shout.py").write_text(
        "class FilterModule:\n    def filters(self):\n"
        "        return {'shout': lambda s: s.upper() + '!'}\n")
    result, message = build.run(book)
    assert result == "SUCCESS", message
    assert "X!" in build.text()


def test_a_read_only_repository_inside_the_work_dir_stays_read_only(tmp_path: Path) -> None:
    """The work dir is bound read-write; the playbook's repository in it must be
    bound after it, read-only, or the sandbox could rewrite its own roles."""
    work = tmp_path / "work"
    repo = work / "src" / "localhost" / "org" / "app"
    (repo / "roles").mkdir(parents=True)
    run = tmp_path / "run"
    run.mkdir()
    spec = sandbox.SandboxSpec(work_dir=work, run_dir=run, read_only=(repo, repo / "roles"),
                               cwd=work)
    args = sandbox.bwrap_args(spec)
    at = {(args[i], args[i + 1]): i for i in range(len(args) - 1)}
    assert at[("--bind", str(work))] < at[("--ro-bind", str(repo))]
    assert at[("--bind", str(work))] < at[("--ro-bind", str(repo / "roles"))]


def test_runs_execute_one_launcher_written_once(tmp_path: Path) -> None:
    """A launcher written just before its exec could be held open for writing by a
    child another thread was forking, and the exec failed with ETXTBSY ("Text file
    busy"): every run links to one launcher, written once per process."""
    first = sandbox.launcher_program()
    assert first == sandbox.launcher_program()
    assert os.access(first, os.X_OK)
    written = first.stat().st_mtime_ns
    for n in range(2):
        sandbox._write_launcher(tmp_path / f"run{n}", ["bwrap"], "prog", "/usr/bin", None)
        link = tmp_path / f"run{n}" / "bin" / "ansible-playbook"
        assert link.is_symlink() and link.resolve() == first.resolve()
    # a second run in the same directory relinks rather than fails
    sandbox._write_launcher(tmp_path / "run0", ["bwrap"], "prog", "/usr/bin", None)
    assert first.stat().st_mtime_ns == written
