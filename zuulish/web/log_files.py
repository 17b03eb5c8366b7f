"""``/logs/{uuid}/{path}``: one file of a build's logs, from wherever they are kept.

The build's row says where (``log_path``): this host's ``<state>/logs/<uuid>/``
(also while the build runs) or an S3 bucket. The name must be a relative path
without ``..``, empty parts or control characters (``logs.names``); anything
else, an unknown build or a missing file is a 404. The file is streamed in
pieces, never held whole; ``Range: bytes=a-b`` gets 206 with ``Content-Range``
(one range; several are answered with the whole file), a range past the end
416. What the content type is comes from the name, never from the store, and
every answer carries headers that keep a job's HTML from running script on
the dashboard's origin.
"""

from __future__ import annotations

import asyncio
import mimetypes
from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from zuulish.logs.names import log_name_parts, valid_build_id
from zuulish.logs.ranges import Unsatisfiable, parse_range
from zuulish.logs.store import LogFile, LogStoreError
from zuulish.logs.stores import LogStores
from zuulish.store import BuildRow, Store

#: Log files are whatever a job wrote: never let them run script on the dashboard's origin.
LOG_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
TEXT_SUFFIXES = {".txt", ".log", ".yaml", ".yml", ".ini", ".cfg", ".conf", ".py", ".sh"}
_UNKNOWN = object()


def _log_path(store: Store, uuid: str) -> object:
    """The build's ``log_path`` (None while running or after pruning); ``_UNKNOWN``
    when there is no such build."""
    with store.read() as s:
        row = s.execute(select(BuildRow.log_path).where(BuildRow.id == uuid)).first()
    return _UNKNOWN if row is None else row[0]


def open_log(stores: LogStores, store: Store, uuid: str, name: str) -> LogFile | None:
    """The build's log file ``name`` from the store its row names, or None
    (unknown build, bad name, no such file). LogStoreError when the store fails."""
    if not valid_build_id(uuid) or log_name_parts(name) is None:
        return None
    log_path = _log_path(store, uuid)
    if log_path is _UNKNOWN:
        # a log folder without a row (a test's, an imported one): this host's, as before
        return stores.local.open(uuid, None, name)
    assert log_path is None or isinstance(log_path, str)
    kept = stores.for_path(log_path)
    return None if kept is None else kept.open(uuid, log_path, name)


def content_type(name: str) -> tuple[str, str | None]:
    suffix = Path(name).suffix
    if suffix in TEXT_SUFFIXES:
        return "text/plain", "utf-8"
    if suffix == ".json":
        return "application/json", "utf-8"
    return mimetypes.guess_type(name)[0] or "application/octet-stream", None


async def serve_log(request: web.Request, stores: LogStores, store: Store
                    ) -> web.StreamResponse:
    uuid, name = request.match_info["uuid"], request.match_info["path"]
    try:
        log_file = await asyncio.to_thread(open_log, stores, store, uuid, name)
    except LogStoreError as exc:
        raise web.HTTPServiceUnavailable(text=f"the log store cannot be read: {exc}") \
            from None
    if log_file is None:
        raise web.HTTPNotFound(text="no such log file")
    try:
        size = log_file.size
        try:
            wanted = parse_range(request.headers.get("Range"), size)
        except Unsatisfiable:
            raise web.HTTPRequestRangeNotSatisfiable(
                headers={**LOG_HEADERS, "Content-Range": f"bytes */{size}"}) from None
        response = web.StreamResponse(headers={**LOG_HEADERS, "Accept-Ranges": "bytes"})
        response.content_type, charset = content_type(name)
        if charset:
            response.charset = charset
        start, end = (0, size - 1) if wanted is None else (wanted.start, wanted.end)
        if wanted is not None:
            response.set_status(206)
            response.headers["Content-Range"] = wanted.content_range(size)
        # what the file held when opened (a file still growing is cut there)
        response.content_length = end - start + 1
        await response.prepare(request)
        if request.method != "HEAD" and end >= start:
            pieces = log_file.chunks(start, end)
            while True:
                chunk = await asyncio.to_thread(next, pieces, b"")
                if not chunk:
                    break
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        await asyncio.to_thread(log_file.close)


def log_tail(stores: LogStores, store: Store, uuid: str, max_bytes: int
             ) -> tuple[str, int, int] | None:
    """The last ``max_bytes`` (at most) of the build's ``job-output.txt``, starting at
    a line's start where the piece does not start the file: (text, where it starts,
    the file's size). None when the build has no log (blocking; reads only that
    piece, whatever the file's size)."""
    try:
        log_file = open_log(stores, store, uuid, "job-output.txt")
    except LogStoreError:
        return None
    if log_file is None:
        return None
    try:
        size = log_file.size
        start = max(0, size - max_bytes)
        data = b"".join(log_file.chunks(start, size - 1)) if size else b""
    except LogStoreError:
        return None
    finally:
        log_file.close()
    if start > 0:
        cut = data.find(b"\n")
        if 0 <= cut < len(data) - 1:
            data, start = data[cut + 1:], start + cut + 1
    return data.decode("utf-8", "replace"), start, size


def read_small(stores: LogStores, store: Store, uuid: str, name: str, max_bytes: int
               ) -> bytes | str | None:
    """The build's log file ``name`` whole when it holds at most ``max_bytes``; a
    sentence saying why not when it is bigger or cannot be read; None when there is
    no such file (blocking)."""
    try:
        log_file = open_log(stores, store, uuid, name)
    except LogStoreError as exc:
        return f"the log store cannot be read: {exc}"
    if log_file is None:
        return None
    try:
        if log_file.size > max_bytes:
            return f"{name} holds {log_file.size} bytes, more than the {max_bytes} read here"
        return b"".join(log_file.chunks(0, log_file.size - 1)) if log_file.size else b""
    except LogStoreError as exc:
        return f"the log store cannot be read: {exc}"
    finally:
        log_file.close()
