"""One bare clone per repository, updated by incremental fetch.

Each repository has its own lock (``locked(name)``): a thread lock, and an
``flock`` on a file beside the clone so that merger and executor processes
sharing a cache directory take turns too. Work on different repositories never
waits. A new clone is built aside and moved into place, so a failed clone
leaves nothing behind. A cache that git cannot use any more while the remote
answers is removed and cloned again, once; an unreachable remote leaves the
cache as it was.

Fetches prune the branches and change refs the remote no longer has. Every
``maintain_every`` updates of a repository, ``git gc --auto`` packs loose
objects (speculative merge commits among them: nothing references those, and
they are pruned after ``prune_expire``). With ``max_bytes`` set, the least
recently used clones beyond that size are removed (and cloned again when next
needed).

Every command that reaches a remote (fetch, ls-remote) asks ``credentials`` for
that URL's HTTP credentials at that moment and hands them to that git process
alone, in its environment (``merger.credentials``); the URL is stored nowhere in
the clone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from zuulish.git_admin import init_bare, open_repo
from zuulish.merger.credentials import (
    AuthenticationFailed,
    CredentialsError,
    GitAuth,
    GitCredentials,
    auth_for,
)
from zuulish.merger.gitcli import IsolatedGit, MergeError
from zuulish.merger.speculative import forget_repo

log = logging.getLogger(__name__)

# changes: Gerrit's and the built-in forge's patch sets; pull: GitHub's pull request
# heads (refs/pull/N/head); tags: for override-checkout
REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/changes/*:refs/changes/*",
            "+refs/pull/*/head:refs/pull/*/head", "+refs/tags/*:refs/tags/*")
LOCK_DIR = ".locks"


def _remote(git_dir: Path, credentials: GitCredentials | None, url: str, command: str,
            *options: str, after: tuple[str, ...] = ()) -> str:
    """``git <command> <options> -- <url> <after>`` in ``git_dir``, with ``url``'s
    credentials (asked for now) in its environment; a failure without the secret in its
    message. Credentials the server refuses are reported to ``credentials`` and the
    command is tried once more if that gives other ones (a token revoked early)."""
    auth = auth_for(credentials, url)
    try:
        return _run_remote(git_dir, auth, command, options, after)
    except AuthenticationFailed:
        if credentials is None or auth.credentials is None:
            raise
        credentials.refused(url, auth.credentials)
        again = auth_for(credentials, url)
        if again.credentials is None or again.credentials == auth.credentials:
            raise
        log.info("the credentials for %s were refused; trying once more with fresh ones", url)
        return _run_remote(git_dir, again, command, options, after)


def _run_remote(git_dir: Path, auth: GitAuth, command: str, options: tuple[str, ...],
                after: tuple[str, ...]) -> str:
    run = getattr(IsolatedGit(git_dir), command.replace("-", "_"))
    try:
        return run(*options, "--", auth.url, *after, env=auth.env())
    except MergeError as exc:
        raise auth.explain(exc) from None  # git's error may quote what it was given


def _fetch(path: Path, url: str, credentials: GitCredentials | None = None) -> None:
    _remote(path, credentials, url, "fetch", "-q", "--prune", "--no-tags",
            "--no-write-fetch-head", after=REFSPECS)


def _clone(path: Path, url: str, credentials: GitCredentials | None = None) -> None:
    """Clone ``url`` bare into ``path`` (which must not exist), atomically.

    Not ``git clone``: the clone has no remote in its configuration (each fetch
    names the URL) and holds the change refs too.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        repo = init_bare(tmp, IsolatedGit)
        _fetch(tmp, url, credentials)
        try:
            head = _remote(tmp, credentials, url, "ls-remote", "--symref", after=("HEAD",))
        except MergeError:
            head = ""  # the fetch reached it: keep git's default HEAD
        first = head.split("\n", 1)[0]
        if first.startswith("ref: refs/heads/"):  # follow the remote's default branch
            repo.git.symbolic_ref("HEAD", first.split()[1])
        _fanout(tmp)
        try:
            os.rename(tmp, path)
        except OSError as exc:
            raise MergeError(f"cannot move the new clone into {path}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fanout(path: Path) -> None:
    """Make the 256 loose-object directories up front.

    A clone holds its objects in packs, so without this nearly every speculative
    object the merger writes pays for creating its directory first, which is most
    of what a merge costs on some filesystems.
    """
    objects = path / "objects"
    for n in range(256):
        (objects / f"{n:02x}").mkdir(exist_ok=True)


def _remote_answers(path: Path, url: str, credentials: GitCredentials | None) -> bool:
    try:
        _remote(path.parent, credentials, url, "ls-remote", "--heads")
    except MergeError:
        return False
    return True


def _size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


class _RepoLock:
    """Re-entrant within a process, exclusive across processes (``flock``)."""

    def __init__(self, lock_file: Path):
        self.lock_file = lock_file
        self.thread_lock = threading.RLock()
        self.depth = 0
        self.fd: int | None = None

    def acquire(self, blocking: bool = True) -> bool:
        if not self.thread_lock.acquire(blocking):
            return False
        if self.depth == 0:
            self.lock_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except OSError:
                os.close(fd)
                self.thread_lock.release()
                return False
            self.fd = fd
        self.depth += 1
        return True

    def release(self) -> None:
        self.depth -= 1
        if self.depth == 0 and self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        self.thread_lock.release()


class RepoCache:
    """Bare clones under ``root``: ``org/proj`` lives in ``root/org/proj.git``;
    ``credentials``: those of the remotes that need any (None: none do)."""

    def __init__(self, root: Path, *, max_bytes: int | None = None, maintain_every: int = 50,
                 prune_expire: str = "1.day.ago", bound_every: int = 10,
                 credentials: GitCredentials | None = None):
        self.root = Path(root)
        self.credentials = credentials
        self.max_bytes = max_bytes
        self.bound_every = bound_every
        self._since_bound = bound_every - 1  # measure on the first update
        self.maintain_every = maintain_every
        self.prune_expire = prune_expire
        self._locks: dict[Path, _RepoLock] = {}
        self._updates: dict[Path, int] = {}
        self._guard = threading.Lock()

    def path(self, name: str) -> Path:
        """Where the clone of ``name`` lives; MergeError for a name that is not a safe path."""
        parts = name.split("/")
        bad = [p for p in parts if p in ("", ".", "..") or "\\" in p or "\0" in p]
        nested = [p for p in parts[:-1] if p.endswith(".git")]  # would land inside a clone
        if bad or nested or parts[0] == LOCK_DIR:
            raise MergeError(f"invalid repository name {name!r}")
        return self.root.joinpath(*parts[:-1], parts[-1] + ".git")

    def _lock(self, path: Path) -> _RepoLock:
        with self._guard:
            lock = self._locks.get(path)
            if lock is None:
                relative = path.relative_to(self.root)
                lock = self._locks[path] = _RepoLock(self.root / LOCK_DIR / f"{relative}.lock")
            return lock

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold the lock of repository ``name`` (re-entrant; other repos are not blocked)."""
        lock = self._lock(self.path(name))
        lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def ensure(self, name: str, url: str) -> Path:
        """The bare clone of ``name``, cloned on first use, else brought up to date."""
        path = self.path(name)
        with self.locked(name):
            try:
                self._update(path, url)
            except MergeError as exc:
                if isinstance(exc, (AuthenticationFailed, CredentialsError)) \
                        or not path.exists() \
                        or not _remote_answers(path, url, self.credentials):
                    raise type(exc)(f"cannot fetch {name} from {url}: {exc}") from exc
                log.warning("repo cache for %s is unusable (%s); cloning it again", name, exc)
                self.reclone(name, url)
            self._touch(path)
            self._maintain(path)
        self._bound(keep=path)
        return path

    def fetch(self, name: str, url: str) -> Path:
        """Bring the clone of ``name`` up to date (cloning it if needed)."""
        return self.ensure(name, url)

    def reclone(self, name: str, url: str) -> Path:
        """Throw the clone of ``name`` away and clone it again (it is corrupt)."""
        path = self.path(name)
        with self.locked(name):
            shutil.rmtree(path, ignore_errors=True)
            forget_repo(path)
            try:
                _clone(path, url, self.credentials)
            except MergeError as again:
                raise type(again)(f"cannot fetch {name} from {url}: {again}") from again
        return path

    def _update(self, path: Path, url: str) -> None:
        if not path.exists():
            _clone(path, url, self.credentials)
            return
        # fails too when path is no repository any more (e.g. bad HEAD)
        _fetch(path, url, self.credentials)

    @staticmethod
    def _touch(path: Path) -> None:
        with contextlib.suppress(OSError):
            (path / "zuulish-last-used").touch()

    def _maintain(self, path: Path) -> None:
        count = self._updates.get(path, 0) + 1
        self._updates[path] = count
        if count % self.maintain_every:
            return
        try:
            open_repo(path, IsolatedGit).git(c=f"gc.pruneExpire={self.prune_expire}").gc(
                "--auto", "--quiet")
        except MergeError as exc:
            log.warning("git gc in %s failed: %s", path, exc)
        _fanout(path)  # gc removes the ones it emptied

    def clones(self) -> list[Path]:
        """Every clone in the cache."""
        if not self.root.exists():
            return []
        return sorted(p for p in self.root.rglob("*.git")
                      if p.is_dir() and (p / "HEAD").exists() and LOCK_DIR not in p.parts)

    def _bound(self, keep: Path) -> None:
        """Remove least recently used clones while the cache is over ``max_bytes``.

        Measuring walks every clone, so it happens on one update in ``bound_every``.
        """
        if self.max_bytes is None:
            return
        with self._guard:
            self._since_bound += 1
            if self._since_bound < self.bound_every:
                return
            self._since_bound = 0
        sizes = {p: _size(p) for p in self.clones()}
        total = sum(sizes.values())
        if total <= self.max_bytes:
            return

        def last_used(p: Path) -> float:
            try:
                return (p / "zuulish-last-used").stat().st_mtime
            except OSError:
                return 0.0

        for victim in sorted(sizes, key=last_used):
            if total <= self.max_bytes:
                break
            if victim == keep:
                continue
            lock = self._lock(victim)
            if not lock.acquire(blocking=False):
                continue  # in use: never pull a clone from under a merge
            try:
                log.info("repo cache over %d bytes: removing %s (last used %s)",
                         self.max_bytes, victim, time.ctime(last_used(victim)))
                shutil.rmtree(victim, ignore_errors=True)
                forget_repo(victim)
                total -= sizes[victim]
            finally:
                lock.release()
