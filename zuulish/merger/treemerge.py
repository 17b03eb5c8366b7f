"""Three-way merges of git trees in process, exactly as git would merge them.

Most merges in a gate touch disjoint paths: then every directory that only one
side changed is taken whole, and only the directories both sides changed are
walked and rewritten. That is git's own "trivial tree resolution", done here on
the object database without starting a process.

Two strategies, named as in ``git merge -s``:

- ``ort`` (git's default merge): the in-process walk only ever decides what
  rename detection could not change. Anything else (a path both sides changed,
  a path or directory both sides deleted or changed alike, where rename detection
  may pair a deletion with different additions, a file against a directory)
  raises ``NeedsGit`` and the caller lets ``git merge-tree`` merge the whole
  tree, so results always equal git's.
- ``resolve`` (``git merge -s resolve``): no rename detection, so the walk
  decides everything itself; a path both sides modified is content-merged with
  ``git merge-file``, as ``git merge-one-file`` does, and what that script
  refuses (modify/delete, add/add, mode, symlink and submodule clashes, a file
  against a directory) is a conflict.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pygit2

from zuulish.merger.gitcli import MergeTimeout, run_bytes

TREE_MODE = 0o040000
BLOB_MODES = (0o100644, 0o100755)
EMPTY_TREE = pygit2.Oid(hex="4b825dc642cb6eb9a060e54bf8d69288fbee4904")

Entry = tuple[pygit2.Oid, int] | None


class NeedsGit(Exception):
    """The merge needs git's full machinery (content merge or rename detection)."""


class TreeConflict(Exception):
    """The trees do not merge; ``paths`` are the conflicting ones."""

    def __init__(self, paths: list[str]):
        super().__init__(", ".join(paths))
        self.paths = paths


def _entries(repo: pygit2.Repository, tree_id: pygit2.Oid | None) -> dict[str, Entry]:
    if tree_id is None:
        return {}
    return {e.name: (e.id, e.filemode) for e in repo[tree_id]}


def _is_tree(entry: Entry) -> bool:
    return entry is not None and entry[1] == TREE_MODE


class TreeMerger:
    """Merge ``theirs`` into ``ours`` with ``base`` as the common ancestor."""

    def __init__(self, repo: pygit2.Repository, strategy: str, deadline: float | None = None):
        if strategy not in ("ort", "resolve"):
            raise ValueError(f"unknown merge strategy {strategy!r}")
        self.repo = repo
        self.strategy = strategy
        self.deadline = deadline
        self.conflicts: list[str] = []

    def merge(self, base: pygit2.Oid | None, ours: pygit2.Oid, theirs: pygit2.Oid) -> pygit2.Oid:
        """The merged tree; NeedsGit (ort only) or TreeConflict when it is not trivial."""
        self.conflicts = []
        merged = self._merge(base, ours, theirs, "")
        if self.conflicts:
            raise TreeConflict(sorted(self.conflicts))
        return self._empty() if merged is None else merged

    def _merge(self, base: pygit2.Oid | None, ours: pygit2.Oid, theirs: pygit2.Oid,
               prefix: str) -> pygit2.Oid | None:
        if ours == theirs or base == theirs:
            return ours
        if base == ours:
            return theirs
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise MergeTimeout("the merge did not finish within its time limit")
        b_entries = _entries(self.repo, base)
        o_entries = _entries(self.repo, ours)
        t_entries = _entries(self.repo, theirs)
        builder = self.repo.TreeBuilder(self.repo[ours])
        changed = False
        for name in sorted(b_entries.keys() | o_entries.keys() | t_entries.keys()):
            b, o, t = b_entries.get(name), o_entries.get(name), t_entries.get(name)
            if o == t:
                if self.strategy == "ort" and b is not None and (o is None or _is_tree(o)):
                    # deleted on both sides (perhaps in a directory both changed the
                    # same way): rename detection may pair it with different additions
                    raise NeedsGit(prefix + name)
                continue
            if b == t:
                continue
            if b == o:
                result: Entry = t
            else:
                result = self._both_changed(b, o, t, prefix + name)
            if result == o:
                continue
            changed = True
            if result is None:
                builder.remove(name)
            else:
                builder.insert(name, result[0], result[1])
        if not changed:
            return ours
        if len(builder) == 0:
            return None
        return builder.write()

    def _both_changed(self, b: Entry, o: Entry, t: Entry, path: str) -> Entry:
        """The merged entry of a path both sides changed, differently."""
        if _is_tree(o) and _is_tree(t) and (b is None or _is_tree(b)):
            merged = self._merge(b[0] if b else None, o[0], t[0], path + "/")  # type: ignore[index]
            return None if merged in (None, EMPTY_TREE) else (merged, TREE_MODE)
        if self.strategy == "ort":
            raise NeedsGit(path)
        # resolve: index-level semantics, where a directory is just the files below it
        if (o is None or _is_tree(o)) and (t is None or _is_tree(t)):
            merged = self._merge(b[0] if _is_tree(b) else None,  # type: ignore[index]
                                 o[0] if o else self._empty(), t[0] if t else self._empty(),
                                 path + "/")
            return None if merged in (None, EMPTY_TREE) else (merged, TREE_MODE)
        if b is None or o is None or t is None or _is_tree(b) or _is_tree(o) or _is_tree(t) \
                or o[1] != t[1] or o[1] not in BLOB_MODES:
            self.conflicts.append(path)  # add/add, modify/delete, mode, link or D/F clash
            return o
        blob = self._merge_file(b[0], o[0], t[0], path)
        return o if blob is None else (blob, o[1])

    def _empty(self) -> pygit2.Oid:
        if EMPTY_TREE not in self.repo:
            self.repo.TreeBuilder().write()
        return EMPTY_TREE

    def _merge_file(self, base: pygit2.Oid, ours: pygit2.Oid, theirs: pygit2.Oid,
                    path: str) -> pygit2.Oid | None:
        """``git merge-file`` of three blobs; the merged blob, or None on a conflict."""
        with tempfile.TemporaryDirectory(prefix="zuulish-merge-file-") as tmp:
            names = []
            for label, oid in (("ours", ours), ("base", base), ("theirs", theirs)):
                target = Path(tmp) / label
                target.write_bytes(self.repo[oid].data)
                names.append(str(target))
            timeout = None if self.deadline is None else \
                max(0.1, self.deadline - time.monotonic())
            proc = run_bytes(tmp, ["merge-file", "-p", "-q", *names], timeout=timeout)
        if proc.returncode != 0:
            self.conflicts.append(path)
            return None
        return self.repo.create_blob(proc.stdout)
