"""The fake GitHub's repositories: real bare git repositories on disk.

Commits are made in a throwaway clone and pushed back; merges, squashes and rebases
are git's own, committed as GitHub commits them (committer ``GitHub``, the fake's
clock as the date), so a test sees on the base branch what GitHub would leave there.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

GITHUB_COMMITTER = ("GitHub", "noreply@github.com")


class GitFailed(Exception):
    pass


class BareRepo:
    def __init__(self, path: Path, now: Callable[[], float], default_branch: str = "main"):
        self.path = path
        self.now = now
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "--bare", "-b", default_branch)

    def git(self, *args: str, cwd: Path | None = None,
            author: tuple[str, str] = GITHUB_COMMITTER,
            committer: tuple[str, str] = GITHUB_COMMITTER, check: bool = True) -> str:
        date = f"@{int(self.now())} +0000"
        env = {**os.environ, "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1],
               "GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1],
               "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date,
               "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(self.path)}
        proc = subprocess.run(["git", *args], cwd=cwd or self.path, env=env,
                              capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise GitFailed(f"git {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout.strip()

    def rev(self, ref: str) -> str | None:
        out = self.git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False)
        return out or None

    def set_ref(self, ref: str, sha: str) -> None:
        self.git("update-ref", ref, sha)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        proc = subprocess.run(["git", "merge-base", "--is-ancestor", ancestor, descendant],
                              cwd=self.path, capture_output=True)
        return proc.returncode == 0

    def commit(self, branch: str, files: dict[str, str | None], message: str, *,
               start: str | None = None, author: tuple[str, str] = ("Dev", "dev@example.org"),
               ) -> str:
        """A commit on ``branch`` (made from ``start``, a ref or sha, when it is new)."""
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            self.git("init", "-q", cwd=work)
            base = self.rev(f"refs/heads/{branch}") or (self.rev(start) if start else None)
            if base:
                self.git("fetch", "-q", str(self.path), base, cwd=work)
                self.git("checkout", "-q", base, cwd=work)
            for name, text in files.items():
                target = work / name
                if text is None:
                    self.git("rm", "-q", name, cwd=work)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
            self.git("add", "-A", cwd=work)
            self.git("commit", "-q", "--allow-empty", "-m", message, cwd=work, author=author,
                     committer=author)
            sha = self.git("rev-parse", "HEAD", cwd=work)
            self.git("push", "-q", str(self.path), f"HEAD:refs/heads/{branch}", "--force",
                     cwd=work)
        return sha

    def mergeable(self, base: str, head: str) -> bool:
        proc = subprocess.run(["git", "merge-tree", "--write-tree", base, head],
                              cwd=self.path, capture_output=True)
        return proc.returncode == 0

    def changed_files(self, base: str, head: str) -> list[tuple[str, str, int, int]]:
        """(status, path, additions, deletions) of ``head`` against its merge base."""
        merge_base = self.git("merge-base", base, head)
        statuses = {}
        for line in self.git("diff", "--name-status", "--no-renames", merge_base,
                             head).splitlines():
            code, path = line.split("\t", 1)
            statuses[path] = {"A": "added", "D": "removed"}.get(code[0], "modified")
        result = []
        for line in self.git("diff", "--numstat", "--no-renames", merge_base,
                             head).splitlines():
            added, deleted, path = line.split("\t", 2)
            result.append((statuses.get(path, "modified"), path,
                           int(added) if added.isdigit() else 0,
                           int(deleted) if deleted.isdigit() else 0))
        return result

    def merge(self, base_branch: str, head: str, method: str, title: str,
              message: str) -> str | None:
        """Merge ``head`` into ``base_branch`` as GitHub's ``method`` does; the new tip, or
        None on a conflict (the branch is left as it was)."""
        base = self.rev(f"refs/heads/{base_branch}")
        if base is None:
            raise GitFailed(f"no branch {base_branch}")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            self.git("init", "-q", cwd=work)
            self.git("fetch", "-q", str(self.path), base, head, cwd=work)
            self.git("checkout", "-q", base, cwd=work)
            text = f"{title}\n\n{message}".strip() + "\n"
            if method == "merge":
                ok = self._try(work, "merge", "-q", "--no-ff", "-m", text, head)
            elif method == "squash":
                ok = self._try(work, "merge", "-q", "--squash", head) and self._try(
                    work, "commit", "-q", "--allow-empty", "-m", text)
            else:  # rebase: head's commits replayed on the base, committed by GitHub
                self.git("checkout", "-q", head, cwd=work)
                ok = self._try(work, "rebase", "-q", "--force-rebase", "--no-autosquash", base)
            if not ok:
                return None
            tip = self.git("rev-parse", "HEAD", cwd=work)
            self.git("push", "-q", str(self.path), f"{tip}:refs/heads/{base_branch}", cwd=work)
        return tip

    def _try(self, work: Path, *args: str) -> bool:
        try:
            self.git(*args, cwd=work)
        except GitFailed:
            return False
        return True
