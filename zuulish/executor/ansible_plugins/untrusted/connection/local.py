"""The ``local`` connection of untrusted playbooks: it refuses every task not allowed.

Untrusted playbooks may run on localhost (the executor) only what Zuul allows
there: file operations inside the work directory, ``zuul_return``, and actions
that run inside Ansible itself and touch no host (``debug``, ``set_fact``,
``assert``, ``fail``, ``add_host``, ``group_by``, ``meta``, ``include_*``).
Ansible reaches localhost through this transport for ``hosts: localhost``,
``delegate_to: localhost``, ``local_action`` and ``connection: local``; this
plugin shadows the builtin one (it comes first in the connection plugin path of
untrusted runs; the ``zuulish_untrusted`` callback refuses the builtin one under
its full name) and fails any command or file transfer unless the untrusted guard
(``untrusted/callback/zuulish_untrusted.py``) has checked the running task
against those rules and permitted it (``permitted``, set only while that task
runs). A permitted task runs as with Ansible's own ``local`` connection, in the
playbook's sandbox. Nodes of the local provider use ``zuulish_local``, not this:
their tasks run in the build's isolated local node (``local_node.py``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar

import ansible.plugins.connection
from ansible.errors import AnsibleError

DOCUMENTATION = """
name: local
short_description: refuses tasks on localhost in untrusted playbooks unless allowed
description:
  - Fails every command and file transfer on the executor host, except for the
    tasks that zuulish's untrusted guard allows there.
"""

REFUSAL = "untrusted playbooks may not run tasks on localhost"


def _builtin_local() -> type:
    """Ansible's own ``local`` connection class, loaded from its file (its module
    name may hold this plugin: Ansible loads plugins under their short names)."""
    path = Path(ansible.plugins.connection.__file__).with_name("local.py")
    spec = importlib.util.spec_from_file_location("zuulish_untrusted_builtin_local", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load Ansible's local connection from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Connection


class Connection(_builtin_local()):  # type: ignore[misc]
    """Ansible's ``local`` connection, refusing unless the guard permitted the task."""

    transport = "local"
    zuulish_guarded = True  # how the guard tells this class from the builtin one
    permitted: ClassVar[str | None] = None  # the allowed task running now, if any

    def _check(self) -> None:
        if not type(self).permitted:
            raise AnsibleError(REFUSAL)

    def _connect(self) -> Any:
        self._check()
        return super()._connect()

    def exec_command(self, cmd: str, in_data: bytes | None = None,
                     sudoable: bool = True) -> Any:
        self._check()
        return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)

    def put_file(self, in_path: str, out_path: str) -> None:
        self._check()
        super().put_file(in_path, out_path)

    def fetch_file(self, in_path: str, out_path: str) -> None:
        self._check()
        super().fetch_file(in_path, out_path)
