"""The ``local`` connection of untrusted playbooks: it refuses every task.

Untrusted playbooks may not run tasks on localhost (the executor), as in Zuul.
Ansible reaches localhost through this transport for ``hosts: localhost``,
``delegate_to: localhost``, ``local_action`` and ``connection: local``; this
plugin shadows the builtin one (it comes first in the connection plugin path
of untrusted runs) and fails any task that would run a module or move a file
there. Actions that run inside Ansible itself and touch no host (``debug``,
``set_fact``, ``assert``, ``fail``, ``add_host``, ``group_by``, ``meta``,
``include_*``) still work, which is Zuul's allowed set for localhost in
spirit. Nodes of the local provider use ``zuulish_local``, not this: their
tasks run in the build's isolated local node (``local_node.py``).
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleError
from ansible.plugins.connection import ConnectionBase

DOCUMENTATION = """
name: local
short_description: refuses tasks on localhost in untrusted playbooks
description:
  - Fails every task that would run on the executor host.
"""

REFUSAL = "untrusted playbooks may not run tasks on localhost"


class Connection(ConnectionBase):
    """Fails on connect, command, and file transfer."""

    transport = "local"
    has_pipelining = True

    def _connect(self) -> Connection:
        raise AnsibleError(REFUSAL)

    def exec_command(self, cmd: str, in_data: bytes | None = None,
                     sudoable: bool = True) -> Any:
        raise AnsibleError(REFUSAL)

    def put_file(self, in_path: str, out_path: str) -> None:
        raise AnsibleError(REFUSAL)

    def fetch_file(self, in_path: str, out_path: str) -> None:
        raise AnsibleError(REFUSAL)

    def close(self) -> None:
        self._connected = False
