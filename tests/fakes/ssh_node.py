"""Static nodes for tests: sshd in a network namespace of its own.

Each node is a real machine as far as the executor can tell: an address on a
veth link (10.213.N.2, the executor's end 10.213.N.1), an sshd there that only
takes the test's key, its own host key, its own host name (``static-nodeN``) and a
home directory of its own (the sshd runs in a mount namespace where the test's
directory is bound over the user's home), so what a job pushes to ``~`` lands in
the test's directory. Otherwise it shares the executor's filesystem, as a machine
prepared with the same tools would: the same ``/usr``, the test's virtualenv, and
the python that virtualenv is made from even where that lives under the home
directory. The executor's own directories that the test names (its state
directory: the builds' work dirs and logs) are empty there, so a job that reads or
writes the executor's files on the node fails as it would on another machine.
Needs root, ``ip`` (iproute2), ``unshare`` and ``sshd`` (openssh-server).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SSHD = "/usr/sbin/sshd"
# The python the test's virtualenv is made from; a node sees it at the same path.
PYTHON_HOME = Path(sys.base_prefix).resolve()
# One /30 per node, 10.213.X.0, X free on this host: test processes (pytest-xdist
# workers) pick theirs under this lock, from the addresses in use.
_SUBNET_LOCK = Path(tempfile.gettempdir()) / "zuulish-test-subnets.lock"


@contextlib.contextmanager
def _free_subnet() -> Iterator[int]:
    """A subnet number no interface on this host uses; held (against other test
    processes) until the caller has put its address on an interface."""
    with open(_SUBNET_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True,
                              text=True).stdout
        free = next((n for n in range(20, 250) if f" 10.213.{n}." not in used), None)
        if free is None:
            raise RuntimeError("no free 10.213.X.0/30 subnet for a test node")
        yield free


def missing_requirements() -> str | None:
    """Why static nodes cannot be made here, or None."""
    if os.geteuid() != 0:
        return "static nodes need root (network namespaces)"
    for tool in ("ip", "unshare", "ssh-keygen", "ssh-agent", "ssh-keyscan"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not Path(SSHD).exists():
        return "sshd is not installed (apt-get install openssh-server)"
    probe = f"zlprobe{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return "network namespaces cannot be made here"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@dataclass
class SshNode:
    """One static host: sshd at ``address``:22 in namespace ``netns``."""

    index: int
    directory: Path
    netns: str
    address: str
    home: Path
    host_key: str  # "TYPE BASE64"
    hidden: tuple[Path, ...] = ()  # the executor's directories, empty on the node
    listen: str | None = None  # sshd's ListenAddress (default: ``address``)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The node's host name (``hostname`` there)."""
        return f"static-node{self.index}"

    def _mounts(self) -> str:
        """Shell commands that make the node's view of the filesystem."""
        home = Path.home()
        steps = ["mount --make-rprivate /"]
        if PYTHON_HOME.is_relative_to(home):  # keep the executor's python in the node's home
            kept = self.home / PYTHON_HOME.relative_to(home)
            kept.mkdir(parents=True, exist_ok=True)
            steps.append(f"mount --bind {shlex.quote(str(PYTHON_HOME))} "
                         f"{shlex.quote(str(kept))}")
        steps.append(f"mount --rbind {shlex.quote(str(self.home))} {shlex.quote(str(home))}")
        for path in self.hidden:
            path.mkdir(parents=True, exist_ok=True)
            steps.append(f"mount -t tmpfs -o size=1m,mode=0755 hidden {shlex.quote(str(path))}")
        return " && ".join(steps)

    def start(self, client_key: Path) -> None:
        d = self.directory
        (d / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
        (d / "sshd_config").write_text(
            f"ListenAddress {self.listen or self.address}\nPort 22\nHostKey {d / 'host_key'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "AcceptEnv LANG LC_*\nSubsystem sftp internal-sftp\nLogLevel ERROR\n")
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        script = f"{self._mounts()} && exec {SSHD} -D -e -f {d / 'sshd_config'}"
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--uts", "sh", "-c",
             f"hostname {self.name} && {script}"],
            stdout=subprocess.DEVNULL, stderr=(d / "sshd.log").open("ab"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex((self.address, 22)) == 0:
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"sshd on {self.address} did not start: "
                           f"{(d / 'sshd.log').read_text()}")

    def vanish(self) -> None:
        """Kill every process on the node (sshd and what it runs): the machine is gone
        for the connections it had, and takes no new ones."""
        pids = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        if self.process is not None:
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        self.vanish()


class SshNodes:
    """Several static hosts, and the executor's key that logs in to all of them.

    ``hidden``: the executor's directories (its state directory), which every node
    sees empty."""

    def __init__(self, directory: Path, count: int = 1, hidden: Sequence[Path] = (),
                 listen: str | None = None):
        self.directory = directory
        self.hidden = tuple(hidden)
        self.listen = listen
        directory.mkdir(parents=True, exist_ok=True)
        self.key = directory / "executor_key"
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key))
        tag = f"{os.getpid() % 10000}{int(time.time() * 1000) % 1000}"
        self.nodes: list[SshNode] = []
        try:
            for i in range(count):
                self._make(i, tag)
        except Exception:
            self.close()
            raise

    def _make(self, i: int, tag: str) -> None:
        d = self.directory / f"node{i}"
        (d / "home").mkdir(parents=True)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key"))
        netns, host_if, node_if = f"zl{tag}n{i}", f"zlh{tag}{i}", f"zln{tag}{i}"
        with _free_subnet() as subnet:
            host_ip, node_ip = f"10.213.{subnet}.1", f"10.213.{subnet}.2"
            _run("ip", "netns", "add", netns)
            node = SshNode(i, d, netns, node_ip, d / "home",
                           " ".join((d / "host_key.pub").read_text().split()[:2]),
                           self.hidden, self.listen)
            self.nodes.append(node)  # torn down by close() from here on
            _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", node_if)
            _run("ip", "link", "set", node_if, "netns", netns)
            _run("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        _run("ip", "netns", "exec", netns, "ip", "addr", "add", f"{node_ip}/30", "dev", node_if)
        _run("ip", "netns", "exec", netns, "ip", "link", "set", node_if, "up")
        _run("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up")
        node.start(self.key)

    def provider_config(self, labels: list[str] | None = None, **extra: object) -> dict:
        """A ``static`` provider entry for ``zuulish.yaml`` with every node."""
        return {"name": "static", "driver": "static", "nodes": [
            {"name": n.address, "labels": labels or [f"static-{n.index}", "static"],
             "username": "root", "host-key": n.host_key, **extra} for n in self.nodes]}

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
            subprocess.run(["ip", "netns", "del", node.netns], capture_output=True)
        self.nodes = []


class SubnetSshNode:
    """One sshd in a network namespace that answers for a whole /24 (10.214.X.0/24):
    "AnyIP" in the namespace (``ip route add local 10.214.X.0/24 dev lo``, sshd on
    0.0.0.0) and, on the host, a route to that /24 through the namespace's veth.
    A fake cloud that hands out addresses in ``cidr`` makes servers that SSH
    reaches, all of them this one machine (one host key, one home directory)."""

    def __init__(self, directory: Path, hidden: Sequence[Path] = ()):
        self.hosts = SshNodes(directory, 1, hidden, listen="0.0.0.0")
        self.node = self.hosts.nodes[0]
        self.key = self.hosts.key
        self.cidr = ""
        try:
            with open(_SUBNET_LOCK, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                routes = subprocess.run(["ip", "-4", "route"], capture_output=True,
                                        text=True).stdout
                free = next((n for n in range(20, 250) if f"10.214.{n}.0/24" not in routes),
                            None)
                if free is None:
                    raise RuntimeError("no free 10.214.X.0/24 subnet for test nodes")
                cidr = f"10.214.{free}.0/24"
                _run("ip", "netns", "exec", self.node.netns, "ip", "route", "add", "local",
                     cidr, "dev", "lo")
                _run("ip", "route", "add", cidr, "via", self.node.address)
                self.cidr = cidr
        except Exception:
            self.close()
            raise

    def address(self, host: int) -> str:
        """The address of host number ``host`` in the subnet."""
        return self.cidr.split("/")[0].rsplit(".", 1)[0] + f".{host}"

    def close(self) -> None:
        if self.cidr:
            subprocess.run(["ip", "route", "del", self.cidr], capture_output=True)
            self.cidr = ""
        self.hosts.close()


def make_subnet_node(why_not: str | None, directory: Path,
                     hidden: Sequence[Path] = ()) -> SubnetSshNode:
    """A ``SubnetSshNode`` for a test, or the test fails saying why it cannot be made."""
    import pytest

    if why_not is not None:
        pytest.fail(f"static nodes are required here but cannot be made: {why_not}")
    return SubnetSshNode(directory, hidden)


def static_node_marks(why_not: str | None) -> list[Any]:
    """A test module's marks: slow, and skipped when static nodes cannot be made here
    (``why_not``) unless ``ZUULISH_STATIC_NODE_TESTS=required`` (CI), where they fail."""
    import pytest

    required = os.environ.get("ZUULISH_STATIC_NODE_TESTS") == "required"
    return [pytest.mark.slow, pytest.mark.skipif(
        why_not is not None and not required,
        reason=f"{why_not} (.ci/run installs what they need)")]


def make_nodes(why_not: str | None, directory: Path, count: int,
               hidden: list[Path] | None = None) -> SshNodes:
    """Static nodes for a test, or the test fails saying why they cannot be made."""
    import pytest

    if why_not is not None:
        pytest.fail(f"static nodes are required here but cannot be made: {why_not}")
    return SshNodes(directory, count=count, **({"hidden": hidden} if hidden else {}))
