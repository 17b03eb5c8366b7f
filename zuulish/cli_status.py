"""``zuulish status``: the queues of a running zuulish, drawn in the terminal.

It asks the running server's web API (``/api/tenant/{tenant}/status``, the data the
dashboard draws) at the configuration's listen address or ``--url``, with the token
of ``zuulish.cli_token`` (a tenant with access-rules needs one), and draws each pipeline,
its queues, their items and each item's jobs, as Zuul's status page does in text.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

from zuulish.cli_api import Api, connect, terminal_safe


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def job_state(job: dict[str, Any], now: float) -> str:
    """``SUCCESS``, ``FAILURE (non-voting)``, ``running 1m04s``, ``waiting``..."""
    if job.get("result"):
        text = str(job["result"])
    elif job.get("state") == "running" and job.get("started_at"):
        text = f"running {_elapsed(now - job['started_at'])}"
    else:
        text = str(job.get("state") or "waiting")
    return text if job.get("voting", True) else f"{text} (non-voting)"


def item_state(item: dict[str, Any]) -> str:
    """One word for the item: failing, testing, merging, waiting or queued."""
    if item.get("failing"):
        return "failing"
    jobs = item.get("jobs") or []
    if jobs and all(j.get("result") for j in jobs):
        return "done"
    if any(j.get("state") in ("running", "paused") for j in jobs):
        return "testing"
    return "queued" if not item.get("active") else "waiting"


def draw_tenant(status: dict[str, Any], now: float | None = None) -> list[str]:
    """The lines that draw one tenant's status."""
    now = time.time() if now is None else now
    lines = [f"Tenant {status['tenant']}"]
    for pipeline in status["pipelines"]:
        queues = [q for q in pipeline["queues"] if q["items"]]
        count = sum(len(q["items"]) for q in queues)
        lines.append(f"  {pipeline['name']} ({pipeline['manager']}): "
                     f"{count} item{'s' if count != 1 else ''}")
        for queue in queues:
            window = f", window {queue['window']}" if queue.get("window") else ""
            lines.append(f"    queue {queue['name']}{window}")
            for item in queue["items"]:
                change = item["change"]
                live = "" if item.get("live", True) else " (not live)"
                since = item.get("enqueued_at")
                age = "-" if since is None else _elapsed(now - since)
                # how people know the change (org/repo#12); older servers say label only
                name = change.get("display") or change["label"]
                lines.append(f"      {name:<10} {change['project']} "
                             f"{change['branch']}  {item_state(item)}{live} for {age}  "
                             f"{change.get('subject') or ''}".rstrip())
                if item.get("message") and item.get("failing"):
                    lines.append(f"        ! {item['message'].splitlines()[0]}")
                for job in item.get("jobs") or []:
                    lines.append(f"        {job['name']:<28} {job_state(job, now)}")
    # subjects, messages and names come from changes' authors: no escape sequences
    return [terminal_safe(line) for line in lines]


def status_lines(api: Api, tenant: str | None) -> list[str]:
    """Draw ``tenant`` (every tenant the caller may read when None) from the API."""
    if tenant is None:
        names = [t["name"] for t in api.get("/api/tenants", "list the tenants")]
        if not names:
            private = "" if api.token else (" (a tenant with access-rules is listed only "
                                            "to a token that may read it)")
            return [f"the server lists no tenants{private}"]
    else:
        names = [tenant]
    lines: list[str] = []
    for name in names:
        quoted = urllib.parse.quote(name, safe="")
        lines.extend(draw_tenant(api.get(f"/api/tenant/{quoted}/status",
                                         f"read tenant {name!r}")))
    return lines


def cmd_status(args: Any) -> int:
    from zuulish.cli import _load

    for line in status_lines(connect(args, _load), args.tenant):
        print(line)
    return 0
