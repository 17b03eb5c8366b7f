"""The forge's receive hooks: ``python -m zuulish.drivers.git.hook pre-receive|post-receive``.

``pre-receive`` refuses what the forge cannot take (a push to a branch that does
not exist, a direct push to a branch, a commit for review without a
``Change-Id:`` footer, any push while the store is unreachable), so a push is
never half-accepted; ``proc_receive`` refuses the same for review pushes.
``post-receive`` records each new commit as a change or a new patch set, with a
``patchset-created`` event, in one transaction per commit, then removes the
``refs/for/<branch>`` ref. If recording fails, the
ref stays, and the forge records it when zuulish next starts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from zuulish.drivers.git.commit_msg import install_command
from zuulish.drivers.git.connection import ADMIN_ENV, ZERO, GitForge, change_ref, git
from zuulish.drivers.git.footers import change_id, depends_on
from zuulish.errors import ForgeError, UserError
from zuulish.store import ChangeRow, EventRow, PatchsetRow, Store
from zuulish.store import notify as channels

NUMBER_ATTEMPTS = 5


def _commit_info(path: Path, sha: str) -> tuple[str, str, str | None, list[str]]:
    """(subject, message, first parent, files changed against the first parent)."""
    out = git(path, "show", "-s", "--format=%P%x00%s%x00%B", sha)
    parents, subject, message = out.split("\0", 2)
    parent = parents.split()[0] if parents.split() else None
    if parent:
        files = git(path, "diff", "--name-only", "-z", "-M", parent, sha).split("\0")
    else:
        files = git(path, "ls-tree", "-r", "-z", "--name-only", sha).split("\0")
    return subject, message.strip() + "\n", parent, [f for f in files if f]


def _record_commit(forge: GitForge, project: str, branch: str, sha: str,
                   owner: str | None = None) -> str | None:
    """Record one pushed commit as a new change or patch set, in one transaction
    (``owner``: who pushed it, the owner of a new change).

    Returns the line to show the pusher, or None when the commit is already the
    current patch set of a change.
    """
    path = forge.repo_path(project)
    subject, message, parent, files = _commit_info(path, sha)
    cid = change_id(message)
    now = time.time()
    for _attempt in range(NUMBER_ATTEMPTS):
        try:
            with forge.store.session() as s:
                if s.scalar(select(ChangeRow.id).where(ChangeRow.connection == forge.name,
                                                       ChangeRow.project == project,
                                                       ChangeRow.commit_sha == sha)):
                    return None  # already the current patch set of a change
                row = None
                if cid:
                    row = s.scalars(select(ChangeRow).where(
                        ChangeRow.connection == forge.name, ChangeRow.project == project,
                        ChangeRow.branch == branch, ChangeRow.change_id == cid,
                        ChangeRow.status == "NEW").with_for_update()).first()
                if row is not None:
                    row.patchset += 1
                    row.approvals = {}  # a new patch set needs new votes
                    verb = "Updated change"
                else:
                    # Pushes to one forge take numbers one at a time, so concurrent
                    # pushes never collide on max(number) + 1.
                    forge.store.lock(s, f"change-numbers:{forge.name}")
                    number = (s.scalar(select(func.max(ChangeRow.number)).where(
                        ChangeRow.connection == forge.name)) or 0) + 1
                    row = ChangeRow(connection=forge.name, number=number, project=project,
                                    branch=branch, change_id=cid, status="NEW", patchset=1,
                                    approvals={}, created_at=now, owner=owner)
                    s.add(row)
                    verb = "New change"
                row.commit_sha, row.parent_sha = sha, parent
                row.subject, row.message, row.files = subject, message, files
                row.depends_on = depends_on(message)
                row.updated_at = now
                s.flush()
                ref = change_ref(row.number, row.patchset)
                s.add(PatchsetRow(change_id=row.id, number=row.patchset, commit_sha=sha,
                                  ref=ref, created_at=now))
                s.add(EventRow(connection=forge.name, type="patchset-created", project=project,
                               branch=branch, change_number=row.number, patchset=row.patchset,
                               data={"commit": sha, "subject": subject, "ref": ref,
                                     **({"uploader": owner} if owner else {})},
                               created_at=now))
                s.flush()  # a lost race on the number shows here, before the ref is made
                git(path, "update-ref", ref, sha)
                url = forge.change_url(project, row.number)
                if verb == "New change":
                    return f"New change: {url} {subject}"
                return f"Updated change: {url} {subject} (patch set {row.patchset})"
        except IntegrityError:
            continue  # another push took the number (or patch set); try again
    raise ForgeError("could not allocate a change number after "
                     f"{NUMBER_ATTEMPTS} attempts; try the push again")


def without_change_id(forge: GitForge, project: str, branch: str, new_sha: str) -> list[str]:
    """The commits a push of ``new_sha`` for review would record that have no
    ``Change-Id:`` footer (oldest first); commits already on the branch or already
    a change's patch set are not asked for one."""
    out = git(forge.repo_path(project), "log", "--reverse", "--format=%H%x00%B%x01", new_sha,
              "--not", f"refs/heads/{branch}")
    missing = []
    for entry in out.split("\x01"):
        sha, _, message = entry.strip().partition("\0")
        if sha and change_id(message) is None:
            missing.append(sha)
    if missing:
        with forge.store.read() as s:
            known = set(s.scalars(select(PatchsetRow.commit_sha).where(
                PatchsetRow.commit_sha.in_(missing))))
        missing = [sha for sha in missing if sha not in known]
    return missing


def change_id_hint(forge: GitForge, missing: list[str]) -> list[str]:
    """What to tell a developer whose push has commits without a Change-Id."""
    return [f"commit {sha[:12]} has no Change-Id: footer" for sha in missing] + [
        "every commit pushed for review needs one, so that pushing it again after "
        "amending updates its change instead of making a new one.",
        "Install the commit-msg hook that adds it (run this in your clone):",
        f"  {install_command(forge.web_url)}",
        "then add the footer with `git commit --amend --no-edit` (for commits below the "
        "top: `git rebase -i` and reword them) and push again."]


def _wake(forge: GitForge) -> None:
    """Best-effort wake-up of the scheduler: here, in a zuulish on the same state dir
    and, on PostgreSQL, on every host."""
    forge.store.notifier.notify_everywhere(forge.state_dir, channels.SCHEDULER)


def record_push(forge: GitForge, project: str, branch: str, new_sha: str,
                ref: str | None = None, owner: str | None = None) -> list[str]:
    """Record every new commit of a push to ``refs/for/<branch>``; the lines to show.

    Commits already on the branch, and commits that already are a change's
    current patch set, are skipped. ``ref`` (the ``refs/for/...`` ref the push
    made) is deleted once everything is recorded.
    """
    path = forge.repo_path(project)
    commits = git(path, "rev-list", "--reverse", new_sha, "--not",
                  f"refs/heads/{branch}").split()
    messages = []
    for sha in commits:
        message = _record_commit(forge, project, branch, sha, owner)
        if message:
            messages.append(message)
    if not messages:
        messages.append("no new changes")
    if ref:
        # Compare-and-delete: if a newer push moved the ref meanwhile, it stays for
        # that push's own hook, so a failure here is expected and harmless.
        with contextlib.suppress(ForgeError):
            git(path, "update-ref", "-d", ref, new_sha)
    _wake(forge)
    return messages


def record_ref_update(forge: GitForge, project: str, old: str, new: str, ref: str) -> str:
    """Record an administrator's direct push to a branch as a ``ref-updated`` event."""
    now = time.time()
    branch = ref.removeprefix("refs/heads/")
    with forge.store.session() as s:
        s.add(EventRow(connection=forge.name, type="ref-updated", project=project,
                       branch=branch, data={"ref": ref, "oldrev": old, "newrev": new},
                       created_at=now))
    _wake(forge)
    return f"updated {ref} to {new[:12]}"


def _open(config_path: str, connection: str) -> GitForge:
    from zuulish.server_config import load_server_config

    if not config_path:
        raise ForgeError("this forge was set up without a server configuration file, so "
                         "pushes cannot be recorded")
    config = load_server_config(config_path)
    conn = config.connection(connection)
    if conn.driver != "git":
        raise ForgeError(f"connection {connection!r} in {config.path} uses the "
                         f"{conn.driver} driver, not the built-in forge (git)")
    store = Store(config.database)
    return GitForge(connection, config.state_dir, store, config.web_url, config.path)


def pre_receive(forge: GitForge, project: str, lines: list[str]) -> list[str]:
    """The reasons to refuse this push (empty: accept it)."""
    errors = []
    admin = os.environ.get(ADMIN_ENV) == "1"
    branches = forge.branches(project)
    for line in lines:
        _old, new, ref = line.split()
        if ref.startswith("refs/for/"):
            branch = ref.removeprefix("refs/for/").split("%", 1)[0]
            if new == ZERO:
                errors.append(f"{ref}: nothing to delete here")
            elif branch not in branches:
                existing = ", ".join(sorted(branches)) or "none"
                errors.append(f"branch {branch!r} does not exist in project {project!r}; "
                              f"existing branches: {existing}")
            elif missing := without_change_id(forge, project, branch, new):
                errors.extend(change_id_hint(forge, missing))
        elif admin:
            continue
        elif ref.startswith("refs/heads/"):
            target = ref.removeprefix("refs/heads/")
            errors.append(f"{ref}: push to refs/for/{target} for review; changes reach "
                          "branches only through the gate")
        else:
            errors.append(f"{ref}: only pushes for review are accepted; push to "
                          "refs/for/<branch>")
    if not errors:
        try:
            forge.store.check()
        except UserError as exc:
            errors.append(f"zuulish cannot record this push right now ({exc}); nothing was "
                          "accepted, try again later")
    return errors


def post_receive(forge: GitForge, project: str, lines: list[str]) -> tuple[list[str], bool]:
    """Record what the push updated; (lines to show, whether everything was recorded)."""
    shown: list[str] = []
    ok = True
    for line in lines:
        old, new, ref = line.split()
        try:
            if ref.startswith("refs/for/") and new != ZERO and _ref_exists(forge, project, ref):
                branch = ref.removeprefix("refs/for/").split("%", 1)[0]
                shown.extend(record_push(forge, project, branch, new, ref))
            elif ref.startswith("refs/heads/"):
                shown.append(record_ref_update(forge, project, old, new, ref))
        except Exception as exc:  # the ref stays; recovery records it later
            shown.append(f"could not record {ref} yet ({exc}); it will be recorded when "
                         "zuulish next starts")
            ok = False
    return shown, ok


def proc_receive(forge: GitForge, project: str, commands: list[tuple[str, str, str]],
                 owner: str | None = None) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Handle pushes to ``refs/for/<branch>`` without creating that ref.

    Returns ``(ref, None)`` for each accepted command and ``(ref, reason)`` for
    each refused one, and the lines to show the developer. Each commit is
    recorded in the store before the push is acknowledged; when the store
    cannot be reached the push is refused, so nothing is half-accepted or lost.
    """
    results: list[tuple[str, str | None]] = []
    shown: list[str] = []
    branches = forge.branches(project)
    for _old, new, ref in commands:
        branch = ref.removeprefix("refs/for/").split("%", 1)[0]
        if new == ZERO:
            results.append((ref, "nothing to delete here"))
        elif branch not in branches:
            existing = ", ".join(sorted(branches)) or "none"
            results.append((ref, f"branch {branch!r} does not exist in project {project!r}; "
                                 f"existing branches: {existing}"))
        else:
            try:
                missing = without_change_id(forge, project, branch, new)
                if missing:
                    results.append((ref, f"commit {missing[0][:12]} has no Change-Id: "
                                         "footer; install the commit-msg hook (see above)"))
                    shown.extend(change_id_hint(forge, missing))
                    continue
                shown.extend(record_push(forge, project, branch, new, owner=owner))
                results.append((ref, None))
            except Exception as exc:  # refuse the push; the developer pushes again
                results.append((ref, f"zuulish cannot record this push right now ({exc}); "
                                     "nothing was accepted, try again later"))
    return results, shown


def _ref_exists(forge: GitForge, project: str, ref: str) -> bool:
    """A ``refs/for`` ref exists only in repositories set up before proc-receive."""
    try:
        git(forge.repo_path(project), "rev-parse", "--verify", "--quiet", ref)
    except ForgeError:
        return False
    return True


def _in_repository(forge: GitForge, project: str) -> str | None:
    """Why this hook is not running in ``project``'s repository, if it is not."""
    expected = forge.repo_path(project)
    try:
        if Path.cwd().samefile(expected):
            return None
    except OSError:
        pass
    return (f"this hook belongs to {expected} (from the server configuration) but runs in "
            f"{Path.cwd()}; reinstall the hooks with the right configuration")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zuulish-forge-hook")
    parser.add_argument("hook", choices=("pre-receive", "post-receive"))
    parser.add_argument("--config", required=True)
    parser.add_argument("--connection", required=True)
    parser.add_argument("--project", required=True)
    args = parser.parse_args(argv)
    try:
        forge = _open(args.config, args.connection)
    except UserError as exc:
        print(f"zuulish: cannot accept pushes: {exc}", file=sys.stderr)
        return 1
    lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
    try:
        if args.hook == "pre-receive":
            misplaced = _in_repository(forge, args.project)
            errors = [misplaced] if misplaced else pre_receive(forge, args.project, lines)
            for error in errors:
                print(f"zuulish: {error}", file=sys.stderr)
            return 1 if errors else 0
        shown, ok = post_receive(forge, args.project, lines)
        for message in shown:
            print(f"zuulish: {message}", file=sys.stderr)
        return 0 if ok else 1
    finally:
        forge.store.dispose()


if __name__ == "__main__":
    sys.exit(main())
