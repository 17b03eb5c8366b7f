"""Ansible action ``shell``: ``command`` with ``_uses_shell``, as Ansible's own is.

It hands the task to the ``command`` action (``ansible.legacy.command``, so
zuulish's, with its live console) after the same check as Ansible's.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        del tmp
        self._task.args["_uses_shell"] = True
        if "expand_argument_vars" in self._task.args:
            raise AnsibleActionFail(f"Unsupported parameters for ({self._task.action}) "
                                    "module: expand_argument_vars")
        command = self._shared_loader_obj.action_loader.get(
            "ansible.legacy.command", task=self._task, connection=self._connection,
            play_context=self._play_context, loader=self._loader, templar=self._templar,
            shared_loader_obj=self._shared_loader_obj)
        return command.run(task_vars=task_vars)
