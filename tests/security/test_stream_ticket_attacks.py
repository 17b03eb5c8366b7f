"""Attacks on the stream tickets (``zuulish/web/auth/tickets.py``) and on the streams
they open: expired, replayed, forged, tampered and misplaced tickets, tickets made under
another key, tickets used as tokens or for admin actions, and one client holding open
more streams than its share. Over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import secrets
import time
from collections.abc import Iterator

import aiohttp
import jwt
import pytest
from sqlalchemy import select

from tests.fakes import stream_client as sc
from tests.fakes.auth_web import SECRET, Api, serve_auth_app
from zuulish.store import SpentTicketRow, Store
from zuulish.store.tickets import spend_ticket
from zuulish.web.auth.tickets import StreamTickets, TicketRefused, ticket_key

STATUS = "/api/tenant/t/status/events"
PUB_STATUS = "/api/tenant/pub/status/events"
CONSOLE = "/api/build/build-1/console-stream"
OTHER_CONSOLE = "/api/build/build-2/console-stream"
CAP = 2
REFUSED = ({"error": "invalid stream ticket: ask for a new one"},
           {"error": "authentication required"})


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_auth_app(tmp_path_factory.mktemp("ticket-attacks"),
                        max_streams_per_client=CAP) as served_api:
        yield served_api


def reader(api: Api) -> str:
    return api.sso(sub=f"reader-{secrets.token_hex(4)}", groups=["t-readers"])


def operator(tenants: list[str]) -> str:
    """A token of the HS256 authenticator whose zuul.admin claim makes it admin."""
    now = int(time.time())
    return jwt.encode({"iss": "zuulish_operator", "aud": "zuulish", "sub": "root",
                       "iat": now, "exp": now + 300, "zuul": {"admin": tenants}}, SECRET)


def mint(api: Api, path: str, token: str | None) -> str:
    status, answer = sc.ticket(api, path, token)
    assert status == 200, answer
    return str(answer["ticket"])


def server_tickets(api: Api, clock: float = 0.0) -> StreamTickets:
    """Tickets made with the server's own key (as only the server can), ``clock``
    seconds off."""
    return StreamTickets(lambda: ticket_key(api.config.parent),
                         clock=lambda: time.time() + clock)


def opens(api: Api, path: str, ticket: str) -> int:
    """The status of opening the stream at ``path`` with ``ticket`` (and no token)."""
    url = f"{api.url}{path}"
    if "console" in path:
        got = sc.console(url.replace("http://", "ws://") + "?ticket=" + ticket)
        return got.status
    got = sc.events(f"{url}?ticket={ticket}")
    if got.status != 200:
        assert json.loads(got.body) in REFUSED, got.body
    return got.status


def test_an_expired_ticket_is_refused(api: Api) -> None:
    old = server_tickets(api, clock=-120).mint("t", "status", "dana", time.time() + 300)
    assert opens(api, STATUS, old) == 401
    # and one whose token expired after it was made
    late = server_tickets(api).mint("t", "status", "dana", time.time() - 1)
    assert opens(api, STATUS, late) == 401


def test_a_replayed_ticket_is_refused(api: Api) -> None:
    ticket = mint(api, CONSOLE, reader(api))
    assert opens(api, CONSOLE, ticket) == 101
    assert opens(api, CONSOLE, ticket) == 401


@pytest.mark.parametrize(("minted_for", "used_on"), [
    (CONSOLE, OTHER_CONSOLE),  # another build
    (STATUS, PUB_STATUS),  # another tenant
    (CONSOLE, STATUS),  # another stream of the tenant
    (STATUS, CONSOLE),
])
def test_a_ticket_opens_only_its_own_stream(api: Api, minted_for: str, used_on: str) -> None:
    assert opens(api, used_on, mint(api, minted_for, reader(api))) == 401


def _parts(ticket: str) -> tuple[str, str, dict[str, object], str]:
    prefix, kid, payload, signature = ticket.split(".")
    return prefix, kid, json.loads(base64.urlsafe_b64decode(payload + "==")), signature


def _encode(payload: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


def tampered(ticket: str, how: str) -> str:
    prefix, kid, payload, signature = _parts(ticket)
    if how in ("tenant", "sub", "exp", "until", "stream"):
        payload.update({"tenant": {"tenant": "pub"}, "sub": {"sub": "root"},
                        "exp": {"exp": int(time.time()) + 10**6},
                        "until": {"until": None},
                        "stream": {"stream": "console:build-2"}}[how])
        return ".".join((prefix, kid, _encode(payload), signature))
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return {"signature": ".".join((prefix, kid, _encode(payload), flipped)),
            "no signature": ".".join((prefix, kid, _encode(payload), "")),
            "prefix": ticket.replace("zst1.", "zst2.", 1),
            "kid": ".".join((prefix, "0" * len(kid), _encode(payload), signature)),
            "extra part": ticket + ".AAAA",
            "junk": "zst1.x.y.z",
            "long": ticket + "A" * 5000,
            "not ascii": ticket[:-2] + "éé"}[how]


@pytest.mark.parametrize("how", ["tenant", "sub", "exp", "until", "stream", "signature",
                                 "no signature", "prefix", "kid", "extra part", "junk",
                                 "long", "not ascii"])
def test_a_tampered_ticket_is_refused_and_why_is_only_logged(
        api: Api, how: str, caplog: pytest.LogCaptureFixture) -> None:
    ticket = mint(api, STATUS, reader(api))
    forged = tampered(ticket, how)
    path = {"tenant": PUB_STATUS, "stream": OTHER_CONSOLE}.get(how, STATUS)
    with caplog.at_level(logging.INFO, logger="zuulish.web.auth"):
        assert opens(api, path, forged) == 401
    assert "stream ticket refused" in caplog.text
    assert opens(api, STATUS, ticket) == 200  # the genuine one was not spent


def test_a_ticket_made_under_another_key_is_refused(api: Api,
                                                   tmp_path_factory: pytest.TempPathFactory
                                                   ) -> None:
    foreign = StreamTickets(lambda: secrets.token_bytes(32))
    assert opens(api, STATUS, foreign.mint("t", "status", "dana", None)) == 401
    # even under the server's key id
    _, kid, _, _ = _parts(mint(api, PUB_STATUS, None))
    prefix, _, payload, signature = _parts(foreign.mint("t", "status", "dana", None))
    assert opens(api, STATUS, ".".join((prefix, kid, _encode(payload), signature))) == 401
    # a web with another secrets.key (the key changed) refuses the tickets made before
    ticket = mint(api, CONSOLE, reader(api))
    with serve_auth_app(tmp_path_factory.mktemp("rekeyed")) as rekeyed:
        assert sc.ticket(rekeyed, CONSOLE, rekeyed.sso(groups=["t-readers"]))[0] == 200
        assert opens(rekeyed, CONSOLE, ticket) == 401


def test_a_ticket_made_for_anyone_is_decided_again_as_anyone(api: Api) -> None:
    """A ticket made while a tenant was open does not open it once it has access-rules."""
    anyone = server_tickets(api).mint("t", "status", None, None)
    assert opens(api, STATUS, anyone) == 401


def test_a_ticket_is_never_a_token_and_never_acts(api: Api) -> None:
    # the strongest ticket there is: of an admin of the tenant
    admin = operator(["t"])
    assert api.call("GET", "/api/tenant/t/status", admin)[0] == 200
    promote = {"pipeline": "gate", "changes": ["3"]}
    ticket = mint(api, STATUS, admin)
    # as a bearer token: for reading, for acting, for more tickets
    assert api.call("GET", "/api/tenant/t/status", ticket)[0] == 401
    assert api.call("POST", "/api/tenant/t/promote", ticket, promote)[0] == 401
    assert api.call("POST", STATUS + "/ticket", ticket)[0] == 401
    # in the query of anything but its stream
    for method, path, body in (("GET", "/api/tenant/t/status", None),
                               ("GET", "/t/t/status", None),
                               ("GET", "/api/build/build-1", None),
                               ("POST", "/api/tenant/t/promote", promote),
                               ("POST", STATUS + "/ticket", None)):
        status, _, text = api.call(method, f"{path}?ticket={ticket}", None, body)
        assert status in (400, 401), (path, status, text)  # (400: takes no ticket)
    assert opens(api, STATUS, ticket) == 200  # it still opens its stream
    # the token it was made with is not in it
    _, _, payload, _ = _parts(ticket)
    assert sorted(payload) == ["exp", "jti", "stream", "sub", "tenant", "until"]
    assert admin not in ticket and admin.split(".")[2] not in ticket


def test_one_anonymous_client_cannot_hold_more_than_its_share(api: Api) -> None:
    url = f"{api.url}{PUB_STATUS}"

    async def hold() -> None:
        async with aiohttp.ClientSession() as session:
            held = [await session.get(url) for _ in range(CAP)]
            assert [r.status for r in held] == [200] * CAP
            async with session.get(url) as more:
                assert more.status == 429
                assert "too many open streams" in (await more.json())["error"]
            # a signed-in user is counted apart from the address
            async with session.get(f"{api.url}{STATUS}",
                                   headers=sc.headers(reader(api))) as signed_in:
                assert signed_in.status == 200
            for response in held:
                response.close()
            # the server notices they have gone (not only at the next keep-alive)
            deadline = time.monotonic() + 10
            while True:
                async with session.get(url) as again:
                    if again.status == 200:
                        break
                    assert again.status == 429 and time.monotonic() < deadline
                await asyncio.sleep(0.2)

    asyncio.run(hold())


@pytest.mark.store
def test_a_ticket_used_on_one_web_is_refused_by_every_other(store: Store) -> None:
    """Several webs behind one load balancer: each records the tickets it accepts in
    the store, so a replayed ticket opens no second stream on another web."""
    key = secrets.token_bytes(32)
    clock = [time.time()]
    webs = [StreamTickets(lambda: key, clock=lambda: clock[0],
                          shared=functools.partial(spend_ticket, store)) for _ in range(2)]
    ticket = webs[0].mint("t", "status", "dana", None)
    assert webs[0].check(ticket, "t", "status").sub == "dana"
    with pytest.raises(TicketRefused, match="used already .on another web"):
        webs[1].check(ticket, "t", "status")
    with pytest.raises(TicketRefused, match="used already"):
        webs[0].check(ticket, "t", "status")
    # another ticket is not held back, and used ones are forgotten once expired
    assert webs[1].check(webs[0].mint("t", "status", None, None), "t", "status").sub is None
    clock[0] += 61
    webs[1].check(webs[1].mint("t", "status", None, None), "t", "status")
    with store.read() as s:
        assert len(s.scalars(select(SpentTicketRow)).all()) == 1


def test_a_ticket_is_refused_when_it_cannot_be_recorded_as_used() -> None:
    """The store away: no web can tell whether another used the ticket, so it is refused
    (the page asks for a new one later), never accepted unrecorded."""
    away = Store("postgresql+psycopg://nobody@127.0.0.1:1/none")
    web = StreamTickets(lambda: b"k" * 32, shared=functools.partial(spend_ticket, away))
    with pytest.raises(TicketRefused, match="cannot be recorded as used .the database is away"):
        web.check(web.mint("t", "status", "dana", None), "t", "status")
    away.dispose()
