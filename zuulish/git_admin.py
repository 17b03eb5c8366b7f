"""Repository administration through GitPython, with git's failures as zuulish's errors.

The forge, the repo cache and the executor's workspaces create, clone, fetch and
check out repositories with GitPython (``git.Repo``, ``repo.git.<command>``);
the speculative merge itself stays with pygit2 and ``zuulish.merger.gitcli``.
Each of them has its own ``CheckedGit`` (its error type, its environment).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import git


class CheckedGit(git.Git):
    """GitPython's command runner: a failed command raises ``error`` with git's message.

    The working directory is taken literally (GitPython expands ``$VARS`` in it),
    and one that is not there is refused (GitPython would run git in the current
    directory instead).
    """

    error: type[Exception] = git.GitCommandError

    def __init__(self, working_dir: str | Path | None = None):
        super().__init__(working_dir)
        if working_dir is not None:
            self._working_dir = os.path.abspath(working_dir)

    def execute(self, command: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        where = self._working_dir
        if where is not None and not os.path.isdir(where):
            raise self.error(f"cannot run git in {where}: no such directory")
        try:
            return super().execute(command, **kwargs)
        except git.CommandError as exc:
            raise self.error(describe(exc, where or os.getcwd())) from exc


@functools.cache
def repo_type(git_type: type[CheckedGit]) -> type[git.Repo]:
    """``git.Repo`` running its commands through ``git_type``."""
    return type(f"{git_type.__name__}Repo", (git.Repo,), {"GitCommandWrapperType": git_type})


def open_repo(path: str | Path, git_type: type[CheckedGit] = CheckedGit) -> git.Repo:
    """The repository at ``path`` (bare, or a work tree), nothing above it.

    ``$VARS`` in the path are left alone (GitPython would expand them); no
    repository there raises ``git_type.error``.
    """
    try:
        return repo_type(git_type)(os.path.abspath(path), expand_vars=False)
    except (git.NoSuchPathError, git.InvalidGitRepositoryError) as exc:
        raise git_type.error(f"{path} is no git repository") from exc


def init_bare(path: str | Path, git_type: type[CheckedGit] = CheckedGit,
              **options: Any) -> git.Repo:
    """``git init --bare`` at ``path`` (made if missing), with ``options`` as GitPython's
    keyword options (``initial_branch="main"``, ``env={...}``).

    Not ``Repo.init``: it expands ``$VARS`` in the path it opens, whatever its
    ``expand_vars`` says.
    """
    os.makedirs(path, exist_ok=True)
    git_type(path).init(bare=True, quiet=True, **options)
    return open_repo(path, git_type)


def stderr_of(exc: git.CommandError) -> str:
    """What git itself wrote to stderr (GitPython keeps it quoted, after a label)."""
    text = exc.stderr.strip()
    label = "stderr: '"
    if text.startswith(label) and text.endswith("'"):
        text = text[len(label):-1]
    return text.strip()


def command_of(exc: git.CommandError) -> str:
    """``git <subcommand> <arguments>``, without what ran git (``env -u``) and without the
    options given to every command (``-c name=value``)."""
    argv = [str(arg) for arg in exc.command]
    names = [i for i, arg in enumerate(argv) if os.path.basename(arg) == "git"]
    argv = argv[names[0] + 1:] if names else argv
    while len(argv) >= 2 and argv[0] == "-c":
        argv = argv[2:]
    return " ".join(["git", *argv])


def describe(exc: git.CommandError, where: str | Path) -> str:
    """``git fetch ... failed in <where>: <git's message>``."""
    if isinstance(exc, git.GitCommandNotFound):
        return f"cannot run git in {where}: {exc.status}"
    return f"{command_of(exc)} failed in {where}: {stderr_of(exc)}"
