"""The forge's URLs over HTTP: ``/git/<project>.git/<endpoint>``.

Only git's smart protocol is served: ``info/refs?service=git-upload-pack`` or
``git-receive-pack`` (the advertisement) and ``git-upload-pack`` /
``git-receive-pack`` (the exchange). A path maps to a repository only when every
segment is a plain name (letters, digits, ``.``, ``_``, ``+``, ``-``; not
starting with ``.``), only the last one ends in ``.git``, and the repository it
names is a directory of the forge's root reached through no link: anything else
(``..``, ``%2e%2e``, absolute paths, links, ``x.git.git``) is no repository.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

SEGMENT = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,127}")
ENDPOINTS = ("info/refs", "git-upload-pack", "git-receive-pack")
SERVICES = ("git-upload-pack", "git-receive-pack")


@dataclass(frozen=True)
class GitPath:
    project: str  # e.g. org/app
    endpoint: str  # one of ENDPOINTS


def parse_path(path: str) -> GitPath | None:
    """What ``path`` (below ``/git/``, decoded) asks for, or None."""
    for endpoint in ENDPOINTS:
        suffix = "/" + endpoint
        if path.endswith(suffix):
            repo = path[:-len(suffix)]
            break
    else:
        return None
    if not repo.endswith(".git"):
        return None
    segments = repo[:-len(".git")].split("/")
    if not all(SEGMENT.fullmatch(s) for s in segments):
        return None
    if any(s.endswith(".git") for s in segments):
        return None  # x.git.git, or a repository inside another's directory
    return GitPath("/".join(segments), endpoint)


def repository(root: Path, project: str) -> Path | None:
    """``root/<project>.git`` when it is a bare repository reached through no link
    (neither the repository nor any directory on the way is one), else None."""
    real_root = os.path.realpath(root)
    *dirs, last = project.split("/")
    candidate = os.path.join(real_root, *dirs, last + ".git")
    if os.path.realpath(candidate) != candidate:
        return None  # a link somewhere on the way
    here = Path(candidate)
    if not (here / "HEAD").is_file() or not (here / "objects").is_dir() \
            or (here / "HEAD").is_symlink() or (here / "objects").is_symlink():
        return None
    return here
