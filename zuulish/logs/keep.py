"""The end of a build: its log folder put in the log store, before its result is recorded.

With the local store nothing moves (``log_path`` is the folder). With S3 the
folder is uploaded; once that worked, the caller records ``log_path``
(``s3://...``) with the result and then removes the local copy (``moved``).
When the upload fails (after its retries), the result stays the build's
result, the folder stays on this host (``log_path`` is it), and ``problem``
says, for the build's message, that its logs could not be stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from zuulish.logs.store import LogStore, LogStoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kept:
    log_path: str
    moved: bool  # the local folder may go: the logs are in the store
    problem: str | None = None


def keep_build_logs(store: LogStore, build_id: str, log_dir: Path) -> Kept:
    """Put ``log_dir`` in ``store`` (see the module)."""
    if store.kind == "local" or not log_dir.is_dir():
        return Kept(str(log_dir), False)
    try:
        location = store.keep(build_id, log_dir)
    except LogStoreError as exc:
        log.error("the logs of build %s could not be stored in the %s log store: %s",
                  build_id, store.kind, exc)
        return Kept(str(log_dir), False,
                    f"the build's logs could not be stored in the {store.kind} log store: {exc}")
    return Kept(location, True)
