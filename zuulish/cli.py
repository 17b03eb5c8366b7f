"""The ``zuulish`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from zuulish.errors import UserError

DEFAULT_CONFIG = "zuulish.yaml"


def _config_path(args: argparse.Namespace) -> Path:
    return Path(args.config or os.environ.get("ZUULISH_CONFIG") or DEFAULT_CONFIG)


def _load(args: argparse.Namespace):
    from zuulish.server_config import load_server_config

    return load_server_config(_config_path(args))


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from zuulish.store import Store

    config = _load(args)
    revision = Store(config.database).upgrade()
    print(f"database at {config.database} is at revision {revision}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from zuulish.runner import run_forever

    run_forever(_load(args))
    return 0


def cmd_component(args: argparse.Namespace) -> int:
    from zuulish.component_runner import run_component

    config = _load(args)
    if args.command == "web":
        from zuulish.web.standalone import run_web

        run_web(config)
    else:
        run_component(config, args.command)
    return 0


def cmd_components(args: argparse.Namespace) -> int:
    from zuulish.cluster.listing import show_components

    return show_components(_load(args), show_all=args.all)


def cmd_demo(args: argparse.Namespace) -> int:
    from zuulish.demo import run_demo

    return run_demo(Path(args.dir), once=args.once, port=args.port,
                    job_seconds=args.job_seconds, pace=args.pace)


def _forge_connection(config, name: str | None) -> str:
    forges = [n for n, c in config.connections.items() if c.driver == "git"]
    if name:
        if name not in forges:
            raise UserError(f"no git forge connection named {name!r}; "
                            f"configured: {', '.join(forges) or 'none'}")
        return name
    if not forges:
        raise UserError(f"{config.path} configures no git forge connection")
    return forges[0]


#: How long ``review --approve`` waits for the scheduler to say where the change went.
APPROVAL_WAIT = 15.0


def cmd_review(args: argparse.Namespace) -> int:
    from zuulish.drivers.git.intake import server_running
    from zuulish.drivers.git.review import approval_outcome, record_review
    from zuulish.scheduler.management import wait_outcome
    from zuulish.store import Store

    config = _load(args)
    store = Store(config.database)
    store.check()
    if not (args.approve or args.recheck or args.abandon):
        from zuulish.cli_review import other_review

        print(other_review(store, _forge_connection(config, args.connection), args))
        return 0
    said, event_id = record_review(store, _forge_connection(config, args.connection),
                                   args.number, approve=args.approve, recheck=args.recheck,
                                   abandon=args.abandon, message=args.message)
    print(said)
    if args.approve:  # why it will not enter the gate, if it will not
        if server_running(config.path):
            outcome = wait_outcome(store, event_id, APPROVAL_WAIT)
            print("\n".join(approval_outcome(args.number, outcome)))
        else:
            print("zuulish is not running: the scheduler acts on the approval when it starts")
    return 0


def cmd_logs_prune(args: argparse.Namespace) -> int:
    import time

    from zuulish.executor.retention import DAY, prune_logs
    from zuulish.logs.stores import make_log_stores
    from zuulish.store import Store

    config = _load(args)
    days = args.older_than if args.older_than is not None else config.log_retention_days
    if days is None:
        print("log retention is off (executor.log_retention_days: null); "
              "give --older-than DAYS to prune anyway")
        return 0
    if days < 0:
        raise UserError(f"--older-than must be 0 days or more, not {days}")
    store = Store(config.database)
    store.check()
    removed = prune_logs(store, config.state_dir, time.time() - days * DAY,
                         make_log_stores(config.logs, config.state_dir))
    print(f"removed the logs of {len(removed)} builds that finished more than {days:g} "
          "days ago")
    return 0


def cmd_project_create(args: argparse.Namespace) -> int:
    from zuulish.drivers.registry import make_connections
    from zuulish.store import Store

    config = _load(args)
    store = Store(config.database)
    store.upgrade()
    forge = make_connections(config, store).forges[_forge_connection(config, args.connection)]
    if args.from_dir:
        from zuulish.cli_project import create_from

        path, imported = create_from(forge, args.name, Path(args.from_dir), args.branch)
        print(imported.describe(), file=sys.stderr)
    else:
        path = forge.create_project(args.name, None, branch=args.branch or "main")
    print(f"created {args.name} at {path}; clone it (with the commit-msg hook that adds "
          f"Change-Id footers) with:\n  {_clone_command(forge, args.name)}")
    return 0


def _clone_command(forge: Any, name: str) -> str:
    from zuulish.drivers.git.commit_msg import clone_command

    return clone_command(forge.clone_url(name), name.rsplit("/", 1)[-1], forge.web_url)


def cmd_project_clone_url(args: argparse.Namespace) -> int:
    from zuulish.drivers.registry import make_connections
    from zuulish.store import Store

    config = _load(args)
    forge = make_connections(config, Store(config.database)) \
        .forges[_forge_connection(config, args.connection)]
    if not forge.exists(args.name):
        raise UserError(f"no project {args.name!r} on the forge; projects: "
                        f"{', '.join(forge.projects()) or 'none'}")
    print(forge.clone_url(args.name))
    print(f"clone it with the commit-msg hook (adds Change-Id footers):\n  "
          f"{_clone_command(forge, args.name)}", file=sys.stderr)
    return 0


def cmd_validate_config(args: argparse.Namespace) -> int:
    from zuulish.config.validate import validate

    report = validate([Path(p) for p in args.paths], standalone=args.standalone)
    for error in report.errors:
        print(str(error))
    for warning in report.warnings:
        print(str(warning))
    if report.unresolved:
        print(f"{len(report.unresolved)} name(s) defined elsewhere (unresolved, not errors "
              "with --standalone):", file=sys.stderr)
        for name in report.unresolved:
            print(f"  unresolved: {name}", file=sys.stderr)
    if not report.files and not report.errors:
        print("no Zuul configuration files found", file=sys.stderr)
        return 1
    if report.ok:
        print(f"{len(report.files)} file(s) valid", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_encrypt(args: argparse.Namespace) -> int:
    from zuulish.secrets import ProjectKeys, encrypt, encrypted_block
    from zuulish.store import Store

    config = _load(args)
    store = Store(config.database)
    store.upgrade()
    connection = _forge_connection(config, args.connection)
    plaintext = Path(args.infile).read_text() if args.infile else sys.stdin.read()
    if args.strip:
        plaintext = plaintext.strip()
    if not plaintext:
        raise UserError("nothing to encrypt: give the value on standard input or --infile")
    keys = ProjectKeys(store, config.state_dir)
    chunks = encrypt(keys.public_key(connection, args.project), plaintext)
    print(encrypted_block(args.secret or "my-secret", args.field, chunks), end="")
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    """enqueue, dequeue, promote: recorded as an event, then the scheduler's answer."""
    from zuulish.scheduler import management
    from zuulish.store import Store

    config = _load(args)
    data = management.request_data(args.command, args.tenant, args.pipeline,
                                   project=getattr(args, "project", None),
                                   change=getattr(args, "change", None),
                                   changes=getattr(args, "changes", None),
                                   ref=getattr(args, "ref", None),
                                   newrev=getattr(args, "newrev", None))
    store = Store(config.database)
    store.check()
    event_id = management.record(store, args.command, data, account="cli")
    outcome = management.wait_outcome(store, event_id, args.timeout) if args.timeout else None
    if outcome is None:
        print(f"recorded as event {event_id}; the scheduler has not acted on it yet "
              "(is `zuulish run` running?)")
        return 0
    print(outcome)
    return 1 if outcome.startswith(("error", "internal error")) else 0


def _lazy(target: str):
    """The command ``module:function``, imported only when it runs (a quick start-up)."""
    def run(args: argparse.Namespace) -> int:
        import importlib

        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)(args)
    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zuulish", description="A project gating system.")
    parser.add_argument("-c", "--config", help="server configuration file "
                        f"(default: $ZUULISH_CONFIG or ./{DEFAULT_CONFIG})")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run every component in one process").set_defaults(func=cmd_run)
    for kind, text in (
            ("scheduler", "run a scheduler (active while it holds the lease; else standby)"),
            ("executor", "run an executor (builds of its zone)"),
            ("merger", "run a merger (speculative states)"),
            ("launcher", "run a node launcher"),
            ("web", "serve the dashboard, the API, webhooks and the forge over HTTP")):
        sub.add_parser(kind, help=text).set_defaults(func=cmd_component)
    listing = sub.add_parser("components", help="the components of this deployment and "
                             "their heartbeats")
    listing.add_argument("--all", action="store_true",
                         help="also those that stopped or died (default: live ones)")
    listing.set_defaults(func=cmd_components)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="upgrade the schema to the newest revision") \
        .set_defaults(func=cmd_db_upgrade)

    demo = sub.add_parser("demo", help="set up a demo tenant and show the gate working")
    demo.add_argument("--once", action="store_true", help="exit after the summary")
    demo.add_argument("--dir", default=".zuulish-demo", help="where to keep the demo's state")
    demo.add_argument("--port", type=int, default=9000, help="dashboard port (0: any free)")
    demo.add_argument("--job-seconds", type=float, default=6.0,
                      help="how long each demo job takes beyond its tests (default: 6)")
    demo.add_argument("--pace", type=float, default=4.0,
                      help="seconds between two pushed changes (default: 4)")
    demo.set_defaults(func=cmd_demo)

    review = sub.add_parser("review", help="review a change on the built-in forge")
    review.add_argument("number", type=int)
    action = review.add_mutually_exclusive_group()
    action.add_argument("--approve", action="store_true", help="Code-Review+2, Workflow+1")
    action.add_argument("--recheck", action="store_true", help="run the check jobs again")
    action.add_argument("--abandon", action="store_true", help="abandon the change")
    action.add_argument("--restore", action="store_true", help="reopen an abandoned change")
    action.add_argument("--code-review", metavar="VOTE",
                        help="vote Code-Review -2, -1, 0 (remove the vote), +1 or +2")
    review.add_argument("-m", "--message", help="comment to leave (alone: a comment only)")
    review.add_argument("--connection", help="forge connection (default: the first)")
    review.set_defaults(func=cmd_review)

    logs = sub.add_parser("logs", help="build logs").add_subparsers(dest="logs", required=True)
    prune = logs.add_parser("prune", help="remove build logs older than the retention time")
    prune.add_argument("--older-than", type=float, metavar="DAYS",
                       help="default: the server's executor.log_retention_days")
    prune.set_defaults(func=cmd_logs_prune)

    changes = sub.add_parser("changes", help="list changes on the built-in forge")
    changes.add_argument("--json", action="store_true", help="print JSON")
    changes.add_argument("--state", help="only changes in this state: new, merged, abandoned")
    changes.add_argument("--project", help="only changes of this project")
    changes.add_argument("--connection", help="forge connection (default: the first)")
    changes.set_defaults(func=_lazy("zuulish.cli_changes:cmd_changes"))

    show = sub.add_parser("show", help="a change with its reports and builds")
    show.add_argument("number", type=int)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--connection", help="forge connection (default: the first)")
    show.set_defaults(func=_lazy("zuulish.cli_show:cmd_show"))

    status = sub.add_parser("status", help="the pipelines' queues of the running server")
    status.add_argument("--tenant", help="only this tenant (default: every tenant the "
                        "token may read)")
    from zuulish.cli_api import add_api_arguments

    add_api_arguments(status)
    status.set_defaults(func=_lazy("zuulish.cli_status:cmd_status"))

    validate = sub.add_parser("validate-config",
                              help="validate a repository's Zuul configuration files")
    validate.add_argument("paths", nargs="+", metavar="PATH",
                          help="a repository checkout or configuration file")
    validate.add_argument("--standalone", action="store_true",
                          help="names defined in other repositories are not errors")
    validate.set_defaults(func=cmd_validate_config)

    enc = sub.add_parser("encrypt", help="encrypt a value for a project's secret "
                         "(prints an !encrypted/pkcs1-oaep block)")
    enc.add_argument("--project", required=True, help="the project whose jobs may use it")
    enc.add_argument("--secret", help="the secret's name in the printed block")
    enc.add_argument("--field", default="value", help="the field name in the secret's data")
    enc.add_argument("--infile", help="read the value from this file (default: stdin)")
    enc.add_argument("--strip", action="store_true", help="strip surrounding whitespace")
    enc.add_argument("--connection", help="forge connection (default: the first)")
    enc.set_defaults(func=cmd_encrypt)

    for kind, text in (("enqueue", "put a change into a pipeline (its requirements apply)"),
                       ("dequeue", "take a change out of a pipeline"),
                       ("promote", "move changes to the head of their queues, in order")):
        manage = sub.add_parser(kind, help=text)
        manage.add_argument("--tenant", required=True)
        manage.add_argument("--pipeline", required=True)
        if kind == "promote":
            manage.add_argument("--changes", nargs="+", required=True,
                                metavar="NUMBER[,PATCHSET]")
        elif kind == "enqueue":
            manage.add_argument("--project", required=True)
            what = manage.add_mutually_exclusive_group(required=True)
            what.add_argument("--change", metavar="NUMBER[,PATCHSET]")
            what.add_argument("--ref", metavar="REF",
                              help="a ref such as refs/heads/main, for post and periodic "
                                   "pipelines (tested at --newrev, else the branch tip)")
            manage.add_argument("--newrev", metavar="SHA", help="the commit to test the ref at")
        else:
            manage.add_argument("--project", required=True)
            manage.add_argument("--change", required=True, metavar="NUMBER[,PATCHSET]")
        manage.add_argument("--timeout", type=float, default=30.0,
                            help="seconds to wait for the scheduler's answer (0: do not wait)")
        manage.set_defaults(func=cmd_manage)

    project = sub.add_parser("project", help="projects on the built-in forge") \
        .add_subparsers(dest="project", required=True)
    create = project.add_parser("create", help="create a repository")
    create.add_argument("name")
    create.add_argument("--from", dest="from_dir",
                        help="initial content: a git repository's history (every branch "
                             "and tag, commits unchanged), or a directory's files with their "
                             "modes and links")
    create.add_argument("--branch", help="the default branch (default: a git repository's "
                                         "current branch, else main)")
    create.add_argument("--connection", help="forge connection (default: the first)")
    create.set_defaults(func=cmd_project_create)
    plist = project.add_parser("list", help="list the forge's repositories")
    plist.add_argument("--json", action="store_true", help="print JSON")
    plist.add_argument("--connection", help="forge connection (default: the first)")
    plist.set_defaults(func=_lazy("zuulish.cli_project:cmd_project_list"))
    branch = project.add_parser("branch", help="branches of a repository") \
        .add_subparsers(dest="branch", required=True)
    bcreate = branch.add_parser("create", help="create a branch (an administrator's action)")
    bcreate.add_argument("project")
    bcreate.add_argument("branch")
    bcreate.add_argument("--from", dest="start", metavar="REF",
                         help="where the branch starts (default: the default branch's tip)")
    bcreate.add_argument("--connection", help="forge connection (default: the first)")
    bcreate.set_defaults(func=_lazy("zuulish.cli_project:cmd_branch_create"))
    clone = project.add_parser("clone-url", help="a repository's clone URL, and (on stderr) "
                               "the command that clones it with the commit-msg hook")
    clone.add_argument("name")
    clone.add_argument("--connection", help="forge connection (default: the first)")
    clone.set_defaults(func=cmd_project_clone_url)

    from zuulish.cli_auth_token import add_auth_token_parser
    from zuulish.cli_autohold import add_autohold_parsers
    from zuulish.cli_tenant import add_tenant_parser
    from zuulish.cli_user import add_user_parsers

    add_tenant_parser(sub, _load)
    add_user_parsers(sub, _load)
    add_autohold_parsers(sub, _load)
    add_auth_token_parser(sub, _load)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except UserError as exc:
        print(f"zuulish: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
