"""What the store says about a tenant's nodes, labels, semaphores and latest results.

Plain functions over a read session (no aiohttp), for the API and the pages. A
node's address, host variables and keys are never given: the nodes list is for
anyone who may read the tenant; logging in is the autohold API's (admin) business.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from zuulish.config.layout import Layout
from zuulish.model import BuildState
from zuulish.model.node import NodeState
from zuulish.store import BuildRow, BuildSetRow, NodeRequestRow, NodeRow, QueueItemRow
from zuulish.web.catalog import missing, page

#: the states a node can be in, for the filter's check
NODE_STATES = tuple(s.value for s in NodeState)
#: builds that hold their semaphores (as the scheduler counts them)
HOLDING_BUILDS = (BuildState.WAITING, BuildState.QUEUED, BuildState.RUNNING)
#: item results a badge reads as passing or failing (others: unknown)
PASSING = {"SUCCESS"}
FAILING = {"FAILURE", "MERGE_CONFLICT", "CONFIG_ERROR"}


def _visible(tenant: str) -> Any:
    """Nodes of the tenant, and those of no tenant yet (ready, unassigned)."""
    return or_(NodeRow.tenant == tenant, NodeRow.tenant.is_(None))


def _node(row: NodeRow, build: BuildRow | None) -> dict[str, Any]:
    return {"id": row.id, "label": row.label, "provider": row.provider, "state": row.state,
            "zone": row.zone, "tenant": row.tenant, "external_id": row.external_id,
            "created_at": row.created_at, "state_at": row.state_at,
            "build": build.id if build is not None else None,
            "job": build.job if build is not None else None,
            "hold": row.hold_id, "hold_until": row.hold_until}


def _with_builds(session: Session, rows: list[NodeRow]) -> list[dict[str, Any]]:
    """Each node with the build its request was for."""
    requests = {r for r in (row.request_id for row in rows) if r is not None}
    builds: dict[int, BuildRow] = {}
    if requests:
        for request_id, build in session.execute(
                select(NodeRequestRow.id, BuildRow)
                .join(BuildRow, BuildRow.id == NodeRequestRow.build_id)
                .where(NodeRequestRow.id.in_(requests))):
            builds[request_id] = build
    return [_node(row, builds.get(row.request_id or -1)) for row in rows]


def _nodes_query(tenant: str, label: str | None, state: str | None,
                 provider: str | None) -> Any:
    query = select(NodeRow).where(_visible(tenant))
    if label is not None:
        query = query.where(NodeRow.label == label)
    if provider is not None:
        query = query.where(NodeRow.provider == provider)
    return query.where(NodeRow.state == state) if state is not None \
        else query.where(NodeRow.state != NodeState.DELETED)


def count_nodes(session: Session, tenant: str, *, label: str | None = None,
                state: str | None = None, provider: str | None = None) -> int:
    """How many nodes :func:`list_nodes` has in all for these filters."""
    query = _nodes_query(tenant, label, state, provider)
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def list_nodes(session: Session, tenant: str, *, label: str | None = None,
               state: str | None = None, provider: str | None = None, limit: int = 50,
               skip: int = 0) -> list[dict[str, Any]]:
    """The launcher's nodes that the tenant sees, oldest first; deleted ones only
    when ``state`` asks for them."""
    query = _nodes_query(tenant, label, state, provider).order_by(NodeRow.id)
    rows = list(session.scalars(query.offset(skip).limit(limit)))
    return _with_builds(session, rows)


def node_info(session: Session, tenant: str, node_id: int) -> dict[str, Any]:
    """One node the tenant sees, or NotFound."""
    row = session.scalars(select(NodeRow).where(NodeRow.id == node_id,
                                                _visible(tenant))).first()
    if row is None:
        raise missing("node", str(node_id), (), f"tenant {tenant}")
    return _with_builds(session, [row])[0]


def _layout_labels(layout: Layout) -> dict[str, dict[str, Any]]:
    """Labels the layout knows: ``label`` objects, its providers' and its nodesets'."""
    labels: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return labels.setdefault(name, {"name": name, "description": "",
                                        "providers": set(), "nodesets": set()})

    for name, obj in layout.objects.get("label", {}).items():
        entry(name)["description"] = str(obj.attributes.get("description") or "")
    for provider in layout.node_providers:
        for name in provider.labels:
            entry(name)["providers"].add(provider.name)
    for nodeset in layout.nodesets.values():
        for node in nodeset.nodes:
            if node.label is not None:
                entry(node.label)["nodesets"].add(nodeset.name or "")
    return labels


def list_labels(layout: Layout, session: Session, tenant: str,
                pool_labels: Mapping[str, Iterable[str]] | None = None,
                name: str | None = None) -> list[dict[str, Any]]:
    """Every label: configured (``label`` objects, providers, nodesets) or on a node;
    the providers that offer it (``pool_labels``: zuulish.yaml's providers' labels,
    by provider) and how many of the tenant's nodes are in each state."""
    labels = _layout_labels(layout)
    for provider, offered in (pool_labels or {}).items():
        for label in offered:
            labels.setdefault(label, {"name": label, "description": "",
                                      "providers": set(), "nodesets": set()}
                              )["providers"].add(provider)
    counts: dict[str, Counter[str]] = {}
    for label, provider, state in session.execute(
            select(NodeRow.label, NodeRow.provider, NodeRow.state)
            .where(_visible(tenant), NodeRow.state != NodeState.DELETED)):
        counts.setdefault(label, Counter())[state] += 1
        labels.setdefault(label, {"name": label, "description": "", "providers": set(),
                                  "nodesets": set()})["providers"].add(provider)
    out = []
    for label in sorted(labels):
        if name is not None and name.casefold() not in label.casefold():
            continue
        entry = labels[label]
        out.append({"name": label, "description": entry["description"],
                    "providers": sorted(entry["providers"]),
                    "nodesets": sorted(entry["nodesets"]),
                    "nodes": dict(sorted(counts.get(label, Counter()).items()))})
    return out


def semaphore_names(layout: Layout, name: str | None = None) -> list[str]:
    """The tenant's semaphores whose name contains ``name`` (any case), sorted."""
    return [n for n in sorted(layout.objects.get("semaphore", {}))
            if name is None or name.casefold() in n.casefold()]


def list_semaphores(layout: Layout, session: Session, tenant: str, web_url: str,
                    name: str | None = None, limit: int = 50, skip: int = 0
                    ) -> list[dict[str, Any]]:
    """The tenant's semaphores with their ``max`` and the builds holding each now."""
    defined = layout.objects.get("semaphore", {})
    wanted = semaphore_names(layout, name)
    holders: dict[str, list[dict[str, Any]]] = {n: [] for n in wanted}
    if wanted:
        rows = session.execute(
            select(BuildRow, QueueItemRow)
            .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
            .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
            .where(QueueItemRow.tenant == tenant, BuildRow.state.in_(HOLDING_BUILDS))
            .order_by(BuildRow.created_at))
        for build, item in rows:
            for semaphore in (build.frozen_job or {}).get("semaphores", ()):
                if semaphore in holders:
                    holders[semaphore].append({
                        "build": build.id, "job": build.job, "state": build.state,
                        "pipeline": item.pipeline, "project": item.project,
                        "branch": item.branch, "change": item.change_number,
                        "patchset": item.patchset, "url": f"{web_url}/build/{build.id}"})
    out = []
    for semaphore in page(wanted, limit, skip):
        obj = defined[semaphore]
        out.append({"name": semaphore, "max": int(obj.attributes.get("max", 1)),
                    "source_project": obj.source_project, "file": obj.source_file,
                    "line": obj.source_line, "holders": holders[semaphore]})
    return out


def latest_result(session: Session, tenant: str, project: str, pipeline: str,
                  branch: str | None) -> tuple[str, str | None]:
    """The badge's status for the project in the pipeline (``passing``, ``failing``
    or ``unknown``) from the result of its latest reported item, and that result."""
    query = (select(QueueItemRow.result)
             .where(QueueItemRow.tenant == tenant, QueueItemRow.project == project,
                    QueueItemRow.pipeline == pipeline, QueueItemRow.result.is_not(None),
                    QueueItemRow.result != "DEQUEUED")
             .order_by(QueueItemRow.dequeued_at.desc(), QueueItemRow.id.desc()).limit(1))
    if branch is not None:
        query = query.where(QueueItemRow.branch == branch)
    result = session.scalar(query)
    if result in PASSING:
        return "passing", result
    if result in FAILING:
        return "failing", result
    return "unknown", result
