#!/usr/bin/python
"""Ansible module ``zuul_console``: Zuul's console daemon, which zuulish does not need.

Zuul's ``zuul_console`` starts a daemon on the node that streams the output of
``command`` and ``shell`` tasks to the executor over TCP port 19885; zuul-jobs'
``start-zuul-console`` and ``prepare-workspace`` roles call it. zuulish streams
that output itself (``zuulish.executor.console``: console files in the node's
work directory, read by the executor, or followed over the build's SSH
connection), so nothing is started and no port is opened: the module checks its
options as Zuul's does and reports success, unchanged.

Ansible runs this file on the node with its own module machinery, so it uses
Ansible's module utilities only.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = """
module: zuul_console
short_description: accepted for Zuul's roles; zuulish streams the console itself
description:
  - Zuul starts a console daemon on the node with this module. zuulish streams
    the output of command and shell tasks without one, so this module starts
    nothing, opens no port and reports success (unchanged).
options:
  path:
    description: Zuul's console log path template (accepted, unused).
    type: str
  port:
    description: Zuul's console port (accepted, unused).
    type: int
    default: 19885
  state:
    description: present (start) or absent (stop); nothing to do either way.
    type: str
    default: present
    choices: [present, absent]
"""

MESSAGE = ("zuulish streams task output itself: no console daemon is started and no port "
           "is opened")


def main() -> None:
    module = AnsibleModule(
        argument_spec={"path": {"type": "str"},
                       "port": {"type": "int", "default": 19885},
                       "state": {"type": "str", "default": "present",
                                 "choices": ["present", "absent"]}},
        supports_check_mode=True)
    port = module.params["port"]
    if not 0 < port < 65536:
        module.fail_json(msg=f"port must be between 1 and 65535, not {port}")
    module.exit_json(changed=False, msg=MESSAGE)


if __name__ == "__main__":
    main()
