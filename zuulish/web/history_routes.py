"""Routes of the build history: builds, build sets, one build, one change (API and pages).

Handlers only translate: the queries are ``zuulish.web.history``'s, the task summary
``task_summary``'s, the charts ``charts``'. The build API lives under its tenant
(``/api/tenant/{tenant}/build/{uuid}``); ``/api/build/{uuid}`` answers the same (what
reports and older clients link), and the page ``/build/{uuid}`` redirects to
``/t/{tenant}/build/{uuid}``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError

from zuulish.web import charts, history, task_summary
from zuulish.web import schemas as s
from zuulish.web.endpoints import API, Call
from zuulish.web.keys import CHANGE_LINKS, LOG_STORES
from zuulish.web.log_files import log_tail, read_small

#: How much of a finished build's log its page shows at first (its end).
LOG_TAIL_BYTES = 64 * 1024
#: The deepest page (an offset costs the rows it skips; older_than reaches further back).
MAX_SKIP = 100_000
#: What the result filter offers on the pages (any other is accepted in the URL).
RESULTS = ("SUCCESS", "FAILURE", "ERROR", "TIMED_OUT", "POST_FAILURE", "NODE_FAILURE",
           "RETRY_LIMIT", "SKIPPED", "CANCELED", "MERGE_CONFLICT", "CONFIG_ERROR")
TIME_HELP = ("seconds since the epoch, or an ISO 8601 date or time (UTC unless it says): "
             "2026-12-01, 2026-12-01T10:00:00Z")


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch from a number or an ISO 8601 date or date-time."""
    if value is None or isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ValueError(TIME_HELP)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: give {TIME_HELP}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"not a time: give {TIME_HELP}")
    return value


def _no_nul(value: str) -> str:
    """A name as the store can hold it (PostgreSQL's text holds no NUL)."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


When = Annotated[float | None, BeforeValidator(parse_time), AfterValidator(_finite)]
#: a name as the store keeps it (its columns hold 255 characters)
Name = Annotated[str, AfterValidator(_no_nul), Field(max_length=255)]
Result = Annotated[str, AfterValidator(_no_nul), Field(max_length=32)]
Number = Annotated[int, Field(ge=0, le=s.MAX_INT)]


class HistoryQuery(s.Query):
    """What both history lists filter on (each filter on an indexed column)."""

    project: Name | None = Field(None, description="the project (repository) tested")
    pipeline: Name | None = Field(None, description="the pipeline")
    change: Number | None = Field(None, description="the change's number")
    patchset: Number | None = Field(None, description="the change's patch set")
    ref: Name | None = Field(None, description="a ref item's ref, e.g. refs/heads/main")
    branch: Name | None = Field(None, description="the branch")
    result: list[Result] | None = Field(None, max_length=8, description=(
        "the result; repeat the parameter for any of several (result=FAILURE&result=ERROR)"))
    uuid: Annotated[Name, Field(max_length=64)] | None = Field(None, description="the id")
    complete: bool = Field(True, description=(
        "true (the default): finished, the history; false: not finished yet"))
    newer_than: When = Field(None, description=f"finished (builds) or made (build sets) at "
                                               f"or after this time: {TIME_HELP}")
    older_than: When = Field(None, description=f"finished (builds) or made (build sets) "
                                               f"before this time: {TIME_HELP}")
    limit: int = Field(50, ge=1, le=history.MAX_LIMIT, description="how many, newest first")
    skip: int = Field(0, ge=0, le=MAX_SKIP, description=(
        f"how many of the newest to leave out (paging; at most {MAX_SKIP}: narrow the "
        "filters, e.g. with older_than, to reach further back)"))


class BuildFilters(HistoryQuery):
    job_name: Name | None = Field(None, description="the job")
    voting: bool | None = Field(None, description="only voting (true) or non-voting (false)")
    held: bool | None = Field(None, description=(
        "only builds whose nodes an autohold request kept (true), or the others (false)"))


class BuildsetFilters(HistoryQuery):
    pass


class ChangeQuery(s.Query):
    project: Name | None = Field(None, description=(
        "the change's project, where several changes have the number"))


class BuildRecord(s.Model):
    """A build in the fields of Zuul's build history and the dashboard's."""

    uuid: str
    job_name: str
    result: str | None = Field(description="null while it runs")
    state: str = Field(description="completed, running, queued-for-nodes, paused, ...")
    held: bool = Field(description="an autohold request kept its nodes")
    voting: bool
    attempt: int
    start_time: str | None = Field(description="ISO 8601, UTC")
    end_time: str | None = Field(description="ISO 8601, UTC")
    duration: float | None = Field(description="seconds")
    error_detail: str | None = Field(description="why it did not succeed, when known")
    tenant: str
    pipeline: str
    project: str
    branch: str
    change: int | None = Field(description="null for a ref item (post, periodic)")
    patchset: int | None
    ref: Name | None = Field(None, description="a ref item's ref")
    newrev: str | None = Field(None, description="a ref item's commit")
    ref_url: str | None = Field(description="the change's page")
    label: str
    display: str
    buildset: str = Field(description="its build set's uuid")
    buildset_url: str
    log_url: str = Field(description="its job-output.txt")
    url: str = Field(description="its page")
    artifacts: list[s.Artifact]


class BuildDetail(BuildRecord):
    """One build with what it returned and tested."""

    subject: str
    message: str | None
    current: bool = Field(description="its build set is its item's current one")
    returned_log_url: str | None
    warnings: list[str]
    file_comments: dict[str, list[s.FileComment]]
    repos: dict[str, s.TestedRepo]


class BuildsetRecord(s.Model):
    """A build set in the fields of Zuul's build-set history and the dashboard's."""

    uuid: str
    result: str | None = Field(description=(
        "the item's reported result; MERGE_CONFLICT, MERGE_FAILURE, CONFIG_ERROR when its "
        "merge failed; null while it runs or when it was replaced before it finished"))
    message: str | None
    merge_state: str
    current: bool
    tenant: str
    pipeline: str
    project: str
    branch: str
    change: int | None
    patchset: int | None
    ref: str | None = None
    newrev: str | None = None
    ref_url: str | None
    event_timestamp: str | None = Field(description="when it was made (ISO 8601, UTC)")
    first_build_start_time: str | None
    last_build_end_time: str | None
    repos: dict[str, s.TestedRepo]
    url: str


class BuildsetDetail(BuildsetRecord):
    builds: list[BuildRecord]


def _filter(query: HistoryQuery) -> history.HistoryFilter:
    return history.HistoryFilter.of(query.model_dump())


# ------------------------------------------------------------------ API


@API.get("/api/tenant/{tenant}/builds", response=list[BuildRecord], query=BuildFilters,
         tag="builds", access="read",
         summary="Builds of a tenant, newest first, filtered and paged (X-Total-Count: how "
                 "many match)")
async def api_builds(call: Call) -> Any:
    page = await call.run(history.find_builds, call.store, call.tenant, _filter(call.query),
                          call.web_url, call.app[CHANGE_LINKS])
    return call.paged(page.rows, page.total)


@API.get("/api/tenant/{tenant}/buildsets", response=list[BuildsetRecord],
         query=BuildsetFilters, tag="builds", access="read",
         summary="Build sets of a tenant, newest first, filtered and paged (X-Total-Count: "
                 "how many match)")
async def api_buildsets(call: Call) -> Any:
    page = await call.run(history.find_buildsets, call.store, call.tenant,
                          _filter(call.query), call.web_url, call.app[CHANGE_LINKS])
    return call.paged(page.rows, page.total)


@API.get("/api/tenant/{tenant}/buildset/{uuid}", response=BuildsetDetail, tag="builds",
         access="read", errors={404: "No such build set in the tenant"},
         summary="One build set with its builds")
async def api_buildset(call: Call) -> Any:
    uuid = call.match["uuid"]
    data = await call.run(history.buildset_info, call.store, call.tenant, uuid,
                          call.web_url, call.app[CHANGE_LINKS])
    if data is None:
        raise call.not_found(f"no build set {uuid!r} in tenant {call.tenant}")
    return data


@API.get("/api/tenant/{tenant}/build/{uuid}", response=BuildDetail, tag="builds",
         access="read", errors={404: "No such build in the tenant"}, summary="One build")
async def api_tenant_build(call: Call) -> Any:
    uuid = call.match["uuid"]
    data = await call.run(history.build_info, call.store, uuid, call.web_url,
                          call.app[CHANGE_LINKS], call.tenant)
    if data is None:
        raise call.not_found(f"no build {uuid!r} in tenant {call.tenant}")
    return data


async def find_build(call: Call, uuid: str) -> dict[str, Any]:
    """The build of any tenant, once the caller may read that tenant; else 404."""
    data = await call.run(history.build_info, call.store, uuid, call.web_url,
                          call.app[CHANGE_LINKS])
    if data is None:
        raise call.not_found(f"no build with id {uuid!r}")
    await call.authorize(data["tenant"], "read")
    return data


@API.get("/api/build/{uuid}", response=s.Build, tag="builds", access="read",
         errors={404: "No such build"},
         summary="One build, of whichever tenant (what reports link; the same answer as "
                 "/api/tenant/{tenant}/build/{uuid})")
async def api_build(call: Call) -> Any:
    return await find_build(call, call.match["uuid"])


# ---------------------------------------------------------------- pages


def _number(text: str) -> int | None:
    """A change's number from a path, or None when it cannot be one."""
    if not text.isdigit() or len(text) > 10 or int(text) > s.MAX_INT:
        return None
    return int(text)


def _form(call: Call, model: type[HistoryQuery]) -> tuple[HistoryQuery, dict[str, Any],
                                                           str | None]:
    """The page's filters from its query string (empty fields are left out, as a form
    without script sends them); on a bad one, the defaults and the error."""
    given: dict[str, Any] = {}
    for key in dict.fromkeys(call.request.query.keys()):
        values = [v for v in call.request.query.getall(key) if v.strip()]
        if values:
            given[key] = values if key == "result" else values[-1]
    form = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in given.items()}
    try:
        return model.model_validate(given), form, None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = ".".join(str(p) for p in first.get("loc", ())) or "?"
        if first.get("type") == "extra_forbidden":
            message = f"{name!r} is not a filter here"
        else:
            message = f"{name!r}: {first.get('msg')}"
        return model(), form, f"Bad filter {message}."


def _paging(call: Call, query: HistoryQuery, total: int, shown: int) -> dict[str, Any]:
    base = [(k, v) for k in dict.fromkeys(call.request.query.keys()) if k != "skip"
            for v in call.request.query.getall(k) if v.strip()]

    def link(skip: int) -> str:
        return f"{call.request.path}?{urlencode(base + ([('skip', str(skip))] if skip else []))}"

    return {"total": total, "first": query.skip + 1 if shown else 0,
            "last": query.skip + shown,
            "newer": link(max(0, query.skip - query.limit)) if query.skip else None,
            "older": link(query.skip + query.limit) if query.skip + shown < total else None}


def _api_url(call: Call, what: str) -> str:
    query = call.request.query_string
    return f"/api/tenant/{call.tenant}/{what}" + (f"?{query}" if query else "")


@API.page("/t/{tenant}/builds")
async def builds_page(call: Call) -> web.StreamResponse:
    query, form, error = _form(call, BuildFilters)
    f = _filter(query)
    page = await call.run(history.find_builds, call.store, call.tenant, f, call.web_url,
                          call.app[CHANGE_LINKS])
    trend = None
    if f.job_name is not None:
        points = await call.run(history.job_trend, call.store, call.tenant, f)
        trend = charts.job_trend_svg(f.job_name, points)
    response = call.render("builds.html", page={"rows": page.rows,
                                                **_paging(call, query, page.total,
                                                          len(page.rows))},
                           form=form, error=error, trend=trend, results=RESULTS,
                           pipelines=sorted(call.layout.pipelines) if call.layout else [],
                           api_url=_api_url(call, "builds"))
    if error:
        response.set_status(400)
    return response


@API.page("/t/{tenant}/buildsets")
async def buildsets_page(call: Call) -> web.StreamResponse:
    query, form, error = _form(call, BuildsetFilters)
    page = await call.run(history.find_buildsets, call.store, call.tenant, _filter(query),
                          call.web_url, call.app[CHANGE_LINKS])
    response = call.render("buildsets.html", page={"rows": page.rows,
                                                   **_paging(call, query, page.total,
                                                             len(page.rows))},
                           form=form, error=error, results=RESULTS,
                           pipelines=sorted(call.layout.pipelines) if call.layout else [],
                           api_url=_api_url(call, "buildsets"))
    if error:
        response.set_status(400)
    return response


@API.page("/t/{tenant}/buildset/{uuid}")
async def buildset_page(call: Call) -> web.StreamResponse:
    uuid = call.match["uuid"]
    data = await call.run(history.buildset_info, call.store, call.tenant, uuid,
                          call.web_url, call.app[CHANGE_LINKS])
    if data is None:
        raise call.not_found(f"no build set {uuid!r} in tenant {call.tenant}")
    return call.render("buildset.html", buildset=data)


@API.page("/t/{tenant}/build/{uuid}")
async def build_page(call: Call) -> web.StreamResponse:
    uuid = call.match["uuid"]
    build = await call.run(history.build_info, call.store, uuid, call.web_url,
                           call.app[CHANGE_LINKS], call.tenant)
    if build is None:
        raise call.not_found(f"no build {uuid!r} in tenant {call.tenant}")
    stores = call.app[LOG_STORES]
    tail = await call.run(log_tail, stores, call.store, uuid, LOG_TAIL_BYTES)
    raw = await call.run(read_small, stores, call.store, uuid, "job-output.json",
                         task_summary.MAX_BYTES)
    summary, summary_error = None, None
    if isinstance(raw, bytes):
        summary = task_summary.parse(raw)
        summary_error = summary.error
    elif isinstance(raw, str):
        summary_error = raw
    timeline = charts.timeline_svg(summary.phases(), summary.tasks) if summary else None
    neighbours = await call.run(history.build_neighbours, call.store, uuid, call.web_url)
    return call.render(
        "build.html", build=build, summary=summary, summary_error=summary_error,
        timeline=timeline, neighbours=neighbours,
        tail={"text": tail[0], "start": tail[1], "size": tail[2]} if tail else None,
        stream_path=f"/api/build/{uuid}/console-stream",
        build_path=f"/api/tenant/{call.tenant}/build/{uuid}")


@API.page("/build/{uuid}", access="public")
async def build_redirect(call: Call) -> web.StreamResponse:
    """The page's old address (reports link it): to the build's page in its tenant."""
    uuid = call.match["uuid"]
    tenant = await call.run(history.build_tenant, call.store, uuid)
    if tenant is None:
        raise call.not_found(f"no build with id {uuid!r}")
    await call.authorize(tenant, "read")
    raise web.HTTPFound(f"/t/{tenant}/build/{uuid}")


@API.page(r"/c/{project:.+}/+/{number}", access="public")
async def change_page(call: Call) -> web.StreamResponse:
    """The built-in forge's page of a change: every tenant's reports and builds of it
    that the caller may read."""
    project, number = call.match["project"], call.match["number"]
    change = None
    if _number(number) is not None:
        change = await call.run(history.change_info, call.store, project, int(number),
                                call.web_url, None, call.app[CHANGE_LINKS])
    if change is None:
        raise call.not_found(f"no change {number} in {project}")
    readable = set(call.readable_tenants())
    for patchset in change["history"]:
        patchset["reports"] = [r for r in patchset["reports"] if r["tenant"] in readable]
        patchset["buildsets"] = [b for b in patchset["buildsets"] if b["tenant"] in readable]
    change["reports"] = [r for r in change["reports"] if r["tenant"] in readable]
    return call.render("change.html", change=change)


@API.page("/t/{tenant}/change/{number}")
async def tenant_change_page(call: Call) -> web.StreamResponse:
    """A change as one tenant saw it: its reports and build sets there."""
    number = call.match["number"]
    try:
        project = ChangeQuery.model_validate(
            {k: v for k, v in call.request.query.items() if v}).project
    except ValidationError as exc:
        raise call.bad_request(f"bad query: {exc.errors(include_url=False)[0]['msg']}"
                               ) from None
    if _number(number) is None:
        raise call.not_found(f"no change {number!r}: a change is numbered")
    projects = set(call.layout.projects) if call.layout else None
    found = await call.run(history.find_change, call.store, int(number), project, None)
    if projects:
        found = [(c, p) for c, p in found if p in projects] or found
    if not found:
        raise call.not_found(f"no change {number}" + (f" in {project}" if project else ""))
    if len({p for _, p in found}) > 1:
        raise call.bad_request(f"several changes are numbered {number} (in "
                               f"{', '.join(sorted({p for _, p in found}))}): say which "
                               "with ?project=")
    change = await call.run(history.change_info, call.store, found[0][1], int(number),
                            call.web_url, call.tenant, call.app[CHANGE_LINKS])
    if change is None:
        raise call.not_found(f"no change {number}")
    return call.render("change.html", change=change)
