"""The ``s3`` log store: a finished build's logs in an S3-compatible bucket (boto3).

Objects are ``<prefix>/<build id>/<path>``; the build row's ``log_path`` is
``s3://<bucket>/<prefix>/<build id>/``. ``keep`` uploads each file of the build's
local log folder (a few at once, ``UPLOAD_WORKERS``; each retried
``UPLOAD_TRIES`` times) with its content type (text/plain for ``.txt`` and
``.log``, application/json for ``.json``). Files are read from that folder
without following links (``safe_files``). Reading streams an object's bytes (or
a range of them) in pieces, never the whole object at once; ``remove`` deletes
every object under the build's prefix.

Credentials come from boto3's own chain (``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, a profile, an instance role), never from
``zuulish.yaml``. A ``log_path`` is only ever acted on when it is exactly what
this store would have written for that build (same bucket, same prefix).
"""

from __future__ import annotations

import logging
import mimetypes
import os
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from zuulish.executor import safe_files
from zuulish.logs.names import log_name_parts, valid_build_id
from zuulish.logs.settings import LogSettings
from zuulish.logs.store import READ_CHUNK, LogStoreError

log = logging.getLogger(__name__)

UPLOAD_WORKERS = 8  # files uploaded at once
UPLOAD_TRIES = 3  # tries of each file before the upload fails
RETRY_DELAYS = (0.5, 2.0)  # seconds between tries
DELETE_BATCH = 1000  # S3's most keys per DeleteObjects


def content_type(name: str) -> str:
    """The Content-Type a log file is stored with."""
    suffix = Path(name).suffix
    if suffix in (".txt", ".log"):
        return "text/plain; charset=utf-8"
    if suffix == ".json":
        return "application/json"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3LogFile:
    """One object, open for reading (its size is known from HeadObject)."""

    def __init__(self, store: S3LogStore, key: str, size: int):
        self._store = store
        self._key = key
        self.size = size
        self._body: Any = None

    def chunks(self, start: int, end: int) -> Iterator[bytes]:
        if end < start:
            return
        try:
            answer = self._store.client.get_object(Bucket=self._store.bucket, Key=self._key,
                                                   Range=f"bytes={start}-{end}")
        except Exception as exc:  # botocore's errors: a clear LogStoreError
            raise LogStoreError(f"cannot read s3://{self._store.bucket}/{self._key}: "
                                f"{exc}") from exc
        self._body = answer["Body"]
        try:
            while True:
                chunk = self._body.read(READ_CHUNK)
                if not chunk:
                    return
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None


class S3LogStore:
    kind = "s3"

    def __init__(self, settings: LogSettings, client: Any = None,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS):
        if not settings.bucket:
            raise ValueError("an s3 log store needs a bucket")
        self.bucket = settings.bucket
        self.prefix = settings.prefix.strip("/")
        self.settings = settings
        self.retry_delays = retry_delays
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 S3 client (made on first use; boto3 clients are thread-safe)."""
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                config = Config(connect_timeout=5, read_timeout=60,
                                retries={"max_attempts": 2, "mode": "standard"},
                                max_pool_connections=UPLOAD_WORKERS * 2,
                                s3={"addressing_style": "path"}
                                if self.settings.endpoint_url else None)
                self._client = boto3.session.Session().client(
                    "s3", endpoint_url=self.settings.endpoint_url,
                    region_name=self.settings.region, config=config)
            return self._client

    # ------------------------------------------------------------- naming
    def build_prefix(self, build_id: str) -> str:
        """The key prefix of a build's objects (ends with ``/``)."""
        return f"{self.prefix}/{build_id}/" if self.prefix else f"{build_id}/"

    def location(self, build_id: str) -> str:
        """The ``log_path`` of a build whose logs are here."""
        return f"s3://{self.bucket}/{self.build_prefix(build_id)}"

    def owns(self, log_path: str) -> bool:
        return log_path.startswith(f"s3://{self.bucket}/")

    def _matches(self, build_id: str, log_path: str | None) -> bool:
        return valid_build_id(build_id) and log_path == self.location(build_id)

    # ------------------------------------------------------------- upload
    def keep(self, build_id: str, local_dir: Path) -> str:
        """Upload every regular file of ``local_dir`` (see the module)."""
        if not valid_build_id(build_id):
            raise LogStoreError(f"{build_id!r} is not a build id")
        files = list(_regular_files(Path(local_dir)))
        if files:
            workers = min(UPLOAD_WORKERS, len(files))
            with ThreadPoolExecutor(workers, thread_name_prefix="log-upload") as pool:
                failures = [f for f in pool.map(
                    lambda rel: self._upload_one(Path(local_dir), build_id, rel), files) if f]
            if failures:
                more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
                raise LogStoreError(f"{failures[0]}{more}")
        return self.location(build_id)

    def _upload_one(self, local_dir: Path, build_id: str, rel: str) -> str | None:
        """Upload one file, trying again after a failure; None, or what went wrong."""
        key = self.build_prefix(build_id) + rel
        problem = ""
        for attempt in range(UPLOAD_TRIES):
            if attempt:
                time.sleep(self.retry_delays[min(attempt - 1, len(self.retry_delays) - 1)])
            try:
                fd = safe_files.open_file(local_dir, rel)
            except (safe_files.UnsafePath, OSError) as exc:
                return f"{rel}: {exc}"
            try:
                with open(fd, "rb") as f:
                    self.client.put_object(Bucket=self.bucket, Key=key, Body=f,
                                           ContentLength=os.fstat(f.fileno()).st_size,
                                           ContentType=content_type(rel))
                return None
            except Exception as exc:  # botocore's errors: retried, then reported
                problem = f"{rel} to s3://{self.bucket}/{key}: {exc}"
                log.warning("uploading %s failed (try %d of %d): %s", rel, attempt + 1,
                            UPLOAD_TRIES, exc)
        return problem

    # ------------------------------------------------------------- read
    def open(self, build_id: str, log_path: str | None, name: str) -> S3LogFile | None:
        if not self._matches(build_id, log_path) or log_name_parts(name) is None:
            return None
        key = self.build_prefix(build_id) + name
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise LogStoreError(f"cannot read s3://{self.bucket}/{key}: {exc}") from exc
        return S3LogFile(self, key, int(head["ContentLength"]))

    # ------------------------------------------------------------- delete
    def remove(self, build_id: str, log_path: str) -> bool:
        """Delete every object under the build's prefix, when ``log_path`` is this
        store's for that build; whether none is left."""
        if not self._matches(build_id, log_path):
            return False
        prefix = self.build_prefix(build_id)
        try:
            while True:
                listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix,
                                                     MaxKeys=DELETE_BATCH)
                keys = [{"Key": obj["Key"]} for obj in listed.get("Contents", [])]
                if not keys:
                    return True
                answer = self.client.delete_objects(Bucket=self.bucket,
                                                    Delete={"Objects": keys, "Quiet": True})
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    log.warning("could not delete the logs of build %s: %s %s", build_id,
                                first.get("Key"), first.get("Message"))
                    return False
        except Exception as exc:
            log.warning("could not delete the logs of build %s from s3://%s/%s: %s",
                        build_id, self.bucket, prefix, exc)
            return False


def _regular_files(root: Path) -> Iterator[str]:
    """The relative names of the regular files below ``root``, links not followed."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(folder, root)
        for name in sorted(files):
            path = os.path.join(folder, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode):
                yield name if rel_dir == "." else f"{rel_dir}/{name}"
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(folder, d)))
