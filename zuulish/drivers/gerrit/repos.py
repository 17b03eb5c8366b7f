"""Local bare clones of a Gerrit connection's repositories.

Gerrit's REST API reads one file by name but cannot list a directory, and the
configuration lives in ``zuul.d/`` too; and checking what a submit merged needs
the trees of commits. So the driver keeps its own clones (the merger's
``RepoCache``: one per repository, fetched incrementally with the connection's
HTTP credentials) under ``<state_dir>/gerrit-cache/<connection>``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from zuulish.merger.credentials import GitCredentials
from zuulish.merger.gitcli import check_rev, run
from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.speculative import read_files


class GerritRepos:
    """Clones of one connection's repositories; ``url_for(project)`` says where from."""

    def __init__(self, root: Path, url_for: Callable[[str], str],
                 credentials: GitCredentials | None = None):
        self.cache = RepoCache(root, credentials=credentials)
        self.url_for = url_for

    def fetch(self, project: str) -> Path:
        """The clone of ``project``, brought up to date now (MergeError if it cannot)."""
        return self.cache.fetch(project, self.url_for(project))

    def files(self, project: str, commit: str) -> dict[str, str]:
        """The Zuul configuration files at ``commit`` (fetched first)."""
        return read_files(self.fetch(project), commit)

    def tree(self, project: str, commit: str) -> str | None:
        """The tree of ``commit`` in the clone as it is (no fetch); None if absent."""
        check_rev(commit)
        proc = run(self.cache.path(project), ["rev-parse", "--verify", "-q",
                                              f"{commit}^{{tree}}"])
        return proc.stdout.strip() if proc.returncode == 0 else None
