"""Node requests of builds: asking again when the nodes were lost.

A build whose node vanished while it ran (``NODE_FAILURE``) is tried again on
fresh nodes while its job's ``attempts`` allow (Zuul's default: 3). The same
build row is reused and its ``attempt`` counted up, as the executor does when a
pre-run playbook fails (``RETRY``), so ``zuul.attempts`` and the limit mean the
same for both. A request the launcher failed is not asked again: the launcher
has already tried its provider's ``launch-attempts`` (and the nodeset's
alternatives), and the build ends in ``NODE_FAILURE`` with the cloud's reason.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zuulish.model import BuildState, NodeSet
from zuulish.nodepool.wants import want_of
from zuulish.store import BuildRow, NodeRequestRow, NodeRow

DEFAULT_ATTEMPTS = 3  # Zuul's default ``attempts``


def attempts_of(build: BuildRow) -> int:
    """How many times the build's job may be tried (``attempts``)."""
    return int((build.frozen_job or {}).get("attempts", DEFAULT_ATTEMPTS))


def retry_on_new_nodes(s: Session, build: BuildRow, now: float, reason: str) -> bool:
    """Put ``build`` back to waiting on a new request for the same labels, when it
    has attempts left and was not canceled; False (nothing changed) otherwise."""
    if build.cancel_requested or build.attempt >= attempts_of(build) \
            or build.node_request_id is None:
        return False
    old = s.get(NodeRequestRow, build.node_request_id)
    if old is None:
        return False
    for node in s.scalars(select(NodeRow).where(NodeRow.request_id == old.id,
                                                NodeRow.state == "in-use")):
        node.state, node.released_at = "used", now  # the launcher tears it down
    first = list(old.alternatives[0]) if old.alternatives else list(old.labels)
    request = NodeRequestRow(build_id=build.id, labels=first,
                             alternatives=list(old.alternatives or []), tenant=old.tenant,
                             priority=build.priority, created_at=now)
    s.add(request)
    s.flush()
    build.node_request_id = request.id
    build.attempt += 1
    build.state, build.result, build.worker = BuildState.WAITING, None, None
    build.started_at = build.finished_at = build.heartbeat_at = None
    build.params = {k: v for k, v in (build.params or {}).items() if k != "nodes"}
    build.message = f"attempt {build.attempt - 1} lost its nodes ({reason}); " \
                    "trying again on new nodes"
    return True


def node_alternatives(nodeset: NodeSet) -> list[list[str]]:
    """The labels of each of a frozen nodeset's ``alternatives``, in order ([]: none)."""
    return [[want_of(n) for n in alt.nodes] for alt in nodeset.alternatives
            if isinstance(alt, NodeSet)]


def use_alternative(build: BuildRow, index: int) -> None:
    """Make the nodeset alternative ``index`` the build's nodeset (its node names
    and groups), when the launcher served its request with that one."""
    if index <= 0:
        return
    job: dict[str, Any] = dict(build.frozen_job or {})
    nodeset = dict(job.get("nodeset") or {})
    options = nodeset.get("alternatives") or []
    if index >= len(options) or not isinstance(options[index], dict):
        return
    chosen = options[index]
    nodeset.update(nodes=chosen.get("nodes", []), groups=chosen.get("groups", {}))
    job["nodeset"] = nodeset
    build.frozen_job = job
    build.params = {**build.params,
                    "node_names": [n["name"] for n in chosen.get("nodes", [])]}
