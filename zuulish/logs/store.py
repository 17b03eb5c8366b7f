"""What a log store is: where a finished build's logs go and are read back from.

A build's executor writes its logs to ``<state_dir>/logs/<build>/`` while it
runs (the live console reads ``job-output.txt`` there). When it ends,
``LogStore.keep`` puts them where they are kept and answers the build row's
``log_path``; ``open`` reads one file back for the web; ``remove`` deletes a
build's logs for retention. Two stores exist: ``local`` (the directory itself;
see ``local.py``) and ``s3`` (``s3.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

READ_CHUNK = 256 * 1024


class LogStoreError(Exception):
    """The store could not do what was asked (the text says why)."""


class LogFile(Protocol):
    """One stored log file, open for reading."""

    size: int

    def chunks(self, start: int, end: int) -> Iterator[bytes]:
        """Its bytes ``start`` to ``end`` (inclusive) in pieces of at most
        ``READ_CHUNK`` bytes; blocking."""
        ...

    def close(self) -> None: ...


class LogStore(Protocol):
    kind: str

    def keep(self, build_id: str, local_dir: Path) -> str:
        """Store the finished build's ``local_dir``; its ``log_path``. LogStoreError
        when it could not."""
        ...

    def owns(self, log_path: str) -> bool:
        """Whether ``log_path`` (a build row's) names this store."""
        ...

    def open(self, build_id: str, log_path: str | None, name: str) -> LogFile | None:
        """The build's log file ``name`` (checked by ``names.log_name_parts``), or
        None when there is none. LogStoreError when the store cannot be read."""
        ...

    def remove(self, build_id: str, log_path: str) -> bool:
        """Delete the build's logs; whether they are gone."""
        ...
