"""``zuulish show N``: one change of the built-in forge, its reports and its builds."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from zuulish.errors import ForgeError
from zuulish.store import BuildRow, BuildSetRow, ChangeRow, QueueItemRow, Store
from zuulish.web.history import change_info
from zuulish.web.status import change_url


def change_builds(store: Store, connection: str, number: int) -> list[dict[str, Any]]:
    """Every build run for the change (any patch set, pipeline or attempt), oldest first."""
    with store.read() as s:
        rows = s.execute(
            select(BuildRow, QueueItemRow)
            .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
            .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
            .where(QueueItemRow.connection == connection,
                   QueueItemRow.change_number == number)
            .order_by(BuildRow.created_at, BuildRow.attempt)).all()
    return [{"uuid": b.id, "job": b.job, "pipeline": i.pipeline, "patchset": i.patchset,
             "state": b.state, "result": b.result, "voting": b.voting,
             "attempt": b.attempt, "started_at": b.started_at, "finished_at": b.finished_at}
            for b, i in rows]


def show_change(store: Store, connection: str, number: int, web_url: str) -> dict[str, Any]:
    """The change, its patch sets, reports and builds; a :class:`ForgeError` when unknown."""
    with store.read() as s:
        project = s.scalar(select(ChangeRow.project).where(ChangeRow.connection == connection,
                                                           ChangeRow.number == number))
    if project is None:
        raise ForgeError(f"no change {number} on connection {connection!r}; "
                         "`zuulish changes` lists them")
    info = change_info(store, project, number)
    assert info is not None  # it was just found
    info["url"] = change_url(web_url.rstrip("/"), project, number)
    info["builds"] = change_builds(store, connection, number)
    for build in info["builds"]:
        build["url"] = f"{web_url.rstrip('/')}/build/{build['uuid']}"
    return info


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _votes(votes: dict[str, Any]) -> str:
    return ", ".join(f"{label}{int(v):+d}" for label, v in sorted(votes.items())) or "none"


def draw_change(info: dict[str, Any]) -> list[str]:
    """The lines ``zuulish show`` prints for a change."""
    lines = [
        f"Change {info['number']}: {info['subject']}",
        f"  project:   {info['project']}  branch: {info['branch']}",
        f"  status:    {info['status']}  patch set: {info['patchset']}",
        f"  approvals: {_votes(info['approvals'])}",
        f"  url:       {info['url']}",
    ]
    if info.get("merged_sha"):
        lines.append(f"  merged as: {info['merged_sha']}")
    lines.append("")
    lines.extend("  " + line if line else "" for line in info["message"].rstrip().splitlines())
    lines.append("")
    lines.append("Patch sets:")
    lines.extend(f"  {p['number']:>3}  {p['commit'][:12]}  {p['ref']}  {_when(p['created_at'])}"
                 for p in info["patchsets"])
    lines.append("")
    lines.append("Reports (oldest first):" if info["reports"] else "Reports: none yet")
    for report in reversed(info["reports"]):
        result = report["result"] or report["action"]
        lines.append(f"  {_when(report['created_at'])}  {report['pipeline']:<10} "
                     f"ps{report['patchset']}  {result}  votes: {_votes(report['votes'])}")
        lines.extend(f"      {line}".rstrip() for line in report["message"].rstrip().splitlines())
    lines.append("")
    lines.append("Builds (oldest first):" if info["builds"] else "Builds: none yet")
    for build in info["builds"]:
        outcome = build["result"] or build["state"]
        voting = "" if build["voting"] else " (non-voting)"
        lines.append(f"  {build['pipeline']:<10} ps{build['patchset']}  {build['job']:<28} "
                     f"{outcome}{voting}  {build['url']}")
    return lines


def cmd_show(args: Any) -> int:
    import json

    from zuulish.cli import _forge_connection, _load

    config = _load(args)
    store = Store(config.database)
    store.check()
    info = show_change(store, _forge_connection(config, args.connection), args.number,
                       config.web_url)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print("\n".join(draw_change(info)))
    return 0
