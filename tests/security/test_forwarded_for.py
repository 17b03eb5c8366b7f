"""The stream cap behind a reverse proxy (``web.trusted_proxies``): each anonymous
client counts on its own, and no client escapes its count by writing its own
``X-Forwarded-For`` hops. Over real HTTP on 127.0.0.1, the test playing the proxy."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.fakes.auth_web import serve_auth_app
from zuulish.web.client_address import parse_networks

PUB_STATUS = "/api/tenant/pub/status/events"


async def _open(session: aiohttp.ClientSession, url: str, forwarded: str | None) -> int:
    """Open a stream (kept open with the session) as forwarded for ``forwarded``."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    response = await session.get(url, headers=headers)
    if response.status != 200:
        response.release()
    return response.status


def test_behind_a_trusted_proxy_each_client_has_its_own_count(tmp_path: Path) -> None:
    with serve_auth_app(tmp_path, max_streams_per_client=1,
                        trusted_proxies=parse_networks(["127.0.0.1"])) as api:
        url = api.url + PUB_STATUS

        async def run() -> list[int]:
            async with aiohttp.ClientSession() as session:
                return [
                    await _open(session, url, "203.0.113.5"),  # client A
                    await _open(session, url, "203.0.113.5"),  # A again: over its cap
                    # A, writing a hop of its own: the proxy appends the real one
                    await _open(session, url, "198.51.100.1, 203.0.113.5"),
                    await _open(session, url, "203.0.113.6"),  # client B: its own count
                ]

        assert asyncio.run(run()) == [200, 429, 429, 200]


def test_a_header_from_a_peer_that_is_no_trusted_proxy_is_ignored(tmp_path: Path) -> None:
    with serve_auth_app(tmp_path, max_streams_per_client=1) as api:
        url = api.url + PUB_STATUS

        async def run() -> list[int]:
            async with aiohttp.ClientSession() as session:
                return [await _open(session, url, "203.0.113.5"),
                        await _open(session, url, "203.0.113.6")]  # the same peer

        assert asyncio.run(run()) == [200, 429]
