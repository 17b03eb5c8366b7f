"""A preloaded Ansible: fork a warm ``ansible-playbook`` instead of starting a cold one.

A cold ``ansible-playbook`` spends about a second before its first task
(imports, then parsing the documentation of every plugin it loads) and does
it again for every playbook of every build. The zygote is one process that
pays that once: it imports Ansible and runs a warm-up playbook on a local
host, then forks a child for each playbook that ansible-runner starts. The
child re-reads Ansible's settings from the build's environment, takes the
build's terminal, working directory and arguments, and runs
``ansible-playbook``'s own entry point. ansible-runner still starts, watches,
times out and cancels "ansible-playbook" as usual: what it starts is
``zygote_client.py`` under that name, first on ``PATH``.

Isolation between builds is by process: every child is forked from the same
warmed state and never from another build, gets its own session (process
group), its own Ansible local temp directory (seeded with links to the
warm-up's module cache) and fresh inter-process locks. A child whose client
disappears (ansible-runner kills clients with SIGKILL) is killed with its
whole group. The zygote serves only builds whose import-time Ansible settings
(plugin paths, config file, collections) equal its own; anything else runs
the real ``ansible-playbook``, as it does when the zygote is not running.

The zygote is single-threaded (it forks, so no other thread may hold a lock),
exits when the executor that started it closes its control pipe, and is
started with ``python -m zuulish.executor.ansible_zygote SOCKET``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CLIENT_SOURCE = Path(__file__).with_name("zygote_client.py")
SOCKET_ENV = "ZUULISH_ANSIBLE_ZYGOTE"
REAL_ENV = "ZUULISH_REAL_ANSIBLE_PLAYBOOK"
SERVED_ENV = "ZUULISH_PRELOADED_ANSIBLE"
START_TIMEOUT = 60.0
RESTART_SECONDS = 60.0  # at most one restart a minute after a crash
# Settings Ansible reads while a playbook runs, which may differ per build;
# every other ANSIBLE_* variable must equal the zygote's own.
RUNTIME_SETTINGS = frozenset({
    "ANSIBLE_CALLBACK_PLUGINS",  # ansible-runner's callback directory is added per child
    "ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_LOAD_CALLBACK_PLUGINS", "ANSIBLE_RETRY_FILES_ENABLED",
    "ANSIBLE_HOST_KEY_CHECKING", "ANSIBLE_CACHE_PLUGIN", "ANSIBLE_CACHE_PLUGIN_CONNECTION",
    "ANSIBLE_ROLES_PATH", "ANSIBLE_UNSAFE_WRITES",
    # ssh connection options, read by the plugin as each task connects
    "ANSIBLE_SSH_ARGS", "ANSIBLE_SSH_CONTROL_PATH_DIR",
})
WARM_UP_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.command: "true"
      changed_when: false
    - ansible.builtin.shell: "true"
      changed_when: false
    - ansible.builtin.set_fact:
        warm: true
    - ansible.builtin.debug:
        msg: warm
"""


def _import_time_settings(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items()
            if k.startswith("ANSIBLE_") and k not in RUNTIME_SETTINGS}


def _mismatch(own: dict[str, str], env: dict[str, str]) -> str | None:
    theirs = _import_time_settings(env)
    for key in sorted(set(own) | set(theirs)):
        if own.get(key) != theirs.get(key):
            return f"{key} differs from the preloaded Ansible's"
    return None


# ------------------------------------------------------------------ warm-up
def _warm_up(work: Path) -> None:
    """Run a small playbook in this process, so imports and plugin docs are loaded."""
    from ansible.cli.playbook import PlaybookCLI

    inventory = work / "hosts.yaml"
    inventory.write_text(json.dumps({"all": {"hosts": {"warm": {
        "ansible_connection": "zuulish_local", "zuulish_work_dir": str(work),
        "ansible_python_interpreter": sys.executable}}}}))
    playbook = work / "warm-up.yaml"
    playbook.write_text(WARM_UP_PLAYBOOK)
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        PlaybookCLI.cli_executor(["ansible-playbook", "-i", str(inventory), str(playbook)])
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"the warm-up playbook failed with {exc.code}") from None
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


# -------------------------------------------------------------------- child
def _refresh_ansible(local_tmp: Path) -> None:
    """Re-read Ansible's settings from this build's environment (in the child)."""
    import warnings

    from ansible import constants
    from ansible.executor import action_write_locks
    from ansible.plugins.loader import callback_loader
    from ansible.utils.context_objects import GlobalCLIArgs
    from ansible.utils.multiprocessing import context

    GlobalCLIArgs._Singleton__instance = None  # type: ignore[attr-defined]  # warm-up's args
    warnings.filterwarnings("ignore", message="AnsibleCollectionFinder has already")
    warm_tmp = Path(constants.DEFAULT_LOCAL_TMP)
    for setting in constants.config.get_configuration_definitions():
        if setting != "DEFAULT_LOCAL_TMP":  # its value creates a directory
            constants.set_constant(setting, constants.config.get_config_value(
                setting, variables=vars(constants)))
    # A module cache of this build's own, seeded with the warm-up's modules.
    cache = local_tmp / "ansiballz_cache"
    cache.mkdir(parents=True, mode=0o700)
    for entry in (warm_tmp / "ansiballz_cache").glob("*"):
        if entry.is_file() and not entry.name.endswith("-part"):
            with contextlib.suppress(OSError):
                os.link(entry, cache / entry.name)
    constants.set_constant("DEFAULT_LOCAL_TMP", str(local_tmp))
    # Locks a killed sibling may have held are not ours to wait for.
    for name in list(action_write_locks.action_write_locks):
        action_write_locks.action_write_locks[name] = context.Lock()
    configured = set(callback_loader.config or [])
    for directory in os.environ.get("ANSIBLE_CALLBACK_PLUGINS", "").split(os.pathsep):
        if directory and directory not in configured:
            callback_loader.add_directory(directory)


def _child(request: dict[str, Any], fds: list[int], local_tmp: Path) -> int:
    """Become ``ansible-playbook ARGS`` for one build; returns its exit status."""
    os.setsid()
    for target, fd in enumerate(fds):
        if fd != target:
            os.dup2(fd, target)
            os.close(fd)
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                   signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own streams
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ[SERVED_ENV] = "1"  # for playbooks and tests: this one was forked warm
    atexit._clear()  # the zygote's exit handlers are not this child's
    _refresh_ansible(local_tmp)
    from ansible.cli.playbook import PlaybookCLI

    sys.argv = ["ansible-playbook", *request["argv"]]
    code: Any = 0
    try:
        PlaybookCLI.cli_executor(sys.argv)
    except SystemExit as exc:
        code = exc.code
    atexit._run_exitfuncs()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    return code if isinstance(code, int) else (0 if code is None else 1)


# ------------------------------------------------------------------- server
@dataclass
class _Running:
    conn: socket.socket
    tmp: Path


@dataclass
class _Server:
    listener: socket.socket
    control: int
    tmp_root: Path
    settings: dict[str, str]
    running: dict[int, _Running] = field(default_factory=dict)

    def _receive(self, conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
        conn.settimeout(10)
        data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
        while not data.endswith(b"\n"):
            chunk = conn.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the client closed the connection")
            data += chunk
        conn.settimeout(None)
        return json.loads(data), list(fds)

    def accept(self, selector: selectors.BaseSelector) -> None:
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            request, fds = self._receive(conn)
            reason = _mismatch(self.settings, request["env"])
            if reason is None and len(fds) != 3:
                reason = "the client did not pass its terminal"
            if reason is not None:
                conn.sendall(json.dumps({"fallback": reason}).encode() + b"\n")
                conn.close()
                return
            self._fork(selector, conn, request, fds)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("could not serve a playbook request: %s", exc)
            conn.close()
        finally:
            for fd in fds:
                os.close(fd)

    def _fork(self, selector: selectors.BaseSelector, conn: socket.socket,
              request: dict[str, Any], fds: list[int]) -> None:
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 70
            try:
                for other in [self.listener, *(r.conn for r in self.running.values()), conn]:
                    other.close()
                selector.close()
                os.close(self.control)
                code = _child(request, fds, self.tmp_root / f"child-{os.getpid()}")
            except BaseException:  # noqa: B036 - report anything, then leave
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        self.running[pid] = _Running(conn, self.tmp_root / f"child-{pid}")
        selector.register(conn, selectors.EVENT_READ, pid)
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")

    def client_gone(self, pid: int) -> None:
        """The client closed its end (it was killed): kill the playbook's group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

    def reap(self, selector: selectors.BaseSelector) -> None:
        while self.running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            entry = self.running.pop(pid, None)
            if entry is None:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # stray workers of a finished playbook
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code  # killed by a signal, as a shell says
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(entry.conn)  # already gone when the client died
            with contextlib.suppress(OSError):
                entry.conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
            entry.conn.close()
            shutil.rmtree(entry.tmp, ignore_errors=True)

    def shutdown(self) -> None:
        for pid, entry in self.running.items():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            entry.conn.close()
            shutil.rmtree(entry.tmp, ignore_errors=True)
        self.listener.close()


def _dispatch(server: _Server, selector: selectors.BaseSelector, key: selectors.SelectorKey,
              wake_r: int) -> None:
    if key.data == "accept":
        server.accept(selector)
    elif key.data == "wake":
        os.read(wake_r, 4096)
    elif isinstance(key.data, int):
        try:
            gone = not key.fileobj.recv(4096)  # type: ignore[union-attr]
        except OSError:
            gone = True
        if gone:
            selector.unregister(key.fileobj)
            server.client_gone(key.data)


def serve(socket_path: Path, control: int) -> None:
    """Warm up, then serve playbook requests until ``control`` reaches end of file."""
    tmp_root = Path(tempfile.mkdtemp(prefix="zuulish-zygote-"))
    atexit.register(shutil.rmtree, tmp_root, True)
    work = tmp_root / "warm-up"
    work.mkdir()
    _warm_up(work)
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    os.chmod(socket_path, stat.S_IRUSR | stat.S_IWUSR)
    listener.listen(64)
    server = _Server(listener, control, tmp_root, _import_time_settings(dict(os.environ)))
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(control, selectors.EVENT_READ, "control")
    selector.register(wake_r, selectors.EVENT_READ, "wake")
    print("ready", flush=True)
    try:
        while True:
            for key, _events in selector.select(timeout=1.0):
                if key.data == "control":
                    if not os.read(control, 4096):
                        return
                    continue
                try:
                    _dispatch(server, selector, key, wake_r)
                except Exception:  # one request's trouble must not stop the others
                    log.exception("error while serving playbooks")
            server.reap(selector)
    finally:
        server.shutdown()
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()


# ------------------------------------------------- the executor's handle on it
class AnsibleZygote:
    """Starts and stops the zygote for one executor, and says how to reach it."""

    def __init__(self, directory: Path, env: dict[str, str]):
        self.directory = directory
        self.socket_path = directory / "zygote.sock"
        self.bin_dir = directory / "bin"
        self.env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: int | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._next_start = 0.0

    def _discard(self) -> None:
        """Forget a zygote that has exited (with the lock held)."""
        self._ready.clear()
        if self._control is not None:
            os.close(self._control)
            self._control = None
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None

    def _write_client(self) -> None:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        target = self.bin_dir / "ansible-playbook"
        text = f"#!{sys.executable} -IS\n" + CLIENT_SOURCE.read_text()
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(target)

    def start(self) -> None:
        """Start the zygote in the background; builds use it once it is warm.

        Called often: it starts the zygote once, and again (at most once a minute)
        if it has died, so a crash costs speed for a while, never builds.
        """
        with self._lock:
            if self._proc is not None:
                if self._proc.poll() is None or time.monotonic() < self._next_start:
                    return
                log.warning("the preloaded Ansible exited with %s (see %s); starting it "
                            "again", self._proc.returncode, self.directory / "zygote.log")
                self._discard()
            self._next_start = time.monotonic() + RESTART_SECONDS
            self.directory.mkdir(parents=True, exist_ok=True)
            self._write_client()
            read_end, write_end = os.pipe()
            env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
            with (self.directory / "zygote.log").open("ab") as log_file:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "zuulish.executor.ansible_zygote",
                     str(self.socket_path), str(read_end)],
                    pass_fds=(read_end,), env=env, stdout=subprocess.PIPE,
                    stderr=log_file, start_new_session=True)
            os.close(read_end)
            self._control = write_end
            threading.Thread(target=self._await_ready, args=(self._proc,), daemon=True,
                             name="ansible-zygote").start()

    def _await_ready(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        try:
            line = proc.stdout.readline()
        except ValueError:  # closed: this zygote was discarded meanwhile
            return
        if line.strip() == b"ready" and self._proc is proc:
            self._ready.set()
        else:
            log.warning("the preloaded Ansible did not start (see %s); playbooks start "
                        "cold", self.directory / "zygote.log")

    def wait_ready(self, timeout: float = START_TIMEOUT) -> bool:
        return self._ready.wait(timeout)

    def playbook_env(self) -> dict[str, str]:
        """Variables that make ansible-runner's ``ansible-playbook`` the zygote's client.

        Empty until the zygote is warm (and after it died): playbooks then start cold.
        """
        proc = self._proc
        if not self._ready.is_set() or proc is None or proc.poll() is not None:
            return {}
        real = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) \
            or shutil.which("ansible-playbook") or ""
        return {SOCKET_ENV: str(self.socket_path), REAL_ENV: real,
                "PATH": os.pathsep.join([str(self.bin_dir), self.env.get("PATH", "")])}

    def stop(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
            control, self._control = self._control, None
            self._ready.clear()
        if control is not None:
            os.close(control)  # end of file: the zygote kills its children and exits
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m zuulish.executor.ansible_zygote SOCKET CONTROL_FD",
              file=sys.stderr)
        return 2
    started = time.monotonic()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        serve(Path(args[0]), int(args[1]))
    except Exception:
        log.exception("the preloaded Ansible stopped after %.1fs", time.monotonic() - started)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
