"""The per-build disk limit (Zuul's ``disk_limit_per_job``).

A thread sums what a build's directory (its work directory, playbook
checkouts and Ansible's data directories) takes on disk every
``INTERVAL`` seconds (``os.scandir``, links never followed, each inode counted
once, allocated blocks rather than apparent sizes) and calls ``on_exceed``
once it holds more than the limit; the executor then stops the build (its
local node first, so a runaway writer ends at once) with Zuul's result for it,
``DISK_FULL``. Between two looks a build may write past the limit for up to
``INTERVAL`` seconds; RLIMIT_FSIZE bounds any one file a local node writes
to the limit itself, and the node's ``/tmp`` is a tmpfs of that size.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from zuulish.model import BuildResult

INTERVAL = 2.0
MB = 1024 * 1024
RESULT = BuildResult.DISK_FULL  # Zuul's build result when a job exceeds disk_limit_per_job


def message(limit_mb: int) -> str:
    """What the build's result says when it went past ``limit_mb``."""
    return f"the build's work directory exceeded the disk limit of {limit_mb} MB"


def usage(path: Path) -> int:
    """Bytes the files under ``path`` take on disk (links not followed)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(path)]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue  # removed meanwhile, or not a directory
        with entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    stack.append(entry.path)
                key = (info.st_dev, info.st_ino)
                if info.st_nlink > 1:
                    if key in seen:
                        continue
                    seen.add(key)
                total += info.st_blocks * 512
    return total


class DiskWatch:
    """Watch ``path``; call ``on_exceed`` once when it holds more than ``limit_mb``."""

    def __init__(self, path: Path, limit_mb: int, on_exceed: Callable[[], None],
                 interval: float = INTERVAL) -> None:
        self.path = path
        self.limit_mb = limit_mb
        self.on_exceed = on_exceed
        self.interval = interval
        self.exceeded = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"disk-{path.parent.name}",
                                        daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            if usage(self.path) > self.limit_mb * MB:
                self.exceeded = True
                self.on_exceed()
                return

    def start(self) -> DiskWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
