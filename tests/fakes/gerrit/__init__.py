"""A fake Gerrit for tests: an SSH daemon streaming events (``ssh.py``) and a REST
API (``rest.py``), both speaking the wire formats of ``../shared/corpus/gerrit/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.corpus import CORPUS_ROOT

GERRIT_CORPUS = CORPUS_ROOT / "gerrit"
STREAM_EVENTS = GERRIT_CORPUS / "stream-events"
REST = GERRIT_CORPUS / "rest"
QUERY_FILE = "changes.query.CURRENT_REVISION.CURRENT_COMMIT.DETAILED_LABELS.DETAILED_ACCOUNTS.json"


def corpus_file(*parts: str) -> Path:
    """A file of the Gerrit corpus; the test skips where the corpus is absent."""
    path = GERRIT_CORPUS.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"the Gerrit corpus is not at {GERRIT_CORPUS}")
    return path


def stream_line(name: str) -> bytes:
    """One stream-events line exactly as on the wire (``name`` without .json)."""
    return corpus_file("stream-events", f"{name}.json").read_bytes()


def rest_json(name: str) -> Any:
    return json.loads(corpus_file("rest", name).read_text())


def query_change() -> dict[str, Any]:
    """The corpus's ChangeInfo of change 4321 (as a query answers it)."""
    return rest_json(QUERY_FILE)[0]
