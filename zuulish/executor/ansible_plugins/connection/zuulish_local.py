"""Ansible connection for nodes of the local provider.

Like ``local``, but commands run in the node's work directory (the host var
``zuulish_work_dir``), the way commands on a remote node start in its home
directory; so ``chdir: "{{ zuul.project.src_dir }}"`` works unchanged.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import ansible.plugins.connection


def _builtin_local() -> type:
    """Ansible's own ``local`` connection class, loaded from its file.

    Not imported by module name: Ansible loads connection plugins under
    ``ansible.plugins.connection.<name>``, so in untrusted runs (where the
    refusing ``local`` of ``ansible_plugins/untrusted`` shadows the builtin) that
    name may hold the refusing plugin.
    """
    path = Path(ansible.plugins.connection.__file__).with_name("local.py")
    spec = importlib.util.spec_from_file_location("zuulish_builtin_local_connection", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load Ansible's local connection from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Connection


LocalConnection = _builtin_local()

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
