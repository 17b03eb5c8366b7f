"""The live console of command and shell tasks: their output while they run.

Ansible reports a task's output only in its result, when the task ends. For
``command`` and ``shell`` tasks (also as ``ansible.builtin.*``), zuulish's
module (``ansible_plugins/library/command.py``, given a log id by zuulish's
actions) writes each line the command prints to a console file on the node as it
is printed: ``<console dir>/<task uuid>-<host key>-<n>.log``. While such a task
runs on a host, the executor follows that host's files of the task and writes
each line to ``job-output.txt`` as ``<host> | <line>`` (masked and size-bounded
by the job log, as every line is), within about ``POLL_SECONDS``. The follower
opens console files without following links, reads regular files only, and
stops following one past ``console_follow.MAX_FILE_BYTES`` (a line says so):

- local-provider nodes (``zuulish_local``): the console dir is
  ``<work dir>/.zuulish-console``, which both the executor and a sandboxed
  playbook see; a thread reads it (``console_follow.Follower``);
- SSH nodes: the console dir is ``.zuulish-console/<run id>`` in the login
  directory; a task that runs longer than ``SSH_START_DELAY`` gets a follower
  (``console_follow.py`` as a program) over ``ssh`` through the build's agent
  (no open port on the node), which prints the lines and ends when the executor
  closes its input (or the connection drops).

When the task's result comes the follower reads what is left and stops, and the
result's stdout/stderr is not written again if the task's output was streamed.
Console files are removed as the task ends (local) or when the playbook ends
(``close``: the local console dir, and one ``rm`` per SSH node that ran such
tasks). A host whose ``zuulish_console_dir`` is not set (localhost, other
connections) or a task that is delegated or asynchronous is not streamed: its
output comes with its result, as before.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shlex
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zuulish.executor import console_follow
from zuulish.executor.console_follow import Follower
from zuulish.executor.ssh import SshAccess

COMMAND_ACTIONS = frozenset({
    "command", "shell", "ansible.builtin.command", "ansible.builtin.shell",
    "ansible.legacy.command", "ansible.legacy.shell"})
CONSOLE_VAR = "zuulish_console_dir"
LOCAL_DIR = ".zuulish-console"
POLL_SECONDS = console_follow.POLL_SECONDS
SSH_START_DELAY = 0.5  # shorter tasks are not worth a connection: their result shows them
STOP_SECONDS = 10.0  # for a follower to hand over the last lines after its task ended
CLEANUP_SECONDS = 10.0
_FOLLOW_SOURCE = base64.b64encode(Path(console_follow.__file__).read_bytes()).decode()


def host_key(host: str) -> str:
    """A file-name-safe key for an inventory host name (as the action plugin's)."""
    return hashlib.sha1(host.encode("utf-8")).hexdigest()[:10]


def log_prefix(task_uuid: str, host: str) -> str:
    """The console files of ``task_uuid`` on ``host`` are ``<prefix>-<n>.log``."""
    return f"{task_uuid}-{host_key(host)}"


@dataclass(frozen=True)
class ConsolePlace:
    """Where a host's console files are and how to reach them."""

    directory: str  # absolute on the executor (local), relative to the login dir (SSH)
    ssh: list[str] | None = None  # the ssh command line up to the remote command
    python: str = "python3"


class _Tail:
    """Follows one task on one host, in a thread; ``stop`` when the task ended."""

    def __init__(self, write: Callable[[list[str]], None], place: ConsolePlace,
                 prefix: str, agent_env: dict[str, str]) -> None:
        self._write = write
        self.place = place
        self.prefix = prefix
        self._agent_env = agent_env
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self.streamed = False  # a console file of the task was found
        self.lines = 0
        self.complete = True  # False: the follower failed before the end
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"console-{prefix[:8]}")
        self._thread.start()

    def _emit(self, lines: list[bytes]) -> None:
        if lines:
            self.lines += len(lines)
            self._write([line.decode("utf-8", "replace") for line in lines])

    def _run(self) -> None:
        if self.place.ssh is None:
            self._follow_local()
        else:
            self._follow_ssh()

    def _follow_local(self) -> None:
        follower = Follower(self.place.directory, self.prefix)
        try:
            while not self._stop.wait(POLL_SECONDS):
                self._emit(follower.poll())
            self._emit(follower.poll(final=True))
        finally:
            self.streamed = bool(follower.opened)
            follower.close(remove=True)

    def _follow_ssh(self) -> None:
        if self._stop.wait(SSH_START_DELAY):
            return  # ended quickly: its result shows its output
        assert self.place.ssh is not None
        program = (f"{shlex.quote(self.place.python)} -c "
                   + shlex.quote(f"import base64;exec(base64.b64decode('{_FOLLOW_SOURCE}'))")
                   + f" {shlex.quote(self.place.directory)} {shlex.quote(self.prefix)}")
        with self._lock:
            if self._stop.is_set():
                return
            try:
                self._proc = subprocess.Popen(
                    [*self.place.ssh, program], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    env={**os.environ, **self._agent_env})
            except OSError:
                self.complete = False
                return
        proc = self._proc
        assert proc.stdout is not None
        pending = b""
        while True:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            *whole, pending = (pending + chunk).split(b"\n")
            lines = []
            for line in whole:
                if line.startswith(b"+"):
                    self.streamed = True
                elif line.startswith(b"|"):
                    lines.append(line[1:])
            self._emit(lines)
        proc.stdout.close()
        if proc.wait() != 0:
            self.complete = False

    def stop(self) -> None:
        """Read what is left and end the follower (waits up to ``STOP_SECONDS``)."""
        with self._lock:
            self._stop.set()
            if self._proc is not None and self._proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self._proc.stdin.close()  # the remote follower's cue to finish
        self._thread.join(STOP_SECONDS)
        if self._thread.is_alive():
            self.complete = False
            self.kill()
            self._thread.join(STOP_SECONDS)

    def kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


class ConsoleStreams:
    """The live consoles of one playbook run (see the module)."""

    def __init__(self, write: Callable[[str], None], places: dict[str, ConsolePlace],
                 ssh: SshAccess | None = None) -> None:
        self._write = write
        self.places = places
        self._agent_env = {"SSH_AUTH_SOCK": str(ssh.agent_socket)} if ssh else {}
        self._tails: dict[tuple[str, str], _Tail] = {}
        self._used: set[str] = set()  # hosts that ran a streamed task
        self._lock = threading.Lock()

    def _writer(self, host: str) -> Callable[[list[str]], None]:
        def write(lines: list[str]) -> None:
            self._write("\n".join(f"{host} | {line}" for line in lines))
        return write

    def task_started(self, host: str, task_uuid: str, action: str) -> None:
        place = self.places.get(host)
        if place is None or action not in COMMAND_ACTIONS:
            return
        tail = _Tail(self._writer(host), place, log_prefix(task_uuid, host), self._agent_env)
        with self._lock:
            self._used.add(host)
            old = self._tails.pop((host, task_uuid), None)
            self._tails[(host, task_uuid)] = tail
        if old is not None:
            old.stop()

    def task_ended(self, host: str, task_uuid: str) -> bool:
        """Stop following the task on ``host``; True when its output was streamed
        in full (its result's stdout and stderr need not be written again)."""
        with self._lock:
            tail = self._tails.pop((host, task_uuid), None)
        if tail is None:
            return False
        tail.stop()
        if tail.streamed and not tail.complete and tail.lines:
            self._write(f"{host} | [the live console stopped early; the task's whole "
                        "output follows]")
        return tail.streamed and tail.complete

    def close(self) -> None:
        """Stop every follower; remove the console files of the run."""
        with self._lock:
            tails, self._tails = list(self._tails.values()), {}
            used, self._used = set(self._used), set()
        for tail in tails:
            tail.stop()
        cleaners = []
        for host in sorted(used):
            place = self.places[host]
            if place.ssh is None:
                shutil.rmtree(place.directory, ignore_errors=True)
                continue
            parent = str(Path(place.directory).parent)
            script = (f"rm -rf {shlex.quote(place.directory)}; "
                      f"rmdir {shlex.quote(parent)} 2>/dev/null; true")
            with contextlib.suppress(OSError):
                cleaners.append(subprocess.Popen(
                    [*place.ssh, script], stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    env={**os.environ, **self._agent_env}))
        for proc in cleaners:
            try:
                proc.wait(timeout=CLEANUP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def console_places(inventory: dict[str, Any], run_id: str,
                   ssh: SshAccess | None) -> dict[str, ConsolePlace]:
    """Where each host's console files go, set as its ``zuulish_console_dir`` in
    ``inventory`` (changed in place): local-provider hosts with a work dir, and
    SSH hosts when the build has SSH access."""
    places: dict[str, ConsolePlace] = {}
    for group in inventory.values():
        if isinstance(group, dict):
            _visit(group, run_id, ssh, places)
    return places


def _visit(group: dict[str, Any], run_id: str, ssh: SshAccess | None,
           places: dict[str, ConsolePlace]) -> None:
    for host, host_vars in (group.get("hosts") or {}).items():
        if not isinstance(host_vars, dict):
            continue
        connection = host_vars.get("ansible_connection", "ssh")
        if connection == "zuulish_local" and host_vars.get("zuulish_work_dir"):
            directory = str(Path(str(host_vars["zuulish_work_dir"])) / LOCAL_DIR)
            places[host] = ConsolePlace(directory)
        elif connection == "ssh" and ssh is not None and host_vars.get("ansible_host"):
            python = str(host_vars.get("ansible_python_interpreter") or "python3")
            directory = f"{LOCAL_DIR}/{run_id}"
            places[host] = ConsolePlace(directory, ssh.command(host_vars),
                                        "python3" if python.startswith("auto") else python)
        else:
            continue
        host_vars[CONSOLE_VAR] = places[host].directory
    for child in (group.get("children") or {}).values():
        if isinstance(child, dict):
            _visit(child, run_id, ssh, places)
