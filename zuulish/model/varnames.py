"""Variable names a job may not set, and why (Zuul's rules, generalised).

A job's ``vars``, ``extra-vars``, ``host-vars`` and ``group-vars`` (and a project
stanza's ``vars``), and the data a build returns with ``zuul_return`` for the
jobs that depend on it, are written by whoever can push to the project that
defines them. They reach the executor's trusted playbooks too (the base job's
pre-run, the library's run playbooks). Two kinds of names are therefore refused:

**Connection variables.** Ansible reads some ``ansible_*`` variables to decide
*how, where and as whom* a task runs: which connection plugin, which host and
port, which user, which executable runs the module (python, the shell, ssh),
how privileges are raised. A job that sets one of them chooses what the
executor runs on its behalf (``ansible_python_interpreter: ./evil.sh`` on a
local node is a script of the change run by a trusted playbook). Zuul refuses
``ansible_connection``, ``ansible_host``, ``ansible_python_interpreter``,
``ansible_shell_executable`` and ``ansible_user``; zuulish refuses every name
of the same family:

- exact names: ``ansible_connection``, ``ansible_host``, ``ansible_port``,
  ``ansible_user``, ``ansible_password``, ``ansible_private_key_file``,
  ``ansible_shell_type``, ``ansible_shell_executable``, ``ansible_pipelining``,
  ``ansible_remote_tmp``, ``ansible_async_dir``, ``ansible_module_compression``,
  ``ansible_timeout``, ``ansible_network_os``;
- prefixes: ``ansible_ssh_``, ``ansible_sftp_``, ``ansible_scp_``,
  ``ansible_paramiko_``, ``ansible_libssh_``, ``ansible_become`` (the name and
  every ``ansible_become_*``), ``ansible_winrm_``, ``ansible_psrp_``,
  ``ansible_docker_``, ``ansible_podman_``, ``ansible_kubectl_``,
  ``ansible_buildah_``, ``ansible_chroot_``, ``ansible_jail_``,
  ``ansible_zone_``, ``ansible_netconf_``, ``ansible_httpapi_``,
  ``ansible_local_`` (the controller-side settings of the local connection);
- suffixes: ``_executable``, ``_exe``, ``_interpreter`` (any
  ``ansible_*_interpreter``, ``ansible_*_executable``).

Like Zuul, the rule holds for config projects too: what a job needs to change
about a connection is the operator's (the node's provider gives its host vars).

**Reserved names.** ``zuul``, ``nodepool`` and ``unsafe_vars`` are Zuul's
(the executor sets them); ``zuul_success`` and ``zuul_will_retry`` are set for
post-run and cleanup playbooks; every ``zuulish_*`` name is zuulish's own (such
as the ``zuulish_work_dir`` host var of local nodes, and the launcher's
``zuulish_host_paths`` and ``zuulish_gpus``, which say what a local node's
sandbox shows of the host: a job that could set them would choose host paths
and device files for its node). Returned data may use
``zuul`` (that is how ``zuul.artifacts``, ``zuul.pause`` ... are returned); it
is never passed on as a variable.

And as in Zuul, a variable name is letters, digits and underscores.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

VARNAME = re.compile(r"^[A-Za-z0-9_]+$")

CONNECTION_NAMES = frozenset({
    "ansible_connection", "ansible_host", "ansible_port", "ansible_user",
    "ansible_password", "ansible_private_key_file", "ansible_shell_type",
    "ansible_shell_executable", "ansible_pipelining", "ansible_remote_tmp",
    "ansible_async_dir", "ansible_module_compression", "ansible_timeout",
    "ansible_network_os",
})
CONNECTION_PREFIXES = (
    "ansible_ssh_", "ansible_sftp_", "ansible_scp_", "ansible_paramiko_", "ansible_libssh_",
    "ansible_become", "ansible_winrm_", "ansible_psrp_", "ansible_docker_",
    "ansible_podman_", "ansible_kubectl_", "ansible_buildah_", "ansible_chroot_",
    "ansible_jail_", "ansible_zone_", "ansible_netconf_", "ansible_httpapi_",
    "ansible_local_",
)
CONNECTION_SUFFIXES = ("_executable", "_exe", "_interpreter")

RESERVED_NAMES = frozenset({"zuul", "nodepool", "unsafe_vars", "zuul_success",
                            "zuul_will_retry"})
RESERVED_PREFIX = "zuulish_"


def is_connection_var(name: str) -> bool:
    """Whether Ansible reads ``name`` to choose how, where or as whom a task runs."""
    if not name.startswith("ansible_"):
        return False
    return (name in CONNECTION_NAMES or name.startswith(CONNECTION_PREFIXES)
            or name.endswith(CONNECTION_SUFFIXES))


def forbidden(name: Any, returned: bool = False) -> str | None:
    """Why a job may not set the variable ``name`` (None: it may). ``returned``:
    the name is a key of ``zuul_return`` data, where ``zuul`` is allowed."""
    if not isinstance(name, str) or not VARNAME.match(name):
        return (f"variable name {name!r} is not allowed: variable names may only contain "
                "letters, numbers and underscores")
    if name == "zuul" and returned:
        return None
    if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIX):
        return (f"variable name {name!r} is reserved: zuul, nodepool, unsafe_vars, "
                "zuul_success, zuul_will_retry and zuulish_* are set by zuulish itself")
    if is_connection_var(name):
        return (f"variable name {name!r} is not allowed: connection variables (how, where "
                "and as whom Ansible runs a task) may not be set by jobs or returned data")
    return None


def forbidden_names(variables: Mapping[Any, Any] | None, returned: bool = False
                    ) -> Iterable[tuple[Any, str]]:
    """(name, why) for each name of ``variables`` a job may not set."""
    for name in variables or ():
        why = forbidden(name, returned)
        if why is not None:
            yield name, why


def without_forbidden(variables: Mapping[str, Any], returned: bool = False
                      ) -> tuple[dict[str, Any], list[str]]:
    """``variables`` without the names a job may not set, and why each was dropped."""
    problems = [why for _name, why in forbidden_names(variables, returned)]
    if not problems:
        return dict(variables), []
    return {k: v for k, v in variables.items() if forbidden(k, returned) is None}, problems
