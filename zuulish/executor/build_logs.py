"""The logs a build's playbooks leave, kept with the build's own.

As in Zuul, ``zuul.executor.log_root`` lies inside the build's work directory
(``<work>/logs``): trusted and untrusted playbooks alike write there (zuul-jobs'
fetch-output, fetch-tox-output, log-inventory), within the build's disk limit
and without reaching the executor's state directory. When the build ends,
``collect`` copies that tree into the build's served log directory
(``<state>/logs/<build>``), beside ``job-output.txt``.

What the work directory holds was written by the build, untrusted code
included, so the copy follows the rules of ``safe_files``: each directory is
opened ``O_NOFOLLOW`` relative to its parent, only directories and regular files
are kept (a link, FIFO, socket or device is left out and named in the job log),
files are created ``O_EXCL | O_NOFOLLOW`` in directories the executor made, and
the executor's own files (``job-output.txt``, ``job-output.json``) are never
replaced.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from zuulish.executor import safe_files

LOG_ROOT = "logs"  # below the work directory: zuul.executor.log_root
EXECUTOR_FILES = frozenset({"job-output.txt", "job-output.json"})
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OUT_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Collected:
    """What ``collect`` kept and what it left out (paths relative to the log root)."""

    files: int = 0
    size: int = 0
    left_out: list[str] = field(default_factory=list)


def log_root(work_root: Path) -> Path:
    """``zuul.executor.log_root`` of a build whose work directory is ``work_root``."""
    return work_root / LOG_ROOT


def collect(work_root: Path, log_dir: Path, note: Callable[[str], None]) -> Collected:
    """Copy ``<work_root>/logs`` into ``log_dir`` (see the module); ``note`` is told
    what was left out and why."""
    done = Collected()
    try:
        root = safe_files.open_dir(work_root, LOG_ROOT)
    except safe_files.Missing:
        return done
    except safe_files.UnsafePath as exc:
        note(f"the build's logs were not kept: {exc}")
        done.left_out.append(LOG_ROOT)
        return done
    try:
        _copy_dir(root, log_dir, "", done)
    finally:
        os.close(root)
    for rel in done.left_out[:20]:
        note(f"not kept with the logs: {rel}")
    if len(done.left_out) > 20:
        note(f"... and {len(done.left_out) - 20} more not kept")
    return done


def _copy_dir(fd: int, dest: Path, rel: str, done: Collected) -> None:
    dest.mkdir(mode=0o755, exist_ok=True)
    for name in sorted(os.listdir(fd)):
        shown = f"{rel}{name}"
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            target = dest / name
            if target.is_symlink() or (target.exists() and not target.is_dir()):
                done.left_out.append(f"{shown}/ (the executor's own name)")
                continue
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                done.left_out.append(f"{shown}/ ({exc.strerror})")
                continue
            try:
                _copy_dir(sub, target, f"{shown}/", done)
            finally:
                os.close(sub)
        elif stat.S_ISREG(info.st_mode):
            if not rel and name in EXECUTOR_FILES:
                done.left_out.append(f"{shown} (the executor's own file)")
                continue
            _copy_file(fd, name, dest / name, shown, done)
        else:
            kind = "a link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
            done.left_out.append(f"{shown} ({kind})")


def _copy_file(fd: int, name: str, target: Path, shown: str, done: Collected) -> None:
    try:
        source = os.open(name, _FILE_FLAGS, dir_fd=fd)
    except OSError as exc:
        done.left_out.append(f"{shown} ({exc.strerror})")
        return
    try:
        info = os.fstat(source)
        if not stat.S_ISREG(info.st_mode):  # swapped since the listing
            done.left_out.append(f"{shown} (not a regular file)")
            return
        try:
            out = os.open(target, _OUT_FLAGS, 0o644)
        except OSError as exc:
            why = "the executor's own name" if exc.errno in (errno.EEXIST, errno.ELOOP) \
                else exc.strerror
            done.left_out.append(f"{shown} ({why})")
            return
        try:
            while True:
                chunk = os.read(source, safe_files.CHUNK)
                if not chunk:
                    break
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view):]
                done.size += len(chunk)
        finally:
            os.close(out)
        done.files += 1
    finally:
        os.close(source)
