"""``zuulish tenant reconfigure``: ask the running scheduler to reload the tenant file.

The request is a stored event, as ``zuulish enqueue`` is: the scheduler (in
``zuulish run``, whatever process it is in) carries it out in order with every
other event and writes its answer, which this command waits for and prints.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def cmd_tenant_reconfigure(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]
                           ) -> int:
    from zuulish.scheduler import management
    from zuulish.store import Store

    config = load(args)
    data = management.reconfigure_data(args.tenant)
    store = Store(config.database)
    store.check()
    event_id = management.record(store, management.RECONFIGURE, data, account="cli")
    outcome = management.wait_outcome(store, event_id, args.timeout) if args.timeout else None
    if outcome is None:
        print(f"recorded as event {event_id}; the scheduler has not acted on it yet "
              "(is `zuulish run` running?); it will when it next runs")
        return 1 if args.timeout else 0
    print(outcome)
    return 1 if outcome.startswith(("error", "internal error")) else 0


def add_tenant_parser(sub: Any, load: Callable[[argparse.Namespace], Any]) -> None:
    """The ``tenant`` command group on the ``zuulish`` parser's subparsers ``sub``."""
    tenant = sub.add_parser("tenant", help="tenants of the running server") \
        .add_subparsers(dest="tenant_command", required=True)
    reconf = tenant.add_parser(
        "reconfigure", help="re-read the tenant file and every project's configuration "
        "(as SIGHUP does); a configuration with errors leaves the running one in place")
    reconf.add_argument("tenant", nargs="?", help="only this tenant (default: every tenant)")
    reconf.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the scheduler's answer (0: do not wait)")
    reconf.set_defaults(func=lambda args: cmd_tenant_reconfigure(args, load))
