"""What changed in a tenant's status since a page last had it, item by item.

The live page keeps each item it was sent and moves its clocks itself (time in queue
and a running job's elapsed time grow, remaining times shrink). So an item needs
sending again only when something besides those clocks changed (what status.js
compares too: an item's remaining time follows from its jobs' and is left out).
:class:`Shown` remembers what the pages of a stream hold and turns each new status
into a *delta*: the status with every item the pages hold unchanged replaced by its
id. Expanding those ids from the items held gives the full status back (their clocks
as of when they were sent).
"""

from __future__ import annotations

from typing import Any

#: an item's fields that follow the clock on the page (``time_in_queue`` is
#: ``now - enqueued_at``, and ``enqueued_at`` is compared; the remaining time is the
#: longest of its jobs', or the item ahead's)
ITEM_CLOCKS = frozenset({"time_in_queue", "remaining_time"})
#: a job's fields that follow the clock on the page while it runs
JOB_CLOCKS = frozenset({"elapsed_time", "remaining_time", "progress"})


def running(job: dict[str, Any]) -> bool:
    """Whether the page moves the job's clocks (as status.js decides): running or
    paused, no result, and started (else its times do not move on the server)."""
    return job["state"] in ("running", "paused") and job["result"] is None \
        and job.get("started_at") is not None


def same_job(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether the page's rendering of ``old`` still shows ``new``: a running job's
    clocks are left out (they follow from its start, its estimate and the time)."""
    if old.keys() != new.keys():
        return False
    moving = running(new) and running(old)
    return all(value == old[key] for key, value in new.items()
               if not (moving and key in JOB_CLOCKS))


def same_item(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether the page that was sent ``old`` still shows ``new`` once its clocks
    moved."""
    if old.keys() != new.keys():
        return False
    for key, value in new.items():
        if key in ITEM_CLOCKS:
            continue
        if key == "jobs":
            jobs = old["jobs"]
            if len(jobs) != len(value) or not all(map(same_job, jobs, value)):
                return False
        elif value != old[key]:
            return False
    return True


class Shown:
    """The items the pages of one stream hold, by id."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.items: dict[int, dict[str, Any]] = {}
        self._hold(status, None)

    def _hold(self, status: dict[str, Any], sent: set[int] | None) -> None:
        held: dict[int, dict[str, Any]] = {}
        for pipeline in status["pipelines"]:
            for queue in pipeline["queues"]:
                for item in queue["items"]:
                    kept = self.items.get(item["id"])
                    held[item["id"]] = item if sent is None or item["id"] in sent \
                        or kept is None else kept
        self.items = held

    def delta(self, status: dict[str, Any], base: int) -> dict[str, Any]:
        """The delta from what the pages hold (as of event ``base``) to ``status``;
        afterwards they hold ``status``'s items."""
        sent: set[int] = set()

        def entry(item: dict[str, Any]) -> dict[str, Any] | int:
            kept = self.items.get(item["id"])
            if kept is not None and same_item(kept, item):
                return item["id"]
            sent.add(item["id"])
            return item

        pipelines = [{**pipeline, "queues": [{**queue, "items": [entry(i) for i in queue["items"]]}
                                             for queue in pipeline["queues"]]}
                     for pipeline in status["pipelines"]]
        self._hold(status, sent)
        return {"tenant": status["tenant"], "base": base, "generated_at": status["generated_at"],
                "pipelines": pipelines}


def expand(delta: dict[str, Any], held: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The status a delta stands for, given the items held by id (for clients and
    tests; ``KeyError`` when one it names is not held: read the full status again)."""
    return {"tenant": delta["tenant"], "generated_at": delta["generated_at"],
            "pipelines": [{**p, "queues": [{**q, "items": [
                held[i] if isinstance(i, int) else i for i in q["items"]]}
                for q in p["queues"]]} for p in delta["pipelines"]]}
