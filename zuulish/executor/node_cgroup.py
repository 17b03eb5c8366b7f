"""Process and memory limits of a local node: a cgroup per node.

The node's cgroup is made under the executor's own cgroup (as
``/proc/self/cgroup`` names it), one per controller:

- cgroup v1 (a hierarchy per controller, as on this project's CI machine):
  ``<pids mount>/<own>/zuulish-node-<build>`` with ``pids.max``, and
  ``<memory mount>/<own>/zuulish-node-<build>`` with
  ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes`` where swap
  accounting exists, so the node cannot swap past it);
- cgroup v2 (one unified hierarchy): ``<mount>/<own>/zuulish-node-<build>``
  with ``pids.max``, ``memory.max`` and ``memory.swap.max`` = 0; the
  controllers must be enabled for the executor's cgroup's children (its
  ``cgroup.subtree_control``), which the operator (or systemd's
  ``Delegate=yes``) arranges.

The node's launcher joins the cgroups (writes its pid to ``cgroup.procs``)
before it starts bubblewrap, so everything in the node is counted. When a
controller's cgroup cannot be made (not mounted, not writable: the executor
runs unprivileged without delegation), the node runs without that limit and
``NodeCgroup.missing`` says which; ``local_node`` then sets rlimits instead
(RLIMIT_AS per process for memory; there is no per-build process limit
without the pids controller).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "zuulish-node-"
KILL_PASSES = 200
RMDIR_TRIES = 500  # 5 seconds
STALE_SECONDS = 300.0


def _mounts() -> dict[str, Path]:
    """Controller (``pids``, ``memory``; ``unified`` for v2) -> its mount point,
    with the mount's root within its hierarchy as ``<controller>:root``."""
    found: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point, fstype, options = fields[3], Path(fields[4]), tail[0], tail[2]
        if fstype == "cgroup2":
            found.setdefault("unified", point)
            found.setdefault("unified:root", Path(root))
        elif fstype == "cgroup":
            for controller in ("pids", "memory"):
                if controller in options.split(","):
                    found.setdefault(controller, point)
                    found.setdefault(f"{controller}:root", Path(root))
    return found


def _own_paths() -> dict[str, str]:
    """Controller (``unified`` for v2's ``0::``) -> the executor's cgroup path."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        number, controllers, path = line.split(":", 2)
        if number == "0" and controllers == "":
            paths["unified"] = path
        for controller in controllers.split(","):
            paths[controller] = path
    return paths


def _place(mounts: dict[str, Path], own: dict[str, str], controller: str) -> Path | None:
    if controller not in mounts or controller not in own:
        return None
    root = str(mounts[f"{controller}:root"])
    path = own[controller]
    if root != "/" and path.startswith(root):
        path = path[len(root):]
    return mounts[controller] / path.lstrip("/")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


# Where each limit counts the times it was hit (cgroup v2, then v1), and the key.
LIMIT_EVENTS = {"pids": (("pids.events", "max"),),
                "memory": (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill"))}


@dataclass
class NodeCgroup:
    """The cgroups of one node: their directories, and the limits not applied."""

    directories: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "pids", "memory"

    @property
    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files the node's launcher writes its pid to."""
        return [str(d / "cgroup.procs") for d in self.directories]

    def limits_hit(self) -> list[str]:
        """The limits the node's processes ran into: "pids" (a fork refused at the
        limit), "memory" (a process killed for memory); read before ``remove``."""
        hit = []
        for name, files in LIMIT_EVENTS.items():
            for directory in self.directories:
                for file, key in files:
                    try:
                        text = (directory / file).read_text()
                    except OSError:
                        continue
                    counts = dict(line.split(None, 1) for line in text.splitlines()
                                  if " " in line)
                    if counts.get(key, "0").strip() != "0" and name not in hit:
                        hit.append(name)
        return hit

    def kill(self, passes: int = KILL_PASSES) -> None:
        """SIGKILL every process in the cgroups, until none is left (a process
        forking meanwhile is caught by the next pass) or after ``passes``."""
        for directory in self.directories:
            for _ in range(passes):
                try:
                    pids = [int(p) for p in (directory / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                live = [pid for pid in pids if _alive(pid)]
                if not live:
                    break  # (zombies wait for their parents, which are dying too)
                for pid in live:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.001)

    def remove(self) -> None:
        """Kill what is left and remove the cgroups (once it has exited)."""
        self.kill()
        for directory in self.directories:
            for _ in range(RMDIR_TRIES):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # processes still exiting
                    time.sleep(0.01)


def remove_stale(older_than: float = STALE_SECONDS) -> int:
    """Remove the empty node cgroups that nodes of a killed executor left (an
    rmdir fails on a cgroup with processes; young ones may be a node starting).
    Returns how many were removed."""
    mounts, own = _mounts(), _own_paths()
    removed = 0
    for controller in ("pids", "memory", "unified"):
        parent = _place(mounts, own, controller)
        if parent is None:
            continue
        for directory in parent.glob(f"{PREFIX}*"):
            try:
                if time.time() - directory.stat().st_mtime > older_than:
                    directory.rmdir()
                    removed += 1
            except OSError:
                continue
    return removed


def create(name: str, max_processes: int, memory_mb: int) -> NodeCgroup:
    """Make the cgroups of node ``name`` with its limits, where this host lets us."""
    mounts, own = _mounts(), _own_paths()
    group = NodeCgroup()
    memory = memory_mb * 1024 * 1024
    done: set[str] = set()
    for controller in ("pids", "memory"):
        parent = _place(mounts, own, controller)
        if parent is None:
            continue
        directory = parent / f"{PREFIX}{name}"
        try:
            directory.mkdir(exist_ok=True)
        except OSError:
            continue
        if controller == "pids":
            ok = _write(directory / "pids.max", str(max_processes))
        else:
            ok = _write(directory / "memory.limit_in_bytes", str(memory))
            if (directory / "memory.memsw.limit_in_bytes").exists():
                _write(directory / "memory.memsw.limit_in_bytes", str(memory))
        if ok:
            group.directories.append(directory)
            done.add(controller)
        else:
            with contextlib.suppress(OSError):
                directory.rmdir()
    wanted = [c for c in ("pids", "memory") if c not in done]
    parent = _place(mounts, own, "unified")
    if wanted and parent is not None:
        try:
            enabled = (parent / "cgroup.subtree_control").read_text().split()
        except OSError:
            enabled = []
        usable = [c for c in wanted if c in enabled]
        if usable:
            directory = parent / f"{PREFIX}{name}"
            try:
                directory.mkdir(exist_ok=True)
                if "pids" in usable and _write(directory / "pids.max", str(max_processes)):
                    done.add("pids")
                if "memory" in usable and _write(directory / "memory.max", str(memory)):
                    _write(directory / "memory.swap.max", "0")
                    done.add("memory")
                group.directories.append(directory)
            except OSError:
                pass
    group.missing = [c for c in ("pids", "memory") if c not in done]
    return group
