"""A preloaded Ansible: fork a warm ``ansible-playbook`` instead of starting a cold one.

A cold ``ansible-playbook`` spends about a second before its first task
(imports, then parsing the documentation of every plugin it loads) and does
it again for every playbook of every build. The zygote is one process that
pays that once: it imports Ansible and runs a warm-up playbook on a local
host, then forks a child for each trusted playbook that ansible-runner
starts. ansible-runner still starts, watches, times out and cancels
"ansible-playbook" as usual: what it starts is ``zygote_client.py`` under
that name, first on ``PATH``.

Sandboxed, always. The zygote runs on the executor host (it is the
executor's own process), but never runs a playbook there: each child is
forked into the build's trusted sandbox (``trusted_view.BuildSandbox``),
whose namespaces and root the executor registers with the zygote for the
build (``AnsibleZygote.register``, over a socket pair only the two of them
hold) and withdraws when the build ends. The child joins the sandbox's PID
namespace (the zygote forks it there), then its other namespaces and root,
keeps no descriptor but its terminal, drops every capability (the bounding
set too, so no program it runs gains any) and sets no-new-privileges, then
re-reads Ansible's settings from the build's environment (only what
``sandbox_launch`` lets into a sandbox), takes the build's terminal, working
directory and arguments and runs ``ansible-playbook``'s own entry point. A
request for a sandbox the zygote does not hold is declined, and the client
starts the playbook cold in a sandbox of its own (never on the host).

Who may ask. The socket lives in the state directory, which no sandbox sees,
and is the executor user's only (0600). Where that path is too long for a Unix
socket (108 bytes), it lives in a directory of its own (0700) under the system's
temporary directory instead, which no sandbox sees either (each has a private
``/tmp``). Each connection is checked before
anything is read from it (``SO_PEERCRED``): the peer must be a process of the
zygote's own user, in the zygote's own mount namespace (a process in any
sandbox has another), still alive when that was looked at (its pid, checked
through a pidfd where the kernel gives one, was not reused). Anything else
is refused with a message and the connection closed.

Isolation between builds is by process: every child is forked from the same
warmed state and never from another build, gets its own session (process
group), its own Ansible local temp directory (seeded with the warm-up's
module cache) and fresh inter-process locks. A child whose client
disappears (ansible-runner kills clients with SIGKILL) is killed with its
whole group. The zygote serves only builds whose import-time Ansible settings
(plugin paths, config file, collections) equal its own; anything else starts
cold, in the sandbox, as it does when the zygote is not running.

Forking into a sandbox joins namespaces, which needs ``CAP_SYS_ADMIN``: an
executor that does not run as root gets no zygote (``AnsibleZygote.usable``),
and its trusted playbooks start cold in their sandbox.

The zygote is single-threaded (it forks, so no other thread may hold a lock),
exits when the executor that started it closes its control socket, and is
started with ``python -m zuulish.executor.ansible_zygote SOCKET CONTROL_FD``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zuulish.executor.sandbox import home_dir
from zuulish.executor.sandbox_launch import sandbox_environment

log = logging.getLogger(__name__)

CLIENT_SOURCE = Path(__file__).with_name("zygote_client.py")
SOCKET_ENV = "ZUULISH_ANSIBLE_ZYGOTE"
REAL_ENV = "ZUULISH_REAL_ANSIBLE_PLAYBOOK"  # the cold, sandboxed start (the launcher)
SANDBOX_ENV = "ZUULISH_TRUSTED_SANDBOX"  # which registered sandbox to fork into
SERVED_ENV = "ZUULISH_PRELOADED_ANSIBLE"
START_TIMEOUT = 60.0
RESTART_SECONDS = 60.0  # at most one restart a minute after a crash
#: the longest path a Unix socket may be bound at (``sun_path``: 108 bytes with its NUL)
MAX_SOCKET_PATH = 107
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


# ----------------------------------------------------------- the sandbox
_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWPID = 0x20000000
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CAPABILITY_VERSION_3 = 0x20080522
SO_PEERPIDFD = 77  # Linux 6.5
SYS_PIDFD_SEND_SIGNAL = 424


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _setns(fd: int, kind: int = 0) -> None:
    _check(_libc.setns(fd, kind), "setns")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _last_cap() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 63


def _drop_privileges(last_cap: int) -> None:
    """No capability left, none to gain: bounding and ambient sets emptied, then
    every set, and no-new-privileges (as bwrap's ``--cap-drop ALL``)."""
    for cap in range(last_cap + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "dropping the bounding set")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "ambient")
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(_CapHeader(CAPABILITY_VERSION_3, 0)), data), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _enter(handles: dict[str, int], last_cap: int) -> None:
    """Join the sandbox's namespaces (its PID namespace was joined by the fork)
    and its root, then drop every privilege (in the child, before anything else)."""
    for name in ("ipc", "uts", "net", "cgroup", "mnt"):
        if name in handles:
            _setns(handles[name])
    os.fchdir(handles["root"])
    os.chroot(".")
    os.chdir("/")
    _drop_privileges(last_cap)


def _close_host_files() -> None:
    """Close every descriptor above 2 that opens onto files, directories or
    namespaces (of the host, or of other builds' sandboxes): nothing reaches out
    of the sandbox through ``/proc/self/fd``. Pipes and sockets stay: the
    zygote's own were closed by name, and Python objects may still own others."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2:
            continue
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode) or stat.S_ISREG(mode) or stat.S_ISBLK(mode) or \
                stat.S_ISLNK(mode):
            os.close(fd)


def peer_refusal(conn: socket.socket) -> str | None:
    """Why the process at the other end of ``conn`` may not use the zygote, or None:
    it must be of the zygote's user and in its mount namespace (no sandbox)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    if uid != os.geteuid():
        return f"the zygote serves only its own user (uid {os.geteuid()}), not uid {uid}"
    if pid <= 0:
        return "the zygote serves only processes it can see"
    pidfd = -1
    with contextlib.suppress(OSError):
        pidfd = struct.unpack("i", conn.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD, 4))[0]
    try:
        try:
            theirs = os.stat(f"/proc/{pid}/ns/mnt")
        except OSError:
            return "the zygote could not look at the connecting process"
        if pidfd >= 0 and _libc.syscall(SYS_PIDFD_SEND_SIGNAL, pidfd, 0, None, 0) != 0:
            return "the connecting process is gone"
    finally:
        if pidfd >= 0:
            os.close(pidfd)
    mine = os.stat("/proc/self/ns/mnt")
    if (theirs.st_dev, theirs.st_ino) != (mine.st_dev, mine.st_ino):
        return "the zygote serves only the executor (the caller is in another mount " \
               "namespace: a sandbox)"
    return None


# -------------------------------------------------------------------- child
def _warm_modules() -> dict[str, bytes]:
    """The warm-up's module cache (read before the child leaves the host's files)."""
    from ansible import constants

    found = {}
    for entry in (Path(constants.DEFAULT_LOCAL_TMP) / "ansiballz_cache").glob("*"):
        if entry.is_file() and not entry.name.endswith("-part"):
            with contextlib.suppress(OSError):
                found[entry.name] = entry.read_bytes()
    return found


def _refresh_ansible(local_tmp: Path, modules: dict[str, bytes]) -> None:
    """Re-read Ansible's settings from this build's environment (in the child)."""
    import warnings

    from ansible import constants
    from ansible.executor import action_write_locks
    from ansible.plugins.loader import callback_loader
    from ansible.utils.context_objects import GlobalCLIArgs
    from ansible.utils.multiprocessing import context

    GlobalCLIArgs._Singleton__instance = None  # type: ignore[attr-defined]  # warm-up's args
    warnings.filterwarnings("ignore", message="AnsibleCollectionFinder has already")
    for setting in constants.config.get_configuration_definitions():
        if setting != "DEFAULT_LOCAL_TMP":  # its value creates a directory
            constants.set_constant(setting, constants.config.get_config_value(
                setting, variables=vars(constants)))
    # A module cache of this build's own, seeded with the warm-up's modules.
    cache = local_tmp / "ansiballz_cache"
    cache.mkdir(parents=True, mode=0o700)
    for name, data in modules.items():
        with contextlib.suppress(OSError):
            (cache / name).write_bytes(data)
    constants.set_constant("DEFAULT_LOCAL_TMP", str(local_tmp))
    # Locks a killed sibling may have held are not ours to wait for.
    for name in list(action_write_locks.action_write_locks):
        action_write_locks.action_write_locks[name] = context.Lock()
    configured = set(callback_loader.config or [])
    for directory in os.environ.get("ANSIBLE_CALLBACK_PLUGINS", "").split(os.pathsep):
        if directory and directory not in configured:
            callback_loader.add_directory(directory)


def _child(request: dict[str, Any], fds: list[int], local_tmp: Path,
           modules: dict[str, bytes]) -> int:
    """Become ``ansible-playbook ARGS`` for one build (in its sandbox already);
    returns its exit status."""
    os.setsid()
    for target, fd in enumerate(fds):
        if fd != target:
            os.dup2(fd, target)
            os.close(fd)
    _close_host_files()
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
    # what a cold start in the sandbox gets (sandbox_launch), and bwrap's settings
    os.environ.update(sandbox_environment(request["env"]))
    os.environ.update({"HOME": home_dir(), "TMPDIR": "/tmp"})
    os.environ[SERVED_ENV] = "1"  # for playbooks and tests: this one was forked warm
    atexit._clear()  # the zygote's exit handlers are not this child's
    _refresh_ansible(local_tmp, modules)
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
    sandbox: str


@dataclass
class _Server:
    listener: socket.socket
    control: socket.socket
    settings: dict[str, str]
    own_pid_ns: int
    last_cap: int
    modules: dict[str, bytes]  # the warm-up's module cache, seeding each child's
    running: dict[int, _Running] = field(default_factory=dict)
    sandboxes: dict[str, dict[str, int]] = field(default_factory=dict)

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

    def _reply(self, conn: socket.socket, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps(message).encode() + b"\n")
        conn.close()

    def accept(self, selector: selectors.BaseSelector) -> None:
        conn, _ = self.listener.accept()
        refusal = peer_refusal(conn)
        if refusal is not None:
            log.warning("refused a connection: %s", refusal)
            self._reply(conn, {"refused": refusal})
            return
        fds: list[int] = []
        try:
            request, fds = self._receive(conn)
            reason = _mismatch(self.settings, request["env"])
            handles = self.sandboxes.get(str(request.get("sandbox")))
            if reason is None and handles is None:
                reason = "the build's trusted sandbox is not registered with the zygote"
            if reason is None and len(fds) != 3:
                reason = "the client did not pass its terminal"
            if reason is not None:
                self._reply(conn, {"fallback": reason})
                return
            assert handles is not None
            self._fork(selector, conn, request, fds, str(request["sandbox"]), handles)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("could not serve a playbook request: %s", exc)
            conn.close()
        finally:
            for fd in fds:
                os.close(fd)

    def _fork(self, selector: selectors.BaseSelector, conn: socket.socket,
              request: dict[str, Any], fds: list[int], name: str,
              handles: dict[str, int]) -> None:
        _setns(handles["pid"], CLONE_NEWPID)  # the child is born in the sandbox's
        try:
            pid = os.fork()
        except OSError as exc:  # the sandbox's PID namespace has ended
            _setns(self.own_pid_ns, CLONE_NEWPID)
            self._reply(conn, {"fallback": f"cannot fork into the sandbox: {exc}"})
            return
        if pid == 0:  # the child: never returns
            code = 70
            try:
                for other in [self.listener, self.control,
                              *(r.conn for r in self.running.values()), conn]:
                    other.close()
                selector.close()
                for box, fds_of in self.sandboxes.items():
                    for fd in fds_of.values() if box != name else ():
                        os.close(fd)
                os.close(self.own_pid_ns)
                _enter(handles, self.last_cap)
                code = _child(request, fds, Path("/tmp") / f"zuulish-zygote-{os.getpid()}",
                              self.modules)
            except BaseException:  # noqa: B036 - report anything, then leave
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        _setns(self.own_pid_ns, CLONE_NEWPID)
        self.running[pid] = _Running(conn, name)
        selector.register(conn, selectors.EVENT_READ, pid)
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")

    def control_message(self) -> bool:
        """Handle one message of the executor; False once it closed the socket."""
        data, fds, _flags, _addr = socket.recv_fds(self.control, 1 << 16, 16)
        if not data:
            for fd in fds:
                os.close(fd)
            return False
        message = json.loads(data)
        if "add" in message:
            names = list(message.get("names") or [])
            if len(names) != len(fds) or "root" not in names or "pid" not in names:
                for fd in fds:
                    os.close(fd)
                self.control.send(json.dumps({"ok": False}).encode())
                return True
            self._drop(str(message["add"]))
            self.sandboxes[str(message["add"])] = dict(zip(names, fds, strict=True))
        elif "drop" in message:
            self._drop(str(message["drop"]))
        self.control.send(json.dumps({"ok": True}).encode())
        return True

    def _drop(self, name: str) -> None:
        for fd in (self.sandboxes.pop(name, None) or {}).values():
            os.close(fd)
        for pid, entry in self.running.items():
            if entry.sandbox == name:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)

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

    def shutdown(self) -> None:
        for pid, entry in self.running.items():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            entry.conn.close()
        for name in list(self.sandboxes):
            self._drop(name)
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


def serve(socket_path: Path, control_fd: int) -> None:
    """Warm up, then serve playbook requests until the executor closes ``control_fd``."""
    tmp_root = Path(tempfile.mkdtemp(prefix="zuulish-zygote-"))
    atexit.register(shutil.rmtree, tmp_root, True)
    work = tmp_root / "warm-up"
    work.mkdir()
    _warm_up(work)
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket is the executor user's only, from the start
    try:
        listener.bind(str(socket_path))
    finally:
        os.umask(old_umask)
    os.chmod(socket_path, stat.S_IRUSR | stat.S_IWUSR)
    listener.listen(64)
    control = socket.socket(fileno=control_fd)
    server = _Server(listener, control, _import_time_settings(dict(os.environ)),
                     os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC), _last_cap(),
                     _warm_modules())
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
                    if not server.control_message():
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
    """Starts and stops the zygote for one executor, registers the builds' trusted
    sandboxes with it, and says how to reach it."""

    def __init__(self, directory: Path, env: dict[str, str]):
        self.directory = directory
        self.socket_path = directory / "zygote.sock"
        # a short directory of its own for the socket, made when the state directory's
        # path is too long for one (see the module); removed by stop()
        self._socket_dir: Path | None = None
        self.bin_dir = directory / "bin"
        self.env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._control_lock = threading.Lock()
        self._next_start = 0.0

    @staticmethod
    def usable() -> bool:
        """Whether a zygote can fork into sandboxes here (it joins namespaces: root)."""
        return os.geteuid() == 0

    def _discard(self) -> None:
        """Forget a zygote that has exited (with the lock held)."""
        self._ready.clear()
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None

    def _place_socket(self) -> None:
        """Listen in the state directory, or where its path is too long for a Unix
        socket, in a short directory of the executor user's own (see the module)."""
        if self._socket_dir is not None or \
                len(os.fsencode(self.directory / "zygote.sock")) <= MAX_SOCKET_PATH:
            return
        self._socket_dir = Path(tempfile.mkdtemp(prefix="zuulish-zygote-"))  # 0700
        self.socket_path = self._socket_dir / "zygote.sock"

    def _write_client(self) -> None:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
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
            self._place_socket()
            self._write_client()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
            try:
                with (self.directory / "zygote.log").open("ab") as log_file:
                    self._proc = subprocess.Popen(
                        [sys.executable, "-m", "zuulish.executor.ansible_zygote",
                         str(self.socket_path), str(theirs.fileno())],
                        pass_fds=(theirs.fileno(),), env=env, stdout=subprocess.PIPE,
                        stderr=log_file, start_new_session=True)
            finally:
                theirs.close()
            self._control = ours
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

    def _ask(self, message: dict[str, Any], fds: list[int] | None = None) -> bool:
        """Send ``message`` on the control socket; whether the zygote took it."""
        with self._control_lock:
            control, proc = self._control, self._proc
            if not self._ready.is_set() or control is None or proc is None or \
                    proc.poll() is not None:
                return False
            try:
                control.settimeout(10)
                socket.send_fds(control, [json.dumps(message).encode()], fds or [])
                reply = control.recv(4096)
            except OSError as exc:
                log.warning("the preloaded Ansible did not answer: %s", exc)
                return False
            return bool(reply) and json.loads(reply).get("ok") is True

    def register(self, name: str, handles: dict[str, int]) -> bool:
        """Let the zygote fork playbooks into the sandbox whose namespace and root
        descriptors are ``handles`` (``BuildSandbox.handles``), as ``name``."""
        names = sorted(handles)
        return self._ask({"add": name, "names": names}, [handles[n] for n in names])

    def unregister(self, name: str) -> None:
        """Withdraw sandbox ``name``; playbooks still running in it are killed."""
        self._ask({"drop": name})

    def playbook_env(self, sandbox_name: str, cold: str) -> dict[str, str]:
        """Variables that make ansible-runner's ``ansible-playbook`` the zygote's client
        for sandbox ``sandbox_name``; ``cold`` is what the client runs when the zygote
        declines (the sandbox launcher).

        Empty until the zygote is warm (and after it died): playbooks then start cold.
        """
        proc = self._proc
        if not self._ready.is_set() or proc is None or proc.poll() is not None:
            return {}
        return {SOCKET_ENV: str(self.socket_path), REAL_ENV: cold, SANDBOX_ENV: sandbox_name,
                "PATH": str(self.bin_dir)}

    def stop(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
            with self._control_lock:
                control, self._control = self._control, None
            self._ready.clear()
        if control is not None:
            control.close()  # end of file: the zygote kills its children and exits
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
            self.socket_path = self.directory / "zygote.sock"


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
