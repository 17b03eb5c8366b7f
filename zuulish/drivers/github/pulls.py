"""Pull requests as changes: one number per pull request per connection.

GitHub numbers pull requests per repository, but a change is known by its
connection and one number (``ChangeKey``). The store allocates that number the
first time a pull request is seen (``github_pulls.id``). Each new head sha is the
pull request's next patch set (1, 2, 3...). What GitHub said of the pull request
(title, body, base branch, state, labels, draft, mergeable...) is cached from the
webhooks themselves, so a change's data is refreshed by events, not fetched on
every scheduler pass; a description older than the cached one (GitHub's
``updated_at``) never overwrites it.

Functions taking a ``session`` run inside the caller's write transaction (the
intake worker records a pull request and stores its events in one); the others
open a read transaction of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from zuulish.store import GithubPatchsetRow, GithubPullRow, Store

#: what is kept of a pull request beyond its own columns
KEPT = ("html_url", "url", "node_id", "created_at", "updated_at", "closed_at", "merged_at",
        "merge_commit_sha", "mergeable_state", "rebaseable", "maintainer_can_modify")


def display(repo: str, number: int) -> str:
    """How GitHub writes a pull request: ``owner/repo#N``."""
    return f"{repo}#{number}"


@dataclass(frozen=True)
class PullRequest:
    """A pull request as zuulish last heard of it."""

    id: int  # the change's number on its connection
    connection: str
    repo: str  # owner/repo
    number: int  # GitHub's number, per repository
    head_sha: str | None
    patchset: int | None
    base_branch: str | None
    title: str
    body: str
    state: str  # open / closed
    merged: bool
    draft: bool
    mergeable: bool | None
    labels: tuple[str, ...]
    author: str | None
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def display(self) -> str:
        return display(self.repo, self.number)

    @property
    def url(self) -> str | None:
        return self.data.get("html_url")

    @property
    def is_open(self) -> bool:
        return self.state == "open"


def _as_pull(row: Any) -> PullRequest:
    """A pull request from its row (an ORM object or a plain result row)."""
    data = dict(row.data or {})
    #: when an event last concerned the pull request (its description, a review, a
    #: status, a check run, a comment): what is cached beside it is stale before that
    data["refreshed_at"] = row.refreshed_at
    return PullRequest(
        id=row.id, connection=row.connection, repo=row.repo, number=row.number,
        head_sha=row.head_sha, patchset=row.patchset, base_branch=row.base_branch,
        title=row.title, body=row.body, state=row.state, merged=row.merged, draft=row.draft,
        mergeable=row.mergeable, labels=tuple(row.labels or ()), author=data.get("author"),
        data=data)


def _lock(store: Store, session: Session, connection: str, repo: str, number: int) -> None:
    store.lock(session, f"github-pull:{connection}:{repo}#{number}")


# The intake worker's hot path runs inside its write transaction, which on SQLite is
# the whole database's write lock (the webhook's inserts wait on it): plain SQL
# statements, built once (SQLAlchemy caches their compiled form), no ORM unit of work.
_PULLS = GithubPullRow.__table__
_PATCHSETS = GithubPatchsetRow.__table__
_BY_NUMBER = select(_PULLS).where(
    _PULLS.c.connection == bindparam("connection"), _PULLS.c.repo == bindparam("repo"),
    _PULLS.c.number == bindparam("number"))
_BY_ID = select(_PULLS).where(_PULLS.c.id == bindparam("pull_id"))
_NEW_PULL = insert(_PULLS).returning(*_PULLS.c)
_HISTORY = select(_PATCHSETS.c.patchset, _PATCHSETS.c.sha).where(
    _PATCHSETS.c.pull_id == bindparam("pull_id"))
_NEW_PATCHSET = insert(_PATCHSETS)
_UPDATE = update(_PULLS).where(_PULLS.c.id == bindparam("pull_id"))
_TOUCH = (update(_PULLS).where(_PULLS.c.id == bindparam("pull_id"),
                               _PULLS.c.refreshed_at < bindparam("now"))
          .values(refreshed_at=bindparam("now")))
_PATCHSET_OF_SHA = (select(_PATCHSETS.c.patchset)
                    .where(_PATCHSETS.c.pull_id == bindparam("pull_id"),
                           _PATCHSETS.c.sha == bindparam("sha"))
                    .order_by(_PATCHSETS.c.patchset.desc()).limit(1))
_OPEN_WITH_HEAD = select(_PULLS).where(
    _PULLS.c.connection == bindparam("connection"), _PULLS.c.repo == bindparam("repo"),
    _PULLS.c.head_sha == bindparam("sha"), _PULLS.c.state == "open").order_by(_PULLS.c.id)


def _row(session: Session, connection: str, repo: str, number: int) -> Any:
    return session.connection().execute(
        _BY_NUMBER, {"connection": connection, "repo": repo, "number": number}).first()


def _row_or_new(session: Session, connection: str, repo: str, number: int,
                now: float) -> Any:
    """The pull request's row, inserted first when it has none (under its lock)."""
    row = _row(session, connection, repo, number)
    if row is None:
        row = session.connection().execute(_NEW_PULL, {
            "connection": connection, "repo": repo, "number": number, "title": "",
            "body": "", "state": "open", "merged": False, "draft": False, "labels": [],
            "data": {}, "refreshed_at": now}).one()
    return row


def get(store: Store, connection: str, pull_id: int) -> PullRequest | None:
    """The pull request whose change number on ``connection`` is ``pull_id``."""
    with store.read() as session:
        row = session.connection().execute(_BY_ID, {"pull_id": pull_id}).first()
        return _as_pull(row) if row is not None and row.connection == connection else None


def find(store: Store, connection: str, repo: str, number: int) -> PullRequest | None:
    """The pull request ``repo#number``, if zuulish has heard of it."""
    with store.read() as session:
        row = _row(session, connection, repo, number)
        return _as_pull(row) if row is not None else None


def patchset_of(store: Store, pull_id: int, sha: str) -> int | None:
    """Which patch set of the pull request had head ``sha`` (the newest if several)."""
    with store.read() as session:
        return session.connection().execute(
            _PATCHSET_OF_SHA, {"pull_id": pull_id, "sha": sha}).scalar()


def shas(store: Store, pull_id: int) -> list[str]:
    """The pull request's head shas, patch set 1 first."""
    with store.read() as session:
        return list(session.scalars(select(GithubPatchsetRow.sha).where(
            GithubPatchsetRow.pull_id == pull_id).order_by(GithubPatchsetRow.patchset)))


def open_with_head(session: Session, connection: str, repo: str,
                   sha: str) -> list[PullRequest]:
    """The open pull requests of ``repo`` whose head is ``sha`` (a status or check run
    on that commit concerns them)."""
    rows = session.connection().execute(
        _OPEN_WITH_HEAD, {"connection": connection, "repo": repo, "sha": sha})
    return [_as_pull(row) for row in rows]


def open_mentioning(store: Store, connection: str, text: str) -> list[int]:
    """The open pull requests whose description, as last delivered, contains ``text``
    (a URL a ``Depends-On`` may name): their change numbers."""
    with store.read() as session:
        return list(session.scalars(select(GithubPullRow.id).where(
            GithubPullRow.connection == connection, GithubPullRow.state == "open",
            GithubPullRow.body.contains(text, autoescape=True)).order_by(GithubPullRow.id)))


def ensure(store: Store, session: Session, connection: str, repo: str, number: int,
           now: float) -> PullRequest:
    """The pull request ``repo#number``, given its number now if it has none yet (a
    comment names only the number: its head and description come with its next
    pull request event, or from the source's fetch)."""
    _lock(store, session, connection, repo, number)
    return _as_pull(_row_or_new(session, connection, repo, number, now))


@dataclass(frozen=True)
class Recorded:
    """What :func:`record` made of a description of a pull request."""

    pull: PullRequest  # as cached now
    patchset: int  # the patch set of the description's head
    new_patchset: bool  # whether that head was one zuulish had not seen


def _described(pull: dict[str, Any], merged_before: bool) -> dict[str, Any]:
    """The columns GitHub's description ``pull`` sets (all but the head and patch set)."""
    # a merged pull request stays merged (GitHub cannot reopen it): a description
    # from before the merge, delivered late, does not undo what the merge recorded
    merged = merged_before or bool(pull.get("merged") or pull.get("merged_at"))
    mergeable = pull.get("mergeable")
    data = {key: pull[key] for key in KEPT if key in pull}
    data["author"] = (pull.get("user") or {}).get("login")
    data["head_ref"] = pull["head"].get("ref")
    data["head_repo"] = ((pull["head"].get("repo") or {}).get("full_name"))
    data["base_sha"] = pull["base"].get("sha")
    updated = pull.get("updated_at")
    return {
        "base_branch": str(pull["base"]["ref"]),
        "title": str(pull.get("title") or ""),
        "body": str(pull.get("body") or ""),
        "merged": merged,
        "state": "closed" if merged else str(pull.get("state") or "open"),
        "draft": bool(pull.get("draft")),
        "mergeable": mergeable if isinstance(mergeable, bool) else None,
        "labels": [str(label.get("name")) for label in pull.get("labels") or ()
                   if isinstance(label, dict)],
        "data": data,
        "github_updated_at": str(updated) if updated is not None else None,
    }


def record(store: Store, session: Session, connection: str, repo: str,
           pull: dict[str, Any], now: float) -> Recorded:
    """Record or refresh a pull request from GitHub's description of it (a webhook's
    ``pull_request``, or an API answer). Its head is its current patch set, an
    earlier one (GitHub may deliver out of order), or the next one."""
    number = int(pull["number"])
    _lock(store, session, connection, repo, number)
    conn = session.connection()
    row = _row_or_new(session, connection, repo, number, now)
    sha = str(pull["head"]["sha"])
    history = conn.execute(_HISTORY, {"pull_id": row.id}).all()
    newest = max((n for n, _ in history), default=0)
    if row.head_sha == sha and row.patchset is not None:
        patchset = row.patchset
    else:
        patchset = max((n for n, head in history if head == sha), default=0) or newest + 1
        if patchset > newest:
            conn.execute(_NEW_PATCHSET, {"pull_id": row.id, "patchset": patchset,
                                         "sha": sha, "created_at": now})
    updated = pull.get("updated_at")
    stale = (updated is not None and row.github_updated_at is not None
             and str(updated) < row.github_updated_at)
    cached = row._asdict()
    if not stale:
        cached.update(_described(pull, row.merged), head_sha=sha, patchset=patchset,
                      refreshed_at=now)
        values = {key: value for key, value in cached.items() if key != "id"}
        conn.execute(_UPDATE, {"pull_id": row.id, **values})
    return Recorded(_as_pull(_Cached(cached)), patchset, patchset > newest)


class _Cached:
    """A row's columns as attributes, for :func:`_as_pull`."""

    def __init__(self, columns: dict[str, Any]):
        self.__dict__.update(columns)


def mark_merged(store: Store, pull_id: int, merge_sha: str, now: float) -> None:
    """Record that GitHub merged the pull request (its merge call answered so), at
    once: GitHub's ``closed`` webhook comes later, and a gate item behind it that
    needs it asks whether it merged as soon as the merge is reported."""
    with store.session() as session:
        row = session.get(GithubPullRow, pull_id)
        if row is None:
            return
        row.merged, row.state = True, "closed"
        row.data = {**(row.data or {}), "merge_commit_sha": merge_sha}
        row.refreshed_at = max(row.refreshed_at, now)


def touch(session: Session, pull_id: int, now: float) -> None:
    """Note that an event concerned the pull request (a status, a check run, a
    comment): its ``refreshed_at`` moves, so what was cached about it (reviews,
    statuses) is read again."""
    session.connection().execute(_TOUCH, {"pull_id": pull_id, "now": now})


def patchset_in(session: Session, pull: PullRequest, sha: str | None) -> int | None:
    """Which patch set of ``pull`` had head ``sha``, within ``session``; its current
    one when ``sha`` is not known to be one of its heads."""
    if sha is not None:
        known = session.connection().execute(
            _PATCHSET_OF_SHA, {"pull_id": pull.id, "sha": sha}).scalar()
        if known is not None:
            return known
    return pull.patchset
