"""One bare clone per repository, updated by incremental fetch.

Each repository has its own lock (``locked(name)``), so mergers and executors
working on different repositories never wait for each other. A new clone is
built aside and moved into place, so a failed clone leaves nothing behind. A
cache that git cannot use any more while the remote answers is removed and
cloned again, once; an unreachable remote leaves the cache as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from zuulish.merger.speculative import MergeError, _git, _run

log = logging.getLogger(__name__)

REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/changes/*:refs/changes/*")


def _fetch(path: Path, url: str) -> None:
    _git(path, "fetch", "-q", "--prune", "--no-tags", "--no-write-fetch-head", "--", url,
         *REFSPECS)


def _clone(path: Path, url: str) -> None:
    """Clone ``url`` bare into ``path`` (which must not exist), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        _git(tmp, "init", "-q", "--bare")
        _fetch(tmp, url)
        head = _run(tmp, ["ls-remote", "--symref", "--", url, "HEAD"]).stdout
        first = head.split("\n", 1)[0]
        if first.startswith("ref: refs/heads/"):  # follow the remote's default branch
            _git(tmp, "symbolic-ref", "HEAD", first.split()[1])
        try:
            os.rename(tmp, path)
        except OSError as exc:
            raise MergeError(f"cannot move the new clone into {path}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _remote_answers(path: Path, url: str) -> bool:
    return _run(path.parent, ["ls-remote", "--heads", "--", url]).returncode == 0


class RepoCache:
    """Bare clones under ``root``: ``org/proj`` lives in ``root/org/proj.git``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._locks: dict[Path, threading.RLock] = {}
        self._guard = threading.Lock()

    def path(self, name: str) -> Path:
        """Where the clone of ``name`` lives; MergeError for a name that is not a safe path."""
        parts = name.split("/")
        bad = [p for p in parts if p in ("", ".", "..") or "\\" in p or "\0" in p]
        nested = [p for p in parts[:-1] if p.endswith(".git")]  # would land inside a clone
        if bad or nested:
            raise MergeError(f"invalid repository name {name!r}")
        return self.root.joinpath(*parts[:-1], parts[-1] + ".git")

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold the lock of repository ``name`` (re-entrant; other repos are not blocked)."""
        key = self.path(name)
        with self._guard:
            lock = self._locks.setdefault(key, threading.RLock())
        with lock:
            yield

    def ensure(self, name: str, url: str) -> Path:
        """The bare clone of ``name``, cloned on first use, else brought up to date."""
        path = self.path(name)
        with self.locked(name):
            try:
                self._update(path, url)
            except MergeError as exc:
                if not path.exists() or not _remote_answers(path, url):
                    raise MergeError(f"cannot fetch {name} from {url}: {exc}") from exc
                log.warning("repo cache for %s is unusable (%s); cloning it again", name, exc)
                shutil.rmtree(path)
                try:
                    _clone(path, url)
                except MergeError as again:
                    raise MergeError(f"cannot fetch {name} from {url}: {again}") from again
        return path

    def fetch(self, name: str, url: str) -> Path:
        """Bring the clone of ``name`` up to date (cloning it if needed)."""
        return self.ensure(name, url)

    def _update(self, path: Path, url: str) -> None:
        if not path.exists():
            _clone(path, url)
            return
        _fetch(path, url)  # fails too when path is no repository any more (e.g. bad HEAD)
