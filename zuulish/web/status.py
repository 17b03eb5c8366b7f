"""Answers for the API and pages, read from the store (read sessions only)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import Text, bindparam, case, cast, func, select
from sqlalchemy.orm import Session

from zuulish.config.layout import Layout
from zuulish.drivers.github.pulls import display as pull_display
from zuulish.drivers.interfaces import Source
from zuulish.model import PipelineManager, QueueOptions
from zuulish.model.job_graph import stored_jobs
from zuulish.store import (
    BuildRow,
    BuildSetRow,
    ChangeQueueRow,
    ChangeRow,
    GithubPullRow,
    QueueItemRow,
    Store,
)
from zuulish.store.changes import newest_results
from zuulish.web.chain import ChainInput, chain
from zuulish.web.estimates import (
    Estimates,
    item_remaining,
    job_timing,
    read_estimates,
    remaining_shrinks,
)

#: Merge states after which an item can no longer succeed (mirrors ``BuildSet.merge_failed``).
MERGE_FAILED = frozenset({"conflict", "error", "config-error"})
#: How a build row's state reads on the dashboard; ``waiting`` rows have asked for nodes.
SHOWN_STATE = {"waiting": "queued-for-nodes"}


#: each connection's page of a change: (project, number) -> URL (``Source.change_url``)
ChangeLinks = Mapping[str, Callable[[str, int], str]]


def change_url(web_url: str, project: str, number: int) -> str:
    """The built-in forge's page for a change (what Depends-On footers point at)."""
    return f"{web_url}/c/{project}/+/{number}"


def item_url(web_url: str, item: QueueItemRow, pull: GithubPullRow | None = None,
             links: ChangeLinks | None = None) -> str | None:
    """Where a user reads about the item: its change's page on its forge (``links``:
    a Gerrit change's on Gerrit), a pull request's on GitHub (none until its webhooks
    said where), else the built-in forge's; a ref has none."""
    if item.change_number is None:
        return None
    if pull is not None and (pull.data or {}).get("html_url"):
        return str(pull.data["html_url"])
    if links is not None and item.connection in links:
        return links[item.connection](item.project, item.change_number)
    if pull is not None:
        return None  # on GitHub, never the built-in forge's
    return change_url(web_url, item.project, item.change_number)


def change_links(sources: Mapping[str, Source]) -> ChangeLinks:
    """Each connection's change pages, as its source gives them."""
    return {name: source.change_url for name, source in sources.items()}


def item_label(item: QueueItemRow) -> str:
    """How an item reads: ``3,1`` for a change, ``refs/heads/main@1a2b3c4d5e6f`` for a ref."""
    if item.change_number is None:
        return f"{item.ref or item.branch}@{item.commit_sha[:12]}"
    return f"{item.change_number},{item.patchset}"


def item_display(item: QueueItemRow, pull: GithubPullRow | None = None) -> str:
    """How people know the item's change: ``org/repo#12`` for a pull request (GitHub
    numbers them per repository; ``change`` is the connection's number), else its
    label (a Gerrit change's or the built-in forge's number, a ref)."""
    if pull is not None:
        return pull_display(pull.repo, pull.number)
    return item_label(item)


Pulls = dict[tuple[str, int], GithubPullRow]


def pulls_of(s: Session, items: list[QueueItemRow]) -> Pulls:
    """The pull requests among the items' changes, by (connection, change number):
    one query, whatever the number of items."""
    numbers = {i.change_number for i in items if i.change_number is not None}
    if not numbers:
        return {}
    return {(p.connection, p.id): p for p in s.scalars(
        select(GithubPullRow).where(GithubPullRow.id.in_(numbers)))}


def pull_of(pulls: Pulls, item: QueueItemRow) -> GithubPullRow | None:
    """The item's pull request among ``pulls``; None for any other change or a ref."""
    if item.change_number is None:
        return None
    return pulls.get((item.connection, item.change_number))


def _about(item: QueueItemRow, web_url: str, pull: GithubPullRow | None = None,
           links: ChangeLinks | None = None) -> dict[str, Any]:
    """What an item is about, for the API: a change, or a ref (``ref``, ``newrev``);
    ``display`` is how people know it, ``change_url`` where they read about it."""
    about: dict[str, Any] = {"change": item.change_number, "patchset": item.patchset,
                             "label": item_label(item), "display": item_display(item, pull),
                             "change_url": item_url(web_url, item, pull, links)}
    if item.change_number is None:
        about.update(ref=item.ref, oldrev=item.oldrev, newrev=item.commit_sha)
    return about


def _shown_state(build: BuildRow) -> str:
    """The build's state for the dashboard; a running build that paused with
    ``zuul.pause`` (waiting for the jobs that depend on it) reads ``paused``."""
    if build.paused and build.state == "running":
        return "paused"
    return SHOWN_STATE.get(build.state, build.state)


def _job(build: BuildRow, web_url: str) -> dict[str, Any]:
    return {"name": build.job, "uuid": build.id,
            "state": _shown_state(build), "result": build.result,
            "voting": build.voting, "started_at": build.started_at,
            "finished_at": build.finished_at, "url": f"{web_url}/build/{build.id}",
            "log_url": f"{web_url}/logs/{build.id}/job-output.txt"}


def _not_started(name: str, frozen: dict[str, Any]) -> dict[str, Any]:
    voting = frozen.get("voting")
    return {"name": name, "uuid": None, "state": "waiting", "result": None,
            "voting": True if voting is None else bool(voting), "started_at": None,
            "finished_at": None, "url": None, "log_url": None}


def _jobs(buildset: Any, builds: list[BuildRow], web_url: str
          ) -> list[dict[str, Any]]:
    """One entry per job: its newest attempt, or the graph's entry when not started yet.

    Jobs keep the job graph's order; builds of jobs outside the graph follow.
    """
    if buildset is None:
        return []
    newest: dict[str, BuildRow] = {}
    for b in builds:  # ordered by creation: later attempts replace earlier ones
        newest[b.job] = b
    graph = stored_jobs(buildset.job_graph)
    jobs = [_job(newest[name], web_url) if name in newest else _not_started(name, frozen)
            for name, frozen in graph.items()]
    jobs.extend(_job(b, web_url) for name, b in newest.items() if name not in graph)
    return jobs


def tenant_status(store: Store, layout: Layout, tenant: str, web_url: str,
                  links: ChangeLinks | None = None, estimates: Estimates | None = None,
                  now: float | None = None) -> dict[str, Any]:
    """Pipelines, their queues, items and jobs, as the dashboard shows them; ``links``
    give each connection's change pages (else the built-in forge's are linked);
    ``estimates`` the jobs' expected durations (default: read now).

    Seven queries in one read session (and the estimates' one), whatever the number
    of items; the build rows' large columns are not read.
    """
    web_url = web_url.rstrip("/")
    now = time.time() if now is None else now
    if estimates is None:
        estimates = read_estimates(store, tenant)
    with store.read() as s:
        conn = s.connection()  # Core rows: no ORM objects to build for a thousand items
        items = conn.execute(select(*ITEM_COLUMNS).where(QueueItemRow.tenant == tenant,
                                                         QueueItemRow.state == "queued")
                             .order_by(QueueItemRow.queue_name, QueueItemRow.sequence)).all()
        buildsets: dict[int, Any] = {}
        builds: dict[int, list[Any]] = defaultdict(list)
        changes: dict[tuple[str, int], str] = {}
        pulls: Pulls = {}
        if items:
            active = (select(QueueItemRow.id).where(QueueItemRow.tenant == tenant,
                                                     QueueItemRow.state == "queued")
                      .scalar_subquery())
            buildsets = {b.item_id: _Buildset(*b[:4], decoded(b.ahead) or [],
                                              decoded(b.repo_state) or {},
                                              decoded(b.job_graph))
                         for b in conn.execute(select(*BUILDSET_COLUMNS).where(
                             BuildSetRow.item_id.in_(active), BuildSetRow.current.is_(True)))}
            for b in conn.execute(select(*BUILD_COLUMNS)
                                  .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                                  .where(BuildSetRow.item_id.in_(active),
                                         BuildSetRow.current.is_(True))
                                  .order_by(BuildRow.created_at, BuildRow.attempt)):
                builds[b.buildset_id].append(b)
            # the items' numbers as a subquery: a thousand literals cost more to bind
            numbers = (select(QueueItemRow.change_number)
                       .where(QueueItemRow.tenant == tenant, QueueItemRow.state == "queued",
                              QueueItemRow.change_number.is_not(None)).scalar_subquery())
            changes = {(c, n): subject for c, n, subject in conn.execute(
                select(ChangeRow.connection, ChangeRow.number, ChangeRow.subject)
                .where(ChangeRow.number.in_(numbers)))}
            pulls = {(p.connection, p.id): p for p in s.scalars(
                select(GithubPullRow).where(GithubPullRow.id.in_(numbers)))}
        windows = {(q.pipeline, q.name): q.window for q in conn.execute(
            select(ChangeQueueRow.pipeline, ChangeQueueRow.name, ChangeQueueRow.window)
            .where(ChangeQueueRow.tenant == tenant))}
    by_pipeline: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for item in items:
        subject = changes.get((item.connection, item.change_number)) \
            if item.change_number is not None else None
        pull = pull_of(pulls, item)
        bs = buildsets.get(item.id)
        jobs = _jobs(bs, builds[bs.id] if bs else [], web_url)
        failing = bool(bs and (bs.merge_state in MERGE_FAILED or any(
            j["voting"] and j["result"] not in (None, "SUCCESS") for j in jobs)))
        for job in jobs:
            _time_job(job, estimates.of(item.project, job["name"]), now)
        by_pipeline[item.pipeline].setdefault(item.queue_name, []).append({
            "id": item.id,
            "change": {"number": item.change_number, "patchset": item.patchset,
                       "project": item.project, "branch": item.branch,
                       "subject": subject if subject is not None else pull.title if pull
                       else "",
                       "url": item_url(web_url, item, pull, links), "label": item_label(item),
                       "display": item_display(item, pull),
                       **({"ref": item.ref, "newrev": item.commit_sha}
                          if item.change_number is None else {})},
            "live": item.live, "enqueued_at": item.enqueued_at, "active": bs is not None,
            "failing": failing, "merge_state": bs.merge_state if bs else None,
            "message": (bs.message if bs else None) or item.message, "jobs": jobs,
            "time_in_queue": max(0.0, now - item.enqueued_at),
            "verified_at": item.verified_at,
            "_ahead": tuple(bs.ahead or ()) if bs is not None else None,
            "_repo_state": bs.repo_state if bs is not None else None,
            "_started": bool(bs is not None and builds[bs.id]),
        })

    def window(pipeline: str, manager: PipelineManager, queue: str) -> int | None:
        return None if manager == PipelineManager.INDEPENDENT else windows.get((pipeline, queue))

    pipelines = []
    for p in layout.pipelines.values():
        dependent = p.manager != PipelineManager.INDEPENDENT
        queues = []
        for q, its in by_pipeline.get(p.name, {}).items():
            options = layout.queue_options(q) if dependent else None
            _place(its, dependent, options)
            queues.append({"name": q, "window": window(p.name, p.manager, q),
                           "options": _options(options), "items": its})
        pipelines.append({"name": p.name, "manager": str(p.manager),
                          "description": p.description, "queues": queues})
    return {"tenant": tenant, "generated_at": now, "pipelines": pipelines}


#: what the status reads of an item
ITEM_COLUMNS = (QueueItemRow.id, QueueItemRow.pipeline, QueueItemRow.queue_name,
                QueueItemRow.connection, QueueItemRow.change_number, QueueItemRow.patchset,
                QueueItemRow.commit_sha, QueueItemRow.ref, QueueItemRow.project,
                QueueItemRow.branch, QueueItemRow.live, QueueItemRow.message,
                QueueItemRow.enqueued_at, QueueItemRow.verified_at)
#: what the status reads of a build set (not its merger's full result); its JSON as
#: text, decoded by :func:`decoded`
BUILDSET_COLUMNS = (BuildSetRow.id, BuildSetRow.item_id, BuildSetRow.merge_state,
                    BuildSetRow.message, cast(BuildSetRow.ahead, Text).label("ahead"),
                    cast(BuildSetRow.repo_state, Text).label("repo_state"),
                    cast(BuildSetRow.job_graph, Text).label("job_graph"))


class _Buildset(NamedTuple):
    id: int
    item_id: int
    merge_state: str
    message: str | None
    ahead: list[Any]
    repo_state: dict[str, Any]
    job_graph: dict[str, Any] | None


#: decoded JSON columns by their text: a build set's graph, state and items ahead are
#: written once, and read again for every status (a job graph can be large)
_DECODED: dict[str, Any] = {}
_DECODED_LOCK = threading.Lock()
#: how many texts :data:`_DECODED` keeps before it starts again
DECODED_MAX = 20_000


def decoded(text: str | None) -> Any:
    """``text`` as JSON, decoded once while it is read again and again; never change
    what it answers (shared by every status)."""
    if text is None:
        return None
    found = _DECODED.get(text)
    if found is None:
        found = json.loads(text)
        with _DECODED_LOCK:
            if len(_DECODED) >= DECODED_MAX:
                _DECODED.clear()
            _DECODED[text] = found
    return found
#: what the status reads of a build (not its parameters, frozen job or returned data)
BUILD_COLUMNS = (BuildRow.id, BuildRow.buildset_id, BuildRow.job, BuildRow.state,
                 BuildRow.result, BuildRow.voting, BuildRow.paused, BuildRow.started_at,
                 BuildRow.finished_at)


def _time_job(job: dict[str, Any], estimated: float | None, now: float) -> None:
    """Add a job's estimate, elapsed and remaining time and progress (seconds, %)."""
    timing = job_timing(job["state"], job["result"], job["started_at"], job["finished_at"],
                        estimated, now)
    job.update(estimated_time=estimated, elapsed_time=timing.elapsed,
               remaining_time=timing.remaining, progress=timing.progress)


def _options(options: QueueOptions | None) -> dict[str, Any] | None:
    """The zuulish queue options the page explains (None: an independent pipeline)."""
    if options is None:
        return None
    return {"independent_subqueues": options.independent_subqueues,
            "batch_size": options.batch_size, "verify_first": options.verify_first,
            "speculate_failures": options.speculate_failures,
            "retry_failed_jobs": options.retry_failed_jobs}


def _place(items: list[dict[str, Any]], dependent: bool, options: QueueOptions | None) -> None:
    """Add to a queue's items (in order) where each is drawn, what its speculative
    state holds, its remaining time, and its part in the queue options' runs."""
    places = chain([ChainInput(i["id"], i["failing"], i["_ahead"]) for i in items], dependent)
    by_id = {i["id"]: i for i in items}
    for item in items:  # in order: the item ahead's remaining time is known first
        place = places[item["id"]]
        ahead = by_id.get(place.item_ahead) if place.item_ahead is not None else None
        remaining = None if item["failing"] else item_remaining(
            [j["remaining_time"] for j in item["jobs"]],
            ahead["remaining_time"] if ahead is not None else None, ahead is not None)
        shrinks = remaining_shrinks(
            remaining, [j["remaining_time"] for j in item["jobs"]
                        if j["state"] in ("running", "paused") and j["result"] is None],
            ahead["remaining_time"] if ahead is not None else None,
            ahead is not None and ahead["remaining_shrinks"])
        item.update(item_ahead=place.item_ahead, items_behind=place.items_behind,
                    in_chain=place.in_chain, column=place.column,
                    line_through=place.line_through, remaining_time=remaining,
                    remaining_shrinks=shrinks,
                    holds=_holds(item, by_id))
    _queue_roles(items, by_id, options)
    for item in items:
        for private in ("_ahead", "_repo_state", "_started"):
            del item[private]


def _holds(item: dict[str, Any], by_id: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """The item's speculative state per repository: the branch, the commit tested,
    and the changes of the queue it holds there (those ahead, then its own)."""
    state = item["_repo_state"]
    if item["_ahead"] is None or not isinstance(state, dict):
        return []
    held = [by_id[a] for a in item["_ahead"] if a in by_id] + [item]
    out = []
    for project, repo in sorted(state.items()):
        if not isinstance(repo, dict):
            continue
        out.append({"project": project, "branch": repo.get("branch"),
                    "commit": repo.get("commit"),
                    "changes": [{"id": h["id"], "label": h["change"]["label"],
                                 "display": h["change"]["display"], "own": h is item}
                                for h in held if h["change"]["project"] == project]})
    return out


def _queue_roles(items: list[dict[str, Any]], by_id: dict[int, dict[str, Any]],
                 options: QueueOptions | None) -> None:
    """Each item's part in the queue options' runs (None where the option is off):
    ``independent_of``, the items ahead its state leaves out (independent
    sub-queues); ``probe``, whether its own jobs run, and ``batch``, the probe whose
    state tests it (batching); ``verified`` and ``group``, the first member of the
    group it is verified with (verify-first)."""
    subqueues = bool(options and options.independent_subqueues)
    batching = bool(options and options.batch_size > 1)
    verify = bool(options and options.verify_first)
    ids = [i["id"] for i in items]
    for n, item in enumerate(items):
        ahead = item["_ahead"]
        item["independent_of"] = ([a for a in ids[:n] if a not in ahead]
                                  if subqueues and ahead is not None else None)
        item["probe"] = item["_started"] if batching else None
        item["batch"] = None
        item["verified"] = (item["verified_at"] is not None) if verify else None
        item["group"] = None
        if verify and not item["verified"] and ahead is not None:
            members = [a for a in ahead if a in by_id and by_id[a]["verified_at"] is None]
            item["group"] = members[0] if members else item["id"]
    if batching:
        for n, item in enumerate(items):
            if item["probe"]:
                item["batch"] = item["id"]
                continue
            item["batch"] = next((p["id"] for p in items[n + 1:] if p["probe"]
                                  and p["_ahead"] is not None and item["id"] in p["_ahead"]),
                                 None)


def status_version(store: Store, tenant: str) -> tuple[Any, ...]:
    """What changes whenever the tenant's status does (but for time passing and
    change subjects): sums and counts over the queued items, their current build sets
    and builds, and the queues' windows, with nothing to build per row.

    Every write the scheduler and the executors make moves one of them (a new item or
    build set or build, a state or result, a start or finish time, a window, a
    message); two writes that undo each other between two reads would not, and
    the next write shows both. Asked many times a second: its statements are
    compiled once per database dialect."""
    with store.read() as s:
        conn = s.connection()
        dialect = conn.dialect
        out = []
        for statement in _VERSION_QUERIES:
            compiled = _COMPILED.get((id(statement), dialect.name))
            if compiled is None:
                compiled = statement.compile(dialect=dialect)
                _COMPILED[(id(statement), dialect.name)] = compiled
            values = compiled.construct_params({"tenant": tenant})
            args: Any = tuple(values[k] for k in compiled.positiontup) \
                if compiled.positional else values
            out.append(tuple(conn.exec_driver_sql(compiled.string, args).one()))
        return tuple(out)


def _version_queries() -> tuple[Any, ...]:
    tenant = bindparam("tenant")
    active = (QueueItemRow.tenant == tenant, QueueItemRow.state == "queued")

    def counts(column: Any, values: tuple[str, ...]) -> list[Any]:
        return [func.coalesce(func.sum(case((column == v, 1), else_=0)), 0) for v in values]

    items = select(func.count(), func.coalesce(func.max(QueueItemRow.id), 0),
                   func.coalesce(func.sum(QueueItemRow.sequence * QueueItemRow.id), 0),
                   func.coalesce(func.sum(QueueItemRow.verified_at), 0),
                   func.coalesce(func.sum(case((QueueItemRow.live, 1), else_=0)), 0),
                   func.coalesce(func.sum(func.length(QueueItemRow.message)), 0)
                   ).where(*active)
    sets = select(func.count(), func.coalesce(func.max(BuildSetRow.id), 0),
                  func.coalesce(func.sum(BuildSetRow.id), 0),
                  func.coalesce(func.sum(func.length(BuildSetRow.message)), 0),
                  *counts(BuildSetRow.merge_state, MERGE_STATES)) \
        .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id) \
        .where(*active, BuildSetRow.current.is_(True))
    builds = select(func.count(), func.count(BuildRow.result),
                    func.coalesce(func.sum(BuildRow.started_at), 0),
                    func.coalesce(func.sum(BuildRow.finished_at), 0),
                    func.coalesce(func.sum(case((BuildRow.paused, 1), else_=0)), 0),
                    *counts(BuildRow.state, BUILD_STATES),
                    *counts(BuildRow.result, BUILD_RESULTS)) \
        .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id) \
        .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id) \
        .where(*active, BuildSetRow.current.is_(True))
    windows = select(func.count(), func.coalesce(func.sum(ChangeQueueRow.window
                                                          * ChangeQueueRow.id), 0)) \
        .where(ChangeQueueRow.tenant == tenant)
    return items, sets, builds, windows


#: the values counted apart by :func:`status_version` (others count together)
MERGE_STATES = ("pending", "merged", "conflict", "error", "config-error", "no-jobs")
BUILD_STATES = ("waiting", "queued", "running", "completed", "canceled")
BUILD_RESULTS = ("SUCCESS", "FAILURE", "ERROR", "NODE_FAILURE", "TIMED_OUT", "SKIPPED",
                 "CANCELED", "POST_FAILURE", "RETRY_LIMIT", "DISK_FULL")
_VERSION_QUERIES = _version_queries()
_COMPILED: dict[tuple[int, str], Any] = {}


#: a change in a URL: its number, or its number and patch set (``12,3``)
CHANGE_ID = re.compile(r"[0-9]{1,9}(,[0-9]{1,9})?")


def change_items(status: dict[str, Any], change: str) -> list[dict[str, Any]]:
    """The items of ``status`` for ``change`` (``N`` or ``N,P``), each with its
    pipeline and queue; ``ValueError`` names what is wrong with ``change``."""
    if CHANGE_ID.fullmatch(change) is None:
        raise ValueError(f"a change is a number or NUMBER,PATCHSET such as 12,3; "
                         f"not {change[:40]!r}")
    number, _, patchset = change.partition(",")
    found = []
    for pipeline in status["pipelines"]:
        for queue in pipeline["queues"]:
            for item in queue["items"]:
                about = item["change"]
                if about["number"] == int(number) and (
                        not patchset or about["patchset"] == int(patchset)):
                    found.append({**item, "pipeline": pipeline["name"], "queue": queue["name"]})
    return found


def list_changes(store: Store, web_url: str) -> list[dict[str, Any]]:
    """Every change the store knows, newest first, with its last reported result."""
    web_url = web_url.rstrip("/")
    with store.read() as s:
        rows = s.scalars(select(ChangeRow).order_by(ChangeRow.updated_at.desc(),
                                                    ChangeRow.id.desc())).all()
        last = newest_results(s)
    out = []
    for row in rows:
        report = last.get(row.id)
        out.append({
            "connection": row.connection, "number": row.number, "project": row.project,
            "branch": row.branch, "patchset": row.patchset, "status": row.status,
            "subject": row.subject, "owner": row.owner, "approvals": row.approvals or {},
            "updated_at": row.updated_at,
            "last_result": ({"pipeline": report.pipeline, "result": report.result}
                            if report else None),
            "url": change_url(web_url, row.project, row.number),
        })
    return out
