"""What a killed executor left on its host: its builds' processes and directories.

A build's processes die with the executor that started them: each sandbox
launcher has itself killed when the executor thread that started it ends
(``sandbox_launch.die_with_starter``, SIGKILL of the executor included), bwrap
(``--die-with-parent``) and pasta follow their launcher, and every process a
playbook or task starts lives in a bubblewrap pid namespace, which ends with
its first process. The preloaded Ansible kills the playbooks it forked when the
executor's end of its control socket closes.

That covers the executor's death while it runs. Before an executor claims any
build it also makes sure that nothing of an earlier run on the same state
directory is alive (``kill``): every process whose command line names
``<state>/builds/`` (the sandbox launchers, bubblewrap, pasta, ansible-playbook
and the local nodes' agents all do), and whatever those started, gets SIGKILL
until none is left. A build never runs beside an earlier attempt of itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

KILL_SECONDS = 10.0


def _processes() -> dict[int, tuple[int, list[str]]]:
    """pid -> (parent pid, argv) of every live (not zombie) process we may read."""
    found: dict[int, tuple[int, list[str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if fields[0] != b"Z":
            found[int(entry.name)] = (int(fields[1]),
                                      [a.decode(errors="replace") for a in argv if a])
    return found


def _ancestors(procs: dict[int, tuple[int, list[str]]]) -> set[int]:
    """This process and its ancestors: never ours to kill."""
    mine, pid = set(), os.getpid()
    while pid > 0 and pid not in mine:
        mine.add(pid)
        pid = procs.get(pid, (0, []))[0]
    return mine


def find(builds_root: Path) -> dict[int, str]:
    """The live processes of builds under ``builds_root`` (those naming a path in it,
    and their descendants) -> their command lines."""
    procs = _processes()
    prefix = str(builds_root.absolute()).rstrip("/") + "/"
    spared = _ancestors(procs)
    todo = [pid for pid, (_, argv) in procs.items() if any(prefix in a for a in argv)]
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, str] = {}
    while todo:
        pid = todo.pop()
        if pid in found or pid in spared:
            continue
        found[pid] = " ".join(procs[pid][1])
        todo += children.get(pid, [])
    return found


def kill(builds_root: Path, timeout: float = KILL_SECONDS) -> dict[int, str]:
    """SIGKILL every process of a build under ``builds_root`` until none is left;
    returns those still alive after ``timeout`` (none, unless we may not kill them)."""
    deadline = time.monotonic() + timeout
    while True:
        left = find(builds_root)
        if not left or time.monotonic() > deadline:
            return left
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
