"""Data a build returns with ``zuul_return`` and what Zuul makes of it (pure).

A job calls ``zuul_return: {data: {...}}`` any number of times; each call is
merged into what earlier calls returned (mappings merge key by key, at every
depth; any other value replaces the earlier one). Under the ``zuul`` key Zuul
reads:

- ``zuul.artifacts``: a list of ``{name, url, metadata}`` recorded on the build;
  a relative ``url`` is relative to the build's log URL.
- ``zuul.child_jobs``: the dependent jobs that should run; the others are skipped
  (an empty list skips them all).
- ``zuul.pause``: the build waits after its run phase until the jobs that depend
  on it have finished, then runs its post-run playbooks.
- ``zuul.warnings``: a list of messages added to the report on the change.
- ``zuul.file_comments``: comments on lines of the change's files
  (``model/file_comments.py``).
- ``zuul.log_url``: where the job uploaded its logs (an http(s) URL); shown with
  the build, and relative artifact URLs resolve against it.
- ``zuul.retry``: ``false`` keeps a pre-run failure from being retried (the
  build fails instead), as in Zuul; ``true`` is the default.

``zuul.artifacts``, ``zuul.warnings`` and each file's ``zuul.file_comments`` are
appended across calls instead (the ``zuul_return`` action does this).

Everything else is passed to the jobs that depend on the build, as variables.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from zuulish.model.mappings import deep_merge
from zuulish.model.varnames import without_forbidden


def merge_data(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` merged into a copy of ``old``: mappings merge, other values replace
    (nothing of either is shared with the result)."""
    return copy.deepcopy(deep_merge(old, new))


@dataclass(frozen=True)
class Artifact:
    name: str
    url: str
    metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "metadata": self.metadata}


def kind_of(value: Any) -> str:
    """``value``'s type for a message: "a list", "an int", "a boolean"."""
    name = "boolean" if isinstance(value, bool) else type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _zuul_part(data: dict[str, Any] | None) -> dict[str, Any]:
    part = (data or {}).get("zuul")
    return part if isinstance(part, dict) else {}


def artifacts(data: dict[str, Any] | None, log_url: str = "") -> tuple[list[Artifact], list[str]]:
    """The well-formed artifacts of ``data`` (URLs resolved against ``log_url``, the
    URL of the build's log directory) and a message for each one left out."""
    given = _zuul_part(data).get("artifacts")
    if given is None:
        return [], []
    if not isinstance(given, list):
        return [], [f"zuul.artifacts must be a list, not {type(given).__name__}; ignored"]
    found: list[Artifact] = []
    problems: list[str] = []
    base = log_url if not log_url or log_url.endswith("/") else log_url + "/"
    for n, entry in enumerate(given, 1):
        if not isinstance(entry, dict):
            problems.append(f"artifact #{n} is not a mapping; ignored")
            continue
        name, url = entry.get("name"), entry.get("url")
        missing = [key for key, value in (("name", name), ("url", url))
                   if not isinstance(value, str) or not value]
        if missing:
            problems.append(f"artifact #{n} has no {' and no '.join(missing)}; ignored")
            continue
        resolved = urljoin(base, url) if base else url
        if urlsplit(resolved).scheme not in ("http", "https", ""):
            problems.append(f"artifact #{n} ({name}) has a url that is neither http(s) nor "
                            "relative; ignored")
            continue
        metadata = entry.get("metadata")
        found.append(Artifact(name, resolved, metadata if isinstance(metadata, dict) else {}))
    return found, problems


MAX_URL_LENGTH = 2048


def log_url(data: dict[str, Any] | None) -> tuple[str | None, list[str]]:
    """The ``zuul.log_url`` of ``data`` (None: not given or not usable) and a message
    when it is left out: it must be an absolute http(s) URL with a host, without
    spaces or control characters."""
    given = _zuul_part(data).get("log_url")
    if given is None:
        return None, []
    if not isinstance(given, str):
        return None, [f"zuul.log_url must be a URL, not {kind_of(given)}; ignored"]
    try:
        parts = urlsplit(given)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc \
            or len(given) > MAX_URL_LENGTH \
            or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in given):
        return None, [f"zuul.log_url must be an http(s) URL (at most {MAX_URL_LENGTH} "
                      "characters, no spaces); ignored"]
    return given, []


def logs_base(data: dict[str, Any] | None, web_url: str, build_id: str) -> str:
    """What a build's relative artifact URLs resolve against: the ``zuul.log_url`` it
    returned, else its log directory on this server."""
    url = log_url(data)[0]
    if url is None:
        return log_dir_url(web_url, build_id)
    return url if url.endswith("/") else url + "/"


def retry(data: dict[str, Any] | None) -> tuple[bool | None, list[str]]:
    """The ``zuul.retry`` of ``data`` (None: not given) and a message when it is not a
    boolean (then it is ignored)."""
    given = _zuul_part(data).get("retry")
    if given is None or isinstance(given, bool):
        return given, []
    return None, [f"zuul.retry must be true or false, not {kind_of(given)}; ignored"]


def warnings(data: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """The messages of ``zuul.warnings`` and a message for each entry left out
    (it must be a list of strings)."""
    given = _zuul_part(data).get("warnings")
    if given is None:
        return [], []
    if not isinstance(given, list):
        return [], [f"zuul.warnings must be a list of strings, not {kind_of(given)}; "
                    "ignored"]
    found: list[str] = []
    problems: list[str] = []
    for n, entry in enumerate(given, 1):
        if isinstance(entry, str) and entry.strip():
            found.append(entry)
        else:
            what = "an empty string" if isinstance(entry, str) else kind_of(entry)
            problems.append(f"zuul.warnings #{n} is {what}, not a message; ignored")
    return found, problems


def child_jobs(data: dict[str, Any] | None) -> list[str] | None:
    """The job names of ``zuul.child_jobs`` (None: not given, every child runs)."""
    given = _zuul_part(data).get("child_jobs")
    if given is None:
        return None
    if isinstance(given, str):
        return [given]
    if not isinstance(given, list):
        return None
    return [str(name) for name in given]


def child_vars(parents: list[dict[str, Any] | None]) -> dict[str, Any]:
    """The variables a child gets from its parents' returned data, merged in order
    (a later parent's value wins), without the ``zuul`` key Zuul keeps for itself
    and without any name a job may not set (``varnames.py``; the executor drops
    those when it reads the data, this holds for data stored before that)."""
    out: dict[str, Any] = {}
    for data in parents:
        if data:
            kept, _ = without_forbidden({k: v for k, v in data.items() if k != "zuul"})
            out = merge_data(out, kept)
    return out


def log_dir_url(web_url: str, build_id: str) -> str:
    """The URL of a build's log directory (relative artifact URLs resolve against it)."""
    return f"{web_url.rstrip('/')}/logs/{build_id}/"


@dataclass(frozen=True)
class ParentBuild:
    """A finished build of a job another job depends on, with what it returned."""

    job: str
    build_id: str
    data: dict[str, Any] | None


def inherited(ancestors: list[ParentBuild], web_url: str
              ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What a job gets from the builds it depends on (directly or not; farthest
    first): their returned data merged, a nearer build's value winning, and their
    artifacts (each with its ``job`` and absolute ``url``), for ``zuul.artifacts``.

    As in Zuul, this data is *below* the job's own ``vars``: the executor merges
    the job's vars over it (and host-vars, group-vars, extra-vars stay above)."""
    variables = child_vars([parent.data for parent in ancestors])
    found: list[dict[str, Any]] = []
    for parent in ancestors:
        listed, _ = artifacts(parent.data, logs_base(parent.data, web_url, parent.build_id))
        found.extend({**a.to_dict(), "job": parent.job} for a in listed)
    return variables, found
