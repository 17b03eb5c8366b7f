"""The node of the ``local`` provider: an isolated environment per build.

A build with a local node gets one long-lived bubblewrap sandbox, started
before its first playbook (while the workspace is prepared) and stopped after
its last; every task on the node, from trusted and untrusted playbooks alike,
runs in it (through ``node_agent``: the ``zuulish_local`` connection sends it
commands and files over ``<build dir>/node/agent.sock``). What it sees, at
the same paths as outside:

- read-write: the node's work directory (``<build dir>/work``, holding
  ``src/...``), which is also its ``HOME``; ``/tmp`` is a private tmpfs of at
  most ``disk_limit_mb``;
- read-only: ``/usr`` (and the ``/bin``, ``/lib``... links or directories), a
  short list of ``/etc`` files (``sandbox.ETC_FILES``: name resolution, TLS,
  locales; its ``/etc/passwd`` gives the executor's user the work dir as
  home), the Python installation the executor runs from (so Ansible's
  modules run with ``sys.executable``), the agent's own source, and the
  operator's ``host_paths`` of the local provider;
- the GPUs the local provider gave the build's node, and only those
  (``GPUS_VAR``, ``NodeGpus``): their device files (``/dev/nvidia<index>``
  and the shared ``/dev/nvidiactl``, ``/dev/nvidia-uvm``... bound with
  ``--dev-bind`` at ``/dev/<name>``), nvidia-smi and the driver's libraries
  (read-only, where ``/usr`` does not show them already), and
  ``NVIDIA_VISIBLE_DEVICES`` (the host's indexes) and ``CUDA_VISIBLE_DEVICES``
  (the GPUs' UUIDs: CUDA numbers the GPUs it can open from 0, in its own order,
  so a host index would name the wrong GPU or none). A node without GPUs has
  no ``nvidia*`` device file at all. The node's cgroups are pids and memory
  only: a devices controller (v1) or device program (v2) of the executor's own
  cgroup applies to the node as to the executor, and nothing else blocks them;
- nothing else: not the executor's state directory (the database, project
  keys, other builds), ``/root``, ``/home``, ``/etc/shadow``, ``/var`` or
  ``/run``; not ``<build dir>/node`` (the agent's socket) or the playbooks'
  data directories;
- its own PID, IPC and UTS namespaces, every capability dropped, a new session,
  killed with the executor; processes started by one task live on for the next,
  and all of them end when the node stops (its PID namespace ends with it);
- its own network, as an untrusted playbook's sandbox has it
  (``executor.sandbox_network``: ``private`` through pasta, so the host's
  loopback services such as a database are out of reach; ``none``; ``host``);
- its home: ``HOME`` and the executor user's home directory in its
  ``/etc/passwd`` are the work directory, which lasts the whole build, holds
  ``src/`` and belongs to the build alone (what Ansible's facts call
  ``ansible_user_dir`` in the node's facts: ``facts.LocalFacts``);
- limits: a cgroup per node (``node_cgroup``) with ``node_max_processes``
  processes and ``node_memory_mb`` of memory; where no cgroup can be made,
  RLIMIT_AS (memory per process) instead, and no process limit. Always:
  RLIMIT_FSIZE (no file larger than the disk limit) and RLIMIT_CORE 0. The
  disk limit of the work directory is watched by ``disk_limit``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zuulish.executor import node_agent, node_cgroup, sandbox
from zuulish.executor.sandbox_launch import ARGS_ENV

AGENT_SOURCE = Path(node_agent.__file__)
DEFAULT_MAX_PROCESSES = 1024
DEFAULT_MEMORY_MB = 4096
DEFAULT_DISK_LIMIT_MB = 250
READY_SECONDS = 30.0
STOP_SECONDS = 5.0
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SOCKET_ENV = "ZUULISH_NODE_SOCKET"  # how the zuulish_local connection finds the agent
# the socket a build without a local node gives: zuulish_local refuses every task
# (a job that makes a node ``zuulish_local`` through its variables gets no host)
NO_NODE = Path("/nonexistent/zuulish-no-local-node")
# the local provider's host-paths, as the launcher hands them over in the node's host vars
HOST_PATHS_VAR = "zuulish_host_paths"
# the GPUs the local provider gave a node: {"indexes": [...], "uuids": [...],
# "devices": [host device files], "paths": [host paths]} (see NodeGpus)
GPUS_VAR = "zuulish_gpus"
DEVICE_NAME = re.compile(r"^nvidia([0-9]+|ctl|-uvm|-uvm-tools|-modeset)$")


class NodeError(Exception):
    """The local node could not start."""


@dataclass(frozen=True)
class NodeLimits:
    """The limits of one local node (``executor.node_*`` and ``disk_limit_per_job``)."""

    max_processes: int = DEFAULT_MAX_PROCESSES
    memory_mb: int = DEFAULT_MEMORY_MB
    disk_limit_mb: int = DEFAULT_DISK_LIMIT_MB


@dataclass(frozen=True)
class NodeGpus:
    """The GPUs of a node: host indexes and UUIDs, the host device files it gets
    (at ``/dev/<name>``) and the host paths it sees read-only for them."""

    indexes: tuple[int, ...] = ()
    uuids: tuple[str, ...] = ()
    devices: tuple[Path, ...] = ()
    paths: tuple[Path, ...] = ()

    def env(self) -> dict[str, str]:
        """The node's environment for them (none without GPUs)."""
        if not self.indexes:
            return {}
        return {"NVIDIA_VISIBLE_DEVICES": ",".join(map(str, self.indexes)),
                "CUDA_VISIBLE_DEVICES": ",".join(self.uuids) if len(self.uuids) ==
                len(self.indexes) and all(self.uuids) else
                ",".join(map(str, self.indexes))}

    def to_var(self) -> dict[str, Any]:
        """As ``GPUS_VAR``'s value in the node's host vars."""
        return {"indexes": list(self.indexes), "uuids": list(self.uuids),
                "devices": [str(p) for p in self.devices],
                "paths": [str(p) for p in self.paths]}


def node_gpus(host_vars: Iterable[Mapping[str, Any]], state_dir: Path) -> NodeGpus:
    """The GPUs of the build's local nodes (their ``GPUS_VAR``, set by the launcher),
    together. ValueError, saying why, for a device file that is not an NVIDIA one
    or a path refused by ``refused_host_path``: the executor binds nothing else."""
    indexes: list[int] = []
    uuids: list[str] = []
    devices: list[Path] = []
    paths: list[Path] = []
    for hv in host_vars:
        given = hv.get(GPUS_VAR)
        if not given:
            continue
        if not isinstance(given, Mapping):
            raise ValueError(f"{GPUS_VAR} is not a mapping")
        for index in given.get("indexes") or ():
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise ValueError(f"GPU index {index!r} is not a number")
            if index not in indexes:
                indexes.append(index)
        uuids += [str(u) for u in given.get("uuids") or () if str(u) not in uuids]
        for text in given.get("devices") or ():
            device = Path(str(text))
            if not device.is_absolute() or not DEVICE_NAME.match(device.name) \
                    or ".." in device.parts:
                raise ValueError(f"{text} is not an NVIDIA device file")
            if device not in devices:
                devices.append(device)
        for text in given.get("paths") or ():
            why = refused_host_path(Path(str(text)), state_dir)
            if why is not None:
                raise ValueError(why)
            if Path(str(text)) not in paths:
                paths.append(Path(str(text)))
    return NodeGpus(tuple(indexes), tuple(uuids), tuple(devices), tuple(paths))


def _shown_by_system(path: Path) -> bool:
    """Whether the node sees ``path`` already (under ``/usr``, ``/lib``...)."""
    return any(str(path).startswith(name + "/") for name in sandbox.SYSTEM_DIRS)


def refused_host_path(path: Path, state_dir: Path) -> str | None:
    """Why ``path`` may not be a host path of local nodes, or None."""
    if not path.is_absolute():
        return f"{path} is not an absolute path"
    resolved, state = path.resolve(), state_dir.resolve()
    if resolved == Path("/") or resolved == state or state in resolved.parents \
            or resolved in state.parents:
        return f"{path} is, holds or lies in the executor's state directory {state_dir}"
    return None


def passwd(work_dir: Path, source: Path = Path("/etc/passwd")) -> str:
    """The node's ``/etc/passwd``: the host's, with the executor user's home
    directory the node's work dir (so ``~`` and ``~root`` are the node's home,
    as Ansible expands them for its temporary files)."""
    uid = str(os.getuid())
    lines = []
    for line in source.read_text().splitlines():
        fields = line.split(":")
        if len(fields) == 7 and fields[2] == uid:
            fields[5] = str(work_dir.absolute())
        lines.append(":".join(fields))
    return "\n".join(lines) + "\n"


def bwrap_args(work_dir: Path, host_paths: tuple[Path, ...], network: str,
               disk_limit_mb: int, passwd_file: Path | None = None,
               gpus: NodeGpus = NodeGpus()) -> list[str]:
    """bubblewrap's arguments (before ``--`` and the agent) for a node (with
    ``gpus``' device files, paths and environment)."""
    if network not in sandbox.NETWORK_MODES:
        raise ValueError(f"unknown sandbox network {network!r}")
    work = str(work_dir.absolute())
    args = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--hostname", "node", "--cap-drop", "ALL", "--dev", "/dev",
            "--proc", "/proc", "--size", str(disk_limit_mb * 1024 * 1024), "--tmpfs", "/tmp",
            "--clearenv", "--setenv", "HOME", work, "--setenv", "TMPDIR", "/tmp",
            "--setenv", "LANG", "C.UTF-8", "--setenv", "USER", "root",
            "--setenv", "PATH", os.pathsep.join([str(Path(sys.executable).parent), PATH])]
    for name, value in gpus.env().items():
        args += ["--setenv", name, value]
    if network != "host":
        args.append("--unshare-net")
    sandbox._bind_system(args)
    for device in gpus.devices:
        if device.exists():
            args += ["--dev-bind", str(device), f"/dev/{device.name}"]
    gpu_paths = [p for p in gpus.paths if not _shown_by_system(p.absolute())]
    seen: set[str] = set()
    for path in (*sandbox.python_roots(), AGENT_SOURCE, *host_paths, *gpu_paths):
        text = str(path.absolute())
        if text not in seen and path.exists():
            seen.add(text)
            args += ["--ro-bind", text, text]
    if passwd_file is not None:
        args += ["--ro-bind", str(passwd_file), "/etc/passwd"]
    args += ["--bind", work, work, "--remount-ro", "/", "--chdir", work]
    return args


class LocalNode:
    """One build's local node: ``start`` it, ``wait_ready``, then ``stop``."""

    def __init__(self, build_dir: Path, name: str, limits: NodeLimits = NodeLimits(),
                 network: str = sandbox.DEFAULT_NETWORK,
                 host_paths: tuple[Path, ...] = (), gpus: NodeGpus = NodeGpus()) -> None:
        self.build_dir = build_dir.absolute()
        self.work_dir = self.build_dir / "work"
        self.dir = self.build_dir / "node"
        self.socket_path = self.dir / "agent.sock"
        self.name = name
        self.limits = limits
        self.network = network
        self.host_paths = host_paths
        self.gpus = gpus
        self.cgroup: node_cgroup.NodeCgroup | None = None
        self._process: subprocess.Popen | None = None
        self._stderr = self.dir / "launcher.log"
        self._lock = threading.Lock()  # stop() comes from the disk watch too
        self._ready = False

    @property
    def limits_note(self) -> str:
        """Which limits apply, in words (for the job log)."""
        missing = self.cgroup.missing if self.cgroup is not None else ["pids", "memory"]
        notes = [f"at most {self.limits.max_processes} processes" if "pids" not in missing
                 else "no process limit (no pids cgroup)",
                 f"{self.limits.memory_mb} MB of memory" if "memory" not in missing
                 else f"{self.limits.memory_mb} MB of address space per process (no "
                      "memory cgroup)",
                 f"{self.limits.disk_limit_mb} MB of disk"]
        return ", ".join(notes)

    def limits_hit(self) -> str:
        """Which of its limits the node ran into, in words naming the setting ("" for
        none); read before the node stops."""
        hit = self.cgroup.limits_hit() if self.cgroup is not None else []
        said = [f"the local node reached its limit of {self.limits.max_processes} processes "
                "(executor.node_max_processes)" if "pids" in hit else "",
                f"the local node ran out of its {self.limits.memory_mb} MB of memory "
                "(executor.node_memory_mb)" if "memory" in hit else ""]
        return "; ".join(s for s in said if s)

    def start(self) -> None:
        """Start the node (returns at once; ``wait_ready`` waits for its agent).

        The node ends when the thread that starts it does (or the executor): start
        it from a thread that outlives it.

        Raises NodeError when it cannot start.
        """
        try:
            bwrap, pasta = sandbox.tools(self.network)
        except sandbox.SandboxUnavailable as exc:
            raise NodeError(f"the local node cannot start: {exc}".replace(
                "untrusted playbooks cannot run", "local nodes cannot run")) from None
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        # unique: a retried build has the same name, and may start while the cgroups
        # of its last attempt are being removed
        self.cgroup = node_cgroup.create(f"{self.name}-{os.urandom(4).hex()}",
                                         self.limits.max_processes, self.limits.memory_mb)
        rlimits = {"CORE": 0, "FSIZE": self.limits.disk_limit_mb * 1024 * 1024}
        if "memory" in self.cgroup.missing:
            rlimits["AS"] = self.limits.memory_mb * 1024 * 1024
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.socket_path.unlink(missing_ok=True)
            with node_agent.short_path(str(self.socket_path)) as address:
                listener.bind(address)
            listener.listen(64)
            passwd_file = self.dir / "passwd"
            passwd_file.write_text(passwd(self.work_dir))
            spec = {"bwrap": bwrap, "program": sys.executable,
                    "args": bwrap_args(self.work_dir, self.host_paths, self.network,
                                       self.limits.disk_limit_mb, passwd_file, self.gpus),
                    "pasta": None if pasta is None else {
                        "program": pasta, "options": list(sandbox.PASTA_OPTIONS),
                        "log": str(self.dir / "pasta.log")},
                    "cgroups": self.cgroup.procs_files, "rlimits": rlimits,
                    "die_with": os.getpid(),
                    "pass_fds": [listener.fileno()]}
            args_file = self.dir / "node.json"
            args_file.write_text(json.dumps(spec))
            # a link to the launcher written once (ETXTBSY, sandbox.launcher_program),
            # named in the node's directory: its command line names <state>/builds/,
            # by which a later executor finds what a killed one left (leftovers)
            launcher = self.dir / "launch"
            launcher.unlink(missing_ok=True)
            launcher.symlink_to(sandbox.launcher_program())
            with self._stderr.open("wb") as stderr:
                self._process = subprocess.Popen(
                    [str(launcher), "-IS", str(AGENT_SOURCE), str(listener.fileno())],
                    env={ARGS_ENV: str(args_file), "PATH": PATH}, stdin=subprocess.DEVNULL,
                    stdout=stderr, stderr=stderr, pass_fds=[listener.fileno()],
                    start_new_session=True)
        except OSError as exc:
            self.stop()
            raise NodeError(f"the local node could not start: {exc}") from None
        finally:
            listener.close()  # the node holds it now: once it is gone, connecting fails

    @property
    def running(self) -> bool:
        """Whether the node was started and has not ended."""
        return self._process is not None and self._process.poll() is None

    def wait_ready(self, timeout: float = READY_SECONDS) -> None:
        """Wait until the node's agent answers; NodeError (with what the node's
        launcher said) when it does not."""
        if self._ready and self.running:
            return  # (a spare, seen ready when it was started)
        deadline = time.monotonic() + timeout
        while True:
            try:
                node_agent.request(str(self.socket_path), {"op": "ping"},
                                   timeout=max(0.1, deadline - time.monotonic()))
                self._ready = True
                return
            except node_agent.AgentError as exc:
                failed = self._process is None or self._process.poll() is not None
                if failed or time.monotonic() > deadline:
                    said = ""
                    with contextlib.suppress(OSError):
                        said = self._stderr.read_text(errors="replace").strip()
                    raise NodeError("the local node could not start: "
                                    + (said.splitlines()[-1] if said else str(exc))) from None
                time.sleep(0.01)

    def stop(self) -> None:
        """End the node and every process in it; remove its cgroups."""
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        process, self._process = self._process, None
        cgroup, self.cgroup = self.cgroup, None
        if cgroup is not None and cgroup.directories:
            # everything of the node at once: launcher, bwrap, pasta, tasks (what forks
            # meanwhile dies with the node's PID namespace, or in remove() below)
            cgroup.kill(passes=1)
        if process is not None and process.poll() is None:
            # bwrap dies of it; the node's PID 1 then gets SIGKILL (--die-with-parent)
            # and everything else in its PID namespace with it
            process.send_signal(signal.SIGTERM)
        if process is not None:
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if cgroup is not None:
            # (in the background: the build's result need not wait for pasta's exit)
            threading.Thread(target=cgroup.remove, name=f"node-{self.name[:12]}",
                             daemon=True).start()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SpareNodes:
    """A local node started ahead of the build that will use it.

    Starting a node (bubblewrap, pasta, the agent) takes tens of milliseconds
    of CPU; ``take`` hands out the spare (fresh: nothing ran in it), and the
    next one is started in the background by ``refill`` once a build has ended
    (when there was no spare to take, at once), so a build rarely waits for its
    node and the next spare's start does not compete with a starting build (a
    build that comes while the spare is starting waits for it: it is ready
    sooner than a node started then). A
    node's work directory is fixed when it starts: a build that takes a spare
    has the spare's directory (``<root>/node-<random>``) as its build directory.
    Nodes with other ``host_paths`` than the spare's are started for the build,
    and so are nodes with GPUs (never spares: which GPUs is the launcher's choice
    for each build).
    """

    def __init__(self, root: Path, limits: NodeLimits, network: str) -> None:
        self.root = root
        self.limits = limits
        self.network = network
        self._lock = threading.Condition()
        self._spare: LocalNode | None = None
        self._stopped = False
        self._starting: tuple[Path, ...] | None = None  # the host paths of a spare starting
        self._cleaned = False
        # Spares are started by one thread that lives as long as the executor: bwrap's
        # --die-with-parent ends a sandbox when the *thread* that started it ends.
        self._requests: queue.SimpleQueue[tuple[Path, ...]] = queue.SimpleQueue()
        self._starter: threading.Thread | None = None

    def _new(self, host_paths: tuple[Path, ...], gpus: NodeGpus = NodeGpus()) -> LocalNode:
        name = f"node-{os.urandom(8).hex()}"
        node = LocalNode(self.root / name, name, self.limits, self.network, host_paths, gpus)
        node.start()
        return node

    def _start_spare(self, host_paths: tuple[Path, ...]) -> None:
        node = None
        try:
            node = self._new(host_paths)
            node.wait_ready()
        except (NodeError, sandbox.SandboxUnavailable):
            if node is not None:  # the next build starts its own, and says why it cannot
                _discard(node)
            node = None
        with self._lock:
            self._starting = None
            if node is not None and self._spare is None and not self._stopped:
                self._spare, node = node, None
            self._lock.notify_all()
        if node is not None:
            _discard(node)

    def refill(self, host_paths: tuple[Path, ...] = ()) -> None:
        """Start a spare with ``host_paths`` in the background, unless there is one."""
        with self._lock:
            if self._spare is not None or self._starting is not None or self._stopped:
                return
            self._starting = host_paths
            if self._starter is None:
                self._starter = threading.Thread(target=self._start_spares, name="spare-nodes",
                                                 daemon=True)
                self._starter.start()
        self._requests.put(host_paths)

    def _start_spares(self) -> None:
        while True:
            self._start_spare(self._requests.get())

    def take(self, host_paths: tuple[Path, ...] = (), gpus: NodeGpus = NodeGpus()
             ) -> LocalNode:
        """A started node with ``host_paths`` (and ``gpus``) for one build (its to
        stop; from the thread that runs the build, which outlives the node);
        NodeError when none can start."""
        with self._lock:
            if not self._cleaned:  # what spares of an earlier run of the executor left
                self._cleaned = True
                for stale in self.root.glob("node-*") if self.root.is_dir() else ():
                    shutil.rmtree(stale, ignore_errors=True)
                node_cgroup.remove_stale()
            if gpus.indexes or gpus.devices:
                spare = None  # the spare stays for a build without GPUs
            else:
                if self._spare is None and self._starting == host_paths:
                    self._lock.wait_for(lambda: self._starting is None, READY_SECONDS)
                spare, self._spare = self._spare, None
        if gpus.indexes or gpus.devices:
            return self._new(host_paths, gpus)
        if spare is not None and not (spare.running and spare.host_paths == host_paths):
            _discard(spare)
            spare = None
        if spare is not None:
            return spare
        node = self._new(host_paths)
        self.refill(host_paths)  # for the next build (this one is not its only one)
        return node

    def stop(self) -> None:
        """Stop the spare; none is started after this."""
        with self._lock:
            self._stopped = True
            spare, self._spare = self._spare, None
        if spare is not None:
            _discard(spare)


def _discard(node: LocalNode) -> None:
    """Stop a node no build used, and remove its directory."""
    node.stop()
    shutil.rmtree(node.build_dir, ignore_errors=True)
