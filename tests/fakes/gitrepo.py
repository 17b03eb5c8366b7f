"""Small helpers to build real git repositories in tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    full_env = {**os.environ, "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.org",
                "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.org",
                **(env or {})}
    proc = subprocess.run(["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {proc.stderr}")
    return proc.stdout.strip()


class Repo:
    """A non-bare repository with a ``main`` branch and helpers to make commits."""

    def __init__(self, path: Path, date: str | None = None):
        """``date`` (git's format, e.g. ``"@1700000000 +0000"``) fixes every commit's dates."""
        self.path = path
        self.date = date
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "-q", "-b", "main")
        self.commit({"README": "hello\n"}, "Initial")

    def commit(self, files: dict[str, str | None], message: str, branch: str | None = None,
               start: str | None = None, date: str | None = None) -> str:
        if branch:
            git(self.path, "checkout", "-q", "-B", branch, start or "HEAD")
        for name, text in files.items():
            target = self.path / name
            if text is None:
                git(self.path, "rm", "-q", name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(self.path, "add", "-A")
        when = date or self.date
        env = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when} if when else None
        git(self.path, "commit", "-q", "--allow-empty", "-m", message, env=env)
        return git(self.path, "rev-parse", "HEAD")

    def tree(self, rev: str) -> str:
        return git(self.path, "rev-parse", f"{rev}^{{tree}}")
