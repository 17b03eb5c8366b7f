"""One HTTP call to GitHub's API, tried again where trying again is right.

A call that met a server error (5xx), a broken connection or a timeout is tried again
after a growing pause (``backoff``, doubled each time) at most ``retries`` times, then
fails with a :class:`GitHubApiError` naming the call. A spent rate-limit budget or a
rate-limit refusal is waited out as :mod:`ratelimit` says, at most
``rate_limit_retries`` times and never longer than ``max_rate_wait`` seconds at once:
past that, the error's ``retry_after`` says when to try again (an outbox defers the
call rather than holding its thread). Every other answer,
4xx included, is handed back to the caller. Writes are tried again too: a comment or
status may then be posted twice, and a merge that GitHub made but did not confirm is
refused the second time ("not mergeable"): the reporter reads the pull request again.
Synchronous: the scheduler's worker threads call it, and one client may be shared
between them.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from zuulish.clock import Clock, SystemClock
from zuulish.drivers.github.errors import GitHubApiError
from zuulish.drivers.github.ratelimit import RateLimiter

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
USER_AGENT = "zuulish"
RETRY_STATUSES = frozenset({500, 502, 503, 504})


class Transport:
    """Calls to one API base URL (``https://api.github.com``, ``https://ghe/api/v3``)."""

    def __init__(self, base_url: str, *, clock: Clock | None = None, timeout: float = 30.0,
                 retries: int = 4, backoff: float = 1.0, rate_limit_retries: int = 3,
                 max_rate_wait: float = 3900.0, limiter: RateLimiter | None = None,
                 verify: bool = True,
                 http_transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.clock = clock or SystemClock()
        self.retries = retries
        self.backoff = backoff
        self.rate_limit_retries = rate_limit_retries
        self.max_rate_wait = max_rate_wait
        self.limiter = limiter or RateLimiter(self.clock)
        base = urlsplit(self.base_url)
        self._origin = (base.scheme, base.netloc)
        if http_transport is None:
            # a request's headers and body go out as two writes: with Nagle's algorithm
            # on, the body waits for the server's delayed ACK (tens of ms a call)
            http_transport = httpx.HTTPTransport(
                verify=verify, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self._http = httpx.Client(
            timeout=timeout, transport=http_transport, follow_redirects=False, verify=verify,
            headers={"Accept": "application/vnd.github+json", "User-Agent": USER_AGENT,
                     "X-GitHub-Api-Version": API_VERSION})

    def close(self) -> None:
        self._http.close()

    def url(self, path_or_url: str) -> str:
        """The absolute URL of an API path, or a URL GitHub gave (a ``Link``), which must
        be on the API's own host: a token is never sent anywhere else."""
        if path_or_url.startswith("/"):
            return self.base_url + path_or_url
        parts = urlsplit(path_or_url)
        if (parts.scheme, parts.netloc) != self._origin:
            raise GitHubApiError("GET " + path_or_url, None,
                                 f"refusing to follow a link away from {self.base_url}")
        return path_or_url

    def request(self, method: str, path_or_url: str, *, authorization: str | None,
                bucket: str, params: Mapping[str, Any] | None = None,
                json: Any = None) -> httpx.Response:
        """The answer to one call (any status below 500 but a rate-limit refusal).

        ``authorization`` is the ``Authorization`` header's value (never logged),
        ``bucket`` names its rate-limit budget.
        """
        url = self.url(path_or_url)
        call = f"{method} {_shown(url, self.base_url)}"
        headers = {"Authorization": authorization} if authorization else {}
        failures = 0
        refusals = 0
        while True:
            self._wait_for_budget(call, bucket)
            try:
                response = self._http.request(method, url, headers=headers, params=params,
                                              json=json)
            except httpx.TimeoutException as exc:
                failures += 1
                problem = f"timed out ({type(exc).__name__})"
                if failures > self.retries:
                    raise GitHubApiError(call, None, f"{problem} {failures} times") from exc
            except httpx.TransportError as exc:
                failures += 1
                problem = f"connection failed: {exc}"
                if failures > self.retries:
                    raise GitHubApiError(call, None, f"{problem} ({failures} tries)") from exc
            else:
                self.limiter.record(bucket, response.headers)
                if response.status_code in RETRY_STATUSES:
                    failures += 1
                    problem = f"server error {response.status_code}"
                    if failures > self.retries:
                        raise GitHubApiError(call, response.status_code,
                                             f"server error {failures} times in a row: "
                                             f"{_message(response)}")
                else:
                    delay = self.limiter.refusal_delay(
                        response.status_code, response.headers, _message(response), refusals)
                    if delay is None:
                        return response
                    refusals += 1
                    if refusals > self.rate_limit_retries or delay > self.max_rate_wait:
                        raise GitHubApiError(call, response.status_code,
                                             f"rate limited: {_message(response)}",
                                             retry_after=delay)
                    log.warning("%s: rate limited (%s), waiting %.0f s", call,
                                _message(response), delay)
                    self.clock.sleep(delay)
                    continue
            pause = self.backoff * (2 ** (failures - 1))
            log.warning("%s: %s; trying again in %.1f s (%d/%d)", call, problem, pause,
                        failures, self.retries)
            self.clock.sleep(pause)


    def _wait_for_budget(self, call: str, bucket: str) -> None:
        delay = self.limiter.delay_before(bucket)
        if delay <= 0:
            return
        if delay > self.max_rate_wait:
            raise GitHubApiError(call, None, f"rate limit spent for {delay:.0f} s more",
                                 retry_after=delay)
        log.info("%s: GitHub rate limit of %s spent, waiting %.0f s for its reset", call,
                 bucket, delay)
        self.clock.sleep(delay)
        self.limiter.reset(bucket)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return ""


def _shown(url: str, base_url: str) -> str:
    """The call's path as shown in errors and logs (no host, no query: nothing secret)."""
    path = url[len(base_url):] if url.startswith(base_url) else urlsplit(url).path
    return path.split("?", 1)[0]
