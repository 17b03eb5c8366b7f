"""Read a Gerrit or GitHub connection's ``require``/``reject`` mapping (a pipeline's,
or a trigger entry's) into :class:`zuulish.model.requirements.Requirements`.

Every attribute Zuul documents for the forge is read and honoured; anything else,
and any value Zuul would not take (a bad regular expression, an unknown review
type, a duration without a unit), is a ConfigError at the line that holds it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

from zuulish.config.yaml_loader import key_line, where
from zuulish.errors import ConfigError
from zuulish.model.requirements import (
    REVIEW_PERMISSIONS,
    REVIEW_TYPES,
    HasChangeStatus,
    HasCommitStatus,
    HasHashtag,
    HasLabel,
    HasReview,
    HasVote,
    IsCurrentPatchset,
    IsDraft,
    IsMerged,
    IsOpen,
    IsWip,
    Regex,
    Requirement,
    Requirements,
    parse_duration,
)

#: Gerrit's change statuses (``status``)
GERRIT_STATUSES = ("NEW", "MERGED", "ABANDONED")
GERRIT_KEYS = ("approval", "open", "current-patchset", "wip", "status", "hashtags")
GITHUB_KEYS = ("review", "open", "merged", "current-patchset", "draft", "status", "label")
#: the parts of a Gerrit ``approval`` entry that are not a label
APPROVAL_PARTS = ("username", "email", "newer-than", "older-than")
REVIEW_PARTS = ("username", "email", "newer-than", "older-than", "type", "permission")


def error_at(mapping: Any, key: Any, path: str, message: str) -> ConfigError:
    """A ConfigError at the line of ``key`` in ``mapping`` (the file it was read
    from, else ``path``)."""
    file, _ = where(mapping, path)
    return ConfigError(message, file=file or None, line=key_line(mapping, key) or None)


def as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def check_known(mapping: dict, allowed: tuple[str, ...], kind: str, path: str) -> None:
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else \
                f"; expected one of {', '.join(allowed)}"
            raise error_at(mapping, key, path, f"unknown attribute {key!r} in {kind}{hint}")


def regex(value: Any, mapping: Any, key: Any, path: str, what: str,
          negatable: bool = True) -> Regex:
    """A regular expression (or, where Zuul takes one, ``{regex: ..., negate: ...}``)
    that compiles, or a ConfigError at ``key``'s line."""
    negate = False
    if negatable and isinstance(value, dict):
        extra = set(value) - {"regex", "negate"}
        if "regex" not in value or extra:
            raise error_at(mapping, key, path, f"{what} must be a regular expression or "
                                               f"{{regex: ..., negate: true}}, not {value!r}")
        negate = value.get("negate", False)
        if not isinstance(negate, bool):
            raise error_at(mapping, key, path, f"{what} negate must be true or false, "
                                               f"not {negate!r}")
        value = value["regex"]
    if not isinstance(value, str):
        raise error_at(mapping, key, path, f"{what} must be a regular expression (text), "
                                           f"not {value!r}")
    try:
        re.compile(value)
    except re.error as exc:
        raise error_at(mapping, key, path, f"{what} {value!r} is not a valid regular "
                                           f"expression: {exc}") from None
    return Regex(value, negate)


def regexes(mapping: dict, key: str, path: str, what: str) -> tuple[Regex, ...]:
    return tuple(regex(v, mapping, key, path, what) for v in as_list(mapping.get(key)))


def flag(mapping: dict, key: str, path: str, what: str) -> bool | None:
    value = mapping.get(key)
    if value is not None and not isinstance(value, bool):
        raise error_at(mapping, key, path, f"{what} {key!r} must be true or false, "
                                           f"not {value!r}")
    return value


def _duration(entry: dict, key: str, path: str, what: str) -> Any:
    if key not in entry:
        return None
    try:
        return parse_duration(entry[key])
    except ValueError as exc:
        raise error_at(entry, key, path, f"{what} {key!r}: {exc}") from None


def _entries(mapping: dict, key: str, path: str, what: str) -> list[dict]:
    found = as_list(mapping.get(key))
    for entry in found:
        if not isinstance(entry, dict):
            raise error_at(mapping, key, path, f"{what} {key!r} entries must be mappings, "
                                               f"not {entry!r}")
    return found


def gerrit_vote(entry: dict, path: str, what: str) -> HasVote:
    """One Gerrit ``approval`` entry (also a trigger's ``require-approval``)."""
    labels = []
    for label, value in entry.items():
        if label in APPROVAL_PARTS:
            if label in ("username", "email"):
                regex(value, entry, label, path, f"{what} approval {label!r}",
                      negatable=False)
            continue
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, int) and not isinstance(v, bool)
                                 for v in values):
            raise error_at(entry, label, path, f"{what} approval {label!r} must be a vote "
                                               f"(a number such as 2 or -1) or a list of "
                                               f"them, not {value!r}")
        labels.append((str(label), tuple(values)))
    who = {k: Regex(entry[k]) for k in ("username", "email") if k in entry}
    return HasVote(tuple(labels), who.get("username"), who.get("email"),
                   _duration(entry, "newer-than", path, f"{what} approval"),
                   _duration(entry, "older-than", path, f"{what} approval"))


def _flags(req: dict, keys: tuple[str, ...], path: str, what: str) -> list[Requirement]:
    kinds: dict[str, Callable[[bool], Requirement]] = {
        "open": IsOpen, "current-patchset": IsCurrentPatchset, "merged": IsMerged,
        "wip": IsWip, "draft": IsDraft}
    found: list[Requirement] = []
    for key in keys:
        value = flag(req, key, path, what)
        if value is not None:
            found.append(kinds[key](value))
    return found


def gerrit_requirements(req: dict, path: str, what: str) -> Requirements:
    """A Gerrit connection's ``require`` or ``reject`` mapping."""
    check_known(req, GERRIT_KEYS, what, path)
    found = _flags(req, ("open", "current-patchset", "wip"), path, what)
    if "status" in req:
        given = as_list(req["status"])
        if not given or not all(s in GERRIT_STATUSES for s in given):
            raise error_at(req, "status", path, f"{what} status must be a change status "
                                                f"({', '.join(GERRIT_STATUSES)}), not "
                                                f"{req['status']!r}")
        found.append(HasChangeStatus(tuple(given)))
    found.extend(gerrit_vote(e, path, what) for e in _entries(req, "approval", path, what))
    found.extend(HasHashtag(p) for p in regexes(req, "hashtags", path, f"{what} hashtags"))
    return Requirements(tuple(found))


def github_review(entry: dict, path: str, what: str) -> HasReview:
    """One GitHub ``review`` entry."""
    check_known(entry, REVIEW_PARTS, f"{what} review", path)
    for key in ("username", "email"):
        if key in entry:
            regex(entry[key], entry, key, path, f"{what} review {key!r}", negatable=False)
    types = as_list(entry.get("type"))
    for kind in types:
        if kind not in REVIEW_TYPES:
            close = difflib.get_close_matches(str(kind), REVIEW_TYPES, n=1)
            hint = f"did you mean {close[0]!r}?" if close else \
                f"one of {', '.join(REVIEW_TYPES)}"
            raise error_at(entry, "type", path, f"{what} review type {kind!r} is not a "
                                                f"GitHub review state; {hint}")
    permission = entry.get("permission")
    if permission is not None and permission not in REVIEW_PERMISSIONS:
        raise error_at(entry, "permission", path, f"{what} review permission must be "
                                                  f"{', '.join(REVIEW_PERMISSIONS)}, not "
                                                  f"{permission!r}")
    return HasReview(tuple(types),
                     Regex(entry["username"]) if "username" in entry else None,
                     Regex(entry["email"]) if "email" in entry else None,
                     permission,
                     _duration(entry, "newer-than", path, f"{what} review"),
                     _duration(entry, "older-than", path, f"{what} review"))


def github_requirements(req: dict, path: str, what: str) -> Requirements:
    """A GitHub connection's ``require`` or ``reject`` mapping."""
    check_known(req, GITHUB_KEYS, what, path)
    found = _flags(req, ("open", "merged", "current-patchset", "draft"), path, what)
    statuses = tuple(regex(s, req, "status", path, f"{what} status", negatable=False)
                     for s in as_list(req.get("status")))
    if statuses:
        found.append(HasCommitStatus(statuses))
    found.extend(github_review(e, path, what) for e in _entries(req, "review", path, what))
    for label in as_list(req.get("label")):
        if not isinstance(label, str) or not label:
            raise error_at(req, "label", path, f"{what} label must name a label, "
                                               f"not {label!r}")
        found.append(HasLabel(label))
    return Requirements(tuple(found))


#: reads one ``require``/``reject`` mapping: (mapping, file path, what it is) -> conditions
Reader = Callable[[dict, str, str], Requirements]
#: driver -> the reader of its ``require``/``reject`` mappings
READERS: dict[str, Reader] = {
    "gerrit": gerrit_requirements,
    "github": github_requirements,
}
