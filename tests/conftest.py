"""Shared fixtures: a real store over SQLite, or PostgreSQL when
``ZUULISH_TEST_DATABASE_URL`` is set (CI sets it to the local server)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from zuulish.store import Base, Store

PG_URL = os.environ.get("ZUULISH_TEST_DATABASE_URL")


def _reset_postgres(url: str) -> None:
    store = Store(url)
    with store.engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    store.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """URL of an empty database for this test."""
    if PG_URL:
        _reset_postgres(PG_URL)
        return PG_URL
    return f"sqlite:///{tmp_path / 'zuulish.db'}"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated, empty store."""
    s = Store(database_url)
    s.upgrade()
    yield s
    s.dispose()
