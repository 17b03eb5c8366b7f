"""What a build id and a log file's name may look like when they come from a request.

Build ids are what the scheduler makes (``uuid4().hex``); tests use short names
such as ``b1``. Anything else — dots, slashes, NUL, more than 128 characters —
is refused before it gets near a path or an object key.
"""

from __future__ import annotations

import re

_BUILD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
MAX_NAME = 1024


def valid_build_id(build_id: str) -> bool:
    """Whether ``build_id`` may name a build's log folder or objects."""
    return _BUILD_ID.fullmatch(build_id) is not None


def log_name_parts(name: str) -> list[str] | None:
    """The parts of the relative log file name ``name`` (``artifacts/a.txt``), or
    None when it is absolute, climbs with ``..``, has empty or ``.`` parts, a
    backslash or a control character, or is too long."""
    if not name or len(name) > MAX_NAME or name.startswith("/") or "\\" in name:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    found = name.split("/")
    if any(p in ("", ".", "..") for p in found):
        return None
    return found
