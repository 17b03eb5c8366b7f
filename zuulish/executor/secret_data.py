"""``zuul_return``'s ``secret_data``: sealed at rest, handed to child jobs as secrets.

A build's ``secret_data`` (read by ``returned.read_secret_data``) is stored in the
database only sealed: JSON encrypted with the server's master key (Fernet, the
key of ``secrets.key`` that also seals the projects' private keys). The
scheduler hands the sealed tokens of a job's ancestors, farthest first, to its
builds (``params["parent_secret_data"]``); only the executor opens them.

As in Zuul, a child gets them the way it gets secrets: as extra variables of
each playbook (never in the inventory, never under ``unsafe_vars``), with the
lowest precedence: a name that any other variable of the job has (its vars,
the data its parents returned, host-vars, group-vars, extra-vars, the
playbook's own secrets) is left out. A nearer ancestor's value wins. Trusted
playbooks get every string of them unsafe (taken literally, never templated):
a child cannot know who wrote them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from zuulish.executor.unsafe import Unsafe
from zuulish.model.mappings import deep_merge


class SealError(Exception):
    """A sealed secret_data that cannot be opened (another server's key?)."""


def seal(fernet: Fernet, data: dict[str, Any]) -> str:
    """``data`` as a token only this server's master key opens."""
    return fernet.encrypt(json.dumps(data, sort_keys=True).encode()).decode()


def unseal(fernet: Fernet, token: str) -> dict[str, Any]:
    """The mapping ``seal`` sealed in ``token``."""
    try:
        data = json.loads(fernet.decrypt(token.encode()))
    except (InvalidToken, ValueError, TypeError, AttributeError):
        raise SealError("the secret_data a job this one depends on returned cannot be "
                        "opened with this server's master key (secrets.key was "
                        "replaced?)") from None
    if not isinstance(data, dict):
        raise SealError("the secret_data a job this one depends on returned is not a "
                        "mapping")
    return data


def from_parents(fernet: Fernet, tokens: Iterable[str]) -> dict[str, Any]:
    """The parents' secret_data merged, farthest first (a nearer one's value wins)."""
    merged: dict[str, Any] = {}
    for token in tokens:
        merged = deep_merge(merged, unseal(fernet, token))
    return merged


def lowest(secret: dict[str, Any], taken: Iterable[str]) -> dict[str, Any]:
    """``secret`` without the names another variable of the job has (``taken``)."""
    names = set(taken)
    return {k: v for k, v in secret.items() if k not in names}


def literal(value: Any) -> Any:
    """``value`` with every string (keys too) ``Unsafe``: Ansible never templates it."""
    if isinstance(value, str):
        return Unsafe(value)
    if isinstance(value, dict):
        return {literal(k): literal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [literal(v) for v in value]
    return value
