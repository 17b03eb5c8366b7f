"""The scheduler's view of the built-in forge: changes and repository content."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from zuulish.drivers.depends_on import ChangeUrls
from zuulish.drivers.git.connection import GitForge
from zuulish.merger.speculative import read_files
from zuulish.model import Change, ChangeKey, ChangeStatus
from zuulish.store import ChangeRow, PatchsetRow, Store


class GitSource:
    """The scheduler's view of the built-in forge: changes and repository content."""

    def __init__(self, forge: GitForge, store: Store, change_urls: ChangeUrls | None = None):
        self.forge = forge
        self.store = store
        #: other connections' change URLs (a Depends-On on a pull request, say)
        self.change_urls = change_urls

    def get_change(self, number: int) -> Change | None:
        """The change's current patch set, with what it needs resolved.

        ``needs`` holds the changes named by ``Depends-On:`` footers (on this
        connection or, through ``change_urls``, on any other) and the change whose
        current patch set is this commit's parent, unless they are merged (an
        abandoned one stays, so the scheduler can say so). Footers that point at
        nothing known, and a parent that is an outdated patch set of an open
        change, go to ``unresolved_depends_on``.
        """
        with self.store.read() as s:
            row = s.scalars(select(ChangeRow).where(ChangeRow.connection == self.forge.name,
                                                    ChangeRow.number == number)).first()
            if row is None:
                return None
            needs: list[ChangeKey] = []
            unresolved: list[str] = []
            for url in row.depends_on or []:
                target = self.forge.resolve_change_url(url)
                if target is None:
                    other = self.change_urls.resolve(url) if self.change_urls else None
                    if other is not None and other.connection != self.forge.name:
                        if other not in needs:
                            needs.append(other)  # its state is the planner's question
                        continue
                if target is None or target == number:
                    unresolved.append(f"Depends-On {url} points at no change of this forge"
                                      " or of any other connection")
                    continue
                status = s.scalar(select(ChangeRow.status).where(
                    ChangeRow.connection == self.forge.name, ChangeRow.number == target))
                if status is None:
                    unresolved.append(f"Depends-On {url} points at change {target}, which "
                                      "does not exist")
                elif status != "MERGED" and ChangeKey(self.forge.name, target) not in needs:
                    needs.append(ChangeKey(self.forge.name, target))
            if row.parent_sha:
                self._parent_need(s, row, needs, unresolved)
            return Change(
                key=ChangeKey(self.forge.name, row.number), project=row.project,
                branch=row.branch, patchset=row.patchset, commit=row.commit_sha,
                subject=row.subject, message=row.message, status=ChangeStatus(row.status),
                approvals=dict(row.approvals or {}), needs=tuple(needs),
                unresolved_depends_on=tuple(unresolved), files=tuple(row.files or ()),
                url=self.forge.change_url(row.project, row.number))

    def changes_depending_on(self, change: Change) -> list[int]:
        """The open changes whose ``Depends-On`` footers name ``change`` (by its URL on
        this forge or on its own connection), and, for a change of this forge, those
        whose commit sits on its current patch set."""
        mine = change.key.connection == self.forge.name
        with self.store.read() as s:
            rows = s.execute(select(ChangeRow.number, ChangeRow.depends_on,
                                    ChangeRow.project, ChangeRow.branch, ChangeRow.parent_sha)
                             .where(ChangeRow.connection == self.forge.name,
                                    ChangeRow.status == "NEW")
                             .order_by(ChangeRow.number)).all()
        found: list[int] = []
        for number, depends_on, project, branch, parent_sha in rows:
            if mine and number == change.key.number:
                continue
            on_top = (mine and parent_sha == change.commit and project == change.project
                      and branch == change.branch)
            if on_top or any(self._names(url, change.key) for url in depends_on or ()):
                found.append(number)
        return found

    def _names(self, url: str, key: ChangeKey) -> bool:
        """Whether the Depends-On ``url`` points at the change ``key``."""
        if key.connection == self.forge.name:
            return self.forge.resolve_change_url(url) == key.number
        return self.change_urls is not None and self.change_urls.resolve(url) == key

    def _parent_need(self, s: Session, row: ChangeRow, needs: list[ChangeKey],
                     unresolved: list[str]) -> None:
        """Add the change that ``row``'s parent commit belongs to (git dependency)."""
        same_repo = (ChangeRow.connection == self.forge.name, ChangeRow.project == row.project,
                     ChangeRow.branch == row.branch)
        parent = s.scalars(select(ChangeRow).where(
            *same_repo, ChangeRow.commit_sha == row.parent_sha)
            .order_by(ChangeRow.number.desc())).first()
        if parent is not None:
            key = ChangeKey(self.forge.name, parent.number)
            if parent.status != "MERGED" and key not in needs:
                needs.append(key)
            return
        outdated = s.execute(select(ChangeRow.number, ChangeRow.patchset, PatchsetRow.number)
                             .join(PatchsetRow, PatchsetRow.change_id == ChangeRow.id)
                             .where(*same_repo, ChangeRow.status == "NEW",
                                    PatchsetRow.commit_sha == row.parent_sha)).first()
        if outdated is not None:
            other, current, old = outdated
            unresolved.append(f"parent commit {row.parent_sha[:12]} is patch set {old} of "
                              f"change {other}, whose current patch set is {current}; "
                              "rebase this change on it")

    def config_files(self, project: str, branch: str) -> dict[str, str]:
        tip = self.forge.branch_tip(project, branch)
        if tip is None:
            return {}
        return read_files(self.forge.repo_path(project), tip)

    def exists(self, project: str) -> bool:
        return self.forge.exists(project)

    def default_branch(self, project: str) -> str:
        return self.forge.default_branch(project)

    def branches(self, project: str) -> list[str]:
        return sorted(self.forge.branches(project))

    def branch_tip(self, project: str, branch: str) -> str | None:
        return self.forge.branch_tip(project, branch)

    def default_merge_mode(self, project: str) -> str:
        """The built-in forge merges like Gerrit's "merge if necessary"."""
        return "merge-resolve"

    def project_url(self, project: str) -> str:
        return self.forge.clone_url(project)

    def change_url(self, project: str, number: int) -> str:
        return self.forge.change_url(project, number)
