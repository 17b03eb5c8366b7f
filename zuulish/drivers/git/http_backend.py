"""``git http-backend`` run for one request, streaming both ways.

The request body goes to the CGI program as it arrives (never held whole), and
is counted: past ``limit`` bytes the program's input is closed, so git drops
what it received (a push's objects stay in quarantine and are removed), and the
answer is 413. The program's answer (CGI headers, then the body) is streamed
back. Everything runs on the event loop with asyncio's subprocesses: no thread
waits on git.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from aiohttp import web

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024
#: how long git may take to end after its input was cut short
STOP_GRACE = 10.0


class TooLarge(Exception):
    """The request body ran past the limit."""


async def _feed(body: web.Request, stdin: asyncio.StreamWriter, limit: int) -> int:
    """Copy the request body to git's input; the bytes copied. TooLarge past ``limit``."""
    sent = 0
    try:
        while True:
            chunk = await body.content.readany()
            if not chunk:
                break
            sent += len(chunk)
            if sent > limit:
                raise TooLarge(f"the request is larger than {limit} bytes")
            stdin.write(chunk)
            await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # git answered without reading everything (an error it reports itself)
    finally:
        stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await stdin.wait_closed()
    return sent


async def _headers(stdout: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """The CGI headers: (status, HTTP headers)."""
    status, headers, size = 200, {}, 0
    while True:
        line = await stdout.readline()
        size += len(line)
        if not line or size > MAX_HEADER_BYTES:
            raise ConnectionError("git http-backend gave no complete CGI header")
        text = line.decode("latin-1").rstrip("\r\n")
        if not text:
            return status, headers
        name, _, value = text.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split(" ", 1)[0])
        else:
            headers[name.strip()] = value.strip()


async def _drain(stderr: asyncio.StreamReader) -> bytes:
    """Read git's error output to its end (so git never blocks on it); its start."""
    kept = b""
    while chunk := await stderr.read(CHUNK):
        if len(kept) < MAX_HEADER_BYTES:
            kept += chunk[:MAX_HEADER_BYTES - len(kept)]
    return kept


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Let git end on its own (its input is closed), then make it."""
    if proc.returncode is not None:
        return
    try:
        await asyncio.wait_for(proc.wait(), STOP_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def run_backend(request: web.Request, env: Mapping[str, str],
                      limit: int) -> web.StreamResponse:
    """Answer ``request`` with ``git http-backend`` run in ``env`` (the CGI variables)."""
    proc = await asyncio.create_subprocess_exec(
        "git", "http-backend", env=dict(env), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    feeder = asyncio.create_task(_feed(request, proc.stdin, limit))
    errors = asyncio.create_task(_drain(proc.stderr))
    response: web.StreamResponse | None = None
    try:
        try:
            status, headers = await _headers(proc.stdout)
        except ConnectionError as exc:
            return web.Response(status=502, text=f"zuulish: {exc}\n")
        first = asyncio.ensure_future(proc.stdout.read(CHUNK))
        # a push's answer comes only after all of its body: wait for one or the other,
        # so that a body past the limit is answered 413, not with git's half-answer
        await asyncio.wait({feeder, first}, return_when=asyncio.FIRST_COMPLETED)
        if feeder.done() and isinstance(feeder.exception(), TooLarge):
            first.cancel()
            await _stop(proc)
            return web.Response(status=413, text=f"zuulish: {feeder.exception()}\n")
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        chunk = await first
        while chunk:
            await response.write(chunk)
            chunk = await proc.stdout.read(CHUNK)
        await feeder  # TooLarge here: the answer is cut short, git dropped the push
        await response.write_eof()
        return response
    except TooLarge:
        await _stop(proc)
        raise ConnectionResetError("request body past the limit after the answer began") \
            from None
    finally:
        if not feeder.done():
            feeder.cancel()
        await _stop(proc)
        stderr = await errors
        if stderr.strip():
            log.info("git http-backend (%s %s): %s", request.method, request.path,
                     stderr.decode(errors="replace").strip())
