"""HTTP ``Range: bytes=...`` requests on a file of known size (RFC 9110, 14.1).

One range is served (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``); a header this
does not understand, or several ranges, is ignored and the whole file is sent,
as the RFC allows. A range that starts at or past the end is unsatisfiable: 416.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ONE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class Unsatisfiable(Exception):
    """A range that selects nothing of the file (answer 416)."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range ``header`` asks of a file of ``size`` bytes; None for the whole
    file; Unsatisfiable when it selects nothing."""
    if not header:
        return None
    match = _ONE.fullmatch(header)
    if match is None:
        return None  # several ranges, another unit, or nonsense: the whole file
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            raise Unsatisfiable(header)
        return ByteRange(max(0, size - count), size - 1)
    start = int(first)
    end = size - 1 if not last else int(last)
    if last and end < start:
        return None  # invalid: ignored
    if start >= size:
        raise Unsatisfiable(header)
    return ByteRange(start, min(end, size - 1))
