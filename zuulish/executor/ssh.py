"""SSH to a build's remote nodes (static hosts, cloud VMs).

As in Zuul, the executor's private key never reaches a playbook: each build
with remote nodes gets an ``ssh-agent`` of its own, holding that key, and its
playbooks (trusted ones, and untrusted ones in the sandbox, which sees the
agent's socket but not the key file) authenticate through it. The agent ends
with the build.

Host keys the provider scanned (or was configured with) are written to the
build's ``known_hosts`` and checked strictly; a node whose provider does not
check host keys (``host-key-checking: false``) carries the host var
``ansible_host_key_checking: false`` instead. ``ServerAlive`` probes make a
node that vanished mid-task end its playbook as unreachable (the build's
NODE_FAILURE) within about 30 seconds, however the connection was lost.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket as pysocket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AGENT_START_SECONDS = 10.0
LOCAL_CONNECTIONS = frozenset({"local", "zuulish_local"})
SSH_OPTIONS = ("ControlMaster=auto", "ControlPersist=30s", "ServerAliveInterval=10",
               "ServerAliveCountMax=3", "ConnectTimeout=15")


class SshError(Exception):
    """The build's SSH access cannot be set up (the build ends in ERROR)."""


def is_remote(node: dict[str, Any]) -> bool:
    """Whether Ansible reaches ``node`` over SSH (not on the executor's host)."""
    connection = (node.get("host_vars") or {}).get("ansible_connection", "ssh")
    return connection not in LOCAL_CONNECTIONS


def known_hosts_lines(nodes: Iterable[dict[str, Any]]) -> list[str]:
    """``known_hosts`` lines for the remote nodes' host keys (``[host]:port`` form
    for a port other than 22, as ssh looks them up)."""
    lines = []
    for node in nodes:
        host_vars = node.get("host_vars") or {}
        host = str(host_vars.get("ansible_host") or node.get("hostname"))
        port = int(host_vars.get("ansible_port") or 22)
        name = host if port == 22 else f"[{host}]:{port}"
        lines += [f"{name} {key}" for key in node.get("host_keys") or []]
    return lines


@dataclass(frozen=True)
class SshAccess:
    """What a playbook needs to reach the build's remote nodes."""

    directory: Path  # read-only in the sandbox: known_hosts and the agent's socket
    known_hosts: Path
    agent_socket: Path

    def env(self, trusted: bool) -> dict[str, str]:
        """Ansible's settings and the agent, for a trusted or a sandboxed playbook."""
        options = [*SSH_OPTIONS, f"UserKnownHostsFile={self.known_hosts}"]
        env = {"ANSIBLE_SSH_ARGS": " ".join(f"-o {shlex.quote(o)}" for o in options),
               "ANSIBLE_HOST_KEY_CHECKING": "True",
               "SSH_AUTH_SOCK": str(self.agent_socket)}
        if trusted:  # a sandboxed one keeps its connections in its private home
            env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(self.directory / "cp")
        return env

    def command(self, host_vars: dict[str, Any], connect_timeout: int = 15) -> list[str]:
        """An ``ssh`` command line (up to the remote command) to the node with
        ``host_vars``, as the build's playbooks reach it; run it with ``SSH_AUTH_SOCK``
        (``self.agent_socket``) in its environment."""
        checking = host_vars.get("ansible_host_key_checking", True) is not False
        options = [*(o for o in SSH_OPTIONS if not o.startswith(("Control", "Connect"))),
                   f"ConnectTimeout={connect_timeout}", "BatchMode=yes",
                   f"UserKnownHostsFile={self.known_hosts if checking else '/dev/null'}",
                   f"StrictHostKeyChecking={'yes' if checking else 'no'}"]
        argv = ["ssh", "-T", *(arg for o in options for arg in ("-o", o))]
        if host_vars.get("ansible_port"):
            argv += ["-p", str(host_vars["ansible_port"])]
        if host_vars.get("ansible_user"):
            argv += ["-l", str(host_vars["ansible_user"])]
        return [*argv, "--", str(host_vars.get("ansible_host"))]


def _listening(path: Path) -> bool:
    """Whether a Unix socket at ``path`` accepts connections. The agent binds its
    socket (the file appears) before it listens; an ``ssh-add`` run in between is
    refused, so the file alone does not say that the agent is ready."""
    probe = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


class BuildAgent:
    """A build's ``ssh-agent`` with the executor's key, and its ``known_hosts``.

    They live in a short directory of their own under the system's temporary
    directory: a Unix socket's path (the agent's, and the SSH connections'
    control sockets below ``cp/``) may not exceed 108 bytes, which a path under
    a deep state directory would. ``directory`` is one made ahead (the build's
    trusted sandbox binds it before the agent starts); it is removed by ``stop``.
    """

    def __init__(self, nodes: list[dict[str, Any]], private_key: Path | None,
                 directory: Path | None = None):
        self.nodes = nodes
        self.private_key = private_key
        self.directory: Path | None = directory
        self._agent: subprocess.Popen[bytes] | None = None

    def start(self) -> SshAccess:
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="zuulish-ssh-"))
        (self.directory / "cp").mkdir(exist_ok=True)
        known_hosts = self.directory / "known_hosts"
        known_hosts.write_text("".join(f"{line}\n" for line in known_hosts_lines(self.nodes)))
        socket = self.directory / "agent.sock"
        try:
            self._agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket)],
                                           stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL,
                                           stderr=subprocess.PIPE)
        except OSError as exc:
            raise SshError(f"cannot start ssh-agent for the build's SSH nodes: {exc}") \
                from exc
        deadline = time.monotonic() + AGENT_START_SECONDS
        while not _listening(socket):
            if self._agent.poll() is not None or time.monotonic() > deadline:
                stderr = (self._agent.stderr.read() if self._agent.stderr else b"").decode()
                self.stop()
                raise SshError(f"ssh-agent did not start: {stderr.strip() or 'no socket'}")
            time.sleep(0.01)
        self._add_key(socket)
        return SshAccess(self.directory, known_hosts, socket)

    def _add_key(self, socket: Path) -> None:
        if self.private_key is not None and not self.private_key.is_file():
            self.stop()
            raise SshError(f"executor.private_key_file {self.private_key} does not exist: "
                           "the build's SSH nodes cannot be reached")
        args = ["ssh-add", "-q"] + ([str(self.private_key)] if self.private_key else [])
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket), "SSH_ASKPASS_REQUIRE": "never"}
        proc = subprocess.run(args, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=30)
        if proc.returncode != 0:
            self.stop()
            which = self.private_key or "the executor user's default keys (~/.ssh/id_*)"
            raise SshError(f"cannot add {which} to the build's ssh-agent: "
                           f"{proc.stderr.strip() or f'ssh-add exited with {proc.returncode}'}")

    def stop(self) -> None:
        """End the agent (the key leaves memory with it) and remove its directory."""
        agent, self._agent = self._agent, None
        if agent is not None:
            if agent.poll() is None:
                agent.terminate()
                try:
                    agent.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    agent.kill()
                    agent.wait()
            if agent.stderr is not None:
                agent.stderr.close()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
