"""``zuulish status``: the queues of a running zuulish, drawn in the terminal.

It asks the running server's web API (``/api/tenant/{tenant}/status``, the data the
dashboard draws) at the configuration's listen address, and draws each pipeline,
its queues, their items and each item's jobs, as Zuul's status page does in text.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from zuulish.errors import UserError
from zuulish.server_config import ServerConfig

TIMEOUT_S = 10.0


def api_base(config: ServerConfig) -> str:
    """Where this host reaches the server's API: its listen address (a wildcard
    address is reached on the loopback)."""
    host = config.listen_host
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = "127.0.0.1"
    return f"http://{host}:{config.listen_port}"


def get_json(base: str, path: str) -> Any:
    """GET ``base + path`` as JSON; a refusal or an API error is a :class:`UserError`."""
    return call_api(base, urllib.request.Request(base + path))


def call_api(base: str, request: urllib.request.Request, unreachable: str = "") -> Any:
    """Send ``request`` to the web API at ``base``; its JSON answer. An API error (its
    ``error``) or a server that cannot be reached (then ``unreachable`` is added to
    the message) is a :class:`UserError`."""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error") or exc.reason
        except ValueError:
            message = exc.reason
        raise UserError(str(message)) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"cannot reach zuulish's web API at {base} ({reason}); is "
                        f"`zuulish run` running with this configuration?{unreachable}"
                        ) from None


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
    return lines


def status_lines(config: ServerConfig, tenant: str | None) -> list[str]:
    """Draw ``tenant`` (every tenant when None) from the running server's API."""
    base = api_base(config)
    if tenant is None:
        names = [t["name"] for t in get_json(base, "/api/tenants")]
        if not names:
            return ["no tenants are configured"]
    else:
        names = [tenant]
    lines: list[str] = []
    for name in names:
        quoted = urllib.request.quote(name, safe="")
        lines.extend(draw_tenant(get_json(base, f"/api/tenant/{quoted}/status")))
    return lines


def cmd_status(args: Any) -> int:
    from zuulish.cli import _load

    for line in status_lines(_load(args), args.tenant):
        print(line)
    return 0
