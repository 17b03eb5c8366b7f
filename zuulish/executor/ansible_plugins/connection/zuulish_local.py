"""Ansible connection for nodes of the local provider.

Commands and files go to the build's local node (``local_node.py``): an
isolated sandbox whose agent listens on the socket that the environment
variable ``ZUULISH_NODE_SOCKET`` names (set by the executor for the playbooks
of a build with a local node; an environment variable, not a host var, so that
no job variable can point the connection elsewhere or take the node away).
Commands run in the node's work directory (the host var ``zuulish_work_dir``),
the way commands on a remote node start in its home directory; so
``chdir: "{{ zuul.project.src_dir }}"`` works unchanged.

Without that variable (the preloaded Ansible's warm-up, tests that run a
playbook directly) it is Ansible's ``local`` connection in that directory:
commands run where ``ansible-playbook`` runs. The executor always sets it: a
build without a local node sets it to ``NO_NODE``, and every task on a
``zuulish_local`` host is refused (a static node that a job's variables turn
into one does not run on the executor).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

import ansible.plugins.connection
from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound

SOCKET_ENV = "ZUULISH_NODE_SOCKET"  # local_node.SOCKET_ENV
NO_NODE = "/nonexistent/zuulish-no-local-node"  # local_node.NO_NODE
REFUSAL = "no local node in this build: zuulish_local tasks are refused"


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


@functools.cache
def _node_agent():  # type: ignore[no-untyped-def]
    """zuulish's ``node_agent`` module (its client), loaded from its file when first
    used: in an untrusted playbook's sandbox that file is bound (for a build with
    a local node), the zuulish package is not."""
    path = Path(__file__).resolve().parents[2] / "node_agent.py"
    spec = importlib.util.spec_from_file_location("zuulish_node_agent", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load zuulish's node agent from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LocalConnection = _builtin_local()

DOCUMENTATION = """
name: zuulish_local
short_description: run in the build's isolated local node, in its work directory
description:
  - Commands and files go to the agent of the build's local node, with commands
    started in the node's work directory.
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

    @property
    def node_socket(self) -> str | None:
        """The node agent's socket, or None (no isolated node: run here)."""
        socket = os.environ.get(SOCKET_ENV) or None
        if socket == NO_NODE:
            raise AnsibleError(REFUSAL)
        return socket

    def _node_path(self, path: str) -> str:
        """``path`` in the node: ``~`` is its work dir (its HOME), and so is ``.``."""
        home = self.cwd or "/"
        if path == "~" or path.startswith("~/"):
            path = home + path[1:]
        return os.path.normpath(os.path.join(home, path))

    def exec_command(self, cmd, in_data=None, sudoable=True):  # type: ignore[no-untyped-def]
        if not self.node_socket:
            return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()  # (local's own methods connect through a decorator)
        # the base of Ansible's connections (not local's): it only logs
        super(LocalConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        if not isinstance(cmd, str | bytes):
            raise AnsibleError("the local node runs shell command lines only")
        text = cmd.decode("utf-8", "surrogateescape") if isinstance(cmd, bytes) else cmd
        try:
            return _node_agent().run(self.node_socket, text, in_data or b"", self.cwd)
        except _node_agent().AgentError as exc:
            raise AnsibleConnectionFailure(str(exc)) from None

    def put_file(self, in_path, out_path):  # type: ignore[no-untyped-def]
        if not self.node_socket:
            return super().put_file(in_path, out_path)
        self._connect()
        out_path = self._node_path(out_path)
        try:
            data = Path(in_path).read_bytes()
        except FileNotFoundError:
            raise AnsibleFileNotFound(f"file or module does not exist: {in_path}") from None
        try:
            _node_agent().request(self.node_socket, {"op": "put", "path": out_path}, data)
        except _node_agent().AgentError as exc:
            raise AnsibleError(f"failed to transfer file to {out_path}: {exc}") from None

    def fetch_file(self, in_path, out_path):  # type: ignore[no-untyped-def]
        if not self.node_socket:
            return super().fetch_file(in_path, out_path)
        self._connect()
        in_path = self._node_path(in_path)
        try:
            _, data = _node_agent().request(self.node_socket, {"op": "fetch", "path": in_path})
        except _node_agent().AgentError as exc:
            raise AnsibleError(f"failed to fetch {in_path} from the node: {exc}") from None
        Path(out_path).write_bytes(data)
