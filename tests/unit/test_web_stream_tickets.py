"""Stream tickets (``zuulish/web/auth/tickets.py``), the streams' per-client cap and the
expiry a token's claims give, without a server (the served ones: tests/functional/
test_stream_tickets.py, tests/security/test_stream_ticket_attacks.py)."""

from __future__ import annotations

import pytest

from zuulish.web.auth.authorizer import Identity
from zuulish.web.auth.settings import Authenticator
from zuulish.web.auth.tickets import Grant, StreamTickets, TicketRefused
from zuulish.web.streams import StreamLimits

KEY = b"k" * 32


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_ticket_opens_its_stream_once_within_its_time() -> None:
    clock = Clock()
    tickets = StreamTickets(lambda: KEY, ttl=60, clock=clock)
    ticket = tickets.mint("t", "status", "dana", clock.now + 300)
    assert tickets.check(ticket, "t", "status") == Grant("t", "status", "dana",
                                                         clock.now + 300)
    with pytest.raises(TicketRefused, match="used already"):
        tickets.check(ticket, "t", "status")
    late = tickets.mint("t", "status", "dana", None)
    clock.now += 60
    with pytest.raises(TicketRefused, match="expired"):
        tickets.check(late, "t", "status")


def test_a_ticket_is_refused_once_its_token_has_expired() -> None:
    clock = Clock()
    tickets = StreamTickets(lambda: KEY, clock=clock)
    ticket = tickets.mint("t", "status", "dana", clock.now + 5)
    clock.now += 5
    with pytest.raises(TicketRefused, match="token the ticket was made with has expired"):
        tickets.check(ticket, "t", "status")


def test_a_new_key_refuses_the_tickets_of_the_old_one() -> None:
    keys = [KEY]
    tickets = StreamTickets(lambda: keys[0])
    ticket = tickets.mint("t", "status", "dana", None)
    keys[0] = b"n" * 32
    restarted = StreamTickets(lambda: keys[0])
    with pytest.raises(TicketRefused, match="another key"):
        restarted.check(ticket, "t", "status")


def test_the_tickets_remembered_as_used_are_bounded() -> None:
    clock = Clock()
    tickets = StreamTickets(lambda: KEY, ttl=60, clock=clock, max_spent=2)
    for _ in range(2):
        tickets.check(tickets.mint("t", "status", None, None), "t", "status")
    with pytest.raises(TicketRefused, match="too many tickets in use"):
        tickets.check(tickets.mint("t", "status", None, None), "t", "status")
    clock.now += 61  # the used ones have expired: forgotten
    tickets.check(tickets.mint("t", "status", None, None), "t", "status")


def test_a_client_holds_at_most_its_share_of_streams() -> None:
    limits = StreamLimits(2)
    assert limits.acquire("user:a") and limits.acquire("user:a")
    assert not limits.acquire("user:a")
    assert limits.acquire("address:127.0.0.1")
    limits.release("user:a")
    assert limits.acquire("user:a")
    for _ in range(2):
        limits.release("user:a")
    limits.release("address:127.0.0.1")
    assert limits.open == {}
    with pytest.raises(ValueError):
        StreamLimits(0)


def test_a_tokens_expiry_is_its_exp_or_max_validity_with_the_skew() -> None:
    auth = Authenticator(name="ops", driver="HS256", issuer_id="i", client_id="c",
                         secret="s" * 32, skew=5, max_validity_time=100)
    assert Identity("a", {"exp": 1000, "iat": 950}, auth).expires == 1005
    assert Identity("a", {"exp": 1000, "iat": 500}, auth).expires == 605
    assert Identity("admin-token").expires is None
