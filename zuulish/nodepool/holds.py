"""Autohold: keep the nodes of a failed build for someone to log in and look.

An autohold request (``zuulish autohold``, ``POST .../autohold``; a row of
``autoholds``) names a tenant, a project, a job and a ref filter. When a build
of that job for that project ends with a failure (as Zuul holds: ``FAILURE``,
``RETRY_LIMIT``, ``POST_FAILURE`` or ``TIMED_OUT``; never a success, a
cancelled build, a build run again, or one that skipped or lost its nodes), and
the request has not yet held ``count`` builds, the build's nodes go to state
``held`` instead of ``used``: the launcher leaves them alone until
``hold_until`` passes (:func:`expired_holds`) or the request is deleted
(:func:`release_hold`), which makes them ``used`` so the launcher deletes them.

When several requests match a build, the most specific wins, as in Zuul: a ref
filter that names one ref, then one that names a change (ending ``.*``), then
the catch-all ``.*``. The ref filter is a regular expression matched at the
start of the build's ref (``zuul.ref``: ``refs/changes/NN/N/P`` for a change,
the ref itself for a ref update).

Everything here runs in the caller's transaction (``session``) and takes the
time from it (``now``): the executor calls :func:`hold_or_release` where a build
ends, the launcher :func:`expired_holds` on each pass.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zuulish.config.layout import Layout
from zuulish.errors import UserError
from zuulish.model import BuildResult
from zuulish.store import AutoholdRow, BuildRow, NodeRow

#: the results whose nodes an autohold keeps (Zuul's list)
HELD_RESULTS = frozenset({BuildResult.FAILURE, BuildResult.RETRY_LIMIT,
                          BuildResult.POST_FAILURE, BuildResult.TIMED_OUT})
ANY_REF = ".*"
HELD, USED = "held", "used"
MAX_REASON = 10000


class HoldError(UserError):
    """An autohold request that is malformed or names something that does not exist."""


def change_ref_filter(change: int) -> str:
    """The ref filter of ``--change N``: every patch set of change N."""
    return f"refs/changes/{change % 100:02d}/{change}/.*"


def build_ref(params: dict[str, Any]) -> str:
    """The ref a build tested, as its ``zuul.ref`` reads (``job_vars``)."""
    if params.get("change") is None:
        return str(params.get("ref") or "")
    change = int(params["change"])
    return f"refs/changes/{change % 100:02d}/{change}/{params.get('patchset')}"


def check_request(*, job: str, reason: str, ref_filter: str, count: int,
                  node_hold_expiration: int | None) -> None:
    """Refuse what is malformed whatever the layout (a :class:`HoldError`)."""
    if not isinstance(job, str) or not job.strip():
        raise HoldError("an autohold needs a job")
    if not isinstance(reason, str) or not reason.strip():
        raise HoldError("an autohold needs a reason (who asked, and why)")
    if len(reason) > MAX_REASON:
        raise HoldError(f"the reason is longer than {MAX_REASON} characters")
    if not isinstance(ref_filter, str) or not ref_filter:
        raise HoldError("the ref filter must be a regular expression such as "
                        "refs/heads/main or refs/changes/.*")
    if len(ref_filter) > 255:
        raise HoldError("the ref filter is longer than 255 characters")
    try:
        re.compile(ref_filter)
    except re.error as exc:
        raise HoldError(f"the ref filter {ref_filter!r} is not a regular expression: "
                        f"{exc}") from None
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise HoldError(f"count must be a whole number of 1 or more, not {count!r}")
    if node_hold_expiration is not None and (
            isinstance(node_hold_expiration, bool) or not isinstance(node_hold_expiration, int)
            or node_hold_expiration < 0):
        raise HoldError("node_hold_expiration must be a whole number of seconds, 0 or "
                        f"more (0: until the request is deleted), not {node_hold_expiration!r}")


@dataclass(frozen=True)
class HoldRequest:
    """What an autohold asks for, checked against the tenant's layout."""

    tenant: str
    project: str
    job: str
    reason: str
    ref_filter: str = ANY_REF
    count: int = 1
    node_hold_expiration: int | None = None


def _whole(value: Any, name: str) -> int | None:
    """A whole number given as one or as its digits (the CLI, JSON); None: not given."""
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise HoldError(f"{name} must be a whole number, not {value!r}")
    return value


def _project_in(layout: Layout, project: str) -> str | None:
    """The name ``project`` has in the layout's project stanzas (a canonical name,
    ``host/org/repo``, names ``org/repo``), or None when no stanza applies to it."""
    host, _, rest = project.partition("/")
    names = [project] + ([rest] if rest and ("." in host or host == "localhost") else [])
    for name in names:
        if layout.stanzas(name):
            return name
    return None


def hold_request(layout: Layout, tenant: str, project: Any, body: dict[str, Any]) -> HoldRequest:
    """The request ``body`` (``job``, ``reason``, ``change`` or ``ref``, ``count``,
    ``node_hold_expiration``: Zuul's fields) for ``project`` of ``tenant``, whose
    layout is ``layout``; what is malformed or unknown is a :class:`HoldError`.

    The project must have a project stanza in the layout (without one no job runs
    for it, so nothing could ever be held) and the job must be defined."""
    if not isinstance(project, str) or not project.strip():
        raise HoldError("an autohold needs a project")
    name = _project_in(layout, project.strip())
    if name is None:
        known = sorted(n for n in layout.projects if not n.startswith("^"))
        raise HoldError(f"project {project!r} is not in tenant {tenant!r} (no project "
                        f"stanza applies to it); projects: {', '.join(known) or 'none'}")
    job = body.get("job")
    if not isinstance(job, str) or not job.strip():
        raise HoldError("an autohold needs a job")
    if job not in layout.jobs:
        close = difflib.get_close_matches(job, sorted(layout.jobs), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise HoldError(f"tenant {tenant!r} defines no job {job!r}{hint}")
    change, ref = body.get("change"), body.get("ref")
    if change is not None and ref is not None:
        raise HoldError("give a change or a ref filter, not both")
    ref_filter = ANY_REF
    if change is not None:
        number = _whole(change, "change")
        if number is None or number < 1:
            raise HoldError(f"a change is a change number, not {change!r}")
        ref_filter = change_ref_filter(number)
    elif ref is not None:
        if not isinstance(ref, str):
            raise HoldError(f"the ref filter must be a string, not {ref!r}")
        ref_filter = ref
    count = _whole(body.get("count"), "count")
    expiration = _whole(body.get("node_hold_expiration"), "node_hold_expiration")
    request = HoldRequest(tenant=tenant, project=name, job=job,
                          reason=body.get("reason"),  # type: ignore[arg-type]
                          ref_filter=ref_filter, count=1 if count is None else count,
                          node_hold_expiration=expiration)
    check_request(job=request.job, reason=request.reason, ref_filter=request.ref_filter,
                  count=request.count, node_hold_expiration=request.node_hold_expiration)
    return request


def create_hold(session: Session, request: HoldRequest, now: float,
                account: str | None = None) -> AutoholdRow:
    """Store ``request`` (checked for shape here; against the layout by
    :func:`hold_request`); an expiration of 0 or None: held until deleted."""
    check_request(job=request.job, reason=request.reason, ref_filter=request.ref_filter,
                  count=request.count, node_hold_expiration=request.node_hold_expiration)
    row = AutoholdRow(tenant=request.tenant, project=request.project, job=request.job,
                      ref_filter=request.ref_filter, reason=request.reason,
                      count=request.count, current_count=0,
                      node_hold_expiration=request.node_hold_expiration or None,
                      created_at=now, account=account, held=[])
    session.add(row)
    session.flush()
    return row


def _scope(ref_filter: str) -> int:
    """How specific a filter is: 3 one ref, 2 one change, 1 any ref."""
    if ref_filter == ANY_REF:
        return 1
    return 2 if ref_filter.endswith(".*") else 3


def matching_hold(session: Session, tenant: str, project: str, job: str,
                  ref: str) -> AutoholdRow | None:
    """The most specific request with count left that ``ref`` of ``job`` in ``project``
    matches (the newest among equals); its row is locked for the update."""
    best: AutoholdRow | None = None
    for row in session.scalars(select(AutoholdRow).where(
            AutoholdRow.tenant == tenant, AutoholdRow.project == project,
            AutoholdRow.job == job, AutoholdRow.current_count < AutoholdRow.count)
            .order_by(AutoholdRow.id).with_for_update()):
        try:
            if not re.match(row.ref_filter, ref):
                continue
        except re.error:
            continue  # checked when stored; a row written by hand may be broken
        if best is None or _scope(row.ref_filter) >= _scope(best.ref_filter):
            best = row
    return best


def hold_or_release(session: Session, build: BuildRow, nodes: Sequence[NodeRow],
                    now: float) -> AutoholdRow | None:
    """The nodes of ``build``, which has just ended (its result set), as they go back:
    ``held`` for a matching request with count left (returned, its count taken),
    else ``used`` for the launcher to delete."""
    params = build.params or {}
    hold = None
    if nodes and not build.cancel_requested and build.result in HELD_RESULTS \
            and params.get("tenant") and params.get("project"):
        hold = matching_hold(session, str(params["tenant"]), str(params["project"]),
                             build.job, build_ref(params))
    if hold is None:
        for node in nodes:
            node.state, node.released_at = USED, now
        return None
    until = now + hold.node_hold_expiration if hold.node_hold_expiration else None
    for node in nodes:
        node.state, node.hold_id, node.hold_until = HELD, hold.id, until
    hold.current_count += 1
    hold.held = [*(hold.held or []), {"build": build.id, "nodes": [n.id for n in nodes],
                                      "held_at": now}]
    return hold


def _release(nodes: Sequence[NodeRow], now: float) -> list[int]:
    for node in nodes:
        node.state, node.released_at = USED, now
    return [node.id for node in nodes]


def expired_holds(session: Session, now: float) -> list[int]:
    """Give the launcher the held nodes whose time is up (as ``used``); a request
    whose count is used up, with an expiration, goes when its last node does (as
    Zuul's do). Returns the ids of the nodes released."""
    released = _release(session.scalars(select(NodeRow).where(
        NodeRow.state == HELD, NodeRow.hold_until.is_not(None),
        NodeRow.hold_until <= now)).all(), now)
    still_held = select(NodeRow.hold_id).where(NodeRow.state == HELD,
                                               NodeRow.hold_id.is_not(None))
    for row in session.scalars(select(AutoholdRow).where(
            AutoholdRow.current_count >= AutoholdRow.count,
            AutoholdRow.node_hold_expiration.is_not(None),
            AutoholdRow.id.not_in(still_held))):
        session.delete(row)
    return released


def release_hold(session: Session, hold_id: int, now: float) -> list[int]:
    """Delete request ``hold_id`` and give its held nodes to the launcher (as
    ``used``); returns their ids. An unknown id is a :class:`HoldError`."""
    row = session.get(AutoholdRow, hold_id)
    if row is None:
        raise HoldError(f"no autohold request {hold_id}")
    released = _release(session.scalars(select(NodeRow).where(
        NodeRow.hold_id == hold_id, NodeRow.state == HELD)).all(), now)
    session.delete(row)
    return released


def login(node: NodeRow) -> str:
    """How to reach a held node: ``ssh USER@HOST -p PORT`` from its host vars."""
    host_vars = node.host_vars or {}
    if host_vars.get("ansible_connection") == "zuulish_local":
        return ("a local node: nothing to log in to (its sandbox stopped with the build; "
                "the build's work directory stays only with the executor's "
                "keep_workspaces)")
    host = host_vars.get("ansible_host") or node.hostname
    user = host_vars.get("ansible_user")
    port = host_vars.get("ansible_port") or 22
    if ":" in str(host):  # an IPv6 address
        host = f"[{host}]" if not str(host).startswith("[") else host
    return f"ssh {user}@{host} -p {port}" if user else f"ssh {host} -p {port}"


def describe(session: Session, tenant: str | None = None,
             hold_id: int | None = None) -> list[dict[str, Any]]:
    """The requests (of one tenant, or one request), each with its held nodes
    and how to log in to them, oldest first."""
    query = select(AutoholdRow).order_by(AutoholdRow.id)
    if tenant is not None:
        query = query.where(AutoholdRow.tenant == tenant)
    if hold_id is not None:
        query = query.where(AutoholdRow.id == hold_id)
    rows = session.scalars(query).all()
    nodes: dict[int, list[NodeRow]] = {}
    if rows:
        for node in session.scalars(select(NodeRow).where(
                NodeRow.hold_id.in_([r.id for r in rows]), NodeRow.state == HELD)
                .order_by(NodeRow.id)):
            nodes.setdefault(node.hold_id or 0, []).append(node)
    return [{"id": r.id, "tenant": r.tenant, "project": r.project, "job": r.job,
             "ref_filter": r.ref_filter, "reason": r.reason, "count": r.count,
             "current_count": r.current_count,
             "node_hold_expiration": r.node_hold_expiration, "created_at": r.created_at,
             "account": r.account, "held_builds": list(r.held or []),
             "nodes": [{"id": n.id, "label": n.label, "provider": n.provider,
                        "hostname": n.hostname, "hold_until": n.hold_until,
                        "login": login(n)} for n in nodes.get(r.id, [])]}
            for r in rows]
