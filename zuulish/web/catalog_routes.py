"""The catalog's API and pages: projects, jobs, frozen jobs, nodes, labels,
semaphores, configuration errors, autoholds and the status badge.

Handlers only translate: the data comes from ``catalog`` (the layout) and ``pool``
(the store).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from zuulish.nodepool import holds
from zuulish.web import catalog, pool
from zuulish.web.badge import badge_svg
from zuulish.web.catalog_models import (
    BadgeQuery,
    FrozenJobAnswer,
    JobDetail,
    JobPageQuery,
    JobsQuery,
    JobSummary,
    LabelInfo,
    LabelsQuery,
    NodeInfo,
    NodePath,
    NodesQuery,
    ProjectDetail,
    ProjectsQuery,
    ProjectSummary,
    SemaphoreInfo,
    SemaphoresQuery,
)
from zuulish.web.endpoints import API, TOTAL_HEADER, Call
from zuulish.web.keys import LAYOUTS, POOL_LABELS

#: a project's name in an API path: it may hold slashes, but it is not one of the
#: management routes under it (``.../enqueue``, ``dequeue``, ``autohold``)
PROJECT = r"{project:(?!.*/(?:enqueue|dequeue|autohold)$).+}"
#: how long a cache (a forge's image proxy, say) may keep a badge
BADGE_MAX_AGE = 60


def _found(call: Call, func: Any, *args: Any, **kwargs: Any) -> Any:
    """``func(*args)``, with NotFound answered as a 404 naming what is missing."""
    try:
        return func(*args, **kwargs)
    except catalog.NotFound as exc:
        raise call.not_found(str(exc)) from None


def _args(query: Any) -> dict[str, Any]:
    """A page's filters as given (for its paging links): those set, without paging."""
    return {k: v for k, v in query.model_dump().items()
            if v is not None and k not in ("limit", "skip")}


def _pool_labels(call: Call) -> dict[str, list[str]]:
    """zuulish.yaml's own providers (local, static) and their labels, where known."""
    return dict(call.app.get(POOL_LABELS, {}))


# ------------------------------------------------------------------ projects


@API.get("/api/tenant/{tenant}/projects", response=list[ProjectSummary], query=ProjectsQuery,
         summary="The tenant's projects, config projects first", tag="catalog", access="read")
async def api_projects(call: Call) -> Any:
    q = call.query
    return call.paged(catalog.list_projects(call.layout, q.name, q.type))


# declared before the project's route, whose {project:.+} would take its path
@API.get("/api/tenant/{tenant}/project/{project:.+}/branch/{branch:.+}/freeze-job/"
         "{pipeline}/{job}", response=FrozenJobAnswer,
         summary="The job as the project runs it in the pipeline on the branch",
         tag="catalog", access="read",
         errors={404: "no such project, pipeline or job, or the project does not run it",
                 400: "the job's configuration does not freeze (its error)"})
async def api_freeze_job(call: Call) -> Any:
    match = call.request.match_info
    try:
        return _found(call, catalog.frozen_job, call.layout, match["project"],
                      match["branch"], match["pipeline"], match["job"])
    except catalog.Unfreezable as exc:
        raise call.bad_request(str(exc)) from None


@API.get("/api/tenant/{tenant}/pipeline/{pipeline}/project/{project:.+}/branch/"
         "{branch:.+}/freeze-job/{job}", response=FrozenJobAnswer,
         summary="The same frozen job, at the path Zuul's API gives it",
         tag="catalog", access="read",
         errors={404: "no such project, pipeline or job, or the project does not run it",
                 400: "the job's configuration does not freeze (its error)"})
async def api_freeze_job_zuul_path(call: Call) -> Any:
    return await api_freeze_job(call)


@API.get("/api/tenant/{tenant}/project/" + PROJECT, response=ProjectDetail,
         summary="A project: its stanzas, templates and each branch's jobs per pipeline",
         tag="catalog", access="read", errors={404: "no such project in the tenant"})
async def api_project(call: Call) -> Any:
    return _found(call, catalog.project_info, call.layout,
                  call.request.match_info["project"])


@API.page("/t/{tenant}/projects", access="read", query=ProjectsQuery)
async def projects_page(call: Call) -> web.StreamResponse:
    q = call.query
    projects = catalog.page(catalog.list_projects(call.layout, q.name, q.type),
                            q.limit, q.skip)
    return call.render("projects.html", projects=projects, query=q, query_args=_args(q),
                       limit=q.limit, skip=q.skip)


@API.page("/t/{tenant}/project/{project:.+}", access="read")
async def project_page(call: Call) -> web.StreamResponse:
    info = _found(call, catalog.project_info, call.layout, call.request.match_info["project"])
    return call.render("project.html", project=info)


# ---------------------------------------------------------------------- jobs


@API.get("/api/tenant/{tenant}/jobs", response=list[JobSummary], query=JobsQuery,
         summary="The tenant's jobs by name, with how many variants each has",
         tag="catalog", access="read")
async def api_jobs(call: Call) -> Any:
    return call.paged(catalog.list_jobs(call.layout, call.query.name))


@API.get("/api/tenant/{tenant}/job/{job}", response=JobDetail,
         summary="A job's variants, each with where it is defined, and who runs it",
         tag="catalog", access="read", errors={404: "no such job in the tenant"})
async def api_job(call: Call) -> Any:
    return _found(call, catalog.job_info, call.layout, call.request.match_info["job"])


@API.page("/t/{tenant}/jobs", access="read", query=JobsQuery)
async def jobs_page(call: Call) -> web.StreamResponse:
    q = call.query
    jobs = catalog.page(catalog.list_jobs(call.layout, q.name), q.limit, q.skip)
    return call.render("jobs.html", jobs=jobs, query=q, query_args=_args(q),
                       limit=q.limit, skip=q.skip)


@API.page("/t/{tenant}/job/{job}", access="read", query=JobPageQuery)
async def job_page(call: Call) -> web.StreamResponse:
    info = _found(call, catalog.job_info, call.layout, call.request.match_info["job"])
    q = call.query
    freeze, error = None, None
    if q.project and q.branch and q.pipeline:
        try:
            freeze = catalog.frozen_job(call.layout, q.project, q.branch, q.pipeline,
                                        info["name"])
        except (catalog.NotFound, catalog.Unfreezable) as exc:
            error = str(exc)
    users = info["used_by"]
    chosen = next((u for u in users if u["project"] == q.project), users[0] if users else None)
    branches = (chosen["branches"] or ["main"]) if chosen else []
    branch = q.branch if q.branch in branches else (branches[0] if branches else None)
    pipelines = chosen["by_branch"].get(branch, chosen["pipelines"]) if chosen else []
    return call.render("job.html", job=info, freeze=freeze, freeze_error=error,
                       freeze_branches=branches, freeze_pipelines=pipelines)


# --------------------------------------------------------------------- nodes


def _nodes(call: Call) -> list[dict[str, Any]]:
    q = call.query
    with call.store.read() as s:
        call.headers[TOTAL_HEADER] = str(pool.count_nodes(s, call.tenant, label=q.label,
                                                          state=q.state, provider=q.provider))
        return pool.list_nodes(s, call.tenant, label=q.label, state=q.state,
                               provider=q.provider, limit=q.limit, skip=q.skip)


@API.get("/api/tenant/{tenant}/nodes", response=list[NodeInfo], query=NodesQuery,
         summary="The launcher's nodes the tenant sees (not their addresses)",
         tag="nodes", access="read")
async def api_nodes(call: Call) -> Any:
    return await call.run(_nodes, call)


def _node(call: Call, node_id: int) -> dict[str, Any]:
    with call.store.read() as s:
        return pool.node_info(s, call.tenant, node_id)


@API.get("/api/tenant/{tenant}/node/{id}", response=NodeInfo, params=NodePath,
         summary="One node the tenant sees", tag="nodes", access="read",
         errors={404: "no such node in the tenant"})
async def api_node(call: Call) -> Any:
    try:
        return await call.run(_node, call, call.params.id)
    except catalog.NotFound as exc:
        raise call.not_found(str(exc)) from None


@API.page("/t/{tenant}/nodes", access="read", query=NodesQuery)
async def nodes_page(call: Call) -> web.StreamResponse:
    q = call.query
    nodes = await call.run(_nodes, call)
    return call.render("nodes.html", nodes=nodes, query=q, query_args=_args(q),
                       states=pool.NODE_STATES, limit=q.limit, skip=q.skip)


def _labels(call: Call) -> list[dict[str, Any]]:
    q = call.query
    with call.store.read() as s:
        labels = pool.list_labels(call.layout, s, call.tenant, _pool_labels(call), q.name)
    return call.paged(labels)


@API.get("/api/tenant/{tenant}/labels", response=list[LabelInfo], query=LabelsQuery,
         summary="Labels: the providers that offer each and the nodes of each by state",
         tag="nodes", access="read")
async def api_labels(call: Call) -> Any:
    return await call.run(_labels, call)


@API.page("/t/{tenant}/labels", access="read", query=LabelsQuery)
async def labels_page(call: Call) -> web.StreamResponse:
    return call.render("labels.html", labels=await call.run(_labels, call))


# ---------------------------------------------------------------- semaphores


def _semaphores(call: Call) -> list[dict[str, Any]]:
    q = call.query
    assert call.layout is not None
    call.headers[TOTAL_HEADER] = str(len(pool.semaphore_names(call.layout, q.name)))
    with call.store.read() as s:
        return pool.list_semaphores(call.layout, s, call.tenant, call.web_url, q.name,
                                    q.limit, q.skip)


@API.get("/api/tenant/{tenant}/semaphores", response=list[SemaphoreInfo],
         query=SemaphoresQuery, summary="Semaphores, their max and the builds holding them",
         tag="catalog", access="read")
async def api_semaphores(call: Call) -> Any:
    return await call.run(_semaphores, call)


@API.page("/t/{tenant}/semaphores", access="read", query=SemaphoresQuery)
async def semaphores_page(call: Call) -> web.StreamResponse:
    return call.render("semaphores.html", semaphores=await call.run(_semaphores, call))


# ------------------------------------------------- config errors, autoholds


@API.page("/t/{tenant}/config-errors", access="read")
async def config_errors_page(call: Call) -> web.StreamResponse:
    return call.render("config_errors.html",
                       errors=call.app[LAYOUTS].config_errors(call.tenant))


@API.page("/config-errors", access="public")
async def all_config_errors_page(call: Call) -> web.StreamResponse:
    """Every tenant's errors that the caller may read."""
    layouts = call.app[LAYOUTS]
    return call.render("config_errors.html", by_tenant=[
        (name, layouts.config_errors(name)) for name in call.readable_tenants()])


def _describe_holds(call: Call) -> list[dict[str, Any]]:
    with call.store.read() as s:
        return holds.describe(s, tenant=call.tenant)


@API.page("/t/{tenant}/autoholds", access="admin")
async def autoholds_page(call: Call) -> web.StreamResponse:
    return call.render("autoholds.html", holds=await call.run(_describe_holds, call))


# --------------------------------------------------------------------- badge


def _badge(call: Call) -> str:
    q = call.query
    layout = call.layout
    sources = catalog.project_names(layout)
    if q.project not in sources:
        raise catalog.missing("project", q.project, sources, f"tenant {call.tenant}")
    if q.pipeline not in layout.pipelines:
        raise catalog.missing("pipeline", q.pipeline, layout.pipelines,
                              f"tenant {call.tenant}")
    with call.store.read() as s:
        status, _result = pool.latest_result(s, call.tenant, q.project, q.pipeline, q.branch)
    return status


@API.get("/api/tenant/{tenant}/badge", response=str, query=BadgeQuery,
         content_type="image/svg+xml",
         summary="An SVG badge: passing, failing or unknown, from the project's latest "
                 "reported item in the pipeline", tag="catalog", access="read",
         errors={404: "no such project or pipeline in the tenant"})
async def api_badge(call: Call) -> web.StreamResponse:
    try:
        status = await call.run(_badge, call)
    except catalog.NotFound as exc:
        raise call.not_found(str(exc)) from None
    return web.Response(text=badge_svg(status), content_type="image/svg+xml",
                        headers={"Cache-Control": f"public, max-age={BADGE_MAX_AGE}",
                                 "X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": "default-src 'none'; "
                                                            "style-src 'unsafe-inline'"})
