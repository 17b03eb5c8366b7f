"""Run one playbook with ansible-runner and write Zuul-style logs.

``job-output.txt`` gets every line of Ansible's output as it arrives
(timestamped, secrets masked, size-bounded), so a live stream can tail it;
``job-output.json`` gets one record per task result when the build ends (with
the task's ``start`` and ``end`` on the host, as ansible-runner's callback times them).

Working directory (what ansible-runner and Ansible do, as read and measured).
ansible-runner starts ``ansible-playbook`` in its ``project_dir`` when that
directory exists (``config/runner.py``: ``self.cwd = self.project_dir``), else in
the private data dir; it uses ``project_dir`` only to resolve a *relative*
playbook path, which we never pass. We hand ``cwd`` over as ``project_dir``, so
ansible-playbook and its workers run there. That is not enough for modules on an
``ansible_connection: local`` host: for the ``local`` transport Ansible sets the
connection's cwd to the task's basedir -- the playbook's (or role's) directory --
before every command (``plugins/action/__init__.py``,
``_low_level_execute_command``). Hence the ``zuulish_local`` connection
(``ansible_plugins/connection``): the local connection under another transport
name, starting commands in the host var ``zuulish_work_dir``. Local-provider
nodes use it; a ``zuulish_local`` host without ``zuulish_work_dir`` gets ``cwd``.
Then ``chdir: src/...`` resolves against the node's work dir, the way it resolves
against the home directory on a remote node. Hosts on plain ``local`` keep
Ansible's rule (the playbook's directory). ``directory_isolation_base_path`` is
not used: it copies the project dir.

Because ansible-playbook runs inside a job's work directory, an ``ansible.cfg``
written there by a job would be read by the next playbook; ``ANSIBLE_CONFIG``
points at an empty file shipped with zuulish to prevent that.

Trust. A trusted playbook (of a config project) runs in a bubblewrap sandbox
of the build's trusted view (``trusted_view.py``: the build's directories and
log directory, the operator's ``trusted_ro_paths`` / ``trusted_rw_paths``, the
host's network; never the rest of the state directory), forked warm by the
preloaded Ansible into the build's long-lived sandbox when there is one
(``preload``), else started cold in a sandbox of its own; its launcher lies in
the data dir, which the view holds read-only. Without ``bwrap`` it does not
run (ERROR), as an untrusted one does not. An untrusted
one runs in the bubblewrap sandbox (``sandbox.py``: only the work dir and a
fresh data dir of its own are writable, the executor's state is not visible)
with the refusing ``local`` connection first in its plugin path
(``ansible_plugins/untrusted``: tasks on localhost fail with "untrusted
playbooks may not run tasks on localhost"); one with Ansible plugin
directories of its own (``connection_plugins/`` beside it or in a role, which
could replace that connection) does not run (ERROR). It always starts
cold, in a sandbox of its own that does not see the trusted data dir
(``benchmarks/sandbox_overhead.py`` measures the cost). Its network is
``sandbox_network`` (``executor.sandbox_network``: ``private``, the default, a
namespace of its own connected by pasta; ``none``; ``host``). Without ``bwrap``,
or without ``pasta`` for a private network, an untrusted playbook does not run
at all (ERROR).

Local nodes. With ``node_socket`` (a build with a local node,
``local_node.LocalNode``), the ``zuulish_local`` connection of trusted and
untrusted playbooks alike sends every command and file to that node's agent
(``ZUULISH_NODE_SOCKET`` in the playbook's environment, which no job
variable can change); without it (tests that run a playbook directly), it is
Ansible's ``local`` connection, run where ansible-playbook runs.

``preload`` (from ``ansible_zygote.AnsibleZygote.playbook_env``) makes the
``ansible-playbook`` that ansible-runner starts for a trusted playbook a client
of the executor's preloaded Ansible, which forks a warm one into the build's
trusted sandbox instead of starting a cold one; it is used only when that
sandbox's view (``trusted``) holds the playbook and its roles.

Facts (``facts.py``). A build's facts are gathered once, before its first
playbook, into fact caches of the build's own (Ansible's ``jsonfile`` cache,
``gathering = smart``): a trusted playbook (and the setup run, phase
``setup``, whose tasks are not the job's: neither its first task nor
``job-output.json``) uses ``<data dir>/facts``, which the trusted view binds
read-write; an untrusted one a fresh copy in its own data dir, read back
afterwards for later untrusted playbooks only. ansible-runner's own fact
cache (in its artifacts) is not used; a run without ``facts`` (tests that run
a playbook directly) caches in memory.

Speed. On the executor host interpreter discovery runs a probe per host and
playbook, and it may pick a python that does not work (here a pyenv shim for a
python that is not installed: every module fails with "MODULE FAILURE"). Hosts
on a local connection therefore get ``ansible_python_interpreter`` set to
``sys.executable`` unless their inventory names one; remote nodes keep
``auto_silent``. Modules are pipelined (no temp files per task), facts are
gathered once per build (above), and cancellation is polled every 0.25 s
instead of ansible-runner's default 5 s. Closing ansible-runner's terminal after
the playbook has exited skips ptyprocess's idle 0.1 s (``pty_close``).
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import re
import shutil
import signal
import stat
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from zuulish.executor import (
    job_roles,
    masking,
    node_cgroup,
    pty_close,
    runner_guard,
    sandbox,
    sandbox_launch,
)
from zuulish.executor.ansible_plugins.untrusted import untrusted_guard
from zuulish.executor.ansible_zygote import REAL_ENV
from zuulish.executor.console import ConsoleStreams, console_places
from zuulish.executor.facts import FACTS_DIR, SETUP_PHASE, BuildFacts
from zuulish.executor.local_node import AGENT_SOURCE, NO_NODE
from zuulish.executor.local_node import SOCKET_ENV as NODE_SOCKET_ENV
from zuulish.executor.sandbox import SandboxUnavailable, TrustedSpec
from zuulish.executor.ssh import LOCAL_CONNECTIONS, SshAccess
from zuulish.executor.unsafe import InventoryDumper, write_extra_vars

# ansible-runner's terminal closes without ptyprocess's idle 0.1 s per playbook.
pty_close.install()
# ansible-runner's artifact files are read and written without following links.
runner_guard.install()

MASK = masking.MASK
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
POLL_SECONDS = 0.25  # how often ansible-runner asks whether to cancel
# ansible-runner drops a task's result from its event past this size; the job
# log has its own bound, so let results through up to a generous size.
MAX_EVENT_RES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ControllerLimits:
    """What an untrusted playbook's ansible-playbook (and every ``pipe`` lookup it
    runs) may use in its sandbox, so that it cannot exhaust the executor host."""

    max_processes: int = 512
    memory_mb: int = 2048
    tmp_mb: int = 256


CONTROLLER_LIMITS = ControllerLimits()
# The inventory's file name in a playbook's data dir, as Zuul names it: zuul-jobs'
# log-inventory role copies ``zuul.executor.inventory_file`` to ``zuul-info/``, where
# its other roles (and users) look for ``inventory.yaml``.
INVENTORY_FILE = "inventory.yaml"
# Tells zuul_return whose playbook runs it ("trusted" or "untrusted").
TRUST_ENV = "ZUULISH_PLAYBOOK_TRUST"
# Tells zuul_return the most bytes the build's result file may hold.
RETURNED_LIMIT_ENV = "ZUULISH_MAX_RETURNED_BYTES"

ANSIBLE_ENV = {
    "ANSIBLE_HOST_KEY_CHECKING": "False",
    "ANSIBLE_RETRY_FILES_ENABLED": "False",
    "ANSIBLE_NOCOLOR": "1",
    "ANSIBLE_FORCE_COLOR": "0",
    "ANSIBLE_LOCALHOST_WARNING": "False",
    "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
    "ANSIBLE_DEPRECATION_WARNINGS": "False",
    "ANSIBLE_SYSTEM_WARNINGS": "False",
    "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
    # facts are gathered once per build (facts.py) and cached; a play finds them there
    "ANSIBLE_GATHERING": "smart",
    "ANSIBLE_PIPELINING": "True",
    "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
    "ANSIBLE_CONNECTION_PLUGINS": str(Path(__file__).parent / "ansible_plugins" / "connection"),
    # zuul_return: an action on the executor, with a documentation stub as its module
    "ANSIBLE_ACTION_PLUGINS": str(Path(__file__).parent / "ansible_plugins" / "action"),
    "ANSIBLE_LIBRARY": str(Path(__file__).parent / "ansible_plugins" / "library"),
    # the live console: zuulish's command module and command/shell actions (above),
    # and a callback that routes ansible.builtin.command/shell tasks to them
    "ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).parent / "ansible_plugins" / "callback"),
    "PYTHONUNBUFFERED": "1",
    "MAX_EVENT_RES": str(MAX_EVENT_RES),
}

# An empty configuration: an ansible.cfg that a job writes into its work
# directory (where ansible-playbook runs) is never read.
EMPTY_CONFIG = Path(__file__).with_name("ansible.cfg")

# What a task's failure says when it broke one of zuulish's rules (the plugins'
# messages: the refusing local connection, the untrusted guard, zuulish_local).
# the rules untrusted playbooks break (the guards' "untrusted playbooks may not ...",
# "... may only ...") and the local node's
REFUSALS = (untrusted_guard.LOCALHOST, untrusted_guard.SHIPPED, "untrusted playbooks may ",
            "no local node in this build: zuulish_local tasks are refused")
RESULT_EVENTS = {"runner_on_ok": "ok", "runner_on_failed": "failed",
                 "runner_on_unreachable": "unreachable", "runner_on_skipped": "skipped"}
ERROR_WHERE = re.compile(r"The error appears to be in '(.+)': line (\d+), column (\d+)")
TASK_START_EVENTS = frozenset({"playbook_on_task_start", "runner_on_start"})


@dataclass
class PlaybookRun:
    """One playbook of a job, in the phase it belongs to."""

    playbook: Path
    phase: str  # pre-run | run | post-run | cleanup-run
    trusted: bool
    level: int = 0  # inheritance depth of the job that named it (0: the base job)
    extra_vars: dict[str, Any] = field(default_factory=dict)  # e.g. its job's secrets
    # what users are told: the path inside its project, and that project's commit
    path: str | None = None
    project: str | None = None
    commit: str | None = None
    # its job's roles (``job_roles``): on its roles path after the roles/ beside it
    roles: tuple[job_roles.RoleSource, ...] = ()
    # the directory its sandbox binds for it (default: its repository, sandbox.playbook_root)
    root: Path | None = None

    @property
    def playbook_root(self) -> Path:
        """What its sandbox binds, read-only, to hold it."""
        return self.root or sandbox.playbook_root(self.playbook)

    @property
    def name(self) -> str:
        """The playbook as users know it: its path in its repository (never the
        executor's own paths), else the file's path."""
        return self.path or str(self.playbook)

    @property
    def where(self) -> str:
        """``org/app at <commit>``: the repository (and commit) it is read from."""
        if self.project is None:
            return str(self.playbook.parent)
        return f"{self.project} at {self.commit[:12]}" if self.commit else self.project

    @property
    def not_found(self) -> str:
        """Why it cannot run when its file is missing."""
        return f"playbook {self.name} not found" + (f" in {self.where}" if self.project
                                                    else "")

    @property
    def label(self) -> str:
        """``playbooks/run.yaml in org/app at <commit>``."""
        return f"{self.name} in {self.where}" if self.project else self.name


@dataclass
class PhaseOutcome:
    """How one playbook ended.

    ``status`` is one of successful, failed, unreachable, timeout, error, canceled,
    killed (ended by a signal that neither the job nor a cancel or timeout sent:
    the executor host's doing, never the change's), not-loaded (Ansible could not
    load the playbook: a syntax error, a missing role, an unknown module).
    """

    phase: str
    playbook: str
    status: str
    rc: int
    message: str


def _mask_variants(secrets: Iterable[str]) -> list[str]:
    """Every form in which a secret may show up in the output, longest first
    (``masking.variants``: encodings, cases, lines of a multi-line secret)."""
    return masking.variants(secrets)


class JobLog:
    """``job-output.txt`` and ``job-output.json`` of one build (thread-safe)."""

    def __init__(self, log_dir: Path, secrets: Iterable[str] = (),
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.log_dir / "job-output.txt"
        self.json_path = self.log_dir / "job-output.json"
        self._file = _open_log(self.path)
        self._secrets = [s for s in secrets if s]
        self._masker = masking.Masker(self._secrets)
        self._lock = threading.Lock()
        self.max_bytes = max_bytes
        self._written = os.fstat(self._file.fileno()).st_size  # a retried build appends
        self.truncated = self._written >= max_bytes
        self.tasks: list[dict[str, Any]] = []
        self.first_task_started: float | None = None  # time.time() of the first task

    def mask(self, text: str) -> str:
        """``text`` with every secret (in each form ``masking`` knows) replaced by
        ``******``."""
        return self._masker.mask(text)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Mask ``secrets`` too, in everything written from now on."""
        new = [s for s in secrets if s and s not in self._secrets]
        if new:
            with self._lock:
                self._secrets += new
                self._masker = masking.Masker(self._secrets)

    def mask_data(self, value: Any) -> Any:
        """``value`` (JSON-like data) with every secret in its strings masked."""
        return self._mask_value(value)

    def _mask_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self._mask_value(k): self._mask_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._mask_value(v) for v in value]
        return value

    def write(self, text: str) -> None:
        """Append ``text``, one timestamped line per line; flushed at once."""
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
        lines = self.mask(text).splitlines() or [""]
        with self._lock:
            if self.truncated or self._file.closed:
                return
            for line in lines:
                entry = f"{stamp} | {line}\n".encode("utf-8", "replace")
                if self._written + len(entry) > self.max_bytes:
                    note = f"[log truncated: output exceeded {self.max_bytes} bytes]"
                    self._file.write(f"{stamp} | {note}\n".encode())
                    self.truncated = True
                    break
                self._file.write(entry)
                self._written += len(entry)
            self._file.flush()

    def task_started(self) -> None:
        """Note the time the first task of the build started (once)."""
        with self._lock:
            if self.first_task_started is None:
                self.first_task_started = time.time()

    def record_task(self, record: dict[str, Any]) -> None:
        """Add one task result to ``job-output.json`` (masked)."""
        masked = self._mask_value(record)
        with self._lock:
            self.tasks.append(masked)

    def close(self) -> None:
        """Close ``job-output.txt`` and write ``job-output.json``."""
        with self._lock:
            if not self._file.closed:
                self._file.close()
            tasks = list(self.tasks)
        # written beside and renamed over: a link planted in its place is replaced
        tmp = self.json_path.with_name(f".{self.json_path.name}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(tasks, indent=2, default=str))
        os.replace(tmp, self.json_path)


def _open_log(path: Path) -> Any:
    """``path`` opened to append, never through a link or into a non-regular file
    (the log dir holds what post-run playbooks copied there: such a thing in the
    log's place is removed and the log started again)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise IsADirectoryError(path)
    except OSError:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        fd = os.open(path, flags | os.O_EXCL, 0o644)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "ab")


def _task_record(kind: str, phase: str, playbook: str, data: dict[str, Any],
                 action: str | None = None) -> dict[str, Any]:
    res = data.get("res") or {}
    status = RESULT_EVENTS[kind]
    if kind == "runner_on_failed" and data.get("ignore_errors"):
        status = "failed (ignored)"
    return {
        "phase": phase, "playbook": playbook, "play": data.get("play"),
        "host": data.get("host"),
        "task": data.get("task"), "action": action or data.get("task_action"), "result": status,
        "changed": bool(res.get("changed", False)), "duration": data.get("duration"),
        "start": data.get("start"), "end": data.get("end"),  # ISO 8601, UTC, Ansible's clock
        "rc": res.get("rc"), "stdout": res.get("stdout", ""), "stderr": res.get("stderr", ""),
        "msg": res.get("msg", ""),
    }


UNKNOWN_MODULE = re.compile(r"couldn't resolve module/action '([^']+)'")
ROLE_PATH = re.compile(r"(?:^|/)roles/([^/]+)/(.+)$")


def _note_error(stdout: str, seen: dict[str, Any]) -> None:
    """Keep Ansible's first error line, and where it says the error is."""
    for line in stdout.splitlines():
        if "error" not in seen and line.startswith(("ERROR!", "[ERROR]")):
            unknown = UNKNOWN_MODULE.search(line)
            seen["error"] = ("ERROR! YAML syntax error" if "either as JSON nor YAML" in line
                             else f"module '{unknown[1]}' is not provided by zuulish or the "
                             "Ansible collections it installs" if unknown
                             else line)
        where = ERROR_WHERE.match(line)
        if where and "where" not in seen:
            seen["where"] = f"{where[1]}:{where[2]}:{where[3]}"


def _where_for_users(where: str, run: PlaybookRun) -> str:
    """``at FILE:LINE:COLUMN`` as users know the file: ``<project>/<path in it>`` for
    the playbook's repository and its roles' (not the executor's paths), with the role
    it belongs to named."""
    path, _, position = where.rpartition(":")
    path, _, line = path.rpartition(":")
    known = [(s.repo, s.project) for s in run.roles]
    if run.project is not None:
        known.insert(0, (sandbox.playbook_root(run.playbook), run.project))
    shown = job_roles.shown_location(path, known)
    role = ROLE_PATH.search(shown)
    if role is not None:
        return f"in role '{role[1]}': {shown} line {line}, column {position}"
    return f"at {shown}:{line}:{position}"


def _note_refusal(kind: str, data: dict[str, Any], seen: dict[str, Any]) -> None:
    """Keep the first failed task's message that states one of zuulish's rules
    (``REFUSALS``), for the build's message."""
    if kind != "runner_on_failed" or data.get("ignore_errors") or "refused" in seen:
        return
    res = data.get("res") or {}
    for said in (res.get("msg"), res.get("reason")):  # (a failed include: its reason)
        for line in said.splitlines() if isinstance(said, str) else ():
            if line.startswith(REFUSALS):
                seen["refused"] = line[:500]
                return


def _event_handler(log: JobLog, run: PlaybookRun, seen: dict[str, Any],
                   consoles: ConsoleStreams) -> Callable[[dict[str, Any]], bool]:
    actions: dict[str, str] = {}  # task uuid -> its action as written

    def handle(event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        setup = run.phase == SETUP_PHASE  # not a task of the job's
        if kind in TASK_START_EVENTS:
            seen["task"] = True
            if not setup:
                log.task_started()
        if kind == "playbook_on_task_start" and data.get("task_uuid"):
            # sent before zuulish_console renames ansible.builtin.command/shell
            actions.setdefault(str(data["task_uuid"]), str(data.get("task_action")))
        stdout = event.get("stdout")
        if stdout:
            log.write(stdout)
            _note_error(stdout, seen)
        if kind == "runner_on_start":
            consoles.task_started(str(data.get("host")), str(data.get("task_uuid")),
                                  str(data.get("task_action")))
        if kind in RESULT_EVENTS:
            if kind == "runner_on_unreachable":
                seen["unreachable"] = True
            res = data.get("res") or {}
            streamed = consoles.task_ended(str(data.get("host")), str(data.get("task_uuid")))
            for stream in ("stdout", "stderr"):  # the default callback shows neither
                text = res.get(stream)
                if isinstance(text, str) and text and not streamed:
                    host = data.get("host")
                    log.write("\n".join(f"{host} | {line}" for line in text.splitlines()))
            _note_refusal(kind, data, seen)
            if not setup:
                log.record_task(_task_record(kind, run.phase, run.label, data,
                                             actions.get(str(data.get("task_uuid")))))
        return False  # no job_events/ files: unmasked copies and disk I/O we don't need

    return handle


def _for_local_hosts(inventory: dict[str, Any], cwd: Path | None) -> dict[str, Any]:
    """A copy of ``inventory`` where local-connection hosts use this python, and
    ``zuulish_local`` hosts without a work dir get ``cwd``."""
    inv = copy.deepcopy(inventory)

    def visit(group: dict[str, Any]) -> None:
        for host_vars in (group.get("hosts") or {}).values():
            if not isinstance(host_vars, dict):
                continue
            connection = host_vars.get("ansible_connection")
            if connection in LOCAL_CONNECTIONS:
                host_vars.setdefault("ansible_python_interpreter", sys.executable)
            if connection == "zuulish_local" and cwd is not None:
                host_vars.setdefault("zuulish_work_dir", str(cwd.absolute()))
        for child in (group.get("children") or {}).values():
            if isinstance(child, dict):
                visit(child)

    for group in inv.values():
        if isinstance(group, dict):
            visit(group)
    return inv


def ansible_env(roles_path: list[Path] | None = None) -> dict[str, str]:
    """The environment ansible-playbook runs with."""
    bin_dir = Path(sys.executable).parent
    env = {**ANSIBLE_ENV, "ANSIBLE_CONFIG": str(EMPTY_CONFIG),
           "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])}
    if roles_path:
        env["ANSIBLE_ROLES_PATH"] = os.pathsep.join(str(p) for p in roles_path)
    return env


def _sandboxed(private_dir: Path, run: PlaybookRun, cwd: Path | None,
               roles_path: list[Path], env: dict[str, str],
               ssh_dir: Path | None = None,
               network: str = sandbox.DEFAULT_NETWORK,
               node_dir: Path | None = None
               ) -> tuple[Path, dict[str, str], node_cgroup.NodeCgroup]:
    """The data dir, environment and cgroups that run ``run`` in the bubblewrap
    sandbox (the caller removes the cgroups once it has run).

    Each untrusted run gets a fresh data dir (under ``private_dir/untrusted``), so
    it never sees the inventory, extra vars or events of another playbook (a
    trusted one's secrets, say); only that dir and the work dir are writable.
    ansible-playbook and all it starts there (a ``pipe`` lookup, say) run with
    ``CONTROLLER_LIMITS``: processes and memory (a cgroup, else RLIMIT_AS for
    memory) and the size of its ``/tmp``.
    """
    base = private_dir / "untrusted"
    base.mkdir(parents=True, exist_ok=True)
    number = sum(1 for p in base.iterdir() if p.name.startswith("run-")) + 1
    run_dir = base / f"run-{number}"
    run_dir.mkdir()
    spec = sandbox.SandboxSpec(work_dir=cwd or run_dir, run_dir=run_dir,
                               read_only=(run.playbook_root, *roles_path,
                                          *([ssh_dir] if ssh_dir is not None else []),
                                          # the local node's agent socket, to connect to,
                                          # and the client the connection loads
                                          *([node_dir, AGENT_SOURCE] if node_dir is not None
                                            else [])),
                               cwd=cwd or run_dir, network=network,
                               tmp_size=CONTROLLER_LIMITS.tmp_mb * 1024 * 1024)
    program = _guarded_playbook(run_dir)
    env = {**env, **sandbox.untrusted_env(env, spec.work_dir,
                                          [run.playbook_root, *roles_path])}
    group = node_cgroup.create(f"play-{uuid.uuid4().hex}", CONTROLLER_LIMITS.max_processes,
                               CONTROLLER_LIMITS.memory_mb)
    rlimits = {"CORE": 0}
    if "memory" in group.missing:
        rlimits["AS"] = CONTROLLER_LIMITS.memory_mb * 1024 * 1024
    # the executor's own ANSIBLE_* (and like) variables, which ansible-runner passes
    # on, do not reach an untrusted playbook (a vault token, say)
    hidden = {k: sandbox_launch.digest(v) for k, v in os.environ.items()
              if k.startswith(sandbox_launch.KEEP_PREFIXES) and env.get(k) != v}
    try:
        env.update(sandbox.prepare(spec, base / f"launch-{number}", program, env["PATH"],
                                   {"cgroups": group.procs_files, "rlimits": rlimits,
                                    "hidden_env": hidden}))
    except BaseException:
        group.remove()
        raise
    return run_dir, env, group


def _guarded_playbook(run_dir: Path) -> list[str]:
    """A program that runs ansible-playbook with ``untrusted_guard`` installed first
    (written in the run's data dir, which the sandbox sees; it is read once, at the
    start, before anything of the playbook runs): the interpreter and the script it
    reads, so that the freshly written script is never executed itself (ETXTBSY)."""
    wrapper = run_dir / "zuulish-ansible-playbook"
    wrapper.write_text(
        f"#!{sys.executable} -I\n"
        "import sys\n"
        f"sys.path.insert(0, {str(sandbox.UNTRUSTED_GUARD.parent)!r})\n"
        "import untrusted_guard\n"
        "untrusted_guard.install()\n"
        "del sys.path[0]\n"
        "from ansible.cli.playbook import main\n"
        "sys.argv[0] = 'ansible-playbook'\n"
        "sys.exit(main())\n")
    wrapper.chmod(0o644)
    return [sys.executable, "-I", str(wrapper)]


def trusted_spec(private_dir: Path, cwd: Path | None, log_dir: Path,
                 ssh: SshAccess | None, node_dir: Path | None = None) -> TrustedSpec:
    """The view of a trusted playbook when the caller names none: the work dir,
    the log dir and the SSH directory read-write, the data dir and the local
    node's agent directory read-only (but the data dir's ``artifacts`` and, when
    there is one, ``facts``: the trusted fact cache)."""
    (private_dir / "artifacts").mkdir(parents=True, exist_ok=True)  # (bound if it exists)
    binds: list[tuple[Path, bool]] = [(log_dir, True)]
    if node_dir is not None:
        binds.append((node_dir, False))
    if cwd is not None:
        binds.append((cwd, True))
    if ssh is not None:
        binds.append((ssh.directory, True))
    return TrustedSpec((*binds, (private_dir, False), (private_dir / "artifacts", True),
                        (private_dir / FACTS_DIR, True)))


def _trusted_sandboxed(private_dir: Path, run: PlaybookRun, cwd: Path | None,
                       roles_path: list[Path], env: dict[str, str], view: TrustedSpec,
                       preload: dict[str, str] | None) -> dict[str, str]:
    """The environment that runs trusted ``run`` in its sandbox: forked warm into
    the build's sandbox (``preload``) when its view holds the playbook and roles,
    else started cold in a sandbox of the view (plus those, read-only)."""
    (private_dir / "artifacts").mkdir(parents=True, exist_ok=True)
    needed = [run.playbook_root, *roles_path, private_dir]
    missing = tuple((p, False) for p in needed if not view.covers(p))
    if not view.covers(private_dir):  # ansible-runner's callback writes events there
        missing += ((private_dir / "artifacts", True),)
    spec = TrustedSpec((*view.binds, *missing), cwd=cwd or private_dir)
    base = private_dir / "trusted"
    base.mkdir(parents=True, exist_ok=True)
    launch_dir = base / f"launch-{uuid.uuid4().hex[:12]}"
    env = {**env, **sandbox.prepare_trusted(spec, launch_dir, _ansible_playbook(), env["PATH"])}
    if preload and not missing:
        env.update({k: v for k, v in preload.items() if k != "PATH"})
        env[REAL_ENV] = str(launch_dir / "bin" / "ansible-playbook")
        env["PATH"] = os.pathsep.join([preload["PATH"], env["PATH"]])
    return env


def killed_by(rc: int | None) -> str | None:
    """The signal that ended ansible-playbook, from its exit status as ansible-runner
    gives it (None: it ended by a signal, not known which; -N; or 128+N, as bwrap, the
    sandbox launcher and the preloaded Ansible report a sandboxed one killed by
    signal N), as ``signal 9 (SIGKILL)``; None when it exited by itself (its own
    statuses are below 128, and 250 or 255)."""
    if rc is None:
        return "a signal"
    number = -rc if rc < 0 else rc - 128 if 128 < rc < 128 + signal.NSIG else None
    if number is None:
        return None
    try:
        return f"signal {number} ({signal.Signals(number).name})"
    except ValueError:
        return f"signal {number}"


def _ansible_playbook() -> str:
    return shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) \
        or shutil.which("ansible-playbook") or "ansible-playbook"


def run_playbook(private_dir: Path, run: PlaybookRun, inventory: dict[str, Any],
                 extra_vars: dict[str, Any], log: JobLog, timeout: float | None,
                 cancel: threading.Event | None, cwd: Path | None,
                 roles_path: list[Path] | None = None,
                 preload: dict[str, str] | None = None,
                 ssh: SshAccess | None = None,
                 sandbox_network: str = sandbox.DEFAULT_NETWORK,
                 returned_limit: int | None = None,
                 trusted: TrustedSpec | None = None,
                 node_socket: Path | None = None,
                 facts: BuildFacts | None = None) -> PhaseOutcome:
    """Run one playbook; never raises for a problem with the playbook itself.

    ``ssh`` (the build's agent and known hosts) is how it reaches remote nodes;
    ``sandbox_network`` the network of an untrusted one's sandbox;
    ``returned_limit`` the most bytes its ``zuul_return`` data may grow to; ``trusted``
    what a trusted one sees (``trusted_spec``'s view when None), and ``preload``
    how it is forked warm into the build's sandbox of that view; ``node_socket``
    the agent of the build's local node (``local_node.py``), which the
    ``zuulish_local`` connection then uses; ``facts`` the build's fact caches
    (``facts.BuildFacts``: a trusted playbook uses the trusted cache, an untrusted
    one a fresh copy of what untrusted playbooks may see; without it, each playbook
    has an empty cache in memory).

    ``timeout`` (seconds) ends it as "timeout", setting ``cancel`` as "canceled";
    either stops ansible-playbook (its whole process group) within about a second.
    """
    name = run.label
    log.write(f"{run.phase.upper()} {'(trusted) ' if run.trusted else ''}{name}")
    if not run.playbook.is_file():
        message = run.not_found
        log.write(f"ERROR: {message}")
        return PhaseOutcome(run.phase, name, "error", -1, message)
    if cwd is not None and not cwd.is_dir():
        message = f"work directory {cwd} does not exist"
        log.write(f"ERROR: {message}")
        return PhaseOutcome(run.phase, name, "error", -1, message)
    private_dir = private_dir.absolute()
    env = ansible_env(roles_path)
    if ssh is not None:
        env.update(ssh.env(run.trusted))
    # zuul_return reads it: an untrusted playbook may return only files of the work dir
    env[TRUST_ENV] = "trusted" if run.trusted else "untrusted"
    if returned_limit is not None:
        env[RETURNED_LIMIT_ENV] = str(returned_limit)
    if node_socket is not None:  # (NO_NODE: zuulish_local refuses its tasks)
        env[NODE_SOCKET_ENV] = str(node_socket.absolute())
    limited: node_cgroup.NodeCgroup | None = None  # an untrusted run's cgroups
    if not run.trusted:  # in bubblewrap, with a data dir of its own, started cold
        shipped = sandbox.shipped_plugins(run.playbook, roles_path or [])
        if shipped:
            root = sandbox.playbook_root(run.playbook)  # named in it, not on the executor
            found = shipped[0].relative_to(root) if shipped[0].is_relative_to(root) \
                else job_roles.shown_location(str(shipped[0]),
                                              [(r.repo, r.project) for r in run.roles])
            message = (f"untrusted playbooks may not ship Ansible plugins: {found} "
                       f"(used by {name})")
            log.write(f"ERROR: {message}")
            return PhaseOutcome(run.phase, name, "error", -1, message)
        try:
            private_dir, env, limited = _sandboxed(private_dir, run, cwd, roles_path or [], env,
                                          ssh.directory if ssh is not None else None,
                                          sandbox_network,
                                          node_socket.parent
                                          if node_socket not in (None, NO_NODE) else None)
        except SandboxUnavailable as exc:
            log.write(f"ERROR: {exc}")
            return PhaseOutcome(run.phase, name, "error", -1, str(exc))
        if facts is not None:  # a fresh cache in its own data dir
            env.update(facts.untrusted_env(private_dir))
    else:  # in bubblewrap too, in the build's trusted view
        if facts is not None:
            env.update(facts.trusted_env())
        try:
            env = _trusted_sandboxed(
                private_dir, run, cwd, roles_path or [], env,
                trusted or trusted_spec(
                    private_dir, cwd, log.log_dir, ssh,
                    node_socket.parent if node_socket not in (None, NO_NODE) else None), preload)
        except SandboxUnavailable as exc:
            log.write(f"ERROR: {exc}")
            return PhaseOutcome(run.phase, name, "error", -1, str(exc))
    (private_dir / "inventory").mkdir(parents=True, exist_ok=True)
    inv_file = private_dir / "inventory" / INVENTORY_FILE
    prepared = _for_local_hosts(inventory, cwd)
    consoles = ConsoleStreams(log.write, console_places(prepared, uuid.uuid4().hex[:12], ssh),
                              ssh)
    inv_file.write_text(yaml.dump(prepared, Dumper=InventoryDumper, default_flow_style=False))
    write_extra_vars(private_dir, {**extra_vars, **run.extra_vars})  # keeps !unsafe
    seen: dict[str, Any] = {}
    deadline = time.monotonic() + timeout if timeout is not None else None
    timed_out = threading.Event()

    def should_cancel() -> bool:
        if cancel is not None and cancel.is_set():
            return True
        if deadline is not None and time.monotonic() > deadline:
            timed_out.set()
            return True
        return False

    try:
        runner = ansible_runner.run(
            private_data_dir=str(private_dir), playbook=str(run.playbook.absolute()),
            inventory=str(inv_file),
            envvars=env, quiet=True,
            project_dir=str(cwd.absolute()) if cwd else None, rotate_artifacts=1,
            event_handler=_event_handler(log, run, seen, consoles),
            cancel_callback=should_cancel,
            settings={"suppress_ansible_output": True, "job_timeout": 0,
                      "pexpect_timeout": POLL_SECONDS},
            fact_cache_type="memory",
            # nothing kept in env/ (envvars, settings): ansible-runner would give the
            # next playbook of the same data dir this one's environment and roles path
            suppress_env_files=True,
        )
    finally:
        consoles.close()
        if limited is not None:
            limited.remove()  # (anything left in the sandbox's cgroups is killed)
        if facts is not None and run.trusted:
            facts.after_trusted()
        elif facts is not None:
            for refusal in facts.after_untrusted(private_dir):
                log.write(refusal)
    rc = runner.rc if runner.rc is not None else -1
    status = runner.status
    if timed_out.is_set():
        status, message = "timeout", f"{run.phase} {name} timed out after {timeout:g}s"
    elif status == "canceled":
        message = f"{run.phase} {name} canceled"
    elif status == "successful":
        message = ""
    elif killed_by(runner.rc) is not None:
        status = "killed"
        message = f"{run.phase} playbook {name} was killed by {killed_by(runner.rc)}, not by " \
                  "the job"
    elif seen.get("unreachable"):
        status, message = "unreachable", f"a node was unreachable in {run.phase} {name}"
    elif not seen.get("task"):
        detail = seen.get("error") or f"ansible-playbook exited with {rc}; see the log"
        detail = job_roles.explain_missing_role(
            detail, [p for p in roles_path or [] if all(p != r.path for r in run.roles)],
            run.roles, f"roles/ beside the playbook in {run.where}")
        if "where" in seen:
            detail += f" ({_where_for_users(seen['where'], run)})"
        # Ansible said why it could not load the playbook (syntax, a missing role, an
        # unknown module): the playbook's fault, judged by its phase as Zuul does
        status = "not-loaded" if seen.get("error") and sandbox_launch.NETWORK_FAILED \
            not in seen["error"] else "error"
        message = f"{run.phase} {name} could not run: {detail}"
    else:
        status, message = "failed", f"{run.phase} playbook {name} failed"
        if "refused" in seen:
            message += f": {seen['refused']}"
    if message:
        log.write(message)
    return PhaseOutcome(run.phase, name, status, rc, log.mask(message))
