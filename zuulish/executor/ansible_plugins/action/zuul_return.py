"""Ansible action ``zuul_return``: data a job hands back to zuulish.

``zuul_return: {data: {...}}`` merges ``data`` into the build's result file
(``zuul.executor.result_data_file``, in the build's work directory); the
executor reads it when the build ends. ``zuul_return: {file: PATH}`` returns
the JSON mapping in the file at ``PATH`` on the executor instead (a relative
path is relative to the build's work directory; an untrusted playbook may only
name a file in there). ``secret_data`` and ``secret_file`` do the same for the
data handed to the jobs that depend on this one as secrets (never in their
inventory; the executor stores it encrypted and masks it in logs). Runs on the
executor, never on a node.

The result file has Zuul's shape, ``{"data": {...}, "secret_data": {...}}``
(zuul-jobs' registry roles read ``secret_data`` from it).

The work directory holds what untrusted code wrote, links included: a file in
it (``file:``, and the result file itself, read to merge into) is opened
without following a link in any component, and only a regular file is read.
The result file may not grow past ``ZUULISH_MAX_RETURNED_BYTES`` (the
executor's ``executor.max_returned_bytes``), nor a ``file:`` be larger.

As in Zuul, ``zuul.artifacts``, ``zuul.warnings`` and the comments of each file
in ``zuul.file_comments`` are appended to what earlier calls returned; every
other value is merged as job variables are.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from typing import Any

from ansible.plugins.action import ActionBase

# Set by the executor for each playbook run: "trusted" or "untrusted".
TRUST_ENV = "ZUULISH_PLAYBOOK_TRUST"
APPENDED = ("artifacts", "warnings")
# Set by the executor: the most bytes the result file may hold.
LIMIT_ENV = "ZUULISH_MAX_RETURNED_BYTES"
DEFAULT_LIMIT = 1024 * 1024


class ReturnError(Exception):
    """The task fails with this message."""


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` merged into ``old``: mappings merge key by key, other values replace.

    (The same rule as ``zuulish.model.mappings.deep_merge``; Ansible loads this
    file on its own, so it cannot import zuulish.)"""
    out = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _merge_returned(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` merged into ``old``, appending the lists Zuul appends."""
    merged = _merge(old, new)
    old_zuul, new_zuul = old.get("zuul"), new.get("zuul")
    if not (isinstance(old_zuul, dict) and isinstance(new_zuul, dict)):
        return merged
    zuul = merged["zuul"]
    for key in APPENDED:
        if isinstance(old_zuul.get(key), list) and isinstance(new_zuul.get(key), list):
            zuul[key] = old_zuul[key] + new_zuul[key]
    old_comments, new_comments = old_zuul.get("file_comments"), new_zuul.get("file_comments")
    if isinstance(old_comments, dict) and isinstance(new_comments, dict):
        comments = dict(old_comments)
        for path, entries in new_comments.items():
            earlier = comments.get(path)
            both = isinstance(earlier, list) and isinstance(entries, list)
            comments[path] = earlier + entries if both else entries
        zuul["file_comments"] = comments
    return merged


def _result_file(task_vars: dict[str, Any]) -> str:
    zuul = task_vars.get("zuul")
    path = None
    if isinstance(zuul, dict) and isinstance(zuul.get("executor"), dict):
        path = zuul["executor"].get("result_data_file")
    if not path:
        raise ReturnError("zuul.executor.result_data_file is not set (not run by zuulish?)")
    return str(path)


def _limit() -> int:
    try:
        return max(1, int(os.environ.get(LIMIT_ENV, DEFAULT_LIMIT)))
    except ValueError:
        return DEFAULT_LIMIT


def _below(path: str, directory: str) -> str | None:
    """``path`` relative to ``directory`` (lexically, no link resolved), or None
    when it is not below it or goes up with ``..``."""
    path, directory = os.path.abspath(path), os.path.abspath(directory)
    if os.path.commonpath([path, directory]) != directory or path == directory:
        return None
    rel = os.path.relpath(path, directory)
    return None if ".." in rel.split(os.sep) else rel


def _open_nofollow(directory: str, rel: str) -> int:
    """An fd of the regular file ``directory/rel``, no component a link (the
    executor's ``safe_files`` rule; this file cannot import zuulish)."""
    names = [p for p in rel.split("/") if p not in ("", ".")]
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in names[:-1]:
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                            | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = child
        file_fd = os.open(names[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                          | os.O_CLOEXEC, dir_fd=fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):
        os.close(file_fd)
        raise ReturnError(f"{rel} is not a regular file: refused")
    os.set_blocking(file_fd, True)
    return file_fd


def _read_text(directory: str, rel: str, what: str) -> str:
    """The text of ``directory/rel`` read with ``_open_nofollow``, bounded."""
    limit = _limit()
    try:
        fd = _open_nofollow(directory, rel)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ReturnError(f"{what} is reached through a symbolic link (or a "
                              "non-directory): refused") from None
        raise ReturnError(f"cannot read {what}: {exc}") from None
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ReturnError(f"{what} is larger than the limit of {limit} bytes "
                          "(executor.max_returned_bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReturnError(f"cannot read {what}: {exc}") from None


def _read_file(name: Any, work_dir: str) -> dict[str, Any]:
    """The mapping in the JSON file ``name`` (relative to ``work_dir``)."""
    if not isinstance(name, str) or not name:
        raise ReturnError("file must be a path (a string)")
    path = os.path.join(work_dir, name)
    rel = _below(path, work_dir)
    if rel is not None:
        directory = work_dir
    elif os.environ.get(TRUST_ENV) == "trusted":
        directory, rel = os.path.split(os.path.abspath(path))
    else:
        raise ReturnError(f"file {name} is outside the build's work directory ({work_dir}); "
                          "an untrusted playbook may only return a file from there")
    try:
        text = _read_text(directory, rel, f"file {name}")
    except FileNotFoundError:
        raise ReturnError(f"file {name} does not exist") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ReturnError(f"file {name} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ReturnError(f"file {name} must hold a JSON object (a mapping), not "
                          f"{_kind(data)}")
    return data


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "a boolean"}.get(type(value), f"a {type(value).__name__}")


def _returned(args: dict[str, Any], work_dir: str, data_arg: str = "data",
              file_arg: str = "file") -> dict[str, Any] | None:
    """What this call returns under ``data_arg``: that argument, or the mapping in
    its ``file_arg`` (None: neither given)."""
    if data_arg in args and file_arg in args:
        raise ReturnError(f"give either {data_arg} or {file_arg}, not both")
    if file_arg in args:
        return _read_file(args[file_arg], work_dir)
    if data_arg not in args:
        return None
    data = args.get(data_arg)
    if not isinstance(data, dict):
        raise ReturnError(f"{data_arg} must be a mapping, got {_kind(data)}")
    return data


def _part(stored: Any, key: str) -> dict[str, Any]:
    value = stored.get(key) if isinstance(stored, dict) else None
    return value if isinstance(value, dict) else {}


def _store(path: str, data: dict[str, Any] | None, secret: dict[str, Any] | None) -> None:
    directory, name = os.path.split(path)
    try:
        old = json.loads(_read_text(directory, name, f"the result file {path}"))
    except FileNotFoundError:
        old = {}
    except ValueError as exc:
        raise ReturnError(f"cannot read {path}: {exc}") from None
    merged = {"data": _merge_returned(_part(old, "data"), data or {}),
              "secret_data": _merge_returned(_part(old, "secret_data"), secret or {})}
    try:
        text = json.dumps(merged, sort_keys=True, default=str)
    except (TypeError, ValueError) as exc:
        raise ReturnError(f"data is not JSON: {exc}") from None
    limit = _limit()
    if len(text.encode("utf-8")) > limit:
        raise ReturnError(f"the returned data would be {len(text.encode('utf-8'))} bytes, "
                          f"more than the limit of {limit} bytes (executor.max_returned_bytes)")
    fd, tmp_path = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".results-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp_path, path)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset({"data", "file", "secret_data", "secret_file"})

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        result["changed"] = False
        args = dict(self._task.args)
        try:
            path = _result_file(task_vars or {})
            work_dir = os.path.dirname(path)
            data = _returned(args, work_dir)
            secret = _returned(args, work_dir, "secret_data", "secret_file")
            if data is None and secret is None:
                data = _returned({"data": args.get("data")}, work_dir)  # names the problem
            _store(path, data, secret)
        except ReturnError as exc:
            result.update(failed=True, msg=f"zuul_return: {exc}")
            return result
        # the names only: a secret's value never reaches the task's result
        said = [f"returned {', '.join(sorted(data)) or 'nothing'}"] if data is not None else []
        if secret is not None:
            said.append(f"secret_data {', '.join(sorted(secret)) or 'nothing'}")
        result["msg"] = "; ".join(said)
        return result
