"""Text Ansible must never template, and the inventory YAML that marks it.

A change's author writes its commit message; Ansible templates every string
variable it reads, so ``{{ lookup('pipe', ...) }}`` in a message would run on
the executor when a playbook (a trusted one, even) looks at ``zuul``. Such
text is an ``Unsafe`` string and is written with Ansible's ``!unsafe`` tag,
as Zuul does for ``zuul.change_message``.
"""

from __future__ import annotations

import yaml


class Unsafe(str):
    """A string Ansible takes literally."""


class InventoryDumper(yaml.SafeDumper):
    """YAML for Ansible's inventory: ``Unsafe`` strings get the ``!unsafe`` tag."""


InventoryDumper.add_representer(
    Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value)))
