"""Which log store a component writes to, and which one a build's ``log_path`` names.

Every component has the local store (a running build's log, the embedded
mode's finished ones); with ``logs: {store: s3, ...}`` it also has the bucket,
which is where executors keep finished builds' logs and where webs read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zuulish.logs.local import LocalLogStore
from zuulish.logs.s3 import S3LogStore
from zuulish.logs.settings import LogSettings
from zuulish.logs.store import LogStore


@dataclass
class LogStores:
    local: LocalLogStore
    s3: S3LogStore | None = None

    @property
    def writer(self) -> LogStore:
        """Where finished builds' logs go."""
        return self.s3 if self.s3 is not None else self.local

    def for_path(self, log_path: str | None) -> LogStore | None:
        """The store that holds a build whose row says ``log_path`` (None: still
        running, or pruned: the local folder, as before); None when it names a store
        this component does not have (another bucket, or s3 without ``logs.store``)."""
        if log_path is None or self.local.owns(log_path):
            return self.local
        if self.s3 is not None and self.s3.owns(log_path):
            return self.s3
        return None


def make_log_stores(settings: LogSettings | None, state_dir: Path) -> LogStores:
    """The stores ``settings`` (the ``logs:`` section) call for."""
    local = LocalLogStore(state_dir)
    if settings is None or settings.store == "local":
        return LogStores(local)
    return LogStores(local, S3LogStore(settings))
