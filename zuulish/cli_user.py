"""``zuulish user create|token|list|delete|revoke``: the forge's users and tokens.

Users clone and push over HTTP (``/git/<project>.git``) with their name and a
token; a token is printed once, when it is made, and stored only as a digest.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def _store(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> Any:
    from zuulish.store import Store

    store = Store(load(args).database)
    store.check()
    return store


def _print_token(name: str, token_id: int, token: str) -> None:
    print(f"token {token_id} of {name} (shown only now; keep it secret):")
    print(token)


def cmd_user(args: argparse.Namespace, load: Callable[[argparse.Namespace], Any]) -> int:
    from zuulish.store import users

    store = _store(args, load)
    try:
        if args.user_command == "create":
            token_id, token = users.create_user(store, args.name, admin=args.admin,
                                                email=args.email)
            print(f"created {'administrator' if args.admin else 'user'} {args.name}")
            _print_token(args.name, token_id, token)
        elif args.user_command == "token":
            token_id, token = users.new_token(store, args.name)
            _print_token(args.name, token_id, token)
        elif args.user_command == "delete":
            users.delete_user(store, args.name)
            print(f"deleted user {args.name} and their tokens")
        elif args.user_command == "revoke":
            print(f"revoked token {args.token_id} of {users.revoke_token(store, args.token_id)}")
        else:
            found = users.list_users(store)
            if not found:
                print("no users; `zuulish user create NAME` creates one")
            for u in found:
                role = "admin" if u.admin else "user"
                tokens = ",".join(map(str, u.tokens)) or "none"
                revoked = f" (revoked: {','.join(map(str, u.revoked))})" if u.revoked else ""
                print(f"{u.name}  {role}  {u.email or '-'}  tokens: {tokens}{revoked}")
    finally:
        store.dispose()
    return 0


def add_user_parsers(sub: Any, load: Callable[[argparse.Namespace], Any]) -> None:
    """The ``user`` command group on the ``zuulish`` parser's subparsers ``sub``."""
    user = sub.add_parser("user", help="users of the built-in forge over HTTP") \
        .add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a user and print their first token")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true",
                        help="may push straight to branches (others: refs/for/* only)")
    create.add_argument("--email")
    token = user.add_parser("token", help="make and print a new token of a user")
    token.add_argument("name")
    user.add_parser("list", help="list users and the ids of their tokens")
    delete = user.add_parser("delete", help="delete a user and their tokens")
    delete.add_argument("name")
    revoke = user.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id", type=int, metavar="TOKEN-ID")
    for parser in (create, token, delete, revoke, user.choices["list"]):
        parser.set_defaults(func=lambda args: cmd_user(args, load))
