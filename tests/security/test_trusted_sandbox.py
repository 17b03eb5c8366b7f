"""Attack 1, trusted half: trusted playbooks ran on the executor host unsandboxed.

A config project's trusted playbook runs in bubblewrap, through the real
executor (warm, forked by the preloaded Ansible into the build's sandbox): it
cannot read the state directory (a planted file, ``secrets.key``, another
build's directory and logs), the executor user's home, or the zygote's socket;
it reads what ``executor.trusted_ro_paths`` lists and writes only to
``executor.trusted_rw_paths``, its build's directories and its log directory;
a process it leaves behind ends with the build.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.tenant import GateTenant
from zuulish.executor.sandbox import home_dir, unavailable

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

PLANTED = "state-dir-only-6c1f"
TOOL = "operator-tool-2b7e"
LINGER = "876543"  # a sleep the playbook leaves running

CONFIG_JOBS = """
- job:
    name: trusted-probe
    run: playbooks/probe.yaml
"""
PROJECT = """
- project:
    check:
      jobs: [trusted-probe]
"""


def probe(command: str) -> str:
    """A task that prints ALLOWED when ``command`` succeeds and DENIED when it fails."""
    script = f"if {command}; then echo ALLOWED; else echo DENIED; fi"
    return f"    - shell: {json.dumps(script)}\n"


def _playbook(state: Path, ro: Path, rw: Path, home_file: Path) -> str:
    tasks = [
        probe(f"cat {state / 'planted.txt'}"),
        probe(f"cat {state / 'secrets.key'}"),
        probe(f"cat {state / 'builds' / 'other' / 'secret.txt'}"),
        probe(f"cat {state / 'logs' / 'other' / 'job-output.txt'}"),
        probe(f"test -e {state / 'ansible-zygote' / 'zygote.sock'}"),
        probe(f"cat {home_file}"),  # the executor user's home
        probe(f"cat {ro / 'tool.txt'}"),
        probe(f"echo overwritten > {ro / 'tool.txt'}"),
        probe(f"echo written > {rw / 'out.txt'}"),
        probe("echo fetched > {{ zuul.executor.log_root }}/fetched.txt"),
        f"    - shell: setsid sleep {LINGER} > /dev/null 2>&1 < /dev/null &\n",
        "    - debug: msg=\"served={{ lookup('env', 'ZUULISH_PRELOADED_ANSIBLE') }}\"\n",
    ]
    return "- hosts: localhost\n  gather_facts: false\n  tasks:\n" + "".join(tasks)


EXPECTED = ["DENIED"] * 6 + ["ALLOWED", "DENIED", "ALLOWED", "ALLOWED"]
VERDICT = re.compile(r"^[\d:. -]+ \| localhost \| (ALLOWED|DENIED)$", re.MULTILINE)


@pytest.fixture
def setup(tmp_path: Path, database_url: str) -> Iterator[tuple[GateTenant, Path, Path]]:
    home_file = Path(home_dir()) / f".zuulish-test-{uuid.uuid4().hex}"
    home_file.write_text(PLANTED + "\n")
    try:
        yield from _setup(tmp_path, database_url, home_file)
    finally:
        home_file.unlink()


def _setup(tmp_path: Path, database_url: str,
           home_file: Path) -> Iterator[tuple[GateTenant, Path, Path]]:
    state = tmp_path / "state"
    ro, rw = tmp_path / "tools", tmp_path / "drop"
    ro.mkdir()
    rw.mkdir()
    (ro / "tool.txt").write_text(TOOL + "\n")
    tenant = GateTenant(
        tmp_path, database_url, {"org/app": {".zuul.yaml": PROJECT}},
        config_files={"zuul.d/jobs.yaml": CONFIG_JOBS,
                      "playbooks/probe.yaml": _playbook(state, ro, rw, home_file)},
        executor_options={"trusted_ro_paths": [str(ro)], "trusted_rw_paths": [str(rw)]})
    assert tenant.config.state_dir.absolute() == state
    for planted in (state / "planted.txt", state / "builds" / "other" / "secret.txt",
                    state / "logs" / "other" / "job-output.txt"):
        planted.parent.mkdir(parents=True, exist_ok=True)
        planted.write_text(PLANTED + "\n")
    tenant.start()
    yield tenant, ro, rw
    tenant.stop()


def _processes(needle: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if needle in cmdline:
            found.append(cmdline)
    return found


def test_trusted_playbook_sees_only_its_build_and_the_operators_paths(
        setup: tuple[GateTenant, Path, Path]) -> None:
    tenant, ro, rw = setup
    state = tenant.config.state_dir
    executor = tenant.aio.executor
    if executor.zygote is not None:  # the build should be forked warm into its sandbox
        assert executor.zygote.wait_ready(60)
    number = tenant.push("org/app", {"x.txt": "x\n"}, "A change")
    report = tenant.wait_reported(number, "check")
    assert report.result == "SUCCESS", report.message
    [log] = [p for p in (state / "logs").rglob("job-output.txt") if "probe.yaml" in
             p.read_text()]
    text = log.read_text()
    assert VERDICT.findall(text) == EXPECTED, text
    assert PLANTED not in text
    key = state / "secrets.key"
    assert not key.exists() or key.read_text().strip() not in text
    assert (ro / "tool.txt").read_text() == TOOL + "\n"
    assert (rw / "out.txt").read_text() == "written\n"
    assert (log.parent / "fetched.txt").read_text() == "fetched\n"
    assert f"served={'1' if executor.zygote is not None else ''}" in text
    # what it left running ended with the build
    tenant.wait_for(lambda: not _processes(f"sleep {LINGER}"), timeout=10,
                    what="the build's processes to end")
