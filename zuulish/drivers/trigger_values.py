"""Reading the values of pipeline trigger entries, for every driver's trigger parser."""

from __future__ import annotations

import difflib
import re
from typing import Any


def as_list(value: Any) -> list:
    """A trigger attribute given as one value or a list of them, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def nearest(value: str, options: tuple[str, ...]) -> str:
    """The end of an "unknown ..." message: the nearest valid spelling, or the choices."""
    close = difflib.get_close_matches(value, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(options)}"


def regexes(values: list, what: str) -> tuple[str, ...]:
    """``values`` checked as regular expressions; ValueError naming a bad one."""
    for pattern in values:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise ValueError(f"{what} {pattern!r} is not a valid regular expression: {exc}") \
                from None
    return tuple(str(v) for v in values)
