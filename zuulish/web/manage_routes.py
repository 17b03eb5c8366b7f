"""The management API: enqueue, dequeue, promote (stored as events for the scheduler) and
autohold requests; every route needs the tenant's admin access."""

from __future__ import annotations

import time
from typing import Any

from zuulish.nodepool import holds
from zuulish.scheduler import management
from zuulish.store import Store
from zuulish.store import notify as channels
from zuulish.web import schemas as s
from zuulish.web.auth.authorizer import ADMIN_TOKEN_USER
from zuulish.web.endpoints import API, Call

ACCEPTED = "Recorded; the scheduler's outcome is at the event's URL"


def account(call: Call) -> str:
    """Who asked, for the record: the token's user ("api" for the static admin token)."""
    who = call.identity
    return who if who and who != ADMIN_TOKEN_USER else "api"


async def _record(call: Call, kind: str, **fields: Any) -> dict[str, Any]:
    """Check the request's shape and the pipeline, then store it as an event."""
    assert call.layout is not None
    pipeline = call.body.pipeline
    if pipeline not in call.layout.pipelines:
        raise call.bad_request(f"tenant {call.tenant} has no pipeline {pipeline!r}; "
                               f"pipelines: {', '.join(sorted(call.layout.pipelines))}")
    try:
        data = management.request_data(kind, call.tenant, pipeline, **fields)
    except management.ManagementError as exc:
        raise call.bad_request(str(exc)) from None
    event_id = await call.run(management.record, call.store, kind, data, time.time,
                              account(call))
    return {"event": event_id, "url": f"{call.web_url}/api/event/{event_id}"}


@API.post(r"/api/tenant/{tenant}/project/{project:.+}/enqueue", body=s.EnqueueBody,
          response=s.Accepted, status=202, tag="management", access="admin",
          summary="Enqueue a change, or a ref (post, periodic pipelines), into a pipeline")
async def api_enqueue(call: Call) -> Any:
    body = call.body
    return await _record(call, "enqueue", project=call.match["project"], change=body.change,
                         ref=body.ref, newrev=body.newrev)


@API.post(r"/api/tenant/{tenant}/project/{project:.+}/dequeue", body=s.DequeueBody,
          response=s.Accepted, status=202, tag="management", access="admin",
          summary="Remove a change from a pipeline")
async def api_dequeue(call: Call) -> Any:
    return await _record(call, "dequeue", project=call.match["project"],
                         change=call.body.change)


@API.post("/api/tenant/{tenant}/promote", body=s.PromoteBody, response=s.Accepted,
          status=202, tag="management", access="admin",
          summary="Move changes to the head of their queues, in order")
async def api_promote(call: Call) -> Any:
    return await _record(call, "promote", changes=call.body.changes)


@API.post(r"/api/tenant/{tenant}/project/{project:.+}/autohold", body=s.AutoholdBody,
          response=s.Autohold, status=201, tag="autohold", access="admin",
          errors={400: "Malformed request, or an unknown project or job"},
          summary="Hold the nodes of the next failed builds of a project's job")
async def api_autohold_create(call: Call) -> Any:
    assert call.layout is not None
    try:
        wanted = holds.hold_request(call.layout, call.tenant, call.match["project"],
                                    call.body.model_dump(exclude_none=True))
    except holds.HoldError as exc:
        raise call.bad_request(str(exc)) from None
    return await call.run(_create_hold, call.store, wanted, account(call))


def _create_hold(store: Store, wanted: holds.HoldRequest, who: str) -> dict[str, Any]:
    with store.session() as session:
        hold_id = holds.create_hold(session, wanted, time.time(), account=who).id
    with store.read() as session:
        return holds.describe(session, hold_id=hold_id)[0]


def _describe(store: Store, tenant: str, hold_id: int | None) -> list[dict[str, Any]]:
    with store.read() as session:
        return holds.describe(session, tenant=tenant, hold_id=hold_id)


@API.get("/api/tenant/{tenant}/autohold", response=list[s.Autohold], tag="autohold",
         access="admin", query=s.Paged,
         summary="The tenant's autohold requests with their held nodes")
async def api_autohold_list(call: Call) -> Any:
    return call.paged(await call.run(_describe, call.store, call.tenant, None))


@API.get("/api/tenant/{tenant}/autohold/{id}", response=s.Autohold, tag="autohold",
         access="admin", params=s.AutoholdPath, errors={404: "No such tenant or request"},
         summary="One autohold request")
async def api_autohold_info(call: Call) -> Any:
    found = await call.run(_describe, call.store, call.tenant, call.params.id)
    if not found:
        raise call.not_found(f"no autohold request {call.params.id} in tenant {call.tenant}")
    return found[0]


@API.delete("/api/tenant/{tenant}/autohold/{id}", response=s.Released, tag="autohold",
            access="admin", params=s.AutoholdPath,
            errors={404: "No such tenant or request"},
            summary="Delete an autohold request; its held nodes are released (deleted by "
                    "the launcher)")
async def api_autohold_delete(call: Call) -> Any:
    released = await call.run(_delete_hold, call.store, call.tenant, call.params.id)
    if released is None:
        raise call.not_found(f"no autohold request {call.params.id} in tenant {call.tenant}")
    return {"id": call.params.id, "released_nodes": released}


def _delete_hold(store: Store, tenant: str, hold_id: int) -> list[int] | None:
    with store.session() as session:
        if not holds.describe(session, tenant=tenant, hold_id=hold_id):
            return None
        released = holds.release_hold(session, hold_id, time.time())
    store.notifier.notify(channels.LAUNCHER)
    return released
