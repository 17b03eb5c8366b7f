"""``zuul.file_comments``: comments a build leaves on lines of the change's files (pure).

A job returns them with ``zuul_return``, as Zuul defines them::

    zuul:
      file_comments:
        path/to/file.py:
          - line: 42
            message: Line too long
            level: warning            # optional: info, warning or error
            range:                    # optional: the span the comment is about
              start_line: 40
              start_character: 0
              end_line: 42
              end_character: 10

A malformed entry is left out with a message saying why (the executor writes
those in the job log), and so are the comments on a file the change does not
touch. What is kept keeps this shape (``FileComment.to_dict``), so a reporter
that can (GitHub check annotations, Gerrit inline comments) posts them as
such; the built-in forge lists them as ``path:line: message`` lines.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from zuulish.model.returned_data import kind_of

LEVELS = ("info", "warning", "error")
RANGE_KEYS = ("start_line", "start_character", "end_line", "end_character")

FileComments = dict[str, list["FileComment"]]


@dataclass(frozen=True)
class FileComment:
    line: int
    message: str
    level: str | None = None
    range: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "message": self.message}
        if self.level is not None:
            out["level"] = self.level
        if self.range is not None:
            out["range"] = dict(self.range)
        return out


def _count(value: int) -> bool:
    """Whether ``value`` is a whole number (not a boolean) of at least 0."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _range_problem(given: Any) -> str | None:
    if not isinstance(given, dict):
        return f"has a range that is {kind_of(given)}, not a mapping"
    missing = [key for key in RANGE_KEYS if not _count(given.get(key))]
    if missing:
        return f"has a range without {', '.join(missing)} (whole numbers, 0 or more)"
    if given["start_line"] < 1 or given["end_line"] < 1:
        return "has a range whose lines are not 1 or more"
    if (given["start_line"], given["start_character"]) > \
            (given["end_line"], given["end_character"]):
        return "has a range that ends before it starts"
    return None


def _comment(entry: Any) -> tuple[FileComment | None, str | None]:
    """The comment ``entry`` describes, or why it is left out."""
    if not isinstance(entry, dict):
        return None, f"is {kind_of(entry)}, not a mapping"
    line, message = entry.get("line"), entry.get("message")
    if not isinstance(message, str) or not message.strip():
        return None, "has no message"
    if not _count(line) or line < 1:
        return None, "has no line (a whole number, 1 or more)"
    level = entry.get("level")
    if level is not None and level not in LEVELS:
        return None, f"has level {level!r}, not one of {', '.join(LEVELS)}"
    span = entry.get("range")
    if span is not None:
        problem = _range_problem(span)
        if problem:
            return None, problem
        span = {key: span[key] for key in RANGE_KEYS}
    return FileComment(line, message, level, span), None


def file_comments(data: dict[str, Any] | None, files: Collection[str] | None = None
                  ) -> tuple[FileComments, list[str]]:
    """The well-formed ``zuul.file_comments`` of ``data`` (path -> comments, in the
    order returned) and a message for each one left out. With ``files`` (the
    change's files), comments on any other file are left out too."""
    part = (data or {}).get("zuul")
    given = part.get("file_comments") if isinstance(part, dict) else None
    if given is None:
        return {}, []
    if not isinstance(given, dict):
        return {}, [f"zuul.file_comments must be a mapping of file paths to lists of "
                    f"comments, not {kind_of(given)}; ignored"]
    found: FileComments = {}
    problems: list[str] = []
    for path, entries in given.items():
        if not isinstance(entries, list):
            problems.append(f"zuul.file_comments: the comments on {path} are "
                            f"{kind_of(entries)}, not a list; ignored")
            continue
        if files and path not in files:
            problems.append(f"zuul.file_comments: {path} is not a file of this change; its "
                            f"{len(entries)} comment(s) ignored")
            continue
        for n, entry in enumerate(entries, 1):
            comment, problem = _comment(entry)
            if comment is None:
                problems.append(f"zuul.file_comments: comment #{n} on {path} {problem}; "
                                "ignored")
                continue
            found.setdefault(path, []).append(comment)
    return found, problems


def as_dicts(comments: FileComments) -> dict[str, list[dict[str, Any]]]:
    """The JSON form (what the API shows and reporters get)."""
    return {path: [c.to_dict() for c in entries] for path, entries in comments.items()}


def comment_lines(comments: dict[str, list[dict[str, Any]]]) -> list[str]:
    """``path:line: message`` per comment, by path and line, for a plain-text report."""
    lines = []
    for path in sorted(comments):
        for entry in sorted(comments[path], key=lambda c: c["line"]):
            message = " ".join(str(entry["message"]).split())
            lines.append(f"{path}:{entry['line']}: {message}")
    return lines
