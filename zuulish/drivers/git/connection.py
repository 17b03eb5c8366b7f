"""The built-in forge's connection: bare repositories under the state directory.

Developers push to ``refs/for/<branch>``; the repository's hooks turn each new
commit into a change or a new patch set (see :mod:`zuulish.drivers.git.hook`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from zuulish.errors import ForgeError
from zuulish.git_admin import CheckedGit, init_bare
from zuulish.store import Store

log = logging.getLogger(__name__)

ADMIN_ENV = "ZUULISH_FORGE_ADMIN"
HOOKS = ("pre-receive", "proc-receive", "post-receive")

PRE_RECEIVE = """#!/bin/sh
# Installed by zuulish: changes reach branches only through the gate.
[ "$ZUULISH_FORGE_ADMIN" = 1 ] && exit 0
status=0
while read -r old new ref; do
  case "$ref" in
    refs/for/*) ;;
    refs/heads/*)
      echo "zuulish: $ref: push to refs/for/${ref#refs/heads/} for review;" \\
        "changes reach branches only through the gate" >&2
      status=1 ;;
    *)
      echo "zuulish: $ref: only pushes for review are accepted; push to refs/for/<branch>" >&2
      status=1 ;;
  esac
done
exit $status
"""

POST_RECEIVE = """#!/bin/sh
# Installed by zuulish: record direct (administrator) pushes to branches.
input=$(cat)
case "$input" in
  *refs/heads/*) printf '%s\\n' "$input" | exec @PYTHON@ ;;
esac
exit 0
"""
ZERO = "0" * 40
# No system or user git configuration (templates, signing, hooks paths) leaks in.
PLAIN_GIT = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
             "GIT_TEMPLATE_DIR": "", "LC_ALL": "C"}
IDENTITY = {"GIT_AUTHOR_NAME": "zuulish", "GIT_AUTHOR_EMAIL": "zuulish@localhost",
            "GIT_COMMITTER_NAME": "zuulish", "GIT_COMMITTER_EMAIL": "zuulish@localhost"}


class ForgeGit(CheckedGit):
    """git for the forge's repositories: a failure is a ForgeError with git's message.

    Commands get the process's environment (with ``env`` on top): in a receive
    hook, that is what shows git the pushed objects still in quarantine.
    """

    error = ForgeError


def git(cwd: Path, *args: str, env: dict[str, str] | None = None,
        input: str | None = None) -> str:
    """Run git in ``cwd`` (GitPython); its stdout, or ForgeError with git's message."""
    with contextlib.ExitStack() as stack:
        stdin = None
        if input is not None:  # GitPython feeds git's stdin from a file
            stdin = stack.enter_context(tempfile.TemporaryFile())
            stdin.write(input.encode())
            stdin.seek(0)
        return ForgeGit(cwd).execute(["git", *args], env=env, istream=stdin,
                                     strip_newline_in_stdout=False)


def change_ref(number: int, patchset: int) -> str:
    """Gerrit's ref for a patch set: ``refs/changes/<last two digits>/<N>/<P>``."""
    return f"refs/changes/{number % 100:02d}/{number}/{patchset}"


class GitForge:
    """Bare repositories at ``state_dir/git/<project>.git`` with Gerrit-like review."""

    def __init__(self, name: str, state_dir: Path, store: Store, web_url: str,
                 config_path: Path | None, http_url: str | None = None):
        self.name = name
        #: where mergers and executors fetch the repositories over HTTP (the
        #: connection's ``url``); None: from the state directory
        self.http_url = http_url.rstrip("/") if http_url else None
        self.state_dir = Path(state_dir)
        self.root = self.state_dir / "git"
        self.store = store
        self.web_url = web_url.rstrip("/")
        self.config_path = Path(config_path).resolve() if config_path else None

    # ---------------------------------------------------------------- repos
    def repo_path(self, project: str) -> Path:
        parts = [p for p in project.split("/") if p not in ("", ".", "..")]
        if not parts or "/".join(parts) != project:
            raise ForgeError(f"invalid project name {project!r}")
        return self.root.joinpath(*parts[:-1], parts[-1] + ".git")

    def clone_url(self, project: str) -> str:
        """``<url>/<project>.git`` when the forge is read over HTTP, else the path."""
        path = self.repo_path(project)
        if self.http_url:
            return f"{self.http_url}/{path.relative_to(self.root).as_posix()}"
        return str(path)

    def exists(self, project: str) -> bool:
        return (self.repo_path(project) / "HEAD").exists()

    def projects(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(str(p.relative_to(self.root))[:-4] for p in self.root.rglob("*.git")
                      if (p / "HEAD").exists())

    def create_project(self, name: str, files: dict[str, str] | None = None,
                       branch: str = "main",
                       fill: Callable[[Path], object] | None = None) -> Path:
        """Create a bare repository with one commit holding ``files`` on ``branch``,
        or whatever ``fill`` puts in the new bare repository (an import: it must
        leave ``branch`` there); a ``fill`` that fails leaves no repository.

        The commit is written with plumbing (no checkout, no push, no user git
        configuration) and a fixed identity, then the hooks are installed.
        """
        path = self.repo_path(name)
        if self.exists(name):
            raise ForgeError(f"project {name!r} already exists")
        path.mkdir(parents=True)
        repo = init_bare(path, ForgeGit, initial_branch=branch, env=PLAIN_GIT)
        repo.git.config("receive.advertisePushOptions", "true", env=PLAIN_GIT)
        if fill is not None:
            try:
                fill(path)
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                raise
            self.install_hooks(name)
            return path
        contents = files if files else {"README": f"{name}\n"}
        with tempfile.TemporaryDirectory() as tmp:
            env = {**PLAIN_GIT, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
            names = sorted(contents)
            sources = [Path(tmp) / f"blob{n}" for n in range(len(names))]
            for source, rel in zip(sources, names, strict=True):
                source.write_text(contents[rel], encoding="utf-8")
            blobs = repo.git.hash_object("-w", "--no-filters", "--", *sources,
                                         env=PLAIN_GIT).split()
            for rel, blob in zip(names, blobs, strict=True):
                repo.git.update_index("--add", "--cacheinfo", f"100644,{blob},{rel}", env=env)
            tree = repo.git.write_tree(env=env)
        sha = repo.git.commit_tree(tree, "-m", f"Initial commit of {name}",
                                   env={**PLAIN_GIT, **IDENTITY})
        repo.git.update_ref(f"refs/heads/{branch}", sha, ZERO, env=PLAIN_GIT)
        self.install_hooks(name)
        return path

    def install_hooks(self, project: str) -> None:
        """Install the receive hooks and route ``refs/for/*`` to ``proc-receive``.

        ``pre-receive`` (plain sh, instant) refuses direct pushes to branches;
        ``proc-receive`` records pushes for review without ever creating a
        ``refs/for/<branch>`` ref, so pushes to the same branch never collide;
        ``post-receive`` records administrators' direct pushes as ``ref-updated``.
        """
        path = self.repo_path(project)
        git(path, "config", "receive.procReceiveRefs", "refs/for")
        hooks = path / "hooks"
        hooks.mkdir(exist_ok=True)
        config = shlex.quote(str(self.config_path)) if self.config_path else "''"
        args = (f"--config {config} --connection {shlex.quote(self.name)} "
                f"--project {shlex.quote(project)}")
        python = shlex.quote(sys.executable)
        scripts = {
            "pre-receive": PRE_RECEIVE,
            "proc-receive": f"#!/bin/sh\nexec {python} -m zuulish.drivers.git.intake {args}\n",
            "post-receive": POST_RECEIVE.replace(
                "@PYTHON@", f"{python} -m zuulish.drivers.git.hook post-receive {args}"),
        }
        for hook, text in scripts.items():
            script = hooks / hook
            script.write_text(text)
            script.chmod(0o755)

    def branches(self, project: str) -> dict[str, str]:
        """Every branch of ``project`` and the commit it points at."""
        out = git(self.repo_path(project), "for-each-ref",
                  "--format=%(objectname) %(refname)", "refs/heads/")
        pairs = (line.split(" ", 1) for line in out.splitlines() if line)
        return {ref.removeprefix("refs/heads/"): sha for sha, ref in pairs}

    def branch_tip(self, project: str, branch: str) -> str | None:
        return self.branches(project).get(branch)

    def default_branch(self, project: str) -> str:
        head = git(self.repo_path(project), "symbolic-ref", "--short", "HEAD").strip()
        return head or "main"

    # -------------------------------------------------------------- changes
    def change_url(self, project: str, number: int) -> str:
        return f"{self.web_url}/c/{project}/+/{number}"

    def resolve_change_url(self, url: str) -> int | None:
        """The change number a Depends-On URL of this forge points at, if any."""
        url = url.strip()
        if not url.startswith(self.web_url + "/"):
            return None
        rest = url[len(self.web_url) + 1:].rstrip("/")
        match = re.fullmatch(r"c/.+/\+/(\d+)(?:/\d+)?", rest) or re.fullmatch(r"(\d+)", rest)
        return int(match.group(1)) if match else None

    def merge(self, project: str, branch: str, new_sha: str, expected_old: str) -> None:
        """Move ``branch`` to ``new_sha`` only if it is still at ``expected_old``."""
        path = self.repo_path(project)
        current = self.branch_tip(project, branch)
        if current == new_sha:
            return  # already there (a submit retried after a crash)
        if current != expected_old:
            raise ForgeError(f"branch {branch} of {project} moved since the change was "
                             f"tested: expected {expected_old[:12]}, found "
                             f"{(current or 'nothing')[:12]}")
        try:
            ForgeGit(path).update_ref(f"refs/heads/{branch}", new_sha, expected_old)
        except ForgeError as exc:
            raise ForgeError(f"branch {branch} of {project} moved while merging: {exc}") from exc

    def recover_pending_pushes(self) -> int:
        """Record pushes whose post-receive could not reach the store.

        Such a push leaves its ``refs/for/<branch>`` ref behind; each is recorded
        exactly as the hook would have, and removed. Returns how many were recorded.
        A ref that cannot be recorded (its branch was deleted) is logged and kept;
        a store that cannot be reached raises, as it would for the hook.
        """
        from zuulish.drivers.git.hook import record_push

        recovered = 0
        for project in self.projects():
            path = self.repo_path(project)
            out = git(path, "for-each-ref", "--format=%(objectname) %(refname)", "refs/for/")
            for line in out.splitlines():
                sha, ref = line.split(" ", 1)
                branch = ref.removeprefix("refs/for/").split("%", 1)[0]
                try:
                    record_push(self, project, branch, sha, ref)
                except ForgeError as exc:
                    log.warning("cannot record the pending push %s of %s: %s", ref, project, exc)
                    continue
                recovered += 1
        return recovered

    def remove(self, project: str) -> None:
        shutil.rmtree(self.repo_path(project), ignore_errors=True)
