"""Installed into an untrusted playbook's ``ansible-playbook`` before it reads the
playbook (``ansible_run._sandboxed`` starts it through a wrapper that calls
``install``): what the refusing ``local`` connection and the executor's check of
plugin directories cannot catch by themselves.

- Ansible's own ``local`` connection (``ansible.builtin.local``, which a fully
  qualified name reaches past the refusing plugin in the connection path) fails
  every task with "untrusted playbooks may not run tasks on localhost" (the
  refusing plugin itself allows what Zuul allows there, ``connection/local.py``).
- Plugin directories that Ansible adds as it goes (beside an imported playbook,
  in a role named by its path, in a role included at run time from a directory
  a task wrote) and a ``collections/`` beside a playbook are refused with
  "untrusted playbooks may not ship Ansible plugins". Modules (``library/``,
  ``module_utils/``) stay allowed: they run on the node.

This module is read by ansible-playbook in the sandbox only: it imports
nothing of zuulish.
"""

from __future__ import annotations

import os
from typing import Any

LOCALHOST = "untrusted playbooks may not run tasks on localhost"
SHIPPED = "untrusted playbooks may not ship Ansible plugins"
MODULE_DIRS = frozenset({"library", "module_utils"})


def _shown(path: str) -> str:
    """``path`` relative to its repository (the nearest parent holding ``.git``) or
    the work directory, as users know it; never the executor's own directories."""
    parent = os.path.dirname(path)
    while parent != os.path.dirname(parent):
        if os.path.lexists(os.path.join(parent, ".git")):
            return os.path.relpath(path, parent)
        parent = os.path.dirname(parent)
    relative = os.path.relpath(path)  # else relative to the work dir, where it runs
    return os.path.basename(path) if relative.startswith("..") else relative


def _refuse(message: str) -> Any:
    from ansible.errors import AnsibleError

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AnsibleError(message)

    return refused


def install() -> None:
    """Refuse the builtin ``local`` connection, plugin directories and collections."""
    from ansible.errors import AnsibleError
    from ansible.plugins import loader
    from ansible.utils.collection_loader import _collection_finder

    connections = loader.connection_loader
    get_with_context = connections.get_with_context

    def guarded_get_with_context(name: str, *args: Any, **kwargs: Any) -> Any:
        # every name of Ansible's local connection, however qualified, loads a
        # class whose transport is "local" (a task that only runs in Ansible, such
        # as debug, still gets its connection: it is refused when used)
        found = get_with_context(name, *args, **kwargs)
        # (the refusing ``local`` of untrusted runs, ``connection/local.py``, lets
        # through only what the ``zuulish_untrusted`` callback permitted: left as is)
        if getattr(found.object, "transport", None) == "local" \
                and not getattr(found.object, "zuulish_guarded", False):
            for method in ("_connect", "exec_command", "put_file", "fetch_file"):
                setattr(found.object, method, _refuse(LOCALHOST))
        return found

    connections.get_with_context = guarded_get_with_context

    add_directory = loader.PluginLoader.add_directory

    def guarded_add_directory(self: Any, directory: str, with_subdir: bool = False) -> None:
        if self.subdir not in MODULE_DIRS:
            raise AnsibleError(f"{SHIPPED}: {_shown(str(directory))}")
        add_directory(self, directory, with_subdir)

    loader.PluginLoader.add_directory = guarded_add_directory

    finder = _collection_finder._AnsibleCollectionFinder
    set_playbook_paths = finder.set_playbook_paths

    def guarded_set_playbook_paths(self: Any, playbook_paths: Any) -> None:
        paths = [playbook_paths] if isinstance(playbook_paths, str | bytes) else playbook_paths
        for path in paths:
            text = os.fsdecode(path)
            if os.path.lexists(os.path.join(text, "collections")):
                raise AnsibleError(f"{SHIPPED}: {_shown(os.path.join(text, 'collections'))}")
        set_playbook_paths(self, playbook_paths)

    finder.set_playbook_paths = guarded_set_playbook_paths
