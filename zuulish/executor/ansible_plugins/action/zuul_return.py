"""Ansible action ``zuul_return``: data a job hands back to zuulish.

``zuul_return: {data: {...}}`` merges ``data`` into the build's result file
(``zuul.executor.result_data_file``, in the build's work directory); the
executor reads it when the build ends. Runs on the executor, never on a node.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from ansible.plugins.action import ActionBase


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


def _result_file(task_vars: dict[str, Any]) -> str | None:
    zuul = task_vars.get("zuul")
    if not isinstance(zuul, dict) or not isinstance(zuul.get("executor"), dict):
        return None
    path = zuul["executor"].get("result_data_file")
    return str(path) if path else None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset({"data"})

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        result["changed"] = False
        data = self._task.args.get("data")
        if not isinstance(data, dict):
            kind = "nothing" if data is None else f"a {type(data).__name__}"
            result.update(failed=True, msg=f"zuul_return: data must be a mapping, got {kind}")
            return result
        path = _result_file(task_vars or {})
        if path is None:
            result.update(failed=True, msg="zuul_return: zuul.executor.result_data_file is "
                                           "not set (not run by zuulish?)")
            return result
        try:
            with open(path, encoding="utf-8") as f:
                old = json.load(f)
        except FileNotFoundError:
            old = {}
        except (OSError, ValueError) as exc:
            result.update(failed=True, msg=f"zuul_return: cannot read {path}: {exc}")
            return result
        merged = _merge(old if isinstance(old, dict) else {}, data)
        try:
            text = json.dumps(merged, sort_keys=True, default=str)
        except (TypeError, ValueError) as exc:
            result.update(failed=True, msg=f"zuul_return: data is not JSON: {exc}")
            return result
        fd, tmp_path = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".results-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp_path, path)
        result["msg"] = "returned " + (", ".join(sorted(data)) or "nothing")
        return result
