"""Attacks 1 and 11 of issue 15: a local node is never the executor host in the
clear, and a build's node has process, memory and disk limits.

Each test pushes the attack as a change to an untrusted project through the
real executor (GateTenant: scheduler, launcher, executor over a store) and
reads what the attacker would see: the build's result, its message and its
``job-output.txt``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.loopback import Listener
from tests.fakes.tenant import GateTenant
from zuulish.executor.sandbox import unavailable
from zuulish.store import BuildRow

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

PLANTED = "state-secret-" + secrets.token_hex(4)
DISK_LIMIT_MB = 20
MAX_PROCESSES = 100
MEMORY_MB = 200

PROBE = """
cat {planted} && echo STATE-READ || echo STATE-DENIED
ls /root/.ssh /root/secret.txt 2>/dev/null && echo ROOT-LISTED || echo ROOT-DENIED
cat /etc/shadow && echo SHADOW-READ || echo SHADOW-DENIED
{python} -c 'import socket; socket.create_connection(("127.0.0.1", {port}), 3)' \
  2>/dev/null && echo LOOPBACK-REACHED || echo LOOPBACK-DENIED
{python} -c 'import socket; socket.create_connection(("127.0.0.1", 5432), 3)' \
  2>/dev/null && echo PG-REACHED || echo PG-DENIED
echo "UNAME-$(uname -n)"
"""

OWN_PLAYBOOK = """- hosts: all
  gather_facts: false
  tasks:
    - name: probe
      shell: |
{probe}
    - name: leave a process behind
      shell: "setsid sleep {marker} > /dev/null 2>&1 < /dev/null & echo LEFT-BEHIND"
    - name: it lives on into the next task
      shell: "ps -eo args | grep -q '^sleep {marker}' && echo SURVIVES-TASK"
"""


def _host_processes(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in args:
                found.append(args)
    return found


def _builds(tenant: GateTenant) -> dict[str, BuildRow]:
    with tenant.aio.store.read() as s:
        return {b.job: b for b in s.scalars(select(BuildRow))}


def _output(tenant: GateTenant, build: BuildRow) -> str:
    return (tenant.config.state_dir / "logs" / build.id / "job-output.txt").read_text()


@pytest.fixture
def listener() -> Iterator[Listener]:
    service = Listener()
    yield service
    service.close()


def _tenant(tmp_path: Path, database_url: str, files: dict[str, str]) -> GateTenant:
    tenant = GateTenant(tmp_path, database_url, {"org/app": files}, executor_options={
        "disk_limit_per_job": DISK_LIMIT_MB, "node_max_processes": MAX_PROCESSES,
        "node_memory_mb": MEMORY_MB})
    state = tenant.config.state_dir
    state.mkdir(parents=True, exist_ok=True)
    (state / "planted.txt").write_text(PLANTED + "\n")
    return tenant.start()


def _probe(tmp_path: Path, port: int) -> str:
    import sys

    return PROBE.format(planted=tmp_path / "state" / "planted.txt", port=port,
                        python=sys.executable)


def _assert_contained(text: str, listener: Listener) -> None:
    for denied in ("STATE-DENIED", "ROOT-DENIED", "SHADOW-DENIED", "LOOPBACK-DENIED",
                   "PG-DENIED", "UNAME-node"):
        assert f"| {denied}" in text, (denied, text)
    assert PLANTED not in text
    assert not listener.reached.is_set()


def test_a_run_shell_job_runs_in_the_node_not_on_the_host(
        tmp_path: Path, database_url: str, listener: Listener) -> None:
    """Attack 1: ``parent: run-shell`` (the library's trusted playbook) in an
    untrusted project: its command runs in the isolated node."""
    import yaml

    marker = str(900000 + secrets.randbelow(99999))
    command = _probe(tmp_path, listener.port) + (
        f"setsid sleep {marker} > /dev/null 2>&1 < /dev/null &\necho LEFT-BEHIND\n")
    jobs = [{"job": {"name": "shell", "parent": "run-shell", "vars": {"command": command}}},
            {"project": {"check": {"jobs": ["shell"]}}}]
    tenant = _tenant(tmp_path, database_url, {".zuul.yaml": yaml.safe_dump(jobs)})
    try:
        number = tenant.push("org/app", {"x.txt": "x\n"})
        report = tenant.wait_reported(number, "check")
        build = _builds(tenant)["shell"]
        assert report.result == "SUCCESS", (build.result, build.message)
        text = _output(tenant, build)
        _assert_contained(text, listener)
        assert "| LEFT-BEHIND" in text
        assert _host_processes(f"sleep {marker}") == []
    finally:
        tenant.stop()


def test_an_untrusted_playbook_cannot_reach_the_host_from_the_node(
        tmp_path: Path, database_url: str, listener: Listener) -> None:
    """Attack 1 with the project's own playbook: state dir, /root, /etc/shadow and
    the host's loopback are out of reach; what it leaves running ends with the build."""
    marker = str(800000 + secrets.randbelow(99999))
    probe = "\n".join("        " + line for line in _probe(tmp_path, listener.port)
                      .strip().splitlines())
    tenant = _tenant(tmp_path, database_url, {
        ".zuul.yaml": "- job: {name: own, run: playbooks/own.yaml}\n"
                      "- project: {check: {jobs: [own]}}\n",
        "playbooks/own.yaml": OWN_PLAYBOOK.format(probe=probe, marker=marker)})
    try:
        number = tenant.push("org/app", {"x.txt": "x\n"})
        report = tenant.wait_reported(number, "check")
        build = _builds(tenant)["own"]
        assert report.result == "SUCCESS", (build.result, build.message)
        text = _output(tenant, build)
        _assert_contained(text, listener)
        assert "| SURVIVES-TASK" in text  # one node for the whole build
        assert _host_processes(f"sleep {marker}") == []
    finally:
        tenant.stop()


def test_a_fork_bomb_hits_the_process_limit(tmp_path: Path, database_url: str) -> None:
    """Attack 11: 2000 processes; the node's pids limit stops them, the build fails."""
    marker = str(700000 + secrets.randbelow(99999))
    playbook = ("- hosts: all\n  gather_facts: false\n  tasks:\n"
                "    - shell: |\n"
                "        i=0\n"
                "        while [ $i -lt 2000 ]; do sleep " + marker + " & i=$((i+1)); done\n"
                "        echo FORKED-ALL\n")
    tenant = _tenant(tmp_path, database_url, {
        ".zuul.yaml": "- job: {name: bomb, run: playbooks/bomb.yaml}\n"
                      "- project: {check: {jobs: [bomb]}}\n",
        "playbooks/bomb.yaml": playbook})
    try:
        number = tenant.push("org/app", {"x.txt": "x\n"})
        report = tenant.wait_reported(number, "check")
        build = _builds(tenant)["bomb"]
        text = _output(tenant, build)
        assert report.result == "FAILURE", (build.result, build.message)
        assert build.result == "FAILURE"
        assert "FORKED-ALL" not in text.replace("echo FORKED-ALL", "")
        assert "fork" in text.lower()  # the shell says it cannot fork
        assert f"at most {MAX_PROCESSES} processes" in text
        rule = (f"the local node reached its limit of {MAX_PROCESSES} processes "
                "(executor.node_max_processes)")
        assert (build.message or "").endswith(f"failed: {rule}"), build.message
        assert rule in text
        assert _host_processes(f"sleep {marker}") == []
    finally:
        tenant.stop()


def test_memory_past_the_limit_ends_the_task_not_the_host(tmp_path: Path,
                                                        database_url: str) -> None:
    """Attack 11: 600 MB of memory against a 200 MB node: the task is killed."""
    import sys

    playbook = ("- hosts: all\n  gather_facts: false\n  tasks:\n"
                f"    - shell: {sys.executable} -c 'b = b\"x\" * (600 * 1024 * 1024)'"
                " && echo ALLOCATED\n")
    tenant = _tenant(tmp_path, database_url, {
        ".zuul.yaml": "- job: {name: hog, run: playbooks/hog.yaml}\n"
                      "- project: {check: {jobs: [hog]}}\n",
        "playbooks/hog.yaml": playbook})
    try:
        number = tenant.push("org/app", {"x.txt": "x\n"})
        report = tenant.wait_reported(number, "check")
        build = _builds(tenant)["hog"]
        text = _output(tenant, build)
        assert report.result == "FAILURE", (build.result, build.message)
        assert "| ALLOCATED" not in text
        assert f"{MEMORY_MB} MB of memory" in text
        rule = (f"the local node ran out of its {MEMORY_MB} MB of memory "
                "(executor.node_memory_mb)")
        assert (build.message or "").endswith(f"failed: {rule}"), build.message
    finally:
        tenant.stop()


def test_writing_past_the_disk_limit_ends_the_build(tmp_path: Path,
                                                      database_url: str) -> None:
    """Attack 11: 45 MB in the work directory against a 20 MB disk limit."""
    playbook = ("- hosts: all\n  gather_facts: false\n  tasks:\n"
                "    - shell: |\n"
                "        for i in 1 2 3; do dd if=/dev/zero of=big$i bs=1M count=15; done\n"
                "        sleep 60\n"
                "        echo STILL-RUNNING\n")
    tenant = _tenant(tmp_path, database_url, {
        ".zuul.yaml": "- job: {name: fill, run: playbooks/fill.yaml}\n"
                      "- project: {check: {jobs: [fill]}}\n",
        "playbooks/fill.yaml": playbook})
    try:
        number = tenant.push("org/app", {"x.txt": "x\n"})
        report = tenant.wait_reported(number, "check", timeout=60)
        build = _builds(tenant)["fill"]
        assert build.result == "DISK_FULL", (build.result, build.message)
        assert report.result == "FAILURE"
        assert build.message == ("the build's work directory exceeded the disk limit of "
                                 f"{DISK_LIMIT_MB} MB")
        assert "STILL-RUNNING" not in _output(tenant, build).replace("echo STILL", "")
    finally:
        tenant.stop()


def test_the_node_sees_the_operators_host_paths(tmp_path: Path, database_url: str) -> None:
    """The legitimate case: a tool the operator lists in host_paths is visible,
    read-only; another host directory is not."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "hello-tool").write_text("#!/bin/sh\necho TOOL-RAN\n")
    (tools / "hello-tool").chmod(0o755)
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "x").write_text("x")
    playbook = ("- hosts: all\n  gather_facts: false\n  tasks:\n"
                f"    - shell: {tools}/hello-tool\n"
                f"    - shell: touch {tools}/new || echo TOOLS-READ-ONLY\n"
                f"    - shell: ls {hidden} || echo HIDDEN-DENIED\n")
    tenant = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": "- job: {name: tool, run: playbooks/tool.yaml}\n"
                      "- project: {check: {jobs: [tool]}}\n",
        "playbooks/tool.yaml": playbook}},
        providers=[{"name": "local", "driver": "local", "host_paths": [str(tools)]}]).start()
    try:
        number = tenant.push("org/app", {"x.txt": "x\n"})
        report = tenant.wait_reported(number, "check")
        build = _builds(tenant)["tool"]
        assert report.result == "SUCCESS", (build.result, build.message)
        text = _output(tenant, build)
        for seen in ("TOOL-RAN", "TOOLS-READ-ONLY", "HIDDEN-DENIED"):
            assert f"| {seen}" in text, (seen, text)
        assert not (tools / "new").exists()
    finally:
        tenant.stop()


def test_host_paths_may_not_expose_the_state_directory(tmp_path: Path) -> None:
    from zuulish.errors import ConfigError
    from zuulish.server_config import load_server_config

    for bad in ("state", "state/keys", "/"):
        path = bad if bad == "/" else str(tmp_path / bad)
        (tmp_path / "zuulish.yaml").write_text(
            "state_dir: state\ntenant_file: main.yaml\n"
            "nodepool: {providers: [{name: local, driver: local, host_paths: ["
            f"'{path}']}}]}}\n")
        with pytest.raises(ConfigError, match="host_paths"):
            load_server_config(tmp_path / "zuulish.yaml")
