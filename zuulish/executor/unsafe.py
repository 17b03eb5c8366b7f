"""Text Ansible must never template, and the inventory YAML that marks it.

A change's author writes its commit message; Ansible templates every string
variable it reads, so ``{{ lookup('pipe', ...) }}`` in a message would run on
the executor when a playbook (a trusted one, even) looks at ``zuul``. Such
text is an ``Unsafe`` string and is written with Ansible's ``!unsafe`` tag,
as Zuul does for ``zuul.change_message``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


class Unsafe(str):
    """A string Ansible takes literally."""


class InventoryDumper(yaml.SafeDumper):
    """YAML for Ansible's inventory: ``Unsafe`` strings get the ``!unsafe`` tag."""


InventoryDumper.add_representer(
    Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value)))


def write_extra_vars(private_dir: Path, variables: dict[str, Any]) -> None:
    """Write ansible-runner's ``env/extravars`` (read by ``ansible-playbook -e @file``)
    as YAML with the ``!unsafe`` tags, readable by its owner only; remove it when
    there are none. (Given to ansible-runner as a mapping, extra vars are written
    as JSON, which has no tags: an unsafe value would become a template again. And
    ansible-runner keeps an existing file, so another playbook's would be reused.)
    """
    path = private_dir / "env" / "extravars"
    path.unlink(missing_ok=True)
    if not variables:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(variables, Dumper=InventoryDumper, default_flow_style=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
