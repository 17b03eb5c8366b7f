"""The ``ansible-playbook`` that ansible-runner starts for an untrusted playbook.

ansible-runner finds it first on ``PATH`` (a per-run directory the sandbox
does not see). It reads the sandbox's bubblewrap arguments from the JSON file
named by ``ZUULISH_SANDBOX_ARGS``, keeps only the environment Ansible and
ansible-runner need (the executor's own variables, such as a database URL,
never reach the playbook; ``HOME`` and ``TMPDIR`` are bubblewrap's
``--setenv``), and runs ``bwrap ARGS -- ansible-playbook ...``:

- with the host's network or none (``--unshare-net`` alone), it replaces
  itself with bwrap;
- with a private network (``pasta`` in the arguments file), it stays bwrap's
  parent. bwrap makes the sandbox's network namespace and says the sandbox's
  pid on ``--info-fd``, holding the command back until ``--block-fd`` is
  written; once bwrap has given the namespace's loopback its address (pasta
  brings the loopback up, which would make that fail), the launcher attaches
  ``pasta`` to the namespace, waits until
  pasta has configured it (pasta writes its pid file, here a pipe, once its
  set-up is done), then lets the command go. It passes SIGTERM and SIGINT on
  to bwrap, stops pasta once bwrap has exited, and exits as bwrap did. pasta
  runs in its process group (a cancel, which kills the group, ends it too)
  and gets SIGKILL should the launcher die first. A pasta that cannot start
  ends the playbook with ``ERROR! ...`` and pasta's own message, before
  anything runs: never without the private network.

pasta names the namespace by ``/proc/self/fd/N`` paths of descriptors the
launcher opened and handed down: pasta drops its capabilities before opening
what it is given, and may then not open another process's ``/proc`` entries.
A namespace owned by another user namespace (bwrap unprivileged) is entered
through that user namespace (``--userns``); one owned by the launcher's own
(bwrap run by root) with ``--netns-only``, and pasta keeps uid 0
(``--runas 0``: as nobody, its default for root, it could not enter it).

The arguments file names ``die_with``, the executor's pid: the launcher has
itself killed when the executor thread that started it ends, so no sandbox (a
playbook's, a local node's) outlives a killed executor; bwrap and pasta die
with the launcher. For a local node (``local_node.py``) it may also name
``cgroups`` (``cgroup.procs`` files the launcher writes its pid to first, so
the node and everything it starts is counted there), ``rlimits`` (resource
name -> limit, set in bwrap's process only) and ``pass_fds`` (descriptors,
such as the node agent's listening socket, that bwrap and the program keep).

It runs as ``python -IS`` from a copy written next to the arguments file, so
it imports only the standard library; what only a private network needs
(``subprocess``, ``ctypes``) is imported when one is set up, which spares the
other modes about 15 ms of start-up.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import select
import signal
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable

ARGS_ENV = "ZUULISH_SANDBOX_ARGS"
KEEP_PREFIXES = ("ANSIBLE_", "AWX_", "RUNNER_", "LC_")
KEEP = frozenset({"PATH", "LANG", "LANGUAGE", "TERM", "TZ", "JOB_ID", "MAX_EVENT_RES",
                  "PYTHONUNBUFFERED", "PYTHONIOENCODING", "ORIGINAL_STDOUT_CALLBACK",
                  "ZUULISH_PLAYBOOK_TRUST", "ZUULISH_MAX_RETURNED_BYTES",
                  "ZUULISH_NODE_SOCKET",  # the local node's agent (local_node.py)
                  # the untrusted guard's directories (sandbox.untrusted_env)
                  "ZUULISH_WORK_DIR", "ZUULISH_READ_DIRS",
                  "SSH_AUTH_SOCK"})  # the build's ssh-agent (its socket, not the key)
NS_GET_USERNS = 0xB701  # ioctl(2) on a namespace: the user namespace that owns it
PR_SET_PDEATHSIG = 1
READY_SECONDS = 20.0  # pasta configures a namespace in tens of milliseconds
LOOPBACK_SECONDS = 20.0  # bwrap gives its loopback an address within a millisecond or so
STOP_SECONDS = 5.0
FORWARDED = (signal.SIGTERM, signal.SIGINT)


def digest(value: str) -> str:
    """How the spec names a value it hides (never the value itself)."""
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def sandbox_environment(environ: dict[str, str],
                        hidden: dict[str, str] | None = None) -> dict[str, str]:
    """What of ``environ`` reaches the sandboxed ``ansible-playbook``: the names in
    ``KEEP`` or with a prefix of ``KEEP_PREFIXES``, less each variable ``hidden``
    names with the digest of its value (the executor's own, which ansible-runner
    passes on: an untrusted playbook's ``env`` lookup must not read them)."""
    hidden = hidden or {}
    return {k: v for k, v in environ.items()
            if (k in KEEP or k.startswith(KEEP_PREFIXES))
            and not (k in hidden and hidden[k] == digest(v))}


def read_info(fd: int) -> dict | None:
    """bwrap's ``--info-fd`` document, or None when bwrap ended without one."""
    data = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        data += chunk
        try:
            return json.loads(data)
        except ValueError:
            continue


def _wait_loopback(pid: int, deadline: float) -> bool:
    """Whether bwrap has given the loopback of process ``pid``'s network namespace
    its address, which it does once that process runs, before ``--block-fd``.

    pasta must not come first: it brings the loopback up, which gives it
    127.0.0.1 at once, and bwrap's adding that address then fails (EEXIST).
    An address shows in the namespace's ``fib_trie`` (as a local route) as
    soon as it is added, the interface up or not.
    """
    while True:
        try:
            with open(f"/proc/{pid}/net/fib_trie", encoding="ascii") as f:
                if "127.0.0.1" in f.read():
                    return True
        except OSError:
            return False  # the process is gone: bwrap failed and says why
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)


def _pasta_command(pasta: dict, netns: int, ready: int) -> tuple[list[str], list[int]]:
    """pasta's command line for the namespace open as ``netns``, and the descriptors
    it inherits; pasta writes its pid to ``ready`` once the namespace is set up."""
    owner = fcntl.ioctl(netns, NS_GET_USERNS)
    mine, theirs = os.stat("/proc/self/ns/user"), os.fstat(owner)
    fds = [netns, ready]
    target = ["--netns", f"/proc/self/fd/{netns}"]
    if (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino):
        os.close(owner)
        target.append("--netns-only")
    else:
        fds.append(owner)
        target = ["--userns", f"/proc/self/fd/{owner}", *target]
    runas = ["--runas", "0"] if os.geteuid() == 0 else []
    command = [pasta["program"], "-f", "-q", "-l", pasta["log"], *runas,
               "-P", f"/proc/self/fd/{ready}", "--no-netns-quit", *pasta["options"], *target]
    return command, fds


def _die_with(parent: int) -> Callable[[], None]:
    """A ``preexec_fn`` that has the child killed when ``parent`` dies."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # it died before prctl took effect
            os._exit(1)

    return preexec


def _wait_ready(fd: int, deadline: float) -> bool:
    """Whether pasta wrote its pid (set up) before ``deadline``; False when it exited."""
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return False
        chunk = os.read(fd, 64)
        if not chunk:
            return False  # every copy of the pipe's write end closed: pasta exited
        data += chunk
    return True


def _pasta_error(log: str) -> str:
    """What pasta said, in one line: in its log (whose first line names its
    version), or on its standard error (``LOG.stderr``) before it had a log."""
    said = []
    for path, skip in ((log, 1), (f"{log}.stderr", 0)):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()[skip:]
        except OSError:
            continue
        for line in lines:
            if not line.strip() or line.startswith("Failed to send"):  # no syslog here
                continue
            if line.split(":", 1)[0].replace(".", "").isdigit():  # the log's timestamp
                line = line.split(":", 1)[1]
            said.append(line.replace("ERROR:", "").strip())
    return "; ".join(said) or "it exited without saying why"


def _stop(pasta: subprocess.Popen) -> None:
    """End pasta: it keeps nothing worth a graceful exit, and SIGKILL spares the
    polling wait a timeout would need (tens of milliseconds per playbook)."""
    if pasta.poll() is None:
        pasta.kill()
        pasta.wait()


def start_pasta(pasta: dict, pid: int, env: dict[str, str]
                ) -> tuple[subprocess.Popen | None, str | None]:
    """Attach pasta to the network namespace of process ``pid`` and wait until it has
    set it up: (pasta, None), or (pasta or None, why it did not)."""
    import subprocess

    ready_r, ready_w = os.pipe()
    fds = [ready_w]
    try:
        fds.append(os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC))
        command, fds = _pasta_command(pasta, fds[1], ready_w)
        with open(f"{pasta['log']}.stderr", "wb") as stderr:
            process = subprocess.Popen(command, env=env, pass_fds=fds, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=stderr,
                                       preexec_fn=_die_with(os.getpid()))
    except OSError as exc:
        os.close(ready_r)
        return None, f"pasta: {exc}"
    finally:
        for fd in fds:
            os.close(fd)
    try:
        ready = _wait_ready(ready_r, time.monotonic() + READY_SECONDS)
    finally:
        os.close(ready_r)
    return process, None if ready else f"pasta: {_pasta_error(pasta['log'])}"


def die_with_starter(spec: dict) -> None:
    """Have this process killed when the thread of process ``die_with`` that started
    it ends (and exit at once if that process is already gone)."""
    parent = spec.get("die_with")
    if parent is None:
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def join_cgroups(spec: dict) -> None:
    """Move this process into the cgroups the arguments file names."""
    for procs in spec.get("cgroups") or ():
        with open(procs, "w", encoding="ascii") as f:
            f.write(str(os.getpid()))


def set_rlimits(spec: dict) -> None:
    """Set the resource limits the arguments file names (``RLIMIT_<name>``)."""
    import resource

    for name, value in (spec.get("rlimits") or {}).items():
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (value, value))


def run_private(spec: dict, argv: list[str], env: dict[str, str]) -> int:
    """Run bwrap in a network namespace of its own that pasta connects; bwrap's
    exit status (negative: the signal that ended it)."""
    import subprocess

    info_r, info_w = os.pipe()
    block_r, block_w = os.pipe()
    received: list[int] = []
    bwrap: subprocess.Popen | None = None

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if bwrap is not None and bwrap.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(bwrap.pid, signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    die_with_launcher = _die_with(os.getpid())

    def preexec() -> None:
        # bwrap binds the sandbox to its own life (--die-with-parent) only once it
        # runs: until then, a launcher killed (with its executor) would orphan it
        die_with_launcher()
        set_rlimits(spec)

    bwrap = subprocess.Popen(
        [spec["bwrap"], "--info-fd", str(info_w), "--block-fd", str(block_r), *spec["args"],
         "--", *program_argv(spec), *argv], env=env,
        pass_fds=(info_w, block_r, *spec.get("pass_fds", ())), preexec_fn=preexec)
    os.close(info_w)
    os.close(block_r)
    info = read_info(info_r)
    os.close(info_r)
    if info is None or "child-pid" not in info:
        os.close(block_w)  # bwrap failed before making the sandbox, and said why
        return bwrap.wait()
    pid = info["child-pid"]
    pasta, why = None, None
    if _wait_loopback(pid, time.monotonic() + LOOPBACK_SECONDS):
        pasta, why = start_pasta(spec["pasta"], pid, env)
    else:
        try:  # bwrap failed setting up the sandbox, and said why
            status = bwrap.wait(STOP_SECONDS)
            os.close(block_w)
            return status
        except subprocess.TimeoutExpired:
            why = "bwrap did not give the sandbox's loopback its address"
    if why is not None or received:
        # The sandbox's first process waits on --block-fd, which lets it go when
        # closed, and bwrap binds it to its own life only after that: kill it first.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        bwrap.kill()
        bwrap.wait()
        os.close(block_w)
        if pasta is not None:
            _stop(pasta)
        if why is None:
            return -received[0]
        print(f"ERROR! {NETWORK_FAILED} "
              f"could not be set up: {why}", file=sys.stderr, flush=True)
        return 1
    with contextlib.suppress(BrokenPipeError):  # bwrap ended meanwhile: its status tells
        os.write(block_w, b"go")
    os.close(block_w)
    status = bwrap.wait()
    _stop(pasta)
    return status


# how the launcher says the sandbox could not be made: the executor's fault, never
# the playbook's (ansible_run tells it from Ansible's own "ERROR!")
NETWORK_FAILED = "the sandbox's private network (executor.sandbox_network: private)"


def program_argv(spec: dict) -> list[str]:
    """What bwrap runs before the launcher's own arguments: the spec's ``program``, a
    path or a list (an interpreter and its script: a script the executor has just
    written is read, never executed, so no thread forking meanwhile can make its
    exec fail with ETXTBSY)."""
    program = spec["program"]
    return list(program) if isinstance(program, list) else [program]


def main() -> int:
    with open(os.environ[ARGS_ENV], encoding="utf-8") as f:
        spec = json.load(f)
    env = sandbox_environment(dict(os.environ), spec.get("hidden_env"))
    die_with_starter(spec)
    join_cgroups(spec)
    if not spec.get("pasta"):
        set_rlimits(spec)
        argv = [spec["bwrap"], *spec["args"], "--", *program_argv(spec), *sys.argv[1:]]
        os.execve(spec["bwrap"], argv, env)
    status = run_private(spec, sys.argv[1:], env)
    if status < 0:  # end as bwrap ended: by the same signal
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
        return 128 - status
    return status


if __name__ == "__main__":
    sys.exit(main())
