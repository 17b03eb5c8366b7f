"""Reading what a build returned with ``zuul_return`` when it ends.

The ``zuul_return`` action writes ``results.json`` in the build's work dir; this
reads it back, says in the job log what is wrong with it (data that is not a
mapping, malformed artifacts, ``child_jobs`` naming jobs that are not children,
warnings that are not strings, malformed file comments and comments on files the
change does not touch), drops the variables a job may not set (``model/varnames.py``:
connection variables, reserved names), and masks secrets in what is kept, since it is stored
and shown. What is malformed stays in the stored data; whoever reads it (the
API, the report) leaves it out with the same functions.

``results.json`` has Zuul's shape, ``{"data": {...}, "secret_data": {...}}``.
``secret_data`` (``read_secret_data``) is what the jobs that depend on this one
get as secrets: a mapping of variables (the same names dropped; a ``zuul`` key
too), whose string values of ``SECRET_MASK_MIN`` characters or more are masked
in the job log from then on and in the data that is stored and shown.

``results.json`` lies in the work dir, which untrusted code writes: it is read
without following links (``safe_files``), only as a regular file, and only up
to ``executor.max_returned_bytes`` (``DEFAULT_MAX_RETURNED_BYTES``). A file that
breaks one of these rules is ignored, with the rule in the job log and in the
``refused`` list the caller puts into the build's message (as is each variable
dropped).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zuulish.executor import safe_files
from zuulish.model.file_comments import file_comments
from zuulish.model.returned_data import artifacts, child_jobs, log_url, retry, warnings
from zuulish.model.varnames import without_forbidden
from zuulish.secrets import plain_values

if TYPE_CHECKING:
    from zuulish.executor.ansible_run import JobLog

RESULT_FILE = "results.json"
DEFAULT_MAX_RETURNED_BYTES = 1024 * 1024  # executor.max_returned_bytes
# secret_data values at least this long are masked (shorter ones would mask words)
SECRET_MASK_MIN = 8


def result_file(work_root: Path) -> Path:
    """Where the build's ``zuul_return`` data is written."""
    return work_root / RESULT_FILE


def _read_file(work_root: Path, note: Any, limit: int,
               refused: list[str] | None) -> dict[str, Any] | None:
    """The mapping in ``results.json`` (None: none, or not usable)."""
    try:
        raw = safe_files.read_bytes(work_root, RESULT_FILE, limit)
    except safe_files.Missing:
        return None
    except safe_files.UnsafePath as exc:
        why = f"{exc}" + (" (executor.max_returned_bytes)"
                          if isinstance(exc, safe_files.TooLarge) else "")
        note(f"{why}; the returned data is ignored")
        if refused is not None:
            refused.append(f"the returned data was ignored: {why}")
        return None
    except OSError as exc:
        note(f"cannot read the returned data ({exc}); ignored")
        return None
    try:
        stored = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        note(f"cannot read the returned data ({exc}); ignored")
        return None
    if not isinstance(stored, dict):
        note(f"the returned data is a {type(stored).__name__}, not a mapping; ignored")
        return None
    return stored


def _part(stored: dict[str, Any], key: str, note: Any) -> dict[str, Any] | None:
    value = stored.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        note(f"the returned {key} is a {type(value).__name__}, not a mapping; ignored")
        return None
    return value


def read_secret_data(work_root: Path, log: JobLog, report: bool = True,
                     limit: int = DEFAULT_MAX_RETURNED_BYTES) -> dict[str, Any] | None:
    """The build's returned ``secret_data`` (None: none); its values are masked in
    the job log from now on (see the module). What is wrong with it is written to
    the job log unless ``report`` is false."""
    def note(text: str) -> None:
        if report:
            log.write(f"zuul_return: {text}")

    stored = _read_file(work_root, lambda _text: None, limit, None)
    secret = _part(stored, "secret_data", note) if stored is not None else None
    if not secret:
        return None
    log.add_secrets([v for v in plain_values(secret) if len(v) >= SECRET_MASK_MIN])
    if "zuul" in secret:
        note("secret_data: zuul is Zuul's own variable, not one to hand on; dropped")
        secret = {k: v for k, v in secret.items() if k != "zuul"}
    secret, dropped = without_forbidden(secret, returned=True)
    for why in dropped:
        note(f"secret_data: {why}; dropped")
    return secret or None


def read_returned(work_root: Path, log: JobLog, children: list[str],
                  report: bool = True, files: list[str] | None = None,
                  limit: int = DEFAULT_MAX_RETURNED_BYTES,
                  refused: list[str] | None = None) -> dict[str, Any] | None:
    """The build's returned data, masked (None: it returned nothing usable); what
    is wrong with it is written to the job log unless ``report`` is false.
    ``files`` are the change's files (None: not a change); ``limit`` is the most
    bytes ``results.json`` may hold; why a ``results.json`` was refused (a link,
    not a regular file, too large) is also appended to ``refused``. (Read
    ``read_secret_data`` first: the secret values are then masked in it too.)"""
    def note(text: str) -> None:
        if report:
            log.write(f"zuul_return: {text}")

    stored = _read_file(work_root, note, limit, refused)
    if stored is None:
        return None
    data = _part(stored, "data", note)
    if data is None:
        return None
    data, dropped = without_forbidden(data, returned=True)  # never reach a child job
    for why in dropped:
        note(f"{why}; dropped")
        if refused is not None:  # a rule the build broke: named in its message too
            refused.append(f"a returned variable was dropped: {why}")
    problems = [*artifacts(data)[1], *warnings(data)[1], *file_comments(data, files)[1],
                *log_url(data)[1], *retry(data)[1]]
    for problem in problems:
        note(problem)
    wanted = child_jobs(data)
    if wanted is None and isinstance(data.get("zuul"), dict) \
            and data["zuul"].get("child_jobs") is not None:
        note("zuul.child_jobs must be a list of job names; ignored")
    for name in wanted or ():
        if name not in children:
            known = ", ".join(children) or "none"
            note(f"zuul.child_jobs names {name!r}, which is not a job that depends on "
                 f"this one (those are: {known}); ignored")
    return log.mask_data(data)
