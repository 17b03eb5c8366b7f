"""Speculative states without a worktree, with the same SHAs on every machine.

``apply_commits`` puts change commits onto a base one by one, in the project's
merge mode (Zuul's names):

- ``merge``: a merge commit (git's default strategy) even where a fast-forward
  would do;
- ``merge-recursive``: git's default strategy, fast-forwarding where it can;
- ``merge-resolve``: ``git merge -s resolve`` (no rename detection; Gerrit's
  "merge if necessary"), fast-forwarding where it can;
- ``squash-merge``: one new commit with the change's author and message whose
  tree is the merge of the change;
- ``cherry-pick``: the change's commit picked onto the state (fast-forward
  when it is already based on it; merge commits against their first parent);
- ``rebase``: every commit of the change not yet in the state, picked in order
  (fast-forward when the change is based on the state).

Trees are merged in process where only trivial tree resolution is needed
(``treemerge``), else by ``git merge-tree --write-tree``: both give what ``git
merge`` or ``git cherry-pick`` in a worktree gives. Commit objects are written
byte for byte by this module: committer ``zuulish <zuulish@localhost>``, dated
with the applied commit's committer date, so identical inputs give identical
SHAs whoever runs it, whatever their git configuration. A merge commit reads
``Merge "<subject>"``, as Gerrit's do, with ``Reviewed-on: <change URL>`` when
the caller names the change's page (``links``: part of the inputs); states
recorded without ``links`` (by zuulish before 2026-12) keep their old message,
``Merge commit '<sha>' into speculative state``, so they still reproduce.
"""

from __future__ import annotations

import codecs
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from zuulish.merger.gitcli import MergeError, MergeTimeout, check_rev, run
from zuulish.merger.treemerge import NeedsGit, TreeConflict, TreeMerger

__all__ = ["MergeError", "MergeTimeout", "ApplyResult", "MergeMemo", "apply_commits",
           "changed_files", "commit_paths", "read_files", "rev_parse", "is_ancestor",
           "is_config_path"]

MERGER_NAME = "zuulish"
MERGER_EMAIL = "zuulish@localhost"
MODES = ("merge", "merge-recursive", "merge-resolve", "squash-merge", "cherry-pick", "rebase")
#: What ``default`` means where the connection does not say (Gerrit's "merge if necessary").
DEFAULT_MODE = "merge-resolve"
#: Zuul's configuration: exact file paths, and directories (trailing ``/``) whose
#: ``*.yaml`` files, at any depth, are configuration too.
CONFIG_PATHS = ("zuul.yaml", ".zuul.yaml", ".zuulish.yaml", "zuul.d/", ".zuul.d/", "zuulish.d/")
_COMMIT = int(pygit2.enums.ObjectType.COMMIT)
_LINK_MODES = (0o120000, 0o160000)


@dataclass
class ApplyResult:
    """A speculative state (``commit``), or why it could not be built."""

    commit: str | None
    conflict_paths: list[str] = field(default_factory=list)
    conflict_commit: str | None = None
    message: str = ""
    merges: int = 0  #: commits merged, picked or fast-forwarded to (not reused ones)

    @property
    def ok(self) -> bool:
        return self.commit is not None


@dataclass(frozen=True)
class _Commit:
    obj: pygit2.Commit
    author: bytes  # the author header's value, as stored
    date: bytes  # committer date as stored: b"<seconds> <tz>"
    message: bytes  # UTF-8

    @property
    def sha(self) -> str:
        return str(self.obj.id)

    @property
    def subject(self) -> str:
        return _subject(self.message.decode("utf-8", errors="replace"))


# ------------------------------------------------------------------ repositories
_local = threading.local()
_OPEN_LIMIT = 64


def open_repo(git_dir: str | Path) -> pygit2.Repository:
    """The repository at ``git_dir`` (never one above it), kept open per thread."""
    path = os.path.abspath(git_dir)
    try:
        ident = os.stat(path).st_ino  # a re-cloned cache is another repository
    except OSError as exc:
        raise MergeError(f"cannot open the repository at {git_dir}: {exc}") from exc
    repos: OrderedDict[str, tuple[int, pygit2.Repository]] = \
        _local.__dict__.setdefault("repos", OrderedDict())
    held = repos.get(path)
    if held is not None and held[0] == ident:
        repos.move_to_end(path)
        return held[1]
    try:
        repo = pygit2.Repository(path, pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
    except (pygit2.GitError, KeyError, ValueError) as exc:
        raise MergeError(f"{git_dir} is not a git repository: {exc}") from exc
    repos[path] = (ident, repo)
    while len(repos) > _OPEN_LIMIT:
        repos.popitem(last=False)
    return repo


def forget_repo(git_dir: str | Path) -> None:
    """Drop this thread's open handle on ``git_dir`` (it was removed or replaced)."""
    _local.__dict__.setdefault("repos", OrderedDict()).pop(os.path.abspath(git_dir), None)


def _lookup(repo: pygit2.Repository, rev: str) -> pygit2.Commit | None:
    check_rev(rev)
    try:
        obj = repo.revparse_single(rev)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return None
    return commit


def _read_commit(repo: pygit2.Repository, git_dir: str | Path, rev: str) -> _Commit:
    commit = _lookup(repo, rev)
    if commit is None:
        raise MergeError(f"commit {rev} does not exist in the repository at {git_dir} "
                         "(was the ref deleted or the branch force-pushed?)")
    return _parse_commit(commit)


def _parse_commit(commit: pygit2.Commit) -> _Commit:
    header, _, body = commit.read_raw().partition(b"\n\n")
    author, date, encoding = b"", b"", "utf-8"
    for line in header.split(b"\n"):
        if line.startswith(b"author "):
            author = line[len(b"author "):]
        elif line.startswith(b"committer "):
            date = b" ".join(line.rsplit(b" ", 2)[1:])
        elif line.startswith(b"encoding "):
            encoding = line[len(b"encoding "):].decode(errors="replace")
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        codec = "utf-8"
    if codec != "utf-8":  # stored re-encoded, as git does on a pick
        author = author.decode(codec, errors="replace").encode()
        body = body.decode(codec, errors="replace").encode()
    return _Commit(commit, author, date, body)


def rev_parse(git_dir: str | Path, rev: str) -> str | None:
    """The commit ``rev`` names, or None when it does not exist."""
    commit = _lookup(open_repo(git_dir), rev)
    return None if commit is None else str(commit.id)


def branch_names(git_dir: str | Path) -> list[str]:
    """The branches (``refs/heads/*``) of the repository at ``git_dir``."""
    return sorted(ref.removeprefix("refs/heads/") for ref in open_repo(git_dir).references
                  if ref.startswith("refs/heads/"))


def tree_of(git_dir: str | Path, rev: str) -> str | None:
    """The tree of commit ``rev`` (a forge that merges with commits of its own, GitHub
    or Gerrit, is checked against the tested tree, not the tested commit)."""
    commit = _lookup(open_repo(git_dir), rev)
    return None if commit is None else str(commit.tree_id)


def is_ancestor(git_dir: str | Path, a: str, b: str) -> bool:
    """Whether commit ``a`` is ``b`` or one of its ancestors."""
    repo = open_repo(git_dir)
    first, second = _lookup(repo, a), _lookup(repo, b)
    if first is None or second is None:
        raise MergeError(f"cannot compare commits {a} and {b}: "
                         f"{a if first is None else b} does not exist")
    return first.id == second.id or repo.descendant_of(second.id, first.id)


def _subject(message: str) -> str:
    """Like git's ``%s``: the first paragraph, lines joined by spaces."""
    lines: list[str] = []
    for line in message.lstrip("\n").split("\n"):
        line = line.rstrip()
        if not line:
            break
        lines.append(line)
    return " ".join(lines)


# ---------------------------------------------------------------------- commits
def _ident(date: bytes) -> bytes:
    return f"{MERGER_NAME} <{MERGER_EMAIL}> ".encode() + date


def _write_commit(repo: pygit2.Repository, tree: pygit2.Oid, parents: Sequence[pygit2.Oid],
                  author: bytes, committer: bytes, message: bytes) -> pygit2.Oid:
    lines = [b"tree %s" % str(tree).encode()]
    lines += [b"parent %s" % str(p).encode() for p in parents]
    lines += [b"author " + author, b"committer " + committer]
    return repo.odb.write(_COMMIT, b"\n".join(lines) + b"\n\n" + message)


class _Conflict(Exception):
    def __init__(self, paths: list[str]):
        super().__init__(", ".join(paths))
        self.paths = paths


class _Unrelated(Exception):
    """The change shares no history with the state."""


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise MergeTimeout("the merge did not finish within its time limit")
    return left


def _git_merge_tree(git_dir: str | Path, ours: pygit2.Oid, theirs: pygit2.Oid,
                    deadline: float | None) -> pygit2.Oid:
    proc = run(git_dir, ["merge-tree", "--write-tree", "--name-only", "-z", "--no-messages",
                         str(ours), str(theirs)], timeout=_remaining(deadline))
    if proc.returncode == 1:
        raise _Conflict(sorted({p for p in proc.stdout.split("\0")[1:] if p}))
    if proc.returncode != 0:
        raise MergeError(f"git merge-tree {ours} {theirs} failed: {proc.stderr.strip()}")
    return pygit2.Oid(hex=proc.stdout.split("\0", 1)[0].strip())


class _Applier:
    """Applies commits in one mode; each step returns the new state's commit id."""

    def __init__(self, repo: pygit2.Repository, git_dir: str | Path, mode: str,
                 deadline: float | None, links: Mapping[str, str] | None = None):
        self.repo, self.git_dir, self.mode, self.deadline = repo, git_dir, mode, deadline
        self.links = links

    def tree(self, base: pygit2.Oid | None, ours: pygit2.Commit, theirs: pygit2.Commit,
             git_ours: Callable[[], pygit2.Oid] | None = None,
             use_git: bool = False) -> pygit2.Oid:
        """Merge ``theirs`` into ``ours`` over ``base`` (trees of those commits).

        When the merge is not trivial (or ``use_git``), ``git merge-tree`` merges
        ``theirs`` with ``git_ours()`` (default: ``ours``), a commit whose merge
        base with ``theirs`` is ``base``.
        """
        strategy = "resolve" if self.mode == "merge-resolve" else "ort"
        if not (use_git and strategy == "ort"):
            base_tree = self.repo[base].tree_id if base is not None else None
            try:
                return TreeMerger(self.repo, strategy, self.deadline).merge(
                    base_tree, ours.tree_id, theirs.tree_id)
            except TreeConflict as exc:
                raise _Conflict(exc.paths) from None
            except NeedsGit:
                pass
        return _git_merge_tree(self.git_dir, git_ours() if git_ours else ours.id, theirs.id,
                               self.deadline)

    def merge(self, current: pygit2.Commit, change: _Commit, base: pygit2.Oid,
              criss_cross: bool) -> pygit2.Oid:
        # several merge bases: git merges them into a virtual one, so git decides
        tree = self.tree(base, current, change.obj, use_git=criss_cross)
        if self.mode == "squash-merge":
            return _write_commit(self.repo, tree, [current.id], change.author,
                                 _ident(change.date), change.message)
        return _write_commit(self.repo, tree, [current.id, change.obj.id], _ident(change.date),
                             _ident(change.date),
                             merge_message(change, self.links))

    def pick(self, current: pygit2.Commit, change: _Commit) -> pygit2.Oid | None:
        """``change`` cherry-picked onto ``current``; None if nothing is left of it."""
        parents = change.obj.parent_ids
        if parents and parents[0] == current.id:
            return change.obj.id
        if not parents:
            raise _Conflict([])  # a root commit has no changes to pick relative to anything

        def stand_in() -> pygit2.Oid:
            # git merges with the pick's parent as the merge base: a stand-in for the
            # state whose only parent is that parent makes ``git merge-tree`` choose it.
            return _write_commit(self.repo, current.tree_id, [parents[0]], _ident(change.date),
                                 _ident(change.date), b"zuulish: cherry-pick stand-in\n")

        tree = self.tree(parents[0], current, change.obj, stand_in)
        if tree == current.tree_id:
            return None
        return _write_commit(self.repo, tree, [current.id], change.author,
                             _ident(change.date), change.message)


def merge_message(change: _Commit, links: Mapping[str, str] | None) -> bytes:
    """A merge commit's message: Gerrit's ``Merge "<subject>"`` and the change's page
    from ``links``; without ``links``, the message of states recorded before them."""
    if links is None:
        return f"Merge commit '{change.sha}' into speculative state\n\n{change.subject}\n" \
            .encode()
    text = f'Merge "{change.subject}"\n'
    if links.get(change.sha):
        text += f"\nReviewed-on: {links[change.sha]}\n"
    return text.encode()


def _change_side(repo: pygit2.Repository, current: pygit2.Oid, change: pygit2.Oid
                 ) -> list[pygit2.Commit]:
    """The commits of ``change`` that ``current`` lacks, oldest first.

    When none of them is a merge, the merge base of the two is unique: the
    parent of the oldest.
    """
    walker = repo.walk(change, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    walker.hide(current)
    return list(walker)


class MergeMemo:
    """States already built, so a queue's item k starts from item k-1's state.

    Keyed by repository, mode, base and the exact commits applied; since the
    same inputs always give the same commit, a hit is exactly what applying the
    commits again would give. Bounded; the least recently used go first.
    """

    def __init__(self, size: int = 4096):
        self.size = size
        self._states: OrderedDict[tuple, str] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(git_dir: str | Path, mode: str, base: str, commits: Sequence[str],
            links: Mapping[str, str] | None = None) -> tuple:
        named = None if links is None else tuple(links.get(c) for c in commits)
        return (os.path.abspath(git_dir), mode, base, tuple(commits), named)

    def get(self, key: tuple) -> str | None:
        with self._lock:
            value = self._states.get(key)
            if value is not None:
                self._states.move_to_end(key)
            return value

    def put(self, key: tuple, commit: str) -> None:
        with self._lock:
            self._states[key] = commit
            self._states.move_to_end(key)
            while len(self._states) > self.size:
                self._states.popitem(last=False)


def apply_commits(git_dir: str | Path, base: str, commits: Sequence[str],
                  mode: str = DEFAULT_MODE, *, memo: MergeMemo | None = None,
                  timeout: float | None = None,
                  links: Mapping[str, str] | None = None) -> ApplyResult:
    """Apply ``commits`` in order onto ``base``; the resulting state or the first conflict.

    A commit already in the state is skipped. ``memo`` reuses states built before
    for a prefix of ``commits``; ``timeout`` (seconds) bounds the whole call;
    ``links`` maps a commit to its change's page, named in the merge commit made
    for it (an input like the others: the same links give the same commits; None,
    the messages of states recorded before links were, see the module).
    """
    if mode == "default":
        mode = DEFAULT_MODE
    if mode not in MODES:
        raise ValueError(f"unknown merge mode {mode!r}; supported: {', '.join(MODES)}")
    deadline = None if timeout is None else time.monotonic() + timeout
    repo = open_repo(git_dir)
    base_commit = _read_commit(repo, git_dir, base)
    to_apply = [_read_commit(repo, git_dir, c) for c in commits]
    current = base_commit.obj
    start = 0
    if memo is not None:
        for i in range(len(commits), 0, -1):
            hit = memo.get(memo.key(git_dir, mode, base_commit.sha, commits[:i], links))
            cached = _lookup(repo, hit) if hit else None
            if cached is not None:
                current, start = cached, i
                break
    applier = _Applier(repo, git_dir, mode, deadline, links)
    steps = 0
    for i in range(start, len(to_apply)):
        change = to_apply[i]
        _remaining(deadline)
        try:
            new = _step(repo, applier, current, change)
        except _Conflict as exc:
            what = ", ".join(exc.paths) if exc.paths else "(no common history)"
            return ApplyResult(None, exc.paths, change.sha,
                               f"commit {change.sha[:12]} ({change.subject}) does not merge: "
                               f"conflicts in {what}", merges=steps)
        except _Unrelated:
            return ApplyResult(None, [], change.sha,
                               f"commit {change.sha[:12]} ({change.subject}) shares no "
                               f"history with {str(current.id)[:12]}; it cannot be merged",
                               merges=steps)
        if new is not None:
            steps += 1
            current = repo[new]
        if memo is not None:
            memo.put(memo.key(git_dir, mode, base_commit.sha, commits[:i + 1], links),
                     str(current.id))
    return ApplyResult(str(current.id), merges=steps)


def _step(repo: pygit2.Repository, applier: _Applier, current: pygit2.Commit,
          change: _Commit) -> pygit2.Oid | None:
    """The state after applying ``change`` to ``current``; None when it is already in."""
    if change.obj.id == current.id:
        return None
    merge_base = repo.merge_base(current.id, change.obj.id)
    if merge_base is None:
        raise _Unrelated()
    if merge_base == change.obj.id:
        return None  # already contained (e.g. merged by an item ahead)
    mode = applier.mode
    if mode == "cherry-pick":
        return applier.pick(current, change)
    if merge_base == current.id and mode != "merge" and mode != "squash-merge":
        return change.obj.id  # fast-forward
    side = _change_side(repo, current.id, change.obj.id)
    if mode != "rebase":
        criss_cross = any(len(c.parent_ids) > 1 for c in side)
        return applier.merge(current, change, merge_base, criss_cross)
    state = current
    for commit in side:
        if len(commit.parent_ids) > 1:
            continue  # as git rebase does, merges are dropped and their changes picked
        picked = applier.pick(state, _parse_commit(commit))
        if picked is not None:
            state = repo[picked]
    return None if state.id == current.id else state.id


# ------------------------------------------------------------------------ files
def changed_files(git_dir: str | Path, old: str, new: str) -> list[str]:
    """Paths that differ between two commits, sorted; a rename lists both paths."""
    repo = open_repo(git_dir)
    old_commit = _read_commit(repo, git_dir, old).obj
    new_commit = _read_commit(repo, git_dir, new).obj
    if old_commit.tree_id == new_commit.tree_id:
        return []
    paths: set[str] = set()
    for delta in repo.diff(old_commit.tree, new_commit.tree).deltas:
        paths.add(delta.old_file.path)
        paths.add(delta.new_file.path)
    return sorted(paths)


def commit_paths(git_dir: str | Path, commit: str) -> list[str]:
    """Paths ``commit`` changes relative to its first parent (all of them for a root)."""
    repo = open_repo(git_dir)
    obj = _read_commit(repo, git_dir, commit).obj
    if not obj.parent_ids:
        return sorted(path for path, _ in _walk(repo, obj.tree, ""))
    return changed_files(git_dir, str(obj.parent_ids[0]), commit)


def _matches(path: str, wanted: Sequence[str], dir_suffix: str) -> bool:
    return any(path == w or (w.endswith("/") and path.startswith(w)
                             and path.endswith(dir_suffix)) for w in wanted)


def is_config_path(path: str) -> bool:
    """Whether ``path`` is one of Zuul's configuration files."""
    return _matches(path, CONFIG_PATHS, ".yaml")


def _walk(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str
          ) -> Iterable[tuple[str, pygit2.Object]]:
    for entry in tree:
        path = prefix + entry.name
        if entry.filemode == 0o040000:
            yield from _walk(repo, repo[entry.id], path + "/")
        else:
            yield path, entry


def read_files(git_dir: str | Path, commit: str, paths: Iterable[str] = CONFIG_PATHS, *,
               dir_suffix: str = ".yaml") -> dict[str, str]:
    """Text of the files in ``commit``'s tree that ``paths`` names, without a checkout.

    An entry is a file path, or a directory ending in ``/`` standing for every
    file below it whose name ends with ``dir_suffix``. Symlinks and submodules
    are not files and are left out.
    """
    wanted = list(paths)
    if not wanted:
        return {}
    repo = open_repo(git_dir)
    tree = _read_commit(repo, git_dir, commit).obj.tree
    found: dict[str, pygit2.Object] = {}
    for want in wanted:
        try:
            entry = tree[want.rstrip("/")]
        except KeyError:
            continue
        if entry.filemode == 0o040000:
            if want.endswith("/"):
                found.update(_walk(repo, repo[entry.id], want))
        else:
            found[want.rstrip("/")] = entry
    files = {}
    for path in sorted(found):
        entry = found[path]
        if entry.filemode in _LINK_MODES or not _matches(path, wanted, dir_suffix):
            continue
        # undecodable bytes show as U+FFFD, for the config loader to report in place
        files[path] = repo[entry.id].data.decode("utf-8", errors="replace")
    return files
