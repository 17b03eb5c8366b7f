"""The ``local`` log store: a build's logs stay in ``<state_dir>/logs/<build>/``.

This is the embedded mode's store and the default. Files are read without
following links (``safe_files``: post-run playbooks copy into log folders what
jobs made, links included), and only folders directly under ``<state>/logs``
are ever removed, never a path a row points elsewhere.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from zuulish.executor import safe_files
from zuulish.logs.names import log_name_parts, valid_build_id
from zuulish.logs.store import READ_CHUNK


class LocalLogFile:
    """An open regular file of a local log folder."""

    def __init__(self, fd: int):
        self._file = open(fd, "rb")  # noqa: SIM115 - closed by close()
        self.size = os.fstat(fd).st_size

    def chunks(self, start: int, end: int) -> Iterator[bytes]:
        self._file.seek(start)
        left = end - start + 1
        while left > 0:
            chunk = self._file.read(min(READ_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk

    def close(self) -> None:
        self._file.close()


class LocalLogStore:
    kind = "local"

    def __init__(self, state_dir: Path):
        self.root = Path(state_dir) / "logs"

    def keep(self, build_id: str, local_dir: Path) -> str:
        return str(local_dir)

    def owns(self, log_path: str) -> bool:
        return "://" not in log_path

    def open(self, build_id: str, log_path: str | None, name: str) -> LocalLogFile | None:
        """The file by the build's id (never by ``log_path``), without links."""
        if not valid_build_id(build_id) or log_name_parts(name) is None:
            return None
        try:
            fd = safe_files.open_file(self.root, f"{build_id}/{name}")
        except (safe_files.UnsafePath, OSError):
            return None
        return LocalLogFile(fd)

    def remove(self, build_id: str, log_path: str) -> bool:
        """Delete ``<state>/logs/<build_id>`` when it is right under the log root,
        never following a link: a folder goes with what it holds
        (``shutil.rmtree`` removes links in it, not what they point at); a link in
        its place is removed itself."""
        if build_id in ("", ".", "..") or "/" in build_id:
            return False
        folder = self.root.resolve() / build_id
        try:
            mode = os.lstat(folder).st_mode
        except FileNotFoundError:
            return False
        if stat.S_ISLNK(mode):
            folder.unlink()
        elif stat.S_ISDIR(mode):
            shutil.rmtree(folder, ignore_errors=True)
        else:
            return False
        return not os.path.lexists(folder)

    def present(self, build_id: str) -> bool:
        """Whether anything is at the build's folder (or what its id names)."""
        return os.path.lexists(self.root.resolve() / build_id)
