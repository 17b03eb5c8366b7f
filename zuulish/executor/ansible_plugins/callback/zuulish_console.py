"""Callback ``zuulish_console``: command, shell and synchronize tasks go through
zuulish's actions.

A task written ``ansible.builtin.command`` or ``ansible.builtin.shell`` is
handled by Ansible's own action plugin: a fully qualified builtin name is never
looked up in the configured action plugin path, so zuulish's ``command`` and
``shell`` actions (which give the module its live console) would not run. As
each task starts, before any host runs it, such a task is renamed to
``ansible.legacy.command`` / ``ansible.legacy.shell``: the names Ansible's own
``shell`` action and ``command`` action use to reach the command action and
module, which find zuulish's. The module is the same as before (Ansible's
builtin ``command`` action runs ``ansible.legacy.command`` too), the task's
``module_defaults`` still apply (they follow the name the task was written
with), and ansible-runner's ``playbook_on_task_start`` event, sent by the
stdout callback before this one runs, still names the action as written (the
executor's task records use that name). An unnamed task is given its action as
written as its name, which is what Ansible shows for it anyway. A task written
``ansible.posix.synchronize`` is renamed ``ansible.legacy.synchronize`` the same
way (zuulish's ``synchronize`` action, which also serves local nodes, then runs
ansible.posix's).
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: zuulish_console
type: aggregate
short_description: route command and shell tasks through zuulish's actions
description:
  - Renames ansible.builtin.command and ansible.builtin.shell tasks to their
    ansible.legacy names as they start, so zuulish's actions run them.
"""

RENAMED = {"ansible.builtin.command": "ansible.legacy.command",
           "ansible.builtin.shell": "ansible.legacy.shell",
           # zuulish's synchronize action: ansible.posix's, and local nodes too
           "ansible.posix.synchronize": "ansible.legacy.synchronize"}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "zuulish_console"
    CALLBACK_NEEDS_ENABLED = False

    def _route(self, task: Any) -> None:
        renamed = RENAMED.get(getattr(task, "action", None))
        if renamed is not None:
            if not task.name:  # an unnamed task is called by its action: keep that
                task.name = task.action
            task.action = renamed

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._route(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._route(task)
