"""``zuulish create-auth-token``: a token that lets a user administer a tenant through
the web API, signed with an authenticator's HS256 secret or RS256 private key."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from zuulish.errors import UserError

DEFAULT_EXPIRES_IN = 600  # seconds; tokens are hard to revoke, so short by default


def cmd_create_auth_token(args: argparse.Namespace,
                          load: Callable[[argparse.Namespace], Any]) -> int:
    from zuulish.config.tenant import load_tenants
    from zuulish.web.auth.issue import make_token

    config = load(args)
    authenticators = config.auth.authenticators
    auth = authenticators.get(args.auth_config)
    if auth is None:
        raise UserError(f"no authenticator named {args.auth_config!r} in {config.path} "
                        f"(auth: {', '.join(sorted(authenticators)) or 'none configured'})")
    tenants = {t.name for t in load_tenants(config.tenant_file, set(config.connections))}
    if args.tenant not in tenants:
        raise UserError(f"the tenant file defines no tenant {args.tenant!r} (it has: "
                        f"{', '.join(sorted(tenants)) or 'none'})")
    if not args.user.strip():
        raise UserError("--user must name someone")
    print(make_token(auth, args.user, [args.tenant], args.expires_in))
    return 0


def add_auth_token_parser(sub: Any, load: Callable[[argparse.Namespace], Any]) -> None:
    parser = sub.add_parser("create-auth-token",
                            help="a token that makes a user admin of a tenant (web API)")
    parser.add_argument("--auth-config", required=True,
                        help="the authenticator (a name under auth: in zuulish.yaml)")
    parser.add_argument("--tenant", required=True, help="the tenant the user may administer")
    parser.add_argument("--user", required=True, help="who the token is for")
    parser.add_argument("--expires-in", type=int, default=DEFAULT_EXPIRES_IN,
                        help=f"seconds the token is valid (default {DEFAULT_EXPIRES_IN})")
    parser.set_defaults(func=lambda args: cmd_create_auth_token(args, load))
