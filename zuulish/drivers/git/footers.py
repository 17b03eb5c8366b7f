"""Commit message footers: ``Change-Id:`` and ``Depends-On:``."""

from __future__ import annotations

import re

CHANGE_ID = re.compile(r"^Change-Id:\s*(I[0-9a-f]{8,40})\s*$", re.MULTILINE)
DEPENDS_ON = re.compile(r"^Depends-On:\s*(\S+)\s*$", re.MULTILINE | re.IGNORECASE)


def change_id(message: str) -> str | None:
    found = CHANGE_ID.findall(message)
    return found[-1] if found else None


def depends_on(message: str) -> list[str]:
    return list(dict.fromkeys(DEPENDS_ON.findall(message)))
