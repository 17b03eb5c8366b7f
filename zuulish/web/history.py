"""Build and build-set history, one build, one change: store queries -> dicts.

Every list is one page (``limit``, ``skip``) of a query whose filters each use an
index (``queue_items`` by tenant and project, branch, change, ref or result;
``builds`` by finish time, job or result; see migration 0019), and comes with the
total number of matches (a ``COUNT`` over the same filters). Read sessions only;
nothing here knows HTTP.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from zuulish.model.file_comments import as_dicts, file_comments
from zuulish.model.returned_data import artifacts, logs_base, warnings
from zuulish.model.returned_data import log_url as returned_log_url
from zuulish.store import (
    AutoholdRow,
    BuildRow,
    BuildSetRow,
    ChangeRow,
    GithubPullRow,
    PatchsetRow,
    QueueItemRow,
    ReportRow,
    Store,
)
from zuulish.web.status import (
    ChangeLinks,
    item_display,
    item_label,
    item_url,
    pull_of,
    pulls_of,
)

#: The most rows one page may hold.
MAX_LIMIT = 500
#: How many earlier builds of the same job a build page links to.
EARLIER_BUILDS = 10
#: How many builds of one job the trend chart draws.
TREND_BUILDS = 200
#: How a merge that failed reads as a build set's result (Zuul's words).
MERGE_RESULTS = {"conflict": "MERGE_CONFLICT", "error": "MERGE_FAILURE",
                 "config-error": "CONFIG_ERROR", "no-jobs": "NO_JOBS"}
#: What the running states of a build read as on the dashboard.
SHOWN_STATE = {"waiting": "queued-for-nodes"}


@dataclass(frozen=True)
class HistoryFilter:
    """What a history query asks for; None (or empty) means any."""

    project: str | None = None
    pipeline: str | None = None
    job_name: str | None = None
    change: int | None = None
    patchset: int | None = None
    ref: str | None = None
    branch: str | None = None
    result: tuple[str, ...] = ()
    voting: bool | None = None
    uuid: str | None = None
    complete: bool = True
    held: bool | None = None
    newer_than: float | None = None
    older_than: float | None = None
    limit: int = 50
    skip: int = 0

    @classmethod
    def of(cls, values: dict[str, Any]) -> HistoryFilter:
        """A filter from a validated query's fields (those this class does not know,
        such as a build-set query's lack of ``job_name``, are left at any)."""
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        if known.get("result") is not None:
            known["result"] = tuple(known["result"])
        else:
            known.pop("result", None)
        return cls(**known)


@dataclass
class Page:
    """One page of a history query and how many rows match in all."""

    rows: list[dict[str, Any]]
    total: int
    extra: dict[str, Any] = field(default_factory=dict)


def storable(*names: str | None) -> bool:
    """Whether names from a URL can be in the store at all (PostgreSQL's text holds
    no NUL; the store's names are short): else the answer is "none", asked of no
    database."""
    return all(n is None or ("\x00" not in n and len(n) <= 1000) for n in names)


def iso(epoch: float | None) -> str | None:
    """An epoch time as Zuul's API writes times (ISO 8601, UTC, no zone suffix)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def duration(started: float | None, finished: float | None) -> float | None:
    if started is None or finished is None:
        return None
    return round(max(0.0, finished - started), 3)


def shown_state(build: BuildRow) -> str:
    if build.paused and build.state == "running":
        return "paused"
    return SHOWN_STATE.get(build.state, build.state)


def build_url(web_url: str, tenant: str, uuid: str) -> str:
    return f"{web_url}/t/{tenant}/build/{uuid}"


def _about(item: QueueItemRow, web_url: str, pull: GithubPullRow | None,
           links: ChangeLinks | None) -> dict[str, Any]:
    """What the item tested, in the flat fields of Zuul's build and build set
    (``ref_url``, ``ref``, ``newrev``) and the dashboard's (``change_url``, ``label``,
    ``display``)."""
    url = item_url(web_url, item, pull, links)
    about: dict[str, Any] = {"pipeline": item.pipeline, "project": item.project,
                             "branch": item.branch, "change": item.change_number,
                             "patchset": item.patchset, "label": item_label(item),
                             "display": item_display(item, pull),
                             "change_url": url, "ref_url": url}
    if item.change_number is None:
        about.update(ref=item.ref, newrev=item.commit_sha, oldrev=item.oldrev)
    return about


def build_dict(build: BuildRow, buildset: BuildSetRow, item: QueueItemRow, web_url: str,
               pull: GithubPullRow | None = None, links: ChangeLinks | None = None,
               held: bool = False) -> dict[str, Any]:
    """One build in the fields of Zuul's build (``job_name``, ``start_time``,
    ``end_time``, ``duration``, ``held``, ``error_detail``, ...) and the dashboard's."""
    found, _ = artifacts(build.result_data, logs_base(build.result_data, web_url, build.id))
    about = _about(item, web_url, pull, links)
    return {
        **about,
        "uuid": build.id, "job_name": build.job, "name": build.job,
        "result": build.result, "state": shown_state(build), "held": held,
        "voting": build.voting, "attempt": build.attempt,
        "start_time": iso(build.started_at), "end_time": iso(build.finished_at),
        "duration": duration(build.started_at, build.finished_at),
        "started_at": build.started_at, "finished_at": build.finished_at,
        "created_at": build.created_at,
        "error_detail": build.message,
        "artifacts": [a.to_dict() for a in found],
        "log_url": f"{web_url}/logs/{build.id}/job-output.txt",
        "url": build_url(web_url, item.tenant, build.id),
        "tenant": item.tenant, "buildset": buildset.uuid,
        "buildset_url": f"{web_url}/t/{item.tenant}/buildset/{buildset.uuid}",
    }


# ------------------------------------------------------------------ filters


def _held_builds(s: Session, tenant: str) -> set[str]:
    """The builds whose nodes an autohold request of ``tenant`` kept (the requests
    are few: one small query)."""
    held: set[str] = set()
    for entries in s.scalars(select(AutoholdRow.held).where(AutoholdRow.tenant == tenant)):
        for entry in entries or []:
            if isinstance(entry, dict) and isinstance(entry.get("build"), str):
                held.add(entry["build"])
    return held


def _item_conditions(f: HistoryFilter, tenant: str, by_time: bool = False
                     ) -> list[ColumnElement[bool]]:
    """The conditions on the items; ``by_time``: the tenant's is written so that no
    index serves it, which leaves the planner the time index to walk newest first
    (where the tenant is the only filter, it selects most rows: sorting them all
    would cost more than stopping at the page's last)."""
    tenant_column = QueueItemRow.tenant + "" if by_time else QueueItemRow.tenant
    conds: list[ColumnElement[bool]] = [tenant_column == tenant]
    if f.project is not None:
        conds.append(QueueItemRow.project == f.project)
    if f.pipeline is not None:
        conds.append(QueueItemRow.pipeline == f.pipeline)
    if f.change is not None:
        conds.append(QueueItemRow.change_number == f.change)
    if f.patchset is not None:
        conds.append(QueueItemRow.patchset == f.patchset)
    if f.ref is not None:
        conds.append(QueueItemRow.ref == f.ref)
    if f.branch is not None:
        conds.append(QueueItemRow.branch == f.branch)
    return conds


def _selective(f: HistoryFilter) -> bool:
    """Whether a filter besides the tenant narrows the builds through an index."""
    return any(v is not None for v in (f.project, f.pipeline, f.change, f.ref, f.branch,
                                       f.job_name, f.uuid)) or bool(f.result) \
        or f.held is True


def _builds_query(s: Session, f: HistoryFilter, tenant: str,
                  columns: tuple[Any, ...], page: bool = False) -> Select[Any]:
    held = _held_builds(s, tenant) if f.held is not None else set()
    by_time = page and f.complete and not _selective(f)
    # by time, the join is written so that builds are walked first, by the time index
    buildset_id = BuildRow.buildset_id + 0 if by_time else BuildRow.buildset_id
    q = (select(*columns).select_from(BuildRow)
         .join(BuildSetRow, BuildSetRow.id == buildset_id)
         .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
         .where(*_item_conditions(f, tenant, by_time)))
    if f.job_name is not None:
        q = q.where(BuildRow.job == f.job_name)
    if f.result:
        q = q.where(BuildRow.result.in_(f.result))
    if f.voting is not None:
        q = q.where(BuildRow.voting.is_(f.voting))
    if f.uuid is not None:
        q = q.where(BuildRow.id == f.uuid)
    if f.held is True:
        q = q.where(BuildRow.id.in_(sorted(held)))
    elif f.held is False and held:
        q = q.where(BuildRow.id.not_in(sorted(held)))
    when = BuildRow.finished_at if f.complete else BuildRow.created_at
    q = q.where(BuildRow.finished_at.is_not(None) if f.complete
                else BuildRow.finished_at.is_(None))
    if f.newer_than is not None:
        q = q.where(when >= f.newer_than)
    if f.older_than is not None:
        q = q.where(when < f.older_than)
    return q


def find_builds(store: Store, tenant: str, f: HistoryFilter, web_url: str,
                links: ChangeLinks | None = None) -> Page:
    """One page of ``tenant``'s builds matching ``f``, newest first (finished builds
    by when they finished; unfinished ones, ``complete=False``, by when they were
    made), and the number of matches."""
    web_url = web_url.rstrip("/")
    when = BuildRow.finished_at if f.complete else BuildRow.created_at
    with store.read() as s:
        total = s.scalar(_builds_query(s, f, tenant, (func.count(BuildRow.id),))) or 0
        # the page's ids first (what it skips costs index entries, not whole rows)
        ids = s.scalars(_builds_query(s, f, tenant, (BuildRow.id,), page=True)
                        .order_by(when.desc(), BuildRow.id.desc())
                        .limit(f.limit).offset(f.skip)).all()
        found = {b.id: (b, bs, i) for b, bs, i in s.execute(
            select(BuildRow, BuildSetRow, QueueItemRow)
            .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
            .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
            .where(BuildRow.id.in_(ids)))} if ids else {}
        rows = [found[i] for i in ids if i in found]
        pulls = pulls_of(s, [i for _, _, i in rows])
        held = _held_builds(s, tenant) if rows else set()
    return Page([build_dict(b, bs, i, web_url, pull_of(pulls, i), links, b.id in held)
                 for b, bs, i in rows], total)


def job_trend(store: Store, tenant: str, f: HistoryFilter) -> list[dict[str, Any]]:
    """The newest finished builds of one job (``f.job_name``) under ``f``'s other
    filters, oldest first: when each finished, how long it ran, its result."""
    if f.job_name is None:
        return []
    trend = HistoryFilter(**{**f.__dict__, "complete": True, "limit": TREND_BUILDS,
                             "skip": 0})
    with store.read() as s:
        rows = s.execute(_builds_query(s, trend, tenant, (BuildRow.finished_at,
                                                          BuildRow.started_at,
                                                          BuildRow.result))
                         .order_by(BuildRow.finished_at.desc(), BuildRow.id.desc())
                         .limit(TREND_BUILDS)).all()
    return [{"finished_at": fin, "duration": duration(start, fin), "result": result}
            for fin, start, result in reversed(rows)]


# ------------------------------------------------------------------ build sets


def buildset_result(buildset: BuildSetRow, item: QueueItemRow,
                    builds: list[BuildRow] | None = None) -> str | None:
    """A build set's result: its item's reported result when it is the item's last
    state, a failed merge's, else from its builds once all finished (None: running,
    or replaced before it finished)."""
    if buildset.merge_state in MERGE_RESULTS:
        return MERGE_RESULTS[buildset.merge_state]
    if buildset.current and item.state != "queued":
        return item.result
    if builds is None:
        return None
    newest = _newest_attempts(builds)
    if not newest or any(b.result is None for b in newest):
        return None
    return "SUCCESS" if all(b.result in ("SUCCESS", "SKIPPED") for b in newest
                            if b.voting) else "FAILURE"


def _newest_attempts(builds: list[BuildRow]) -> list[BuildRow]:
    newest: dict[str, BuildRow] = {}
    for b in sorted(builds, key=lambda b: (b.created_at, b.attempt)):
        newest[b.job] = b
    return list(newest.values())


def _buildsets_query(f: HistoryFilter, tenant: str, columns: tuple[Any, ...]
                     ) -> Select[Any]:
    q = (select(*columns).join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
         .where(*_item_conditions(f, tenant)))
    if f.uuid is not None:
        q = q.where(BuildSetRow.uuid == f.uuid)
    if f.result:
        # a reported item's result (its current build set), or a failed merge's
        merge = [m for m, r in MERGE_RESULTS.items() if r in f.result]
        reported = (BuildSetRow.current.is_(True) & (QueueItemRow.state != "queued")
                    & QueueItemRow.result.in_(f.result))
        q = q.where(reported | BuildSetRow.merge_state.in_(merge) if merge else reported)
    if f.complete:
        q = q.where((BuildSetRow.current.is_(False)) | (QueueItemRow.state != "queued"))
    else:
        q = q.where(BuildSetRow.current.is_(True), QueueItemRow.state == "queued")
    if f.newer_than is not None:
        q = q.where(BuildSetRow.created_at >= f.newer_than)
    if f.older_than is not None:
        q = q.where(BuildSetRow.created_at < f.older_than)
    return q


def buildset_dict(buildset: BuildSetRow, item: QueueItemRow, builds: list[BuildRow],
                  web_url: str, pull: GithubPullRow | None = None,
                  links: ChangeLinks | None = None) -> dict[str, Any]:
    """One build set as Zuul's API shapes it, with the dashboard's fields."""
    started = [b.started_at for b in builds if b.started_at is not None]
    finished = [b.finished_at for b in builds if b.finished_at is not None]
    return {
        **_about(item, web_url, pull, links),
        "uuid": buildset.uuid, "result": buildset_result(buildset, item, builds),
        "message": buildset.message or (item.message if buildset.current else None),
        "merge_state": buildset.merge_state, "current": buildset.current,
        "tenant": item.tenant, "created_at": buildset.created_at,
        "event_timestamp": iso(buildset.created_at),
        "first_build_start_time": iso(min(started)) if started else None,
        "last_build_end_time": iso(max(finished)) if finished else None,
        "repos": repos_of(buildset.repo_state),
        "url": f"{web_url}/t/{item.tenant}/buildset/{buildset.uuid}",
    }


def find_buildsets(store: Store, tenant: str, f: HistoryFilter, web_url: str,
                   links: ChangeLinks | None = None) -> Page:
    """One page of ``tenant``'s build sets matching ``f``, newest first."""
    web_url = web_url.rstrip("/")
    with store.read() as s:
        total = s.scalar(_buildsets_query(f, tenant, (func.count(BuildSetRow.id),))) or 0
        rows = s.execute(_buildsets_query(f, tenant, (BuildSetRow, QueueItemRow))
                         .order_by(BuildSetRow.id.desc()).limit(f.limit).offset(f.skip)).all()
        builds = _builds_of(s, [bs.id for bs, _ in rows])
        pulls = pulls_of(s, [i for _, i in rows])
    return Page([buildset_dict(bs, i, builds[bs.id], web_url, pull_of(pulls, i), links)
                 for bs, i in rows], total)


def _builds_of(s: Session, buildset_ids: list[int]) -> dict[int, list[BuildRow]]:
    out: dict[int, list[BuildRow]] = defaultdict(list)
    if buildset_ids:
        for b in s.scalars(select(BuildRow).where(BuildRow.buildset_id.in_(buildset_ids))
                           .order_by(BuildRow.created_at, BuildRow.attempt)):
            out[b.buildset_id].append(b)
    return out


def buildset_info(store: Store, tenant: str, uuid: str, web_url: str,
                  links: ChangeLinks | None = None) -> dict[str, Any] | None:
    """One build set of ``tenant`` with its builds; None when unknown there."""
    web_url = web_url.rstrip("/")
    if not storable(uuid):
        return None
    with store.read() as s:
        row = s.execute(select(BuildSetRow, QueueItemRow)
                        .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                        .where(BuildSetRow.uuid == uuid, QueueItemRow.tenant == tenant)
                        ).first()
        if row is None:
            return None
        buildset, item = row
        builds = _builds_of(s, [buildset.id])[buildset.id]
        pull = pull_of(pulls_of(s, [item]), item)
        held = _held_builds(s, tenant)
    info = buildset_dict(buildset, item, builds, web_url, pull, links)
    info["builds"] = [build_dict(b, buildset, item, web_url, pull, links, b.id in held)
                      for b in builds]
    return info


# ------------------------------------------------------------------ one build


def repos_of(repo_state: dict[str, Any] | None) -> dict[str, dict[str, str | None]]:
    """The branch and commit tested in each repository of a speculative state."""
    return {project: {"branch": repo.get("branch"), "commit": repo.get("commit")}
            for project, repo in sorted((repo_state or {}).items())
            if isinstance(repo, dict)}


def tested_repos(build: BuildRow) -> dict[str, dict[str, str | None]]:
    """The branch and commit the build tested in each repository: its build set's
    speculative state, stored with the build when it was made (the executor runs on
    exactly those commits or not at all)."""
    return repos_of((build.params or {}).get("repo_state"))


def build_artifacts(build: BuildRow, web_url: str) -> list[dict[str, Any]]:
    """The well-formed ``zuul.artifacts`` the build returned, relative URLs resolved
    against its log directory (malformed ones were named in the build's log)."""
    found, _ = artifacts(build.result_data, logs_base(build.result_data, web_url, build.id))
    return [a.to_dict() for a in found]


def build_file_comments(build: BuildRow) -> dict[str, list[dict[str, Any]]]:
    """The well-formed ``zuul.file_comments`` the build returned on files of its change
    (what was left out was named in the build's log)."""
    found, _ = file_comments(build.result_data, (build.params or {}).get("files"))
    return as_dicts(found)


def build_tenant(store: Store, uuid: str) -> str | None:
    """The tenant a build belongs to; None when there is no such build."""
    if not storable(uuid):
        return None
    with store.read() as s:
        return s.scalar(select(QueueItemRow.tenant)
                        .join(BuildSetRow, BuildSetRow.item_id == QueueItemRow.id)
                        .join(BuildRow, BuildRow.buildset_id == BuildSetRow.id)
                        .where(BuildRow.id == uuid))


def build_info(store: Store, uuid: str, web_url: str, links: ChangeLinks | None = None,
               tenant: str | None = None) -> dict[str, Any] | None:
    """One build with its item, change, pipeline and tenant (only of ``tenant``,
    when given); None when unknown."""
    web_url = web_url.rstrip("/")
    if not storable(uuid):
        return None
    with store.read() as s:
        q = (select(BuildRow, BuildSetRow, QueueItemRow, ChangeRow)
             .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
             .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
             .outerjoin(ChangeRow, (ChangeRow.connection == QueueItemRow.connection)
                        & (ChangeRow.number == QueueItemRow.change_number))
             .where(BuildRow.id == uuid))
        if tenant is not None:
            q = q.where(QueueItemRow.tenant == tenant)
        row = s.execute(q).first()
        if row is None:
            return None
        build, buildset, item, change = row
        pull = pull_of(pulls_of(s, [item]), item)
        held = build.id in _held_builds(s, item.tenant)
    return {**build_dict(build, buildset, item, web_url, pull, links, held),
            "subject": change.subject if change else pull.title if pull else "",
            "message": build.message, "current": buildset.current, "item_id": item.id,
            # where the job uploaded its logs (zuul_return's zuul.log_url), if it did
            "returned_log_url": returned_log_url(build.result_data)[0],
            "warnings": warnings(build.result_data)[0],
            "file_comments": build_file_comments(build),
            "repos": tested_repos(build)}


def build_neighbours(store: Store, uuid: str, web_url: str) -> dict[str, Any]:
    """The other builds of a build's build set, and the earlier builds of its job
    for its project in its tenant (newest first)."""
    web_url = web_url.rstrip("/")
    with store.read() as s:
        row = s.execute(select(BuildRow, QueueItemRow)
                        .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                        .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                        .where(BuildRow.id == uuid)).first()
        if row is None:
            return {"siblings": [], "earlier": []}
        build, item = row
        siblings = s.scalars(select(BuildRow).where(BuildRow.buildset_id == build.buildset_id,
                                                    BuildRow.id != build.id)
                             .order_by(BuildRow.created_at, BuildRow.attempt)).all()
        since = build.created_at
        earlier = s.execute(
            select(BuildRow, QueueItemRow)
            .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
            .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
            .where(BuildRow.job == build.job, QueueItemRow.tenant == item.tenant,
                   QueueItemRow.project == item.project, BuildRow.id != build.id,
                   BuildRow.finished_at.is_not(None), BuildRow.created_at <= since)
            .order_by(BuildRow.finished_at.desc(), BuildRow.id.desc())
            .limit(EARLIER_BUILDS)).all()

    def brief(b: BuildRow, i: QueueItemRow) -> dict[str, Any]:
        return {"uuid": b.id, "job_name": b.job, "result": b.result, "state": shown_state(b),
                "voting": b.voting, "attempt": b.attempt, "finished_at": b.finished_at,
                "started_at": b.started_at, "label": item_label(i),
                "pipeline": i.pipeline, "url": build_url(web_url, i.tenant, b.id)}

    return {"siblings": [brief(b, item) for b in siblings],
            "earlier": [brief(b, i) for b, i in earlier]}


# ------------------------------------------------------------------ changes

URL_IN_TEXT = re.compile(r"https?://[^\s<>\"')\]]+")


def text_with_links(text: str) -> list[dict[str, str | None]]:
    """``text`` cut into pieces, each plain text or a URL (``url`` set), for a
    template to show with links (no markup is ever made from the text itself)."""
    pieces: list[dict[str, str | None]] = []
    at = 0
    for match in URL_IN_TEXT.finditer(text or ""):
        if match.start() > at:
            pieces.append({"text": text[at:match.start()], "url": None})
        pieces.append({"text": match.group(0), "url": match.group(0)})
        at = match.end()
    if at < len(text or ""):
        pieces.append({"text": text[at:], "url": None})
    return pieces


def find_change(store: Store, number: int, project: str | None = None,
                projects: set[str] | None = None) -> list[tuple[str, str]]:
    """The (connection, project) of each change numbered ``number`` (of ``project``,
    and of one of ``projects`` when given)."""
    if not storable(project):
        return []
    with store.read() as s:
        q = select(ChangeRow.connection, ChangeRow.project).where(ChangeRow.number == number)
        if project is not None:
            q = q.where(ChangeRow.project == project)
        found = [(c, p) for c, p in s.execute(q.order_by(ChangeRow.id))]
    return [(c, p) for c, p in found if projects is None or p in projects]


def change_info(store: Store, project: str, number: int, web_url: str = "",
                tenant: str | None = None, links: ChangeLinks | None = None
                ) -> dict[str, Any] | None:
    """A change with its patch sets, each with its reports (newest first) and build
    sets (with their builds and tested commits); only ``tenant``'s when given.
    None when unknown."""
    web_url = web_url.rstrip("/")
    if not storable(project):
        return None
    with store.read() as s:
        row = s.scalars(select(ChangeRow).where(ChangeRow.project == project,
                                                ChangeRow.number == number)
                        .order_by(ChangeRow.id)).first()
        if row is None:
            return None
        patchsets = s.scalars(select(PatchsetRow).where(PatchsetRow.change_id == row.id)
                              .order_by(PatchsetRow.number)).all()
        reports_q = select(ReportRow).where(ReportRow.change_id == row.id)
        items_q = select(QueueItemRow).where(QueueItemRow.connection == row.connection,
                                             QueueItemRow.change_number == number)
        if tenant is not None:
            reports_q = reports_q.where(ReportRow.tenant == tenant)
            items_q = items_q.where(QueueItemRow.tenant == tenant)
        reports = s.scalars(reports_q.order_by(ReportRow.id.desc())).all()
        items = {i.id: i for i in s.scalars(items_q)}
        buildsets = s.scalars(select(BuildSetRow).where(BuildSetRow.item_id.in_(list(items)))
                              .order_by(BuildSetRow.id.desc())).all() if items else []
        builds = _builds_of(s, [bs.id for bs in buildsets])
    by_patchset: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for bs in buildsets:
        item = items[bs.item_id]
        tenant_of = item.tenant
        by_patchset[item.patchset].append({
            "uuid": bs.uuid, "pipeline": item.pipeline, "tenant": tenant_of,
            "result": buildset_result(bs, item, builds[bs.id]), "current": bs.current,
            "merge_state": bs.merge_state, "created_at": bs.created_at,
            "url": f"{web_url}/t/{tenant_of}/buildset/{bs.uuid}",
            "repos": repos_of(bs.repo_state),
            "builds": [{"uuid": b.id, "job_name": b.job, "result": b.result,
                        "state": shown_state(b), "voting": b.voting, "attempt": b.attempt,
                        "started_at": b.started_at, "finished_at": b.finished_at,
                        "url": build_url(web_url, tenant_of, b.id),
                        "log_url": f"{web_url}/logs/{b.id}/job-output.txt"}
                       for b in builds[bs.id]]})
    report_dicts = [{"pipeline": r.pipeline, "tenant": r.tenant, "action": r.action,
                     "result": r.result, "votes": r.votes or {}, "message": r.message,
                     "message_parts": text_with_links(r.message),
                     "patchset": r.patchset, "created_at": r.created_at} for r in reports]
    numbers = sorted({p.number for p in patchsets} | set(filter(None, by_patchset))
                     | {r.patchset for r in reports}, reverse=True)
    known = {p.number: p for p in patchsets}
    return {"connection": row.connection, "number": row.number, "project": row.project,
            "branch": row.branch, "status": row.status, "subject": row.subject,
            "message": row.message, "owner": row.owner, "patchset": row.patchset,
            "approvals": row.approvals or {}, "merged_sha": row.merged_sha,
            "tenant": tenant,
            "patchsets": [{"number": p.number, "commit": p.commit_sha, "ref": p.ref,
                           "created_at": p.created_at} for p in patchsets],
            "reports": report_dicts,
            "history": [{"number": n,
                         "commit": known[n].commit_sha if n in known else None,
                         "ref": known[n].ref if n in known else None,
                         "created_at": known[n].created_at if n in known else None,
                         "reports": [r for r in report_dicts if r["patchset"] == n],
                         "buildsets": by_patchset.get(n, [])}
                        for n in numbers]}
