"""Ansible action ``synchronize`` (ansible.posix's), for nodes of the local provider too.

ansible.posix's action runs ``rsync`` on the controller, reaching a node over
ssh (or a container client); a host on any other connection fails ("synchronize
uses rsync to function ..."). A node of the local provider (``zuulish_local``)
has its files in its work directory (``zuulish_work_dir``), which the controller
sees at the same path, read-write; so for such a node this action turns the
node's side of the transfer into that path and hands the task to ansible.posix's
action as a transfer on the controller: one local ``rsync`` (through the
``local`` connection, which in untrusted playbooks is zuulish's refusing one:
the untrusted guard allows it for this task after checking its paths). On the
node, ``~`` and relative paths are its work directory, as they are a remote
node's home; a node path outside it (the node's private ``/tmp``, say) cannot be
reached and fails the task, saying so. Every other host is ansible.posix's case;
over ssh with ``use_ssh_args`` on unless the task says otherwise, so that rsync's
ssh checks the node's key against the build's ``known_hosts`` as Ansible's does
(zuulish's ssh settings are in ``ANSIBLE_SSH_ARGS``, not in ``~/.ssh``).

Tasks written ``ansible.posix.synchronize`` reach this action too: the
``zuulish_console`` callback renames them to ``ansible.legacy.synchronize``.
Ansible loads this file on its own (in the sandbox too), so it cannot import
zuulish.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from ansible.plugins.loader import connection_loader
from ansible_collections.ansible.posix.plugins.action.synchronize import (
    ActionModule as PosixSynchronize,
)

NODE_TRANSPORT = "zuulish_local"
WORK_DIR_VAR = "zuulish_work_dir"


def node_path(path: Any, work_dir: str) -> str:
    """``path`` on a local node as the controller sees it: ``~`` and relative paths
    in the node's work dir. Raises ValueError when it lies outside that dir."""
    if not isinstance(path, str) or not path:
        raise ValueError("synchronize needs both src and dest")
    if path.startswith("rsync://") or ":" in path.split("/", 1)[0]:
        raise ValueError(f"synchronize with a local node: {path!r} names another host")
    if path == "~" or path.startswith("~/"):
        path = work_dir + path[1:]
    full = os.path.normpath(os.path.join(work_dir, path))
    real, root = os.path.realpath(full), os.path.realpath(work_dir)
    if real != root and not real.startswith(root + os.sep):
        raise ValueError(
            f"synchronize with a local node: {path} is outside the node's work directory "
            f"{work_dir}; the node's other paths (its private /tmp, say) cannot be reached")
    return full + "/" if path.endswith("/") and not full.endswith("/") else full


class ActionModule(PosixSynchronize):

    def _local_node_dir(self, task_vars: dict[str, Any]) -> str | None:
        """The node's work dir when the task's host is a local node, else None."""
        if self._connection.transport != NODE_TRANSPORT or self._task.delegate_to:
            return None
        work = None
        with contextlib.suppress(KeyError):
            work = self._connection.get_option("work_dir")
        work = work or task_vars.get(WORK_DIR_VAR) or os.getcwd()
        return str(work)

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars if task_vars is not None else {}
        work = self._local_node_dir(task_vars)
        if work is None:
            if self._connection.transport == "ssh" and "use_ssh_args" not in self._task.args:
                # rsync's ssh checks the node's key against the build's known_hosts and
                # uses the build's agent, as Ansible's ssh does (the executor's ssh_args)
                self._task.args = {**self._task.args, "use_ssh_args": True}
            return super().run(tmp, task_vars)
        side = "src" if self._task.args.get("mode", "push") == "pull" else "dest"
        try:
            path = node_path(self._task.args.get(side), work)
        except ValueError as exc:
            return {"failed": True, "msg": str(exc)}
        self._task.args = {**self._task.args, side: path}
        try:
            local = connection_loader.get("local", self._play_context)
        except TypeError:
            local = connection_loader.get("local", self._play_context,
                                          self._connection._new_stdin)
        local._remote_is_local = True
        self._connection = local
        return super().run(tmp, task_vars)
