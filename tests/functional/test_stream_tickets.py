"""The live streams of a tenant with access-rules, as a browser opens them: with a stream
ticket got with the bearer token (a websocket or an EventSource cannot carry one), over
real HTTP on 127.0.0.1. Streams end when their token expires, and a client may hold only
so many at once. (Forged, replayed and misused tickets: tests/security/.)"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import aiohttp
import jwt
import pytest

from tests.fakes import stream_client as sc
from tests.fakes.auth_web import Api, serve_auth_app
from zuulish.web.auth.tickets import TTL
from zuulish.web.streams import EXPIRED_CODE, EXPIRED_REASON

STATUS = "/api/tenant/t/status/events"
CONSOLE = "/api/build/build-1/console-stream"  # finished: its log, then closed
RUNNING = "/api/build/build-2/console-stream"  # running, no log yet: stays open
CAP = 3


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_auth_app(tmp_path_factory.mktemp("tickets"),
                        max_streams_per_client=CAP) as served_api:
        yield served_api


def reader(api: Api, lifetime: int = 300) -> str:
    """A token of a reader of tenant t, a user of its own."""
    return api.issuer.token({"aud": "dashboard", "sub": f"reader-{uuid.uuid4().hex[:8]}",
                             "groups": ["t-readers"]}, lifetime=lifetime)


def with_ticket(api: Api, path: str, token: str | None, ws: bool = False) -> str:
    status, answer = sc.ticket(api, path, token)
    assert status == 200, answer
    url = f"{api.url}{path}?ticket={answer['ticket']}"
    return url.replace("http://", "ws://") if ws else url


def test_a_ticket_opens_a_private_tenants_status_events(api: Api) -> None:
    token = reader(api)
    status, head, text = api.call("POST", STATUS + "/ticket", token)
    assert status == 200 and head["Cache-Control"] == "no-store"
    answer = json.loads(text)
    assert answer["expires_in"] == TTL and token not in answer["ticket"]
    got = sc.events(f"{api.url}{STATUS}?ticket={answer['ticket']}")
    assert got.status == 200, got.body
    [(name, data)] = got.events
    assert name == "status" and "gate" in [p["name"] for p in json.loads(data)["pipelines"]]


def test_a_ticket_opens_a_private_builds_console(api: Api) -> None:
    got = sc.console(with_ticket(api, CONSOLE, reader(api), ws=True))
    assert got.status == 101
    assert got.text == "private output of tenant t\n"
    assert (got.code, got.reason) == (1000, "build finished: SUCCESS")


def test_without_a_ticket_or_a_token_the_streams_and_tickets_are_refused(api: Api) -> None:
    assert sc.events(f"{api.url}{STATUS}").status == 401
    assert sc.console(f"{api.url.replace('http', 'ws')}{CONSOLE}").status == 401
    for path in (STATUS, CONSOLE):
        assert sc.ticket(api, path, None) == (401, {"error": "authentication required"})
        # a valid token whose claims the tenant's rules do not match
        assert sc.ticket(api, path, api.sso(groups=["pub-readers"])) == (
            403, {"error": "forbidden"})


def test_a_ticket_opens_its_stream_once(api: Api) -> None:
    url = with_ticket(api, STATUS, reader(api))
    assert sc.events(url).status == 200
    again = sc.events(url)
    assert again.status == 401
    assert json.loads(again.body) == {"error": "invalid stream ticket: ask for a new one"}


def test_a_tenant_without_access_rules_needs_no_ticket(api: Api) -> None:
    assert sc.events(f"{api.url}/api/tenant/pub/status/events").names() == ["status"]
    # a ticket works there too, for anyone, and such a stream has no token to expire
    assert sc.events(with_ticket(api, "/api/tenant/pub/status/events", None)).names() \
        == ["status"]


def test_a_ticket_is_declared_in_the_openapi_document(api: Api) -> None:
    status, doc = api.json("/api/openapi.json")
    assert status == 200
    for path in ("/api/tenant/{tenant}/status/events", "/api/build/{uuid}/console-stream"):
        names = [p["name"] for p in doc["paths"][path]["get"]["parameters"]]
        assert "ticket" in names
        assert "429" in doc["paths"][path]["get"]["responses"]
        assert doc["paths"][path + "/ticket"]["post"]["responses"]["200"]
    # and a parameter not declared is still refused, naming the one there is
    status, _, text = api.call("GET", "/api/tenant/pub/status/events?colour=red")
    assert status == 400 and "'colour' is not known; known: deltas, ticket" in text


def test_streams_end_when_the_token_expires(api: Api) -> None:
    """By ticket or by header, each stream of a token with a short life ends soon after
    it expires: the status with a last ``expired`` event, the console with 4001."""
    lifetime = 5
    token = reader(api, lifetime)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    status_url = with_ticket(api, STATUS, token)
    console_url = with_ticket(api, RUNNING, token, ws=True)

    async def watch() -> tuple[sc.Events, sc.Events, sc.Console]:
        return await asyncio.gather(
            sc.read_events(status_url, until=None, timeout=lifetime + 30),
            sc.read_events(f"{api.url}{STATUS}", token, until=None, timeout=lifetime + 30),
            sc.read_console(console_url, timeout=lifetime + 30))

    by_ticket, by_header, live_console = asyncio.run(watch())
    for got in (by_ticket, by_header):
        assert got.status == 200 and got.ended
        assert got.names()[0] == "status" and got.names()[-1] == "expired"
        assert json.loads(got.events[-1][1]) == {"reason": EXPIRED_REASON}
    assert (live_console.code, live_console.reason) == (EXPIRED_CODE, EXPIRED_REASON)
    assert time.time() >= expires - 1  # not before the token expired (give or take)
    # and no new ticket is given for that token now
    assert sc.ticket(api, STATUS, token)[0] == 401


def test_a_client_may_hold_only_so_many_streams(api: Api) -> None:
    token = reader(api)
    ws_url = f"{api.url.replace('http', 'ws')}{RUNNING}"

    async def hold() -> None:
        async with aiohttp.ClientSession() as session:
            held = [await session.ws_connect(ws_url, headers=sc.headers(token))
                    for _ in range(CAP)]
            # one more of either kind, by header or by ticket, is refused
            async with session.get(f"{api.url}{STATUS}", headers=sc.headers(token)) as more:
                assert more.status == 429
                error = (await more.json())["error"]
                assert f"too many open streams: a client may hold {CAP} at once" in error
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(with_ticket(api, RUNNING, token, ws=True))
            assert refused.value.status == 429
            # another user is not held back by this one
            other = await session.ws_connect(ws_url, headers=sc.headers(reader(api)))
            await other.close()
            await held.pop().close()  # one closes: a stream may be opened again
            deadline = time.monotonic() + 15
            while True:
                try:
                    held.append(await session.ws_connect(ws_url, headers=sc.headers(token)))
                    break
                except aiohttp.WSServerHandshakeError as exc:
                    assert exc.status == 429 and time.monotonic() < deadline
                    await asyncio.sleep(0.1)
            for ws in held:
                await ws.close()

    asyncio.run(hold())

