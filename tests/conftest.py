"""Shared fixtures: a real store over SQLite, or PostgreSQL for the tests marked
``store`` when ``ZUULISH_TEST_DATABASE_URL`` is set (CI sets it to the local
server and runs the ``store`` tests a second time there, see ``.ci/run``).

Which tests are ``store`` tests: every test that uses the ``store`` fixture (its
subject is the store), and the modules that mark themselves (the gate, restart
and kill tests, the forge and the web API: their subject is state the scheduler
keeps in the database). Tests that only need somewhere to keep builds (the
executor's, the sandbox's, the security tests) run on SQLite whatever the
database; PostgreSQL would add nothing but minutes to CI. So do the modules
marked ``not_store`` although they use the ``store`` fixture: their subject is a
driver's or the dashboard's logic, while what they keep in the database (the
outbox, GitHub's pull requests) has store tests of its own.

Under pytest-xdist each worker gets its own PostgreSQL database (``test_gw0``,
``test_gw1``...), made on first use next to the configured one."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, make_url, text

from zuulish.cluster.schema import head_revision
from zuulish.store import Base, Store

PG_URL = os.environ.get("ZUULISH_TEST_DATABASE_URL")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "store" in getattr(item, "fixturenames", ()) \
                and item.get_closest_marker("not_store") is None:
            item.add_marker(pytest.mark.store)
    # (before ``-m`` deselects: this hook runs ahead of pytest's own.)
    # The tests marked ``long`` (a minute or more on CI's two cores, or a module whose
    # shared fixture takes that: it stays on one worker) run first, so that
    # xdist's workers (--dist worksteal, which hands out the rest from the end of the
    # list) finish on short tests together, not one worker on a long test alone.
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def _worker_database(url: str) -> str:
    """``url`` for this xdist worker: a database of its own, created if missing."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": name}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _reset_postgres(url: str) -> None:
    store = Store(url)
    with store.engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    store.dispose()


@functools.cache
def _head() -> str:
    return head_revision()


def _empty_postgres(url: str) -> bool:
    """Delete every row of ``url``'s database and restart its sequences, when it holds
    exactly the newest schema (its tables, at the head revision): True. Else False,
    touching nothing. Migrating from nothing takes seconds on PostgreSQL; this, a
    fraction of one."""
    store = Store(url)
    try:
        with store.engine.begin() as conn:
            tables = set(inspect(conn).get_table_names())
            if tables != {t.name for t in Base.metadata.tables.values()} | {"alembic_version"}:
                return False
            if conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() \
                    != [_head()]:
                return False
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
            for (sequence,) in conn.execute(text(
                    "SELECT sequence_name FROM information_schema.sequences "
                    "WHERE sequence_schema = current_schema()")):
                conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
        return True
    finally:
        store.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    """This worker's PostgreSQL database, or None when the run is on SQLite."""
    return _worker_database(PG_URL) if PG_URL else None


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the newest schema, made once per session (per xdist worker)
    and copied for each test that uses ``store``."""
    path = tmp_path_factory.mktemp("schema") / "migrated.db"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    store.dispose()
    return path


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path,
                 postgres_url: str | None) -> str:
    """URL of an empty database for this test: PostgreSQL for ``store`` tests when
    the run is on PostgreSQL, else a fresh SQLite file. For a test that uses the
    ``store`` fixture (which migrates it anyway) it already holds the newest schema:
    a copy of ``migrated_sqlite``, or on PostgreSQL the worker's database emptied
    rather than dropped and migrated again."""
    migrated = "store" in request.fixturenames
    if postgres_url and request.node.get_closest_marker("store"):
        if not (migrated and _empty_postgres(postgres_url)):
            _reset_postgres(postgres_url)
        return postgres_url
    path = tmp_path / "zuulish.db"
    if migrated and not path.exists():
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated, empty store."""
    s = Store(database_url)
    if s.current_revision() != _head():
        s.upgrade()
    yield s
    s.dispose()
