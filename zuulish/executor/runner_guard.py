"""ansible-runner's own files, kept out of reach of the sandboxes it runs.

ansible-runner keeps its artifacts (``<data dir>/artifacts/<ident>/``) in the
playbook's private data dir, which a sandbox may write: an untrusted playbook's
run dir is bound read-write into its sandbox, and a trusted build's
``ansible/artifacts`` into the build's trusted view, so that Ansible's callback
can leave each event's data in ``job_events/<uuid>-partial.json``. On the
executor host, outside any sandbox, ansible-runner then

- reads ``job_events/<uuid>-partial.json`` for each event announced on the
  playbook's output, where ``uuid`` is whatever that output says, and removes it;
- writes ``status`` and ``rc`` into the artifact dir when the playbook has ended.

With plain ``open`` both follow links: a ``pipe`` lookup in an untrusted
playbook could link ``artifacts/<ident>/status`` to ``secrets.key`` (truncated
and overwritten with ``failed`` by the executor) or announce an event whose
uuid climbs out of ``job_events``. ``install`` wraps the two methods of
ansible-runner's ``Runner`` that do this:

- an event's partial data is read only for a uuid of hex digits and dashes,
  through ``safe_files`` (no link anywhere below the data dir, a regular file,
  bounded), and removed only when it was read so; an event kept as a file
  (ansible-runner's ``<counter>-<uuid>.json``, when the event handler asks) is
  created anew, never written through a link;
- when the playbook's final status is known, and before ansible-runner writes
  it, every directory from the data dir down to the artifact dir is made a
  real directory again and a ``status`` or ``rc`` that is not a plain regular
  file of one link is removed, so ansible-runner creates a fresh file. The
  playbook has exited by then; an untrusted one's sandbox (its own PID
  namespace, killed with its launcher) has nothing left running to plant
  another link.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import re
import shutil
import stat
import time
from pathlib import Path
from typing import Any

import ansible_runner
from ansible_runner.runner import Runner

from zuulish.executor import safe_files

log = logging.getLogger(__name__)

UUID = re.compile(r"[0-9a-fA-F-]{1,64}")
FINAL_STATUSES = frozenset({"successful", "failed", "timeout", "canceled", "error"})
PARTIAL_LIMIT = 64 * 1024 * 1024  # the most one event's partial data may hold
_INSTALLED = "_zuulish_guarded"


def _artifact_rel(config: Any) -> Path | None:
    """The artifact dir relative to the private data dir (None: it lies elsewhere)."""
    try:
        return Path(config.artifact_dir).relative_to(Path(config.private_data_dir))
    except ValueError:
        return None


def read_partial(config: Any, uuid: Any) -> dict[str, Any] | None:
    """The event's partial data left by Ansible's callback, read without following
    links and removed; None when there is none that may be read."""
    if not isinstance(uuid, str) or not UUID.fullmatch(uuid):
        return None
    rel = _artifact_rel(config)
    if rel is None:
        return None
    name = rel / "job_events" / f"{uuid}-partial.json"
    try:
        data = json.loads(safe_files.read_bytes(config.private_data_dir, name, PARTIAL_LIMIT))
    except (safe_files.UnsafePath, OSError, ValueError) as exc:
        log.debug("event data %s not read: %s", name, exc)
        return None
    with contextlib.suppress(OSError, safe_files.UnsafePath):
        dir_fd = safe_files.open_dir(config.private_data_dir, rel / "job_events")
        try:
            os.unlink(f"{uuid}-partial.json", dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
    return data if isinstance(data, dict) else None


def write_event(config: Any, event_data: dict[str, Any]) -> None:
    """Keep the event as ``job_events/<counter>-<uuid>.json`` (as ansible-runner
    does), created anew in a directory reached without links."""
    rel = _artifact_rel(config)
    uuid, counter = event_data.get("uuid"), event_data.get("counter")
    if rel is None or not isinstance(uuid, str) or not UUID.fullmatch(uuid) \
            or not isinstance(counter, int):
        return
    name = f"{counter}-{uuid}.json"
    try:
        dir_fd = safe_files.open_dir(config.private_data_dir, rel / "job_events")
    except (safe_files.UnsafePath, OSError) as exc:
        log.debug("event %s not kept: %s", name, exc)
        return
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dir_fd)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(event_data, f)
    except OSError as exc:
        log.debug("event %s not kept: %s", name, exc)
    finally:
        os.close(dir_fd)


def _real_dir(path: Path) -> None:
    """``path`` as a directory of its own: a link or other file there is replaced."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        path.mkdir(mode=0o700)
        return
    if stat.S_ISDIR(mode):
        return
    path.unlink()
    path.mkdir(mode=0o700)


def clear_result_files(config: Any) -> None:
    """Make ansible-runner's ``status`` and ``rc`` land in fresh regular files of
    the artifact dir, whatever the sandbox left in their place."""
    rel = _artifact_rel(config)
    if rel is None:
        return
    here = Path(config.private_data_dir)
    for name in rel.parts:
        here = here / name
        _real_dir(here)
    for name in ("status", "rc"):
        path = here / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
            continue
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            path.unlink()


def install() -> None:
    """Guard ansible-runner's ``Runner`` (once per process)."""
    if getattr(Runner, _INSTALLED, False):
        return
    status_callback = Runner.status_callback

    def guarded_event(self: Runner, event_data: dict[str, Any]) -> None:
        # ansible-runner's own event_callback, reading and writing as described above
        self.last_stdout_update = time.time()
        if "uuid" not in event_data:
            return
        event_data["runner_ident"] = str(self.config.ident)
        partial = read_partial(self.config, event_data["uuid"])
        if partial:
            event_data.update(partial)
        event_data.setdefault("created",
                              datetime.datetime.now(datetime.UTC).isoformat())
        should_write = self.event_handler(event_data) if self.event_handler else True
        for plugin in ansible_runner.plugins.values():
            plugin.event_handler(self.config, event_data)
        if should_write:
            write_event(self.config, event_data)

    def guarded_status(self: Runner, status: str) -> Any:
        if status in FINAL_STATUSES:
            try:
                clear_result_files(self.config)
            except OSError as exc:
                log.warning("cannot clear ansible-runner's result files: %s", exc)
        return status_callback(self, status)

    Runner.event_callback = guarded_event  # type: ignore[method-assign]
    Runner.status_callback = guarded_status  # type: ignore[method-assign]
    setattr(Runner, _INSTALLED, True)
