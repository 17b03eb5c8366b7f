"""The bubblewrap sandbox that untrusted playbooks run in.

Playbooks of untrusted projects run ``ansible-playbook`` (and all it starts:
workers, lookups such as ``pipe``) inside ``bwrap``; tasks on nodes of the
local provider run in the build's local node (``local_node.py``), a sandbox
of its own that the playbook's reaches through the node agent's socket. What
the sandbox sees, at the same paths as outside:

- read-write: the build's work directory, and a fresh ansible-runner data
  directory of this one playbook run (inventory, extra vars, event files);
  ``/tmp`` and the user's home directory (``HOME``; Ansible's ``~`` on the
  controller) are private, empty tmpfs mounts (a task on a node sees that
  node's home, which lasts the build: ``local_node.py``);
- read-only: ``/usr`` (and the ``/bin``, ``/lib``... links or directories),
  the Python installation ansible-playbook runs from (the virtualenv and its
  base interpreter), zuulish's Ansible plugins and empty ``ansible.cfg``, the
  playbook's repository (or its directory) and its roles path, and a short
  list of ``/etc`` files that name resolution, TLS and ssh need, and the
  build's SSH directory (its ssh-agent's socket and ``known_hosts``; the
  executor's key itself stays outside, in the agent), and, for a build with a
  local node, ``<build dir>/node`` (its agent's socket) and the agent's client
  (``node_agent.py``, which the ``zuulish_local`` connection loads);
- the sandbox's root (where bwrap makes mount points) is read-only;
- nothing else: not the executor's state directory (the store database,
  project keys, other builds' directories and logs), not the user's real
  home directory or ``/home``, not ``/etc/shadow`` or ssh host keys, not
  ``/var`` or ``/run``;
- its own PID and IPC namespaces (``/proc`` shows only the sandbox), every
  capability dropped (root inside cannot override file permissions or mount),
  a new session (no writing into the executor's terminal), killed with its
  parent;
- a network of its own (``executor.sandbox_network`` in ``zuulish.yaml``):

  ``private`` (the default): a network namespace per playbook run, reaching
  out through ``pasta`` (Debian's ``passt`` package), which carries the
  sandbox's TCP, UDP and ICMP echo traffic over ordinary sockets of the
  executor host. Remote nodes (ssh, through the build's agent socket) and
  package registries are reached as from the host. What pasta maps by
  default is turned off: nothing is forwarded from the namespace's loopback
  to the host's (``-T none -U none``: the host's 127.0.0.1 services, such as
  a database with trust authentication, stay out of reach), the gateway's
  address is not mapped to the host (``--no-map-gw``), and no port of the
  sandbox is published on the host (``-t none -u none``). The namespace has
  the host's address and routes (``--config-net``), so that address is the
  sandbox's own; services the host binds on its other addresses are reached
  as any machine on the network reaches them. Abstract Unix sockets, which
  belong to the network namespace, are out of reach too.

  ``none``: a network namespace with only its own loopback (remote nodes are
  out of reach). ``host``: the executor host's network, as it is, loopback
  included (the host's own services must then authenticate).

Ansible's settings, the environment ansible-runner gives it and a few locale
variables are passed in; the executor's other environment variables are not
(``sandbox_launch``, which also starts pasta for a private network: bwrap
makes the namespace and holds the command until pasta has configured it).

Trusted playbooks (of config projects) run in bubblewrap too, in a view of
their own (``TrustedSpec``, ``trusted_bwrap_args``; ``trusted_view.py`` says
what it holds): the same system directories, Python installation, plugins,
private ``/tmp`` and home, PID, IPC and UTS namespaces and dropped
capabilities, but the executor host's network, and the binds the executor
lists for the build (its build directory and log directory read-write, the
operator's ``executor.trusted_ro_paths`` / ``trusted_rw_paths``). Never the
rest of the state directory.
"""

from __future__ import annotations

import atexit
import json
import os
import pwd
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from zuulish.executor import sandbox_launch

LAUNCHER_SOURCE = Path(sandbox_launch.__file__)
_launcher_lock = threading.Lock()
_launcher: Path | None = None
PLUGINS_DIR = Path(__file__).parent / "ansible_plugins"
NODE_AGENT = Path(__file__).parent / "node_agent.py"
UNTRUSTED_CONNECTIONS = PLUGINS_DIR / "untrusted" / "connection"
UNTRUSTED_CALLBACKS = PLUGINS_DIR / "untrusted" / "callback"
# The untrusted guard's directories (``untrusted/callback/zuulish_untrusted.py``).
WORK_DIR_ENV = "ZUULISH_WORK_DIR"
READ_DIRS_ENV = "ZUULISH_READ_DIRS"
# installed into an untrusted playbook's ansible-playbook before it starts
UNTRUSTED_GUARD = PLUGINS_DIR / "untrusted" / "untrusted_guard.py"
# The system's programs and libraries: bound read-only (or linked, where merged-usr
# makes them links into /usr).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Of /etc, only what name resolution, TLS, locales and ssh clients read.
ETC_FILES = ("passwd", "group", "hosts", "host.conf", "resolv.conf", "nsswitch.conf",
             "gai.conf", "services", "protocols", "ld.so.cache", "ld.so.conf",
             "ld.so.conf.d", "localtime", "timezone", "alternatives", "ssl",
             "ca-certificates", "ca-certificates.conf", "ssh/ssh_config",
             "ssh/ssh_config.d", "mime.types", "os-release")


# executor.sandbox_network: the network an untrusted playbook's sandbox has.
NETWORK_MODES = ("private", "host", "none")
DEFAULT_NETWORK = "private"
# pasta's options for a private network: configure the namespace like the host's
# external interface, and map nothing of the host into it (nor of it onto the host).
PASTA_OPTIONS = ("--config-net", "--no-map-gw", "-t", "none", "-u", "none",
                 "-T", "none", "-U", "none")


class SandboxUnavailable(Exception):
    """bubblewrap (or pasta, for a private network) is not installed, so the
    playbooks that need it cannot run."""


def find_bwrap() -> str | None:
    """The ``bwrap`` program's path, or None when bubblewrap is not installed."""
    return shutil.which("bwrap")


def find_pasta() -> str | None:
    """The ``pasta`` program's path, or None when passt is not installed."""
    return shutil.which("pasta")


def tools(network: str = DEFAULT_NETWORK, whose: str = "untrusted") -> tuple[str, str | None]:
    """The paths of ``bwrap`` and, for a private network, ``pasta`` (else None).

    Raises SandboxUnavailable, naming the package to install, when one is missing
    (``whose``: the playbooks that then cannot run).
    """
    bwrap = find_bwrap()
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed on this executor: "
                                 f"{whose} playbooks cannot run")
    if network != "private":
        return bwrap, None
    pasta = find_pasta()
    if pasta is None:
        raise SandboxUnavailable(
            "pasta is not installed on this executor (apt-get install passt): untrusted "
            "playbooks cannot run with executor.sandbox_network: private (set it to "
            "'none' or 'host' in zuulish.yaml to run them without pasta)")
    return bwrap, pasta


def unavailable(network: str = DEFAULT_NETWORK) -> str | None:
    """Why untrusted playbooks cannot run here with ``network``, or None."""
    try:
        tools(network)
    except SandboxUnavailable as exc:
        return str(exc)
    return None


def python_roots() -> list[Path]:
    """Directories of the Python installation that ansible-playbook runs from."""
    roots = {Path(sys.prefix), Path(sys.exec_prefix), Path(sys.base_prefix),
             Path(sys.base_exec_prefix), Path(sys.executable).resolve().parent.parent}
    return sorted({r.resolve() for r in roots} | roots)


def home_dir() -> str:
    """The home directory of the executor's user (what ``~`` means to Ansible)."""
    return pwd.getpwuid(os.getuid()).pw_dir or "/"


def playbook_root(playbook: Path) -> Path:
    """The playbook's repository (the nearest parent with ``.git``), else its directory."""
    playbook = playbook.absolute()
    for parent in playbook.parents:
        if (parent / ".git").exists():
            return parent
    return playbook.parent


# The directories beside a playbook or in a role that Ansible loads plugins from.
PLUGIN_DIRS = frozenset({
    "action_plugins", "become_plugins", "cache_plugins", "callback_plugins",
    "cliconf_plugins", "connection_plugins", "filter_plugins", "httpapi_plugins",
    "inventory_plugins", "lookup_plugins", "netconf_plugins", "shell_plugins",
    "strategy_plugins", "terminal_plugins", "test_plugins", "vars_plugins"})


# What a collection's plugins/ may hold that runs on nodes (or only documents).
COLLECTION_NODE_DIRS = frozenset({"modules", "module_utils", "doc_fragments"})


def shipped_plugins(playbook: Path, roles_path: list[Path]) -> list[Path]:
    """Ansible plugin directories (``PLUGIN_DIRS``) beside ``playbook`` or in a role.

    Ansible loads them into ``ansible-playbook`` itself; from an untrusted
    project they could replace the refusing ``local`` connection. Modules
    (``library/``, ``module_utils/``) run on the nodes and are allowed. A link
    with such a name counts, wherever it leads. So do the plugins of collections
    shipped beside the playbook (``collections/ansible_collections/NS/NAME/plugins/``),
    other than their modules.
    """
    places = [playbook.parent]
    for roles in {playbook.parent / "roles", *roles_path}:
        if roles.is_dir():
            places += [role for role in sorted(roles.iterdir()) if role.is_dir()]
    found = [entry for place in places for entry in sorted(place.iterdir())
             if entry.name in PLUGIN_DIRS and (entry.is_symlink() or entry.is_dir())]
    # Ansible also loads the collections beside the playbook: their action, connection
    # or callback plugins would run in ansible-playbook just the same
    collections = playbook.parent / "collections" / "ansible_collections"
    if collections.is_dir():
        found += sorted(entry for entry in collections.glob("*/*/plugins/*")
                        if entry.name not in COLLECTION_NODE_DIRS)
    return found


def untrusted_env(env: dict[str, str], work_dir: Path,
                  read_dirs: Iterable[Path]) -> dict[str, str]:
    """What an untrusted playbook's environment adds to ``env``: the refusing
    ``local`` connection and the untrusted guard first in Ansible's plugin paths,
    and the directories the guard's localhost rules allow (``work_dir`` to write;
    it and ``read_dirs``, the playbook's repository and roles, to read)."""
    def first(variable: str, directory: Path) -> str:
        return os.pathsep.join(p for p in (str(directory), env.get(variable, "")) if p)

    return {"ANSIBLE_CONNECTION_PLUGINS": first("ANSIBLE_CONNECTION_PLUGINS",
                                                UNTRUSTED_CONNECTIONS),
            "ANSIBLE_CALLBACK_PLUGINS": first("ANSIBLE_CALLBACK_PLUGINS", UNTRUSTED_CALLBACKS),
            WORK_DIR_ENV: str(work_dir.absolute()),
            READ_DIRS_ENV: os.pathsep.join(str(p.absolute()) for p in read_dirs)}


@dataclass(frozen=True)
class SandboxSpec:
    """What one sandboxed playbook run may see."""

    work_dir: Path  # read-write: the build's work directory
    run_dir: Path  # read-write: this run's ansible-runner data directory
    read_only: tuple[Path, ...]  # playbook repository, roles path
    cwd: Path  # where ansible-playbook starts
    network: str = DEFAULT_NETWORK  # one of NETWORK_MODES
    tmp_size: int | None = None  # the most bytes its /tmp may hold (None: no bound)


def _bind_system(args: list[str]) -> None:
    for name in SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", str(path.readlink()), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    for name in ETC_FILES:
        path = Path("/etc") / name
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]


def _base_args(network: str, tmp_size: int | None = None) -> list[str]:
    """What every sandbox has: namespaces, no capabilities, a private ``/tmp`` (of at
    most ``tmp_size`` bytes when given) and home, the system's programs and the
    Python installation with zuulish's plugins."""
    args = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--cap-drop", "ALL", "--dev", "/dev", "--proc", "/proc"]
    if tmp_size is not None:
        args += ["--size", str(tmp_size)]
    args += ["--tmpfs", "/tmp"]
    if network != "host":
        args.append("--unshare-net")  # bwrap brings its loopback up
    home = home_dir()
    if home != "/":
        args += ["--tmpfs", home]  # mounted before the binds that may lie under it
    args += ["--setenv", "HOME", home, "--setenv", "TMPDIR", "/tmp"]
    _bind_system(args)
    return args


def _bind(args: list[str], binds: list[tuple[Path, bool]]) -> None:
    """Bind each existing path at its own place, read-write or read-only, in order."""
    seen: set[tuple[str, bool]] = set()
    for path, writable in binds:
        text = str(path.absolute())
        if (text, writable) not in seen and path.exists():
            seen.add((text, writable))
            args += ["--bind" if writable else "--ro-bind", text, text]


def _shipped() -> list[tuple[Path, bool]]:
    from zuulish.executor.ansible_run import EMPTY_CONFIG  # a cycle at import time

    # (and the local node agent's client, which the zuulish_local connection loads)
    return [(p, False) for p in (*python_roots(), PLUGINS_DIR, EMPTY_CONFIG, NODE_AGENT)]


def _outer_first(binds: Iterable[tuple[Path, bool]]) -> list[tuple[Path, bool]]:
    """``binds`` with outer directories before those inside them (a later bind covers
    an earlier one), otherwise in their order."""
    return sorted(binds, key=lambda bind: len(bind[0].absolute().parts))


def bwrap_args(spec: SandboxSpec) -> list[str]:
    """bubblewrap's arguments (before ``--`` and the program) for ``spec``."""
    if spec.network not in NETWORK_MODES:
        raise ValueError(f"unknown sandbox network {spec.network!r}")
    args = _base_args(spec.network, spec.tmp_size)
    # Outer directories first: the playbook's repository (read-only) usually lies
    # in the work dir (read-write), and a later bind covers an earlier one.
    binds = [*((p, False) for p in spec.read_only), (spec.work_dir, True), (spec.run_dir, True)]
    _bind(args, [*_shipped(), *_outer_first(binds)])
    args += ["--remount-ro", "/", "--chdir", str(spec.cwd.absolute())]
    return args


@dataclass(frozen=True)
class TrustedSpec:
    """What a trusted playbook's sandbox sees besides the system and Python: each
    path at its own place, read-write or read-only, bound outer directories first
    and otherwise in this order (a later bind covers an earlier one: a read-only
    ``ansible/`` inside a read-write build directory)."""

    binds: tuple[tuple[Path, bool], ...]
    cwd: Path | None = None  # where the program starts (bwrap's --chdir)

    def covers(self, path: Path) -> bool:
        """Whether ``path`` lies in (or is) one of the binds."""
        path = path.absolute()
        return any(path == p.absolute() or path.is_relative_to(p.absolute())
                   for p, _ in self.binds)


def trusted_bwrap_args(spec: TrustedSpec) -> list[str]:
    """bubblewrap's arguments for a trusted playbook's sandbox: the host's network."""
    args = _base_args("host")
    # outer directories first, as for untrusted playbooks: a playbook's repository
    # bound read-only must not cover the read-write directories inside it
    _bind(args, [*_shipped(), *_outer_first(spec.binds)])
    args += ["--remount-ro", "/"]
    if spec.cwd is not None:
        args += ["--chdir", str(spec.cwd.absolute())]
    return args


def launcher_program() -> Path:
    """The sandbox launcher as an executable file, written once per process.

    Every run used to write its own copy and execute it at once; a thread forking
    while another thread still held such a copy open for writing made that exec fail
    with ETXTBSY ("Text file busy"). A file written once, long closed before any run
    executes it, cannot be busy. Its directory is private to the executor's user and
    no sandbox binds it."""
    global _launcher
    with _launcher_lock:
        if _launcher is None or not _launcher.is_file():
            home = Path(tempfile.mkdtemp(prefix="zuulish-launcher-"))
            atexit.register(_remove_launcher, home, os.getpid())
            written = home / "launch"
            written.write_text(f"#!{sys.executable} -IS\n" + LAUNCHER_SOURCE.read_text())
            written.chmod(0o700)
            _launcher = written
        return _launcher


def _remove_launcher(home: Path, owner: int) -> None:
    if os.getpid() == owner:  # not from a forked child that exits normally
        shutil.rmtree(home, ignore_errors=True)


def _write_launcher(launch_dir: Path, args: list[str], program: str | list[str], path: str,
                    pasta: dict | None, limits: dict | None = None) -> dict[str, str]:
    bin_dir = launch_dir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    args_file = launch_dir / "sandbox.json"
    args_file.write_text(json.dumps({"bwrap": args[0], "args": args[1:],
                                     "program": program, "pasta": pasta,
                                     # the launcher dies with the executor's thread
                                     # that starts it (SIGKILL of the executor too)
                                     "die_with": os.getpid(), **(limits or {})}))
    # a link to the launcher written once (see launcher_program), never a fresh copy
    launcher = bin_dir / "ansible-playbook"
    launcher.unlink(missing_ok=True)
    launcher.symlink_to(launcher_program())
    return {sandbox_launch.ARGS_ENV: str(args_file),
            "PATH": os.pathsep.join([str(bin_dir), path])}


def prepare(spec: SandboxSpec, launch_dir: Path, program: str | list[str], path: str,
            limits: dict | None = None) -> dict[str, str]:
    """Write the launcher for one run into ``launch_dir`` (which the sandbox does
    not see); returns the environment (``PATH`` first the launcher's, then
    ``path``) that makes ansible-runner start it. ``limits``: the launcher's
    ``cgroups`` to join and ``rlimits`` to set (``sandbox_launch``)."""
    bwrap, found = tools(spec.network)
    pasta = None
    if found is not None:
        pasta = {"program": found, "options": list(PASTA_OPTIONS),
                 "log": str((launch_dir / "pasta.log").absolute())}
    return _write_launcher(launch_dir, [bwrap, *bwrap_args(spec)], program, path, pasta,
                           limits)


def prepare_trusted(spec: TrustedSpec, launch_dir: Path, program: str,
                    path: str) -> dict[str, str]:
    """As ``prepare``, for a trusted playbook (``launch_dir`` must lie outside
    ``spec``'s read-write binds: the sandbox may not rewrite its own arguments)."""
    bwrap, _ = tools("host", whose="trusted")
    return _write_launcher(launch_dir, [bwrap, *trusted_bwrap_args(spec)], program, path,
                           None)
