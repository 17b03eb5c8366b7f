"""Speculative states with git plumbing only: no worktree, reproducible SHAs.

``apply_commits`` merges change commits onto a base one by one with ``git
merge-tree --write-tree`` and ``git commit-tree``. Identity and dates are fixed
by the inputs (the merged commit's committer date), and no user or system git
configuration or attributes are read, so the same inputs give the same SHAs on
every machine.
"""

from __future__ import annotations

import codecs
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MERGER_NAME = "zuulish"
MERGER_EMAIL = "zuulish@localhost"
MODES = ("merge", "merge-resolve", "merge-if-necessary", "default")
#: Zuul's configuration: exact file paths, and directories (trailing ``/``) whose
#: ``*.yaml`` files, at any depth, are configuration too.
CONFIG_PATHS = ("zuul.yaml", ".zuul.yaml", ".zuulish.yaml", "zuul.d/", ".zuul.d/", "zuulish.d/")

# Settings that could change a merge's tree or commit are pinned to git's defaults,
# whatever the repository's own config says.
_PINNED_CONFIG = (
    "commit.gpgSign=false", "i18n.commitEncoding=UTF-8", "core.attributesFile=" + os.devnull,
    "core.ignoreCase=false", "merge.renames=true", "merge.directoryRenames=conflict",
    "merge.renormalize=false", "merge.renameLimit=7000",
)
# GIT_* variables that only affect how git reaches a remote, never what it computes.
_PASSED_GIT_VARS = ("GIT_SSH", "GIT_SSL_", "GIT_HTTP_", "GIT_TRACE", "GIT_CURL_", "GIT_ASKPASS",
                    "GIT_PROXY_COMMAND", "GIT_ALLOW_PROTOCOL", "GIT_EXEC_PATH")


class MergeError(Exception):
    """A git operation the merger needs failed (unknown commit, broken repo, ...)."""


@dataclass
class ApplyResult:
    """A speculative state (``commit``), or why it could not be built."""

    commit: str | None
    conflict_paths: list[str] = field(default_factory=list)
    conflict_commit: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.commit is not None


@dataclass(frozen=True)
class _Commit:
    sha: str
    date: str  # committer date, git's raw format: "@<seconds> <tz>"
    subject: str


def _env(git_dir: str | Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GIT_") or k.startswith(_PASSED_GIT_VARS)}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_ATTR_NOSYSTEM": "1", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0",
                # never walk up into an enclosing repository when git_dir is not one
                "GIT_CEILING_DIRECTORIES": str(Path(git_dir).absolute().parent)})
    if extra:
        env.update(extra)
    return env


def _run_bytes(git_dir: str | Path, args: Sequence[str], input: bytes | None = None,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    pinned = [arg for setting in _PINNED_CONFIG for arg in ("-c", setting)]
    try:
        return subprocess.run(["git", *pinned, *args], cwd=git_dir, input=input,
                              capture_output=True, env=_env(git_dir, env))
    except OSError as exc:  # git_dir missing, or no git binary
        raise MergeError(f"cannot run git in {git_dir}: {exc}") from exc


def _run(git_dir: str | Path, args: Sequence[str], input: str | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = _run_bytes(git_dir, args, None if input is None else input.encode(), env)
    return subprocess.CompletedProcess(proc.args, proc.returncode,
                                       proc.stdout.decode(errors="surrogateescape"),
                                       proc.stderr.decode(errors="replace"))


def _git(git_dir: str | Path, *args: str, input: str | None = None,
         env: dict[str, str] | None = None) -> str:
    """Run git in ``git_dir``; its stdout, or MergeError carrying git's stderr."""
    proc = _run(git_dir, args, input, env)
    if proc.returncode != 0:
        raise MergeError(f"git {' '.join(args)} failed in {git_dir}: {proc.stderr.strip()}")
    return proc.stdout


def _check_rev(rev: str) -> None:
    if not rev or rev.startswith("-") or any(c.isspace() or c == "\0" for c in rev):
        raise MergeError(f"invalid commit name {rev!r}")


def rev_parse(git_dir: str | Path, rev: str) -> str | None:
    """The commit ``rev`` names, or None when it does not exist."""
    _check_rev(rev)
    proc = _run(git_dir, ["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"])
    return proc.stdout.strip() if proc.returncode == 0 else None


def is_ancestor(git_dir: str | Path, a: str, b: str) -> bool:
    """Whether commit ``a`` is ``b`` or one of its ancestors."""
    _check_rev(a)
    _check_rev(b)
    proc = _run(git_dir, ["merge-base", "--is-ancestor", a, b])
    if proc.returncode in (0, 1):
        return proc.returncode == 0
    raise MergeError(f"cannot compare commits {a} and {b}: {proc.stderr.strip()}")


def _subject(message: str) -> str:
    """Like git's ``%s``: the first paragraph, lines joined by spaces."""
    lines: list[str] = []
    for line in message.lstrip("\n").split("\n"):
        line = line.rstrip()
        if not line:
            break
        lines.append(line)
    return " ".join(lines)


def _parse_commit(sha: str, raw: bytes) -> _Commit:
    header, _, body = raw.partition(b"\n\n")
    date, encoding = "", "utf-8"
    for line in header.split(b"\n"):
        if line.startswith(b"committer "):
            seconds, tz = line.rsplit(b" ", 2)[1:]
            date = f"@{seconds.decode()} {tz.decode()}"
        elif line.startswith(b"encoding "):
            encoding = line[len(b"encoding "):].decode(errors="replace")
    try:
        codecs.lookup(encoding)
    except LookupError:
        encoding = "utf-8"
    return _Commit(sha, date, _subject(body.decode(encoding, errors="replace")))


def _read_commits(git_dir: str | Path, revs: Sequence[str]) -> list[_Commit]:
    """Resolve ``revs`` to commits and read them, all in one git process."""
    for rev in revs:
        _check_rev(rev)
    query = "".join(f"{rev}^{{commit}}\n" for rev in revs).encode()
    proc = _run_bytes(git_dir, ["cat-file", "--batch"], input=query)
    if proc.returncode != 0 and not proc.stdout:
        raise MergeError(f"cannot read commits in {git_dir}: "
                         f"{proc.stderr.decode(errors='replace').strip()}")
    data, offset, commits = proc.stdout, 0, []
    for rev in revs:
        end = data.find(b"\n", offset)
        fields = data[offset:end].split() if end >= 0 else []
        if len(fields) != 3 or fields[1] != b"commit":
            raise MergeError(f"commit {rev} does not exist in the repository at {git_dir} "
                             "(was the ref deleted or the branch force-pushed?)")
        start = end + 1
        size = int(fields[2])
        commits.append(_parse_commit(fields[0].decode(), data[start:start + size]))
        offset = start + size + 1
    return commits


def _merge_base(git_dir: str | Path, a: str, b: str) -> str | None:
    proc = _run(git_dir, ["merge-base", a, b])
    if proc.returncode == 0:
        return proc.stdout.strip()
    if proc.returncode == 1 and not proc.stderr.strip():
        return None  # no common history
    raise MergeError(f"cannot find the merge base of {a} and {b}: {proc.stderr.strip()}")


def _merge_commit(git_dir: str | Path, current: str, commit: _Commit) -> ApplyResult:
    proc = _run(git_dir, ["merge-tree", "--write-tree", "--name-only", "-z", "--no-messages",
                          current, commit.sha])
    if proc.returncode == 1:
        paths = sorted({p for p in proc.stdout.split("\0")[1:] if p})
        return ApplyResult(None, paths, commit.sha,
                           f"commit {commit.sha[:12]} ({commit.subject}) does not merge: "
                           f"conflicts in {', '.join(paths) or '(unknown paths)'}")
    if proc.returncode != 0:
        raise MergeError(f"git merge-tree {current} {commit.sha} failed: {proc.stderr.strip()}")
    tree = proc.stdout.split("\0", 1)[0].strip()
    message = f"Merge commit '{commit.sha}' into speculative state\n\n{commit.subject}\n"
    env = {"GIT_AUTHOR_NAME": MERGER_NAME, "GIT_AUTHOR_EMAIL": MERGER_EMAIL,
           "GIT_COMMITTER_NAME": MERGER_NAME, "GIT_COMMITTER_EMAIL": MERGER_EMAIL,
           "GIT_AUTHOR_DATE": commit.date, "GIT_COMMITTER_DATE": commit.date}
    sha = _git(git_dir, "commit-tree", "--no-gpg-sign", tree, "-p", current, "-p", commit.sha,
               input=message, env=env).strip()
    return ApplyResult(sha)


def apply_commits(git_dir: str | Path, base: str, commits: Sequence[str],
                  mode: str = "merge-resolve") -> ApplyResult:
    """Merge ``commits`` in order onto ``base``; the resulting state or the first conflict.

    A commit already in the state is skipped. In every mode but ``merge``, a commit
    that contains the state is fast-forwarded to; otherwise a merge commit is made.
    """
    if mode not in MODES:
        raise ValueError(f"unknown merge mode {mode!r}; supported: {', '.join(MODES)}")
    base_commit, *to_apply = _read_commits(git_dir, [base, *commits])
    current = base_commit.sha
    for commit in to_apply:
        merge_base = commit.sha if commit.sha == current else \
            _merge_base(git_dir, current, commit.sha)
        if merge_base == commit.sha:
            continue  # already contained (e.g. merged by an item ahead)
        if merge_base is None:
            return ApplyResult(None, [], commit.sha,
                               f"commit {commit.sha[:12]} ({commit.subject}) shares no "
                               f"history with {current[:12]}; it cannot be merged")
        if merge_base == current and mode != "merge":
            current = commit.sha
            continue
        result = _merge_commit(git_dir, current, commit)
        if result.commit is None:
            return result
        current = result.commit
    return ApplyResult(current)


def changed_files(git_dir: str | Path, old: str, new: str) -> list[str]:
    """Paths that differ between two commits, sorted; a rename lists both paths."""
    old_commit, new_commit = _read_commits(git_dir, [old, new])
    out = _git(git_dir, "diff", "--name-status", "-z", "-M", "--no-ext-diff",
               old_commit.sha, new_commit.sha)
    fields = out.split("\0")
    paths: set[str] = set()
    i = 0
    while i < len(fields) and fields[i]:
        width = 2 if fields[i][:1] in ("R", "C") else 1
        paths.update(fields[i + 1:i + 1 + width])
        i += 1 + width
    return sorted(paths)


def _matches(path: str, wanted: Sequence[str], dir_suffix: str) -> bool:
    return any(path == w or (w.endswith("/") and path.startswith(w)
                             and path.endswith(dir_suffix)) for w in wanted)


def is_config_path(path: str) -> bool:
    """Whether ``path`` is one of Zuul's configuration files."""
    return _matches(path, CONFIG_PATHS, ".yaml")


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
    (resolved,) = _read_commits(git_dir, [commit])
    listing = _git(git_dir, "ls-tree", "-r", "-z", "--full-tree", resolved.sha, "--",
                   *(w.rstrip("/") for w in wanted))
    blobs: list[tuple[str, str]] = []
    for entry in listing.split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, kind, sha = meta.split()
        if kind == "blob" and mode != "120000" and _matches(path, wanted, dir_suffix):
            blobs.append((path, sha))
    return _read_blobs(git_dir, resolved.sha, blobs) if blobs else {}


def _read_blobs(git_dir: str | Path, commit: str,
                blobs: list[tuple[str, str]]) -> dict[str, str]:
    proc = _run_bytes(git_dir, ["cat-file", "--batch"],
                      input="".join(f"{sha}\n" for _, sha in blobs).encode())
    if proc.returncode != 0:
        raise MergeError(f"cannot read files of {commit}: "
                         f"{proc.stderr.decode(errors='replace').strip()}")
    data, offset, files = proc.stdout, 0, {}
    for path, _sha in blobs:
        header_end = data.index(b"\n", offset)
        fields = data[offset:header_end].split()
        if len(fields) != 3:
            raise MergeError(f"cannot read {path} of commit {commit}: object missing")
        start = header_end + 1
        size = int(fields[2])
        # undecodable bytes show as U+FFFD, for the config loader to report in place
        files[path] = data[start:start + size].decode("utf-8", errors="replace")
        offset = start + size + 1
    return files
