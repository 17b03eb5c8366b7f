"""Callback ``zuulish_untrusted``: Zuul's rules for untrusted playbooks on the executor.

Loaded only for untrusted playbooks (its directory comes first in their callback
path), before any task runs. It installs the untrusted guard in Ansible's task
executor (in ansible-playbook's main process, so every forked worker has it):

- Connections. A task's connection must be one that reaches a node (``ssh``,
  ``paramiko_ssh``, ``winrm``, ``psrp``, ``zuulish_local``, ansible.netcommon's
  ``network_cli``/``netconf``/``httpapi``) or the refusing ``local`` of
  ``untrusted/connection`` (localhost). Any other (``ansible.builtin.local``,
  which would bypass the refusing one, ``chroot``, container clients...) fails
  the task: "untrusted playbooks may not use the connection ...".
- Localhost. A task on localhost may be an action that runs inside Ansible and
  touches no host (``debug``, ``set_fact``, ``assert``, ``fail``, ``meta``,
  ``include_*``/``import_*``, ``add_host``, ``group_by``, ``set_stats``,
  ``include_vars``, ``zuul_return``), fact gathering (``setup``,
  ``gather_facts``: facts of the sandbox) or a file operation of ``LOCAL_MODULES``
  (``file``, ``stat``, ``find``, ``copy``, ``template``, ``lineinfile``,
  ``blockinfile``, ``replace``, ``ini_file``, ``archive``, ``unarchive``,
  ``assemble``, ``slurp``, ``tempfile``, ``known_hosts``, ``uri``,
  ``synchronize``) whose paths lie in the work directory (written) or in the
  work directory, the playbook's repository or its roles (read), run by
  Ansible's or an installed collection's module (not one a job ships). Anything
  else (``command``, ``shell``, ``script``, ``raw``, any other module) is
  refused, naming the rule; so is a path outside those directories.
- The controller's side of tasks on nodes: ``fetch`` writes only into the work
  directory; ``copy``, ``template``, ``script``, ``unarchive``, ``assemble``,
  ``patch`` and ``include_vars`` read only from the work directory, the
  playbook's repository and its roles; ``synchronize`` keeps its controller-side
  path there too (pull: written; push: read), takes only ``rsync_opts`` of
  ``RSYNC_OPTIONS`` and none of the options that name local programs or keys.

An allowed task runs with the refusing ``local`` connection's permit (while it
runs, and for it only); a refused one fails with the rule as its message. These
checks are Zuul's rules and defence in depth: the playbook runs in its
bubblewrap sandbox, which sees only the work directory and its own data
directory read-write (``zuulish.executor.sandbox``). The directories come from
the executor through the environment (``ZUULISH_WORK_DIR``,
``ZUULISH_READ_DIRS``), which no job variable can change.

Ansible loads this file on its own, in the sandbox, so it cannot import zuulish.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import ansible
from ansible.executor.task_executor import TaskExecutor
from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import connection_loader

DOCUMENTATION = """
name: zuulish_untrusted
type: aggregate
short_description: Zuul's rules for untrusted playbooks on the executor
description:
  - Installs zuulish's untrusted guard in Ansible's task executor.
"""

WORK_ENV = "ZUULISH_WORK_DIR"
READ_ENV = "ZUULISH_READ_DIRS"

LOCALHOST_RULE = ("untrusted playbooks may not run tasks on localhost other than file "
                  "operations inside the work directory, zuul_return and Ansible's own "
                  "actions (debug, set_fact, assert, include_*...)")
PATH_RULE = "untrusted playbooks may only {verb} files inside the work directory{also}"
CONNECTION_RULE = "untrusted playbooks may not use the connection '{name}'"
MODULE_RULE = ("untrusted playbooks may not run a module of their own on localhost: "
               "'{name}' is not Ansible's")

# Actions that run inside ansible-playbook and reach no host.
CONTROLLER_ACTIONS = frozenset({
    "debug", "set_fact", "assert", "fail", "meta", "include_tasks", "import_tasks",
    "include_role", "import_role", "include", "add_host", "group_by", "set_stats",
    "include_vars", "zuul_return", "pause", "validate_argument_spec", "end_play"})
# Facts of localhost (the playbook's sandbox), as gathering: smart asks for them.
FACT_ACTIONS = frozenset({"gather_facts", "setup"})
# Where a module's name may come from for its short name to count.
KNOWN_NAMESPACES = ("ansible.builtin", "ansible.legacy", "ansible.posix", "community.general")

W, R, RLIST, SRC, TSRC, VSRC, LINK, URL, NEVER = ("w", "r", "rlist", "src", "tsrc", "vsrc",
                                                  "link", "url", "never")
SOURCE_DIRS = {SRC: "files", TSRC: "templates", VSRC: "vars"}  # where a relative one is
# File operations allowed on localhost: argument -> how it is checked.
LOCAL_MODULES: dict[str, dict[str, str]] = {
    "file": {"path": W, "dest": W, "name": W, "src": LINK},
    "stat": {"path": R},
    "find": {"paths": RLIST},
    "copy": {"dest": W, "src": SRC},
    "template": {"dest": W, "src": TSRC},
    "lineinfile": {"path": W, "dest": W, "name": W},
    "blockinfile": {"path": W, "dest": W, "name": W},
    "replace": {"path": W, "dest": W, "name": W},
    "ini_file": {"path": W, "dest": W},
    "archive": {"path": RLIST, "dest": W},
    "unarchive": {"src": SRC, "dest": W},
    "assemble": {"src": SRC, "dest": W},
    "slurp": {"src": R, "path": R},
    "tempfile": {"path": W},
    "known_hosts": {"path": W},
    "uri": {"dest": W, "src": R, "url": URL, "unix_socket": NEVER},
    "synchronize": {},  # checked by _check_synchronize
}
REQUIRED_LOCAL = {"tempfile": "path"}  # without it, outside the work directory
# What the controller reads or writes for tasks on any host.
CONTROLLER_SIDE: dict[str, dict[str, str]] = {
    "fetch": {"dest": W},
    "copy": {"src": SRC},
    "template": {"src": TSRC},
    "unarchive": {"src": SRC},
    "assemble": {"src": SRC},
    "patch": {"src": SRC},
    "script": {"cmd": SRC, "_raw_params": SRC},
    "include_vars": {"file": VSRC, "dir": VSRC, "_raw_params": VSRC},
}
REMOTE_SOURCE = ("copy", "unarchive", "assemble", "patch")  # with remote_src: on the node
ALLOWED_CONNECTIONS = frozenset({
    "ssh", "paramiko_ssh", "paramiko", "winrm", "psrp", "zuulish_local",
    "ansible.netcommon.network_cli", "ansible.netcommon.netconf",
    "ansible.netcommon.httpapi"})
# synchronize: options that would run a local program, read a local key or path
SYNC_FORBIDDEN = ("rsync_path", "private_key", "ssh_args", "link_dest", "_local_rsync_path",
                  "_local_rsync_password", "_substitute_controller", "_ssh_args")
RSYNC_OPTIONS = re.compile(
    r"^--(?:(?:ex|in)clude=.*|delete(?:-\w+)?|no-[a-z-]+|chmod=.*|quiet|verbose|"
    r"prune-empty-dirs|ignore-existing|update|checksum|compress|safe-links|size-only|"
    r"m(?:ax|in)-size=\w+|itemize-changes|stats|human-readable|omit-dir-times|"
    r"numeric-ids|blocking-io|timeout=\d+|contimeout=\d+|existing|ignore-times|force|"
    r"sparse|whole-file|partial|copy-links|copy-unsafe-links|links|hard-links)$"
    r"|^-[qvzcmuhlLH]+$")
URL_SCHEMES = ("http", "https", "ftp")


class Refused(Exception):
    """A task the rules do not allow; its message names the rule."""


def _short(action: str) -> str | None:
    """The short name of ``action`` when it comes from a namespace we know."""
    namespace, _, name = action.rpartition(".")
    return name if not namespace or namespace in KNOWN_NAMESPACES else None


def _dirs(name: str) -> list[str]:
    return [os.path.realpath(p) for p in os.environ.get(name, "").split(os.pathsep) if p]


def _inside(path: str, roots: list[str]) -> bool:
    real = os.path.realpath(os.path.expanduser(path))
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep)
               for root in roots)


class Guard:
    """The rules for one task (``handler``: its action plugin)."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.task = handler._task
        self.work = _dirs(WORK_ENV)
        self.readable = self.work + _dirs(READ_ENV)
        action = self.task.resolved_action or self.task.action
        self.action = str(action)
        self.short = _short(self.action)

    @property
    def local(self) -> bool:
        return getattr(self.handler._connection, "transport", None) == "local"

    def _refuse_path(self, path: str, arg: str, write: bool) -> None:
        also = "" if write else ", its playbook's repository or its roles"
        rule = PATH_RULE.format(verb="write" if write else "read", also=also)
        raise Refused(f"{rule}: {self.action} {arg}={path!r} is outside "
                      f"{'it' if write else 'them'}")

    def _path(self, arg: str, value: Any, kind: str) -> None:
        if value is None or value == "":
            return
        if kind == NEVER:
            raise Refused(f"{LOCALHOST_RULE}: {self.action} {arg} is not allowed there")
        if kind == URL:
            scheme = urlparse(str(value)).scheme
            if scheme not in URL_SCHEMES:
                raise Refused(f"{LOCALHOST_RULE}: {self.action} to a {scheme or 'schemeless'} "
                              f"URL (only {', '.join(URL_SCHEMES)})")
            return
        if kind == RLIST:
            values = value if isinstance(value, list) else str(value).split(",")
            for item in values:
                self._path(arg, str(item).strip(), R)
            return
        if kind in SOURCE_DIRS:
            if arg in ("cmd", "_raw_params") and self.short == "script":
                value = (str(value).split() or [""])[0]  # the script, before its arguments
            value = self._find_source(str(value), SOURCE_DIRS[kind])
            kind = R
        if kind == LINK:
            if self.task.args.get("state") not in ("link", "hard"):
                return
            base = str(self.task.args.get("path") or self.task.args.get("dest")
                       or self.task.args.get("name") or "")
            value = os.path.join(os.path.dirname(base), str(value))
            kind = R
        text = str(value)
        if not os.path.isabs(os.path.expanduser(text)):
            raise Refused(f"{LOCALHOST_RULE}: {self.action} {arg}={text!r} must be an "
                          "absolute path inside the work directory")
        if not _inside(text, self.work if kind == W else self.readable):
            self._refuse_path(text, arg, kind == W)

    def _find_source(self, value: str, kind: str) -> str:
        """A source the action reads on the controller, as the action finds it."""
        if os.path.isabs(os.path.expanduser(value)):
            return value
        try:
            return str(self.handler._find_needle(kind, value))
        except Exception:  # not found: the action itself fails, saying so
            return os.path.join(self.readable[0] if self.readable else "/", ".")

    def _args(self, table: dict[str, str]) -> None:
        for arg, kind in table.items():
            self._path(arg, self.task.args.get(arg), kind)

    def _module_is_ansibles(self) -> bool:
        """Whether the module the task runs is Ansible's, a collection's or zuulish's
        (not one shipped by a job: it would run on the executor)."""
        loader = self.handler._shared_loader_obj.module_loader
        found = loader.find_plugin(self.action, collection_list=self.task.collections)
        if not found:
            return True  # an action without a module
        real = os.path.realpath(found)
        ours = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
        core = os.path.dirname(os.path.realpath(ansible.__file__))
        # ansible-core, the collections installed beside it (the ``ansible`` package's;
        # not those a job might put beside its playbook), and zuulish's own
        shipped = [core, os.path.join(os.path.dirname(core), "ansible_collections"), ours]
        return any(real.startswith(root + os.sep) for root in shipped)

    def _check_synchronize(self, task_vars: dict[str, Any]) -> None:
        args = self.task.args
        for name in SYNC_FORBIDDEN:
            if args.get(name) not in (None, "", False):
                raise Refused(f"untrusted playbooks may not give synchronize {name}")
        if task_vars.get("ansible_rsync_path"):
            raise Refused("untrusted playbooks may not set ansible_rsync_path")
        options = args.get("rsync_opts") or []
        for option in options if isinstance(options, list) else str(options).split(","):
            if not RSYNC_OPTIONS.match(str(option)):
                raise Refused(f"untrusted playbooks may not give rsync the option {option!r}")
        transport = getattr(self.handler._connection, "transport", None)
        if self.task.delegate_to and transport != "local":
            raise Refused("untrusted playbooks may not delegate synchronize to another node")
        for arg in ("src", "dest"):
            value = str(args.get(arg) or "")
            if value.startswith("rsync://") or ":" in value.split("/", 1)[0]:
                raise Refused(f"untrusted playbooks may not name a host in synchronize {arg}")
        pull = args.get("mode", "push") == "pull"
        if transport == "local":  # both sides on the executor
            self._path("src", args.get("src"), SRC)
            self._path("dest", args.get("dest"), W)
        elif pull:  # (a local node's side: zuulish's synchronize action keeps it in the
            # node's work directory)
            self._path("dest", args.get("dest"), W)
        else:
            self._path("src", args.get("src"), SRC)

    def check(self, task_vars: dict[str, Any]) -> bool:
        """Raises Refused for a task the rules forbid; True when it may use the
        refusing ``local`` connection."""
        short = self.short
        if short in CONTROLLER_ACTIONS:
            self._args(CONTROLLER_SIDE.get(short, {}))
            return False
        if short == "synchronize":
            self._check_synchronize(task_vars)
            return True
        if self.local:
            if short in FACT_ACTIONS:  # (gathering facts about the sandbox)
                if not self._module_is_ansibles():
                    raise Refused(MODULE_RULE.format(name=self.action))
                return True
            if short not in LOCAL_MODULES:
                raise Refused(f"{LOCALHOST_RULE}: '{self.action}' refused")
            if not self._module_is_ansibles():
                raise Refused(MODULE_RULE.format(name=self.action))
            required = REQUIRED_LOCAL.get(short)
            if required and not self.task.args.get(required):
                raise Refused(f"{LOCALHOST_RULE}: {self.action} needs {required} inside it")
            self._args(LOCAL_MODULES[short])
            return True
        table = CONTROLLER_SIDE.get(short or "", {})
        if short in REMOTE_SOURCE and self.task.args.get("remote_src"):
            table = {k: v for k, v in table.items() if v not in SOURCE_DIRS}
        self._args(table)
        return False


def _local_class() -> Any:
    return connection_loader.get("local", class_only=True)


@contextlib.contextmanager
def _permitted(name: str) -> Iterator[None]:
    local = _local_class()
    before = getattr(local, "permitted", None)
    local.permitted = name
    try:
        yield
    finally:
        local.permitted = before


def _guarded(handler: Any) -> Any:
    run = handler.run

    def checked_run(tmp: Any = None, task_vars: dict[str, Any] | None = None) -> Any:
        guard = Guard(handler)
        try:
            permit = guard.check(task_vars or {})
        except Refused as exc:
            return {"failed": True, "msg": str(exc)}
        if not permit:
            return run(tmp, task_vars=task_vars)
        with _permitted(guard.action):
            return run(tmp, task_vars=task_vars)

    handler.run = checked_run
    return handler


def _connection_name(connection: Any) -> str:
    """The connection plugin's name as a task gives it (``ansible.builtin.ssh``)."""
    return str(getattr(connection, "ansible_name", None) or getattr(connection, "transport", ""))


def _connection_allowed(connection: Any) -> bool:
    if getattr(type(connection), "zuulish_guarded", False):
        return True
    name = _connection_name(connection)
    namespace, _, short = name.rpartition(".")
    if namespace in ("", "ansible.builtin", "ansible.legacy"):
        return short in ALLOWED_CONNECTIONS
    return name in ALLOWED_CONNECTIONS


def install() -> None:
    """Wrap the task executor's action and connection lookups (once)."""
    if getattr(TaskExecutor, "_zuulish_guarded", False):
        return
    get_handler = TaskExecutor._get_action_handler_with_module_context
    get_connection = TaskExecutor._get_connection

    def action_handler(self: Any, templar: Any) -> Any:
        handler, module = get_handler(self, templar)
        return _guarded(handler), module

    def connection(self: Any, cvars: Any, templar: Any, current: Any) -> Any:
        found = get_connection(self, cvars, templar, current)
        if not _connection_allowed(found):
            from ansible.errors import AnsibleError

            raise AnsibleError(CONNECTION_RULE.format(name=_connection_name(found)))
        return found

    TaskExecutor._get_action_handler_with_module_context = action_handler
    TaskExecutor._get_connection = connection
    TaskExecutor._zuulish_guarded = True


install()


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "zuulish_untrusted"
    CALLBACK_NEEDS_ENABLED = False
