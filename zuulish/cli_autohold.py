"""``zuulish autohold``, ``autohold-list`` and ``autohold-delete``: keep the nodes of
failed builds for someone to log in (Zuul's autohold; see ``nodepool.holds``).

``autohold`` asks the running server's management API (``POST
/api/tenant/{tenant}/project/{project}/autohold``, with a token that may administer
the tenant: ``--auth-token``, ``--auth-token-file`` or ``$ZUULISH_AUTH_TOKEN``, else
the configuration's ``web.admin_token``; see ``zuulish.cli_token``): the tenant,
the project and the job are checked against the tenant's running layout, which
only the server has (it reads every project's configuration). ``autohold-list``
and ``autohold-delete`` need no layout: they read and write the store directly,
as ``zuulish show`` does, so a request can be seen or deleted (its nodes
released) while zuulish is stopped too.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from zuulish.cli_api import GIVE_TOKEN, add_api_arguments, connect
from zuulish.errors import UserError


def cmd_autohold(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    if args.count < 1:
        raise UserError(f"--count must be 1 or more, not {args.count}")
    if args.node_hold_expiration is not None and args.node_hold_expiration < 0:
        raise UserError("--node-hold-expiration must be 0 or more seconds (0: until the "
                        f"request is deleted), not {args.node_hold_expiration}")
    body: dict[str, Any] = {"job": args.job, "reason": args.reason, "count": args.count,
                            "node_hold_expiration": args.node_hold_expiration}
    if args.change is not None:
        body["change"] = args.change
    if args.ref is not None:
        body["ref"] = args.ref
    api = connect(args, load, " (an autohold is checked against the tenant's running "
                              "layout)")
    if api.token is None:
        where = f" (or, in the embedded mode, set web.admin_token in {api.config_path})" \
            if api.config_path else ""
        raise UserError(f"zuulish autohold needs a token that may administer tenant "
                        f"{args.tenant!r}: {GIVE_TOKEN}{where}")
    path = (f"/api/tenant/{quote(args.tenant, safe='')}/project/"
            f"{quote(args.project, safe='/')}/autohold")
    hold = api.post(path, body, f"administer tenant {args.tenant!r}")
    print(f"autohold request {hold['id']}: {describe_line(hold)}")
    return 0


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "until the request is deleted"
    return "until " + datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_line(hold: dict[str, Any]) -> str:
    """One line for a request: what it holds, how many so far, for how long."""
    expiration = hold["node_hold_expiration"]
    keep = f"{expiration}s each" if expiration else "until the request is deleted"
    return (f"tenant {hold['tenant']}, project {hold['project']}, job {hold['job']}, "
            f"ref {hold['ref_filter']}: {hold['current_count']} of {hold['count']} failed "
            f"build(s) held, nodes kept {keep}")


def cmd_autohold_list(args: argparse.Namespace,
                      load: Callable[[argparse.Namespace], Any]) -> int:
    from zuulish.nodepool.holds import describe
    from zuulish.store import Store

    config = load(args)
    store = Store(config.database)
    store.check()
    with store.read() as s:
        found = describe(s, tenant=args.tenant)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    if not found:
        where = f" in tenant {args.tenant}" if args.tenant else ""
        print(f"no autohold requests{where}")
        return 0
    for hold in found:
        print(f"{hold['id']}: {describe_line(hold)}")
        print(f"    reason: {hold['reason']}")
        for node in hold["nodes"]:
            print(f"    node {node['id']} ({node['label']} from {node['provider']}, held "
                  f"{_when(node['hold_until'])}): {node['login']}")
    return 0


def cmd_autohold_delete(args: argparse.Namespace,
                        load: Callable[[argparse.Namespace], Any]) -> int:
    from zuulish.nodepool.holds import release_hold
    from zuulish.store import Store
    from zuulish.store import notify as channels

    config = load(args)
    store = Store(config.database)
    store.check()
    with store.session() as s:
        released = release_hold(s, args.id, time.time())
    store.notifier.notify_everywhere(config.state_dir, channels.LAUNCHER)
    nodes = f"; released node(s) {', '.join(map(str, released))} (the launcher deletes " \
            "them)" if released else "; it held no nodes"
    print(f"deleted autohold request {args.id}{nodes}")
    return 0


def add_autohold_parsers(sub: Any, load: Callable[[argparse.Namespace], Any]) -> None:
    """``autohold``, ``autohold-list`` and ``autohold-delete`` on ``sub``."""
    hold = sub.add_parser("autohold", help="hold the nodes of a job's next failed builds "
                          "(through the running server's management API)")
    hold.add_argument("--tenant", required=True)
    hold.add_argument("--project", required=True, help="as the tenant names it, or its "
                      "canonical name (HOST/NAME)")
    hold.add_argument("--job", required=True)
    what = hold.add_mutually_exclusive_group()
    what.add_argument("--change", type=int, metavar="NUMBER",
                      help="only builds of this change (any patch set)")
    what.add_argument("--ref", metavar="REGEX",
                      help="only builds whose ref matches (from its start; default: .*)")
    hold.add_argument("--reason", required=True, help="who asked, and why")
    hold.add_argument("--count", type=int, default=1,
                      help="how many failed builds to hold (default: 1)")
    hold.add_argument("--node-hold-expiration", type=int, metavar="SECONDS",
                      help="how long to keep each build's nodes (default and 0: until the "
                           "request is deleted)")
    add_api_arguments(hold)
    hold.set_defaults(func=lambda args: cmd_autohold(args, load))

    hlist = sub.add_parser("autohold-list", help="autohold requests, their held nodes and "
                           "how to log in to them")
    hlist.add_argument("--tenant", help="only this tenant's requests")
    hlist.add_argument("--json", action="store_true", help="print JSON")
    hlist.set_defaults(func=lambda args: cmd_autohold_list(args, load))

    delete = sub.add_parser("autohold-delete", help="delete an autohold request and "
                            "release its held nodes")
    delete.add_argument("id", type=int)
    delete.set_defaults(func=lambda args: cmd_autohold_delete(args, load))
