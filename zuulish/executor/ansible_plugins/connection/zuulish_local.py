"""Ansible connection for nodes of the local provider.

Like ``local``, but commands run in the node's work directory (the host var
``zuulish_work_dir``), the way commands on a remote node start in its home
directory; so ``chdir: "{{ zuul.project.src_dir }}"`` works unchanged.
"""

from __future__ import annotations

from ansible.plugins.connection.local import Connection as LocalConnection

DOCUMENTATION = """
name: zuulish_local
short_description: run on the executor host, in the node's work directory
description:
  - The local connection, with commands started in the node's work directory.
options:
  work_dir:
    description: The node's work directory.
    vars:
      - name: zuulish_work_dir
"""


class Connection(LocalConnection):
    transport = "zuulish_local"

    def _connect(self):  # type: ignore[no-untyped-def]
        connection = super()._connect()
        self.cwd = self.get_option("work_dir") or None
        return connection
