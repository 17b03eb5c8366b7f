"""``zuulish project create NAME --from DIR``: a new forge repository from what DIR holds.

A git repository (DIR holds ``.git``, or is a bare repository) is imported as it
is: every branch and tag, each commit unchanged (fetched, so the SHAs are the
source's); a work tree's uncommitted changes are not part of it. Any other
directory becomes one commit of its files byte for byte, with their modes: the
executable bit (100755), symbolic links as links (120000, the link's target as
it is). git keeps no empty directories; they are named, not imported. Anything
that is neither a file, a link nor a directory (a socket, a FIFO, a device) is
refused, naming it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from zuulish.errors import ForgeError

MODE_FILE, MODE_EXECUTABLE, MODE_LINK = 0o100644, 0o100755, 0o120000


@dataclass
class Imported:
    """What an import brought: the branch checked out by default, the branches and
    tags (a git repository), and the empty directories left out (a directory)."""

    branch: str
    branches: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    files: int = 0
    empty_dirs: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.branches:
            return (f"imported the git history of {len(self.branches)} branch(es) "
                    f"({', '.join(self.branches)}) and {len(self.tags)} tag(s), commits "
                    f"unchanged; default branch {self.branch}")
        text = f"imported {self.files} file(s) as one commit on {self.branch}"
        if self.empty_dirs:
            text += (f"; empty directories are not kept (git stores files only): "
                     f"{', '.join(self.empty_dirs)}")
        return text


def source_repository(root: Path) -> pygit2.Repository | None:
    """The git repository whose top ``root`` is (a work tree's or a bare one), else
    None: a directory inside a repository is a plain directory."""
    if not (root / ".git").exists() and not (
            (root / "HEAD").is_file() and (root / "objects").is_dir()):
        return None
    try:
        repo = pygit2.Repository(str(root), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
    except pygit2.GitError as exc:
        raise ForgeError(f"{root} looks like a git repository but git cannot open it: "
                         f"{exc}") from exc
    return repo


def default_branch(root: Path, repo: pygit2.Repository | None, wanted: str | None) -> str:
    """The branch the new repository checks out: ``wanted``, else the source's
    current branch (a git repository), else ``main``."""
    if repo is None:
        return wanted or "main"
    branches = list(repo.branches.local)
    if not branches:
        raise ForgeError(f"{root} is a git repository without any branch: nothing to "
                         "import")
    if wanted is not None:
        if wanted not in branches:
            raise ForgeError(f"{root} has no branch {wanted!r} (it has: "
                             f"{', '.join(sorted(branches))})")
        return wanted
    if not repo.head_is_unborn and not repo.head_is_detached:
        return repo.head.shorthand
    return "main" if "main" in branches else sorted(branches)[0]


def import_history(dest: Path, root: Path, branch: str) -> Imported:
    """Fetch every branch and tag of the repository at ``root`` into the bare
    repository ``dest`` (commits unchanged) and point its HEAD at ``branch``."""
    from zuulish.drivers.git.connection import PLAIN_GIT, ForgeGit
    from zuulish.git_admin import open_repo

    repo = open_repo(dest, ForgeGit)
    repo.git.fetch("-q", "--no-write-fetch-head", "--", str(root.absolute()),
                   "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*", env=PLAIN_GIT)
    repo.git.symbolic_ref("HEAD", f"refs/heads/{branch}", env=PLAIN_GIT)
    heads = repo.git.for_each_ref("--format=%(refname:short)", "refs/heads",
                                  env=PLAIN_GIT).split()
    tags = repo.git.for_each_ref("--format=%(refname:short)", "refs/tags",
                                 env=PLAIN_GIT).split()
    return Imported(branch, sorted(heads), sorted(tags))


def import_directory(dest: Path, root: Path, branch: str, name: str) -> Imported:
    """One commit on ``branch`` of the bare repository ``dest`` holding ``root``'s
    files byte for byte, with their modes."""
    from zuulish.drivers.git.connection import IDENTITY, PLAIN_GIT, ZERO, ForgeGit
    from zuulish.git_admin import open_repo

    target = pygit2.Repository(str(dest))
    index = pygit2.Index()
    empty: list[str] = []
    count = 0
    for path, kind in _walk(root):
        rel = path.relative_to(root).as_posix()
        if kind == "empty":
            empty.append(rel + "/")
            continue
        if kind == "link":
            oid = target.create_blob(os.fsencode(os.readlink(path)))
            mode = MODE_LINK
        else:
            oid = target.create_blob(path.read_bytes())
            mode = MODE_EXECUTABLE if path.stat().st_mode & stat.S_IXUSR else MODE_FILE
        index.add(pygit2.IndexEntry(rel, oid, mode))
        count += 1
    if not count:
        raise ForgeError(f"{root} holds no files to import"
                         + (" (git keeps no empty directories)" if empty else ""))
    tree = str(index.write_tree(target))
    repo = open_repo(dest, ForgeGit)
    sha = repo.git.commit_tree(tree, "-m", f"Initial commit of {name}",
                               env={**PLAIN_GIT, **IDENTITY})
    repo.git.update_ref(f"refs/heads/{branch}", sha, ZERO, env=PLAIN_GIT)
    return Imported(branch, files=count, empty_dirs=empty)


def _walk(root: Path) -> Iterator[tuple[Path, str]]:
    """(path, "file" | "link" | "empty") for each file, link and empty directory under
    ``root``, sorted; links are not followed; ``.git`` directories are left out."""
    entries = sorted(os.scandir(root), key=lambda e: e.name)
    for entry in entries:
        path = Path(entry.path)
        if entry.name == ".git":
            continue  # a nested repository's (or work tree's) own git data
        if entry.is_symlink():
            yield path, "link"
        elif entry.is_dir(follow_symlinks=False):
            inner = list(_walk(path))
            yield from inner if inner else [(path, "empty")]
        elif entry.is_file(follow_symlinks=False):
            yield path, "file"
        else:
            raise ForgeError(f"{path} is neither a file, a symbolic link nor a directory: "
                             "git cannot store it")
