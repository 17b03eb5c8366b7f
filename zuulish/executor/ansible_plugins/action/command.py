"""Ansible actions ``command`` (and, through it, ``shell``) with a live console.

Like Ansible's own action of that name, it runs the module
``ansible.legacy.command`` (zuulish's ``library/command.py``, which replaces the
builtin module of that name). When the task's host has ``zuulish_console_dir``
(set by the executor for the nodes it streams) and the task is not delegated and
not asynchronous, it also hands the module a log id, ``<task uuid>-<host key>-<n>``
(``n`` counts the task's runs on this host in this worker: loop items, retries),
so the module writes the command's output to ``<zuulish_console_dir>/<id>.log``
as it runs, where the executor reads it (``zuulish.executor.console``, which
computes the same id). The two options are taken out of the result's
``invocation`` again, so the result is the builtin's.

Ansible loads this file on its own (in the sandbox too), so it cannot import zuulish.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

CONSOLE_VAR = "zuulish_console_dir"
OPTIONS = ("zuulish_log_id", "zuulish_console_dir")
OUR_MODULE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "library", "command.py")
_runs: dict[tuple[str, str], int] = {}


def host_key(host: str) -> str:
    """A file-name-safe key for an inventory host name (as zuulish.executor.console)."""
    return hashlib.sha1(host.encode("utf-8")).hexdigest()[:10]


class ActionModule(ActionBase):

    def _console_args(self, task_vars: dict[str, Any]) -> dict[str, str]:
        directory = task_vars.get(CONSOLE_VAR)
        host = task_vars.get("inventory_hostname")
        if not isinstance(directory, str) or not directory or not isinstance(host, str):
            return {}
        if self._task.delegate_to or self._task.async_val:
            return {}  # another host's console, or output that outlives the task
        found = self._shared_loader_obj.module_loader.find_plugin(
            "ansible.legacy.command", collection_list=self._task.collections)
        if not found or os.path.realpath(found) != os.path.realpath(OUR_MODULE):
            return {}  # a job's own command module does not know the options
        key = (str(self._task._uuid), host)
        _runs[key] = _runs.get(key, 0) + 1
        return {"zuulish_log_id": f"{key[0]}-{host_key(host)}-{_runs[key]}",
                "zuulish_console_dir": directory}

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        self._supports_async = True
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        console = self._console_args(task_vars)
        args = {**self._task.args, **console} if console else None
        result = merge_hash(result, self._execute_module(
            module_name="ansible.legacy.command", module_args=args, task_vars=task_vars,
            wrap_async=wrap_async))
        invocation = result.get("invocation")
        if console and isinstance(invocation, dict) \
                and isinstance(invocation.get("module_args"), dict):
            for option in OPTIONS:
                invocation["module_args"].pop(option, None)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
