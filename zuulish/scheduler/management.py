"""Management commands: enqueue, dequeue, promote and tenant-reconfigure, as stored events.

The CLI and the REST API only record a request (``record``); the scheduler
carries it out in its event loop like any trigger event, and writes what came
of it as the event's outcome, so a request is durable, ordered with every
other event, and answered with a clear message when it cannot be done.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from zuulish.errors import UserError
from zuulish.store import EventRow, Store
from zuulish.store import notify as channels

CONNECTION = "zuulish"  # the events' connection: zuulish itself
KINDS = ("enqueue", "dequeue", "promote")
RECONFIGURE = "tenant-reconfigure"  # re-read the tenant file and every project's config
CHANGE_RE = re.compile(r"^(\d+)(?:,(\d+))?$")
SHA_RE = re.compile(r"^[0-9a-f]{40}$")


class ManagementError(UserError):
    """A management request that is malformed or cannot be carried out."""


@dataclass(frozen=True)
class ChangeRef:
    number: int
    patchset: int | None = None

    def __str__(self) -> str:
        return f"{self.number}" if self.patchset is None else f"{self.number},{self.patchset}"


def parse_change(text: Any) -> ChangeRef:
    """``N`` or ``N,PATCHSET`` (Zuul's notation)."""
    match = CHANGE_RE.match(str(text).strip())
    if match is None:
        raise ManagementError(f"a change is NUMBER or NUMBER,PATCHSET, not {text!r}")
    number, patchset = match.groups()
    return ChangeRef(int(number), int(patchset) if patchset else None)


def request_data(kind: str, tenant: str, pipeline: str, project: str | None = None,
                 change: str | None = None, changes: list[str] | None = None,
                 ref: str | None = None, newrev: str | None = None) -> dict[str, Any]:
    """The event data of a request, checked for shape (not yet against the layout).

    An enqueue names a change, or a ref (``refs/heads/main``) at ``newrev`` (by
    default the branch's tip when the scheduler takes it), as Zuul's enqueue-ref:
    how a post or periodic pipeline is run by hand."""
    if kind not in KINDS:
        raise ManagementError(f"unknown command {kind!r}; one of {', '.join(KINDS)}")
    for name, value in (("tenant", tenant), ("pipeline", pipeline)):
        if not value or not str(value).strip():
            raise ManagementError(f"{kind} needs a {name}")
    data: dict[str, Any] = {"tenant": tenant, "pipeline": pipeline}
    if kind == "promote":
        if not changes:
            raise ManagementError("promote needs the changes to move to the head, in order")
        refs = [parse_change(c) for c in changes]
        if len({r.number for r in refs}) != len(refs):
            raise ManagementError("promote names a change more than once")
        data["changes"] = [str(r) for r in refs]
        return data
    if not project:
        raise ManagementError(f"{kind} needs a project")
    if ref is not None or newrev is not None:
        if kind != "enqueue" or change is not None:
            raise ManagementError("only an enqueue names a ref, and then no change")
        return {**data, "project": project, **_ref_data(ref, newrev)}
    if change is None:
        raise ManagementError(f"{kind} needs a change (NUMBER or NUMBER,PATCHSET)")
    data["project"] = project
    data["change"] = str(parse_change(change))
    return data


def reconfigure_data(tenant: str | None) -> dict[str, Any]:
    """A reconfiguration of ``tenant`` (None: every tenant in the tenant file)."""
    if tenant is not None and not str(tenant).strip():
        raise ManagementError("a tenant name cannot be empty")
    return {"tenant": tenant}


def _ref_data(ref: str | None, newrev: str | None) -> dict[str, Any]:
    if not isinstance(ref, str) or not ref.startswith("refs/") or len(ref.split()) != 1:
        raise ManagementError(f"a ref is a full ref name such as refs/heads/main, not {ref!r}")
    if newrev is not None and not SHA_RE.match(str(newrev)):
        raise ManagementError(f"newrev must be a full commit SHA (40 hex digits), "
                              f"not {newrev!r}")
    return {"ref": ref, "newrev": newrev}


def record(store: Store, kind: str, data: dict[str, Any],
           clock: Callable[[], float] = time.time, account: str | None = None) -> int:
    """Store the request as an event for the scheduler; returns the event's id."""
    with store.session() as s:
        row = EventRow(connection=CONNECTION, type=kind, project=data.get("project"),
                       data={**data, "account": account}, created_at=clock())
        s.add(row)
        s.flush()
        event_id = row.id
    store.notifier.notify(channels.SCHEDULER)
    return event_id


def wait_outcome(store: Store, event_id: int, timeout: float,
                 sleep: Callable[[float], None] = time.sleep) -> str | None:
    """The scheduler's outcome for the event, or None if it has not acted in time."""
    deadline = time.monotonic() + timeout
    while True:
        with store.read() as s:
            outcome = s.scalar(select(EventRow.outcome).where(EventRow.id == event_id,
                                                              EventRow.processed_at.is_not(
                                                                  None)))
        if outcome is not None or time.monotonic() >= deadline:
            return outcome
        sleep(0.1)
