"""What a build's trusted playbooks see, and the sandbox they are forked into warm.

Trusted playbooks (of config projects) run in bubblewrap as untrusted ones do
(``sandbox.py``), with the executor host's network (they reach remote nodes and
the services the executor may reach, as Zuul's trusted playbooks do), and see,
each at its own path:

- read-write: the build's directory ``<state>/builds/<id>/`` (``work/``, the
  ``trusted/`` and ``untrusted/`` checkouts, ``node/``), its log directory
  ``<state>/logs/<id>/`` (playbooks write ``zuul.executor.log_root``, which is
  ``work/logs`` as in Zuul, copied there when the build ends: ``build_logs``), the
  build's SSH directory (the agent's socket, ``known_hosts``
  and the connections' control sockets), and each of the operator's
  ``executor.trusted_rw_paths``;
- read-only: the build's ``ansible/`` (ansible-runner's data: inventory, extra
  vars, the launchers; read-only so that nothing in the sandbox can write what
  ansible-runner on the host reads as its settings, ``env/``), except its
  ``artifacts/`` (read-write: ansible-runner's callback writes each event
  there for the runner to read) and its ``facts/`` (read-write: the fact
  cache of the setup run and trusted playbooks, ``facts.py``; untrusted
  playbooks never see it), the git object stores
  the build's checkouts borrow from (``objects/info/alternates`` into the
  executor's repository cache: those repositories only), and each of the
  operator's ``executor.trusted_ro_paths``;
- not the rest of the state directory (the database, ``secrets.key``, project
  keys, other builds and their logs), nor ``/root`` or ``/home``.

A playbook started cold runs in a fresh sandbox of that view. A warm one is
forked by the executor's preloaded Ansible (``ansible_zygote``) into the
build's ``BuildSandbox``: one long-lived bubblewrap sandbox of the same view,
started for the build and ended with it (and with it every process left in
it). The zygote joins the sandbox's namespaces, enters its root and drops
every capability before the playbook starts, so what it forks sees exactly
what a cold start would, with the same ``/tmp`` and home for all the
build's trusted playbooks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from zuulish.executor import sandbox
from zuulish.executor.facts import FACTS_DIR
from zuulish.executor.sandbox import SandboxUnavailable, TrustedSpec
from zuulish.executor.sandbox_launch import read_info

START_SECONDS = 20.0
# The namespaces a sandbox may have of its own, joined in this order (the mount
# namespace last: after it, only the sandbox's files can be opened).
NAMESPACES = ("ipc", "uts", "net", "cgroup", "pid", "mnt")


def git_alternates(repos: list[Path], store: Path) -> list[Path]:
    """The object stores under ``store`` that the git repositories ``repos`` borrow
    objects from (their ``objects/info/alternates``); others are ignored."""
    found: list[Path] = []
    store = store.resolve()
    for repo in repos:
        listed = repo / ".git" / "objects" / "info" / "alternates"
        if listed.is_symlink() or not listed.is_file():
            continue
        for line in listed.read_text(errors="replace").splitlines():
            path = Path(line.strip())
            if path.is_absolute() and path.resolve().is_relative_to(store) and \
                    path.resolve() not in found:
                found.append(path.resolve())
    return found


@dataclass(frozen=True)
class BuildView:
    """The places of one build that its trusted playbooks see (module docstring)."""

    build_dir: Path
    log_dir: Path
    private_dir: Path  # ansible-runner's data dir (read-only in the sandbox)
    ssh_dir: Path | None = None
    read_only: tuple[Path, ...] = ()  # executor.trusted_ro_paths, git object stores
    read_write: tuple[Path, ...] = ()  # executor.trusted_rw_paths

    def spec(self) -> TrustedSpec:
        binds: list[tuple[Path, bool]] = [(self.build_dir, True), (self.log_dir, True)]
        if self.ssh_dir is not None:
            binds.append((self.ssh_dir, True))
        binds += [(p, True) for p in self.read_write]
        binds += [(p, False) for p in (*self.read_only, self.private_dir)]
        # ansible-runner's callback writes each event there for the runner to read
        binds.append((self.private_dir / "artifacts", True))
        # the build's trusted fact cache (facts.py): the setup's and trusted playbooks'
        binds.append((self.private_dir / FACTS_DIR, True))
        return TrustedSpec(tuple(binds))


class BuildSandbox:
    """A long-lived trusted sandbox for one build, which the zygote forks into.

    ``start`` runs ``bwrap`` (the view's arguments) around a shell that waits on
    its standard input; once the shell runs, the sandbox is set up, and the
    namespaces and root of bwrap's first process are opened (``handles``) for
    the zygote. ``stop`` closes that input: the sandbox's first process exits,
    and the kernel ends every process left in its PID namespace.
    """

    def __init__(self, spec: TrustedSpec):
        self.spec = spec
        self._proc: subprocess.Popen[bytes] | None = None
        self._info_r: int | None = None
        self.pid: int | None = None  # bwrap's first process in the sandbox (host pid)

    def start(self) -> None:
        self.launch()
        self.wait_started()

    def launch(self) -> None:
        """Start bwrap, without waiting for it (``wait_started``). bwrap dies with the
        thread that called this (``--die-with-parent``): a thread that lasts the build."""
        bwrap, _ = sandbox.tools("host", whose="trusted")
        shell = shutil.which("sh") or "/bin/sh"
        info_r, info_w = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [bwrap, "--info-fd", str(info_w), *sandbox.trusted_bwrap_args(self.spec),
                 "--", shell, "-c", "echo ready; exec cat >/dev/null"],
                pass_fds=(info_w,), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env={"PATH": "/usr/bin:/bin"}, start_new_session=True)
        except OSError:
            os.close(info_r)
            raise
        finally:
            os.close(info_w)
        self._info_r = info_r

    def wait_started(self) -> None:
        """Wait until the sandbox is set up; SandboxUnavailable when it failed."""
        assert self._proc is not None and self._info_r is not None
        try:
            info = read_info(self._info_r)
        finally:
            os.close(self._info_r)
            self._info_r = None
        assert self._proc.stdout is not None
        # bwrap says its pid before setting the sandbox up; the shell runs after.
        if info is None or self._proc.stdout.readline().strip() != b"ready":
            why = self._proc.stderr.read().decode(errors="replace").strip() \
                if self._proc.stderr is not None and self._proc.poll() is not None else ""
            self.stop()
            raise SandboxUnavailable(f"the trusted sandbox did not start: {why or 'no reason'}")
        self.pid = int(info["child-pid"])

    def handles(self) -> dict[str, int]:
        """Open descriptors of the sandbox's namespaces that differ from the caller's,
        and of its root (``root``); the caller closes them. Raises OSError when the
        sandbox is gone or is not one (its mount namespace or root is the host's)."""
        if self._proc is None or self._proc.poll() is not None or self.pid is None:
            raise OSError("the build's trusted sandbox is not running")
        fds: dict[str, int] = {}
        try:
            for name in NAMESPACES:
                fd = os.open(f"/proc/{self.pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
                if _same(os.fstat(fd), os.stat(f"/proc/self/ns/{name}")):
                    os.close(fd)
                    continue
                fds[name] = fd
            fds["root"] = os.open(f"/proc/{self.pid}/root",
                                  os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            # Still our child (not reaped, so its pid was not reused), and a sandbox.
            if self._proc.poll() is not None or "mnt" not in fds or "pid" not in fds or \
                    _same(os.fstat(fds["root"]), os.stat("/")):
                raise OSError("the build's trusted sandbox is not running")
        except OSError:
            for fd in fds.values():
                os.close(fd)
            raise
        return fds

    def stop(self) -> None:
        if self._info_r is not None:
            os.close(self._info_r)
            self._info_r = None
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
