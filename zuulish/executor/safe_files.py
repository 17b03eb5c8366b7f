"""Reading what a build left in a directory without following links out of it.

A build's work directory and log directory hold what untrusted code wrote
there, symbolic links included: a ``results.json`` that points at
``secrets.key``, a ``roles`` that points at ``/etc``. Whatever the executor or
the web server reads from such a directory goes through here:

- the path is relative, with no ``..`` and no empty component;
- each directory on the way is opened with ``O_NOFOLLOW | O_DIRECTORY`` relative
  to the one before (``dir_fd``), and the last component with ``O_NOFOLLOW``:
  a link anywhere below ``root`` is refused, and nothing can leave ``root``
  (``root`` itself is the caller's own path and is opened as it is);
- only regular files are read (``fstat``: not a FIFO, device or socket, which
  is opened ``O_NONBLOCK`` so that a planted FIFO cannot hang the reader), and
  at most ``limit`` bytes of one.

Every refusal is an ``UnsafePath`` whose text says which rule was broken.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
CHUNK = 1024 * 1024


class UnsafePath(Exception):
    """A path below a root that may not be read: the text says why."""


class Missing(UnsafePath):
    """The path (or a directory on the way) does not exist."""


class TooLarge(UnsafePath):
    """A file larger than the limit it is read with."""

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"{name} is larger than the limit of {limit} bytes")
        self.limit = limit


def parts(rel: str | os.PathLike[str]) -> list[str]:
    """The components of the relative path ``rel``; UnsafePath for an absolute path,
    ``..`` or an empty path."""
    text = os.fspath(rel)
    if not text or PurePosixPath(text).is_absolute():
        raise UnsafePath(f"{text!r} is not a relative path")
    found = [p for p in text.split("/") if p not in ("", ".")]
    if not found:
        raise UnsafePath(f"{text!r} names no file")
    if ".." in found:
        raise UnsafePath(f"{text} goes up with '..': refused")
    return found


def _refusal(name: str, exc: OSError, what: str, dir_fd: int, last: str) -> UnsafePath:
    """Why ``last`` (in ``dir_fd``; ``name`` below the root) could not be opened."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        try:
            mode = os.stat(last, dir_fd=dir_fd, follow_symlinks=False).st_mode
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode):
            return UnsafePath(f"{name} is a symbolic link: refused")
        return UnsafePath(f"{name} is not a {what}: refused")
    if exc.errno == errno.ENOENT:
        return Missing(f"{name} does not exist")
    return UnsafePath(f"cannot open {what} {name}: {exc.strerror}")


def _open_dirs(root: Path | str, names: list[str]) -> int:
    """An fd of ``root/names...``, each component reached without following links."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    walked: list[str] = []
    try:
        for name in names:
            walked.append(name)
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise _refusal("/".join(walked), exc, "directory", fd, name) from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_dir(root: Path | str, rel: str | os.PathLike[str] = ".") -> int:
    """A read-only fd of the directory ``root/rel`` (``"."``: root itself), reached
    without following any link below ``root``; the caller closes it."""
    names = [] if os.fspath(rel) in ("", ".") else parts(rel)
    return _open_dirs(root, names)


def open_file(root: Path | str, rel: str | os.PathLike[str]) -> int:
    """A read-only fd of the regular file ``root/rel``, reached without following any
    link; the caller closes it."""
    names = parts(rel)
    dir_fd = _open_dirs(root, names[:-1])
    name = "/".join(names)
    try:
        try:
            fd = os.open(names[-1], _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            raise _refusal(name, exc, "file", dir_fd, names[-1]) from None
    finally:
        os.close(dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath(f"{name} is not a regular file: refused")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def opened(root: Path | str, rel: str | os.PathLike[str]) -> Iterator[int]:
    """``open_file`` as a context manager that closes the fd."""
    fd = open_file(root, rel)
    try:
        yield fd
    finally:
        os.close(fd)


def read_fd(fd: int, limit: int, name: str) -> bytes:
    """All of the open file ``fd``, or TooLarge past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = os.read(fd, min(CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise TooLarge(name, limit)
        chunks.append(chunk)


def read_bytes(root: Path | str, rel: str | os.PathLike[str], limit: int) -> bytes:
    """The regular file ``root/rel`` (no links), at most ``limit`` bytes (else TooLarge)."""
    with opened(root, rel) as fd:
        if os.fstat(fd).st_size > limit:
            raise TooLarge("/".join(parts(rel)), limit)
        return read_fd(fd, limit, "/".join(parts(rel)))


def is_dir(root: Path | str, rel: str | os.PathLike[str]) -> bool:
    """Whether ``root/rel`` is a directory reached without any link (False when it
    does not exist); UnsafePath when a component is a link."""
    try:
        fd = open_dir(root, rel)
    except Missing:
        return False
    os.close(fd)
    return True


def lstat_below(root: Path | str, rel: str | os.PathLike[str]) -> os.stat_result | None:
    """``lstat`` of ``root/rel`` reached without following links (None: it does not
    exist); the last component itself may be anything, a link included."""
    names = parts(rel)
    try:
        dir_fd = _open_dirs(root, names[:-1])
    except Missing:
        return None
    try:
        return os.stat(names[-1], dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    finally:
        os.close(dir_fd)


def inside(root: Path, path: Path) -> str:
    """``path`` relative to ``root`` as text (both absolute, lexically; no link is
    resolved); UnsafePath when ``path`` is not below ``root``."""
    try:
        return path.absolute().relative_to(root.absolute()).as_posix()
    except ValueError:
        raise UnsafePath(f"{path} is not inside {root}") from None
