"""Running the git binary so that nothing but the inputs decides what it computes.

User and system configuration, attributes files and stray ``GIT_*`` variables
are shut out, and the settings that could change a merge are pinned to git's
defaults, whatever the repository's own config says. Everything the merger and
the repo cache ask of git goes through here: the merger's commands by ``run``,
the repo cache's administration (init, fetch, gc) by GitPython, with
``IsolatedGit`` running its commands under the same rules.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zuulish.git_admin import CheckedGit


class MergeError(Exception):
    """A git operation the merger needs failed (unknown commit, broken repo, ...)."""


class MergeTimeout(MergeError):
    """Building a state took longer than its time limit."""


PINNED_CONFIG = (
    "commit.gpgSign=false", "i18n.commitEncoding=UTF-8", "core.attributesFile=" + os.devnull,
    "core.ignoreCase=false", "merge.renames=true", "merge.directoryRenames=conflict",
    "merge.renormalize=false", "merge.renameLimit=7000", "merge.conflictStyle=merge",
    "diff.algorithm=myers",
)
# GIT_* variables that only affect how git reaches a remote, never what it computes.
_PASSED_GIT_VARS = ("GIT_SSH", "GIT_SSL_", "GIT_HTTP_", "GIT_TRACE", "GIT_CURL_", "GIT_ASKPASS",
                    "GIT_PROXY_COMMAND", "GIT_ALLOW_PROTOCOL", "GIT_EXEC_PATH")


def git_env(git_dir: str | Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GIT_") or k.startswith(_PASSED_GIT_VARS)}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_ATTR_NOSYSTEM": "1", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0",
                # never walk up into an enclosing repository when git_dir is not one
                "GIT_CEILING_DIRECTORIES": str(Path(git_dir).absolute().parent)})
    if extra:
        env.update(extra)
    return env


def run_bytes(git_dir: str | Path, args: Sequence[str], input: bytes | None = None,
              env: dict[str, str] | None = None,
              timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    pinned = [arg for setting in PINNED_CONFIG for arg in ("-c", setting)]
    try:
        return subprocess.run(["git", *pinned, *args], cwd=git_dir, input=input,
                              capture_output=True, env=git_env(git_dir, env), timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise MergeTimeout(f"git {args[0]} did not finish within {timeout:.0f}s") from exc
    except OSError as exc:  # git_dir missing, or no git binary
        raise MergeError(f"cannot run git in {git_dir}: {exc}") from exc


def run(git_dir: str | Path, args: Sequence[str], input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    proc = run_bytes(git_dir, args, None if input is None else input.encode(), env, timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode,
                                       proc.stdout.decode(errors="surrogateescape"),
                                       proc.stderr.decode(errors="replace"))


def git(git_dir: str | Path, *args: str, input: str | None = None,
        env: dict[str, str] | None = None, timeout: float | None = None) -> str:
    """Run git in ``git_dir``; its stdout, or MergeError carrying git's stderr."""
    proc = run(git_dir, args, input, env, timeout)
    if proc.returncode != 0:
        raise MergeError(f"git {' '.join(args)} failed in {git_dir}: {proc.stderr.strip()}")
    return proc.stdout


def check_rev(rev: str) -> None:
    if not rev or rev.startswith("-") or any(c.isspace() or c == "\0" for c in rev):
        raise MergeError(f"invalid commit name {rev!r}")



class IsolatedGit(CheckedGit):
    """GitPython's command runner under ``run``'s rules, raising MergeError.

    Every command gets the pinned settings and ``git_env``'s environment. GitPython
    builds each command's environment on ``os.environ``, so the ``GIT_*`` variables
    ``git_env`` shuts out are unset by ``env -u`` in front of git (only when the
    process has any).
    """

    error = MergeError

    def __init__(self, working_dir: str | Path | None = None):
        super().__init__(working_dir)
        self.set_persistent_git_options(c=list(PINNED_CONFIG))

    def execute(self, command: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        env = git_env(self._working_dir or os.getcwd(), kwargs.pop("env", None))
        stray = [name for name in os.environ if name not in env]
        if stray and isinstance(command, list):
            command = ["env", *(f"--unset={name}" for name in stray), "--", *command]
        return super().execute(command, env=env, **kwargs)
