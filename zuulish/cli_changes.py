"""``zuulish changes``: the forge's changes as a table, filtered by state and project."""

from __future__ import annotations

import argparse
import json

from zuulish.errors import UserError

STATES = ("NEW", "MERGED", "ABANDONED")
COLUMNS = (("NUMBER", 6), ("STATE", 9), ("PROJECT", 20), ("BRANCH", 10), ("PS", 4),
           ("LAST RESULT", 22))


def cmd_changes(args: argparse.Namespace) -> int:
    from zuulish.cli import _forge_connection, _load
    from zuulish.drivers.git.review import list_changes
    from zuulish.store import Store

    state = args.state.upper() if args.state else None
    if state is not None and state not in STATES:
        raise UserError(f"--state must be one of {', '.join(s.lower() for s in STATES)}, "
                        f"not {args.state!r}")
    config = _load(args)
    store = Store(config.database)
    store.check()
    changes = [c for c in list_changes(store, _forge_connection(config, args.connection),
                                       config.web_url)
               if (state is None or c["status"] == state)
               and (args.project is None or c["project"] == args.project)]
    if args.json:
        print(json.dumps(changes, indent=2))
        return 0
    if not changes:
        print("no changes" + (" match" if state or args.project else ""))
        return 0
    print(" ".join(f"{name:<{width}}" for name, width in COLUMNS) + " SUBJECT")
    for c in changes:
        print(f"{c['number']:<6} {c['status']:<9} {c['project']:<20} {c['branch']:<10} "
              f"{c['patchset']:<4} {(c.get('last_result') or '-'):<22} {c['subject']}")
    return 0
