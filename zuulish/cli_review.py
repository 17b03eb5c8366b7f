"""``zuulish review`` beyond approve, recheck and abandon: votes, comments, restores."""

from __future__ import annotations

import argparse

from zuulish.drivers.git.review_actions import parse_vote, restore, vote
from zuulish.store import Store


def other_review(store: Store, connection: str, args: argparse.Namespace) -> str:
    """``--restore``, ``--code-review N [--message T]`` or ``--message T`` alone."""
    if args.restore:
        return restore(store, connection, args.number, args.message)
    code_review = parse_vote(args.code_review) if args.code_review is not None else None
    return vote(store, connection, args.number, code_review, args.message)
