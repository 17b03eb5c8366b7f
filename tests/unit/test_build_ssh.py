"""A build's SSH access: the executor's key in an agent of the build's own, which
sandboxed playbooks may use but whose key file they never see; known_hosts from
the nodes' scanned keys; clear errors when the key cannot be loaded."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from zuulish.executor import sandbox
from zuulish.executor.ansible_run import JobLog, PlaybookRun
from zuulish.executor.phases import run_phases
from zuulish.executor.ssh import BuildAgent, SshError, is_remote, known_hosts_lines

NODE = {"name": "box", "hostname": "192.0.2.7", "host_keys": ["ssh-ed25519 AAAAone"],
        "host_vars": {"ansible_host": "192.0.2.7", "ansible_port": 22}}


def make_key(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "executor-key",
                    "-f", str(path)], check=True)
    return path


def test_known_hosts_name_each_node_by_address_and_port() -> None:
    other = {"name": "b", "hostname": "h2", "host_keys": ["ssh-rsa AAAAtwo", "ssh-ed25519 X"],
             "host_vars": {"ansible_host": "10.0.0.9", "ansible_port": 2222}}
    assert known_hosts_lines([NODE, other]) == [
        "192.0.2.7 ssh-ed25519 AAAAone", "[10.0.0.9]:2222 ssh-rsa AAAAtwo",
        "[10.0.0.9]:2222 ssh-ed25519 X"]
    assert is_remote(NODE) and not is_remote(
        {"host_vars": {"ansible_connection": "zuulish_local"}})


def test_agent_holds_the_key_and_is_gone_after_stop(tmp_path: Path) -> None:
    agent = BuildAgent([NODE], make_key(tmp_path / "id"))
    access = agent.start()
    try:
        listed = subprocess.run(["ssh-add", "-l"], env={"SSH_AUTH_SOCK": str(access.agent_socket)},
                                capture_output=True, text=True)
        assert listed.returncode == 0 and "executor-key" in listed.stdout
        assert access.known_hosts.read_text() == "192.0.2.7 ssh-ed25519 AAAAone\n"
        assert len(str(access.agent_socket)) < 100  # a Unix socket path's limit is 108
    finally:
        agent.stop()
    assert not access.directory.exists()


def test_a_missing_or_unusable_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SshError, match="executor.private_key_file .*/nope does not exist"):
        BuildAgent([NODE], tmp_path / "nope").start()
    (tmp_path / "garbage").write_text("not a key\n")
    (tmp_path / "garbage").chmod(0o600)
    agent = BuildAgent([NODE], tmp_path / "garbage")
    with pytest.raises(SshError, match="cannot add .*garbage to the build's ssh-agent"):
        agent.start()
    assert agent.directory is None  # cleaned up


@pytest.mark.skipif(sandbox.unavailable() is not None, reason=str(sandbox.unavailable()))
def test_a_sandboxed_playbook_uses_the_agent_but_cannot_read_the_key(tmp_path: Path) -> None:
    key = make_key(tmp_path / "keys" / "id")
    work = tmp_path / "build" / "work"
    work.mkdir(parents=True)
    book = tmp_path / "build" / "untrusted" / "p" / "run.yaml"
    book.parent.mkdir(parents=True)
    book.write_text(f"""
- hosts: all
  gather_facts: false
  tasks:
    - name: The agent answers
      ansible.builtin.command: ssh-add -l
    - name: The key file is not there
      ansible.builtin.shell: test ! -e {key} && echo KEY-HIDDEN
""")
    log = JobLog(tmp_path / "logs")
    agent = BuildAgent([NODE], key)
    access = agent.start()
    try:
        result = run_phases(tmp_path / "build" / "ansible", [],
                            [PlaybookRun(book, "run", trusted=False)], [], [],
                            {"all": {"hosts": {"node": {"ansible_connection": "zuulish_local"}}}},
                            {}, log, 60, None, work, ssh=access)
    finally:
        agent.stop()
    log.close()
    text = (tmp_path / "logs" / "job-output.txt").read_text()
    assert result == ("SUCCESS", ""), text[-2000:]
    assert "executor-key" in text and "KEY-HIDDEN" in text


def test_the_agent_counts_as_started_once_its_socket_listens_not_once_it_exists(
        tmp_path: Path) -> None:
    """ssh-agent binds its socket before it listens: an ssh-add between the two is
    refused ("Connection refused"), which failed builds on a busy executor."""
    import socket

    from zuulish.executor.ssh import _listening

    path = tmp_path / "agent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        assert path.exists() and not _listening(path)
        server.listen(1)
        assert _listening(path)
    finally:
        server.close()
    assert not _listening(tmp_path / "absent.sock")
