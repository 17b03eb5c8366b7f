"""A client of the web's streams for the tests, over real HTTP: the status's server-sent
events and the live console's websocket, opened with a token, a ticket or neither."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.fakes.auth_web import Api


@dataclass
class Events:
    """What a status event stream answered: its status, and the events it sent (their
    names and data) until it ended or the reader stopped."""

    status: int
    body: str = ""
    events: list[tuple[str, str]] = field(default_factory=list)
    ended: bool = False  # the server ended the stream

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


@dataclass
class Console:
    """What a console websocket answered: the refusal's status, or the text sent and
    the close code and reason."""

    status: int
    text: str = ""
    code: int | None = None
    reason: str = ""


def headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def ticket(api: Api, stream_path: str, token: str | None) -> tuple[int, Any]:
    """``POST <stream>/ticket``: its status and JSON answer."""
    status, _, text = api.call("POST", stream_path + "/ticket", token)
    return status, json.loads(text)


async def read_events(url: str, token: str | None = None, until: str | None = "status",
                      timeout: float = 20) -> Events:
    """Open the event stream and read it until an event named ``until`` (None: until
    the server ends it), or ``timeout`` seconds."""
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session, \
            session.get(url, headers=headers(token)) as response:
        if response.status != 200:
            return Events(response.status, await response.text())
        got = Events(200)
        name, data = "message", ""
        try:
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[len("event: "):]
                elif line.startswith("data: "):
                    data = line[len("data: "):]
                elif line == "" and data:
                    got.events.append((name, data))
                    if name == until:
                        return got
                    name, data = "message", ""
        except TimeoutError:
            return got
        got.ended = True
        return got


async def read_console(url: str, token: str | None = None, timeout: float = 20) -> Console:
    """Open the console websocket and read it until the server closes it."""
    try:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(url, headers=headers(token)) as ws:
            got = Console(101)
            async with asyncio.timeout(timeout):
                while True:
                    message = await ws.receive()
                    if message.type == aiohttp.WSMsgType.TEXT:
                        got.text += message.data
                    elif message.type == aiohttp.WSMsgType.CLOSE:
                        got.code, got.reason = message.data, message.extra or ""
                        return got
                    else:
                        got.code = ws.close_code
                        return got
    except aiohttp.WSServerHandshakeError as exc:
        return Console(exc.status)


def events(url: str, token: str | None = None, until: str | None = "status",
           timeout: float = 20) -> Events:
    return asyncio.run(read_events(url, token, until, timeout))


def console(url: str, token: str | None = None, timeout: float = 20) -> Console:
    return asyncio.run(read_console(url, token, timeout))
