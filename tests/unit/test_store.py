from __future__ import annotations

import pytest
from sqlalchemy import select

from zuulish.errors import StoreUnavailable
from zuulish.store import ChangeRow, EventRow, Store


def test_upgrade_creates_every_table_and_records_revision(store: Store) -> None:
    assert store.current_revision() == "0020"
    with store.session() as s:
        s.add(EventRow(connection="forge", type="patchset-created", data={"x": 1},
                       created_at=1.0))
    with store.session() as s:
        row = s.scalars(select(EventRow)).one()
        assert row.data == {"x": 1} and row.processed_at is None


def test_upgrade_twice_is_a_no_op(store: Store) -> None:
    assert store.upgrade() == "0020"


def test_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as s:
        s.add(ChangeRow(connection="c", number=1, project="p", branch="main",
                        commit_sha="a" * 40, created_at=0, updated_at=0))
        s.flush()
        raise RuntimeError("boom")
    with store.session() as s:
        assert s.scalars(select(ChangeRow)).all() == []


def test_unreachable_database_gives_clear_error() -> None:
    bad = Store("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreUnavailable, match="cannot reach the database"):
        bad.check()


def test_invalid_database_url_gives_clear_error() -> None:
    with pytest.raises(StoreUnavailable, match="not valid"):
        Store("not a url at all")


def test_migrations_create_exactly_the_tables_the_models_describe(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from zuulish.store.base import Base
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
def test_postgres_urls_without_a_driver_use_psycopg(scheme: str) -> None:
    """``postgres://`` (libpq's and Heroku's form) and a driverless ``postgresql://``
    are what users write: both use the psycopg driver zuulish ships with."""
    from zuulish.store.database import normalise_url

    url = normalise_url(f"{scheme}://zuul:s3cret@db.example:5433/zuul")
    assert url == "postgresql+psycopg://zuul:s3cret@db.example:5433/zuul"


@pytest.mark.store
def test_a_postgres_url_reaches_the_server_as_sqlalchemy_users_expect(
        postgres_url: str | None) -> None:
    if not postgres_url:
        pytest.skip("needs ZUULISH_TEST_DATABASE_URL pointing at PostgreSQL")
    store = Store(postgres_url.replace("postgresql+psycopg://", "postgres://", 1))
    try:
        store.upgrade()
        assert store.url.startswith("postgresql+psycopg://")
        assert store.current_revision() == "0020"
    finally:
        store.engine.dispose()


def test_after_commit_runs_once_the_transaction_commits_never_on_rollback(
        store: Store) -> None:
    from zuulish.store.database import after_commit

    ran: list[str] = []
    with pytest.raises(RuntimeError), store.session() as s:
        s.add(EventRow(connection="forge", type="x", data={}, created_at=1.0))
        after_commit(s, lambda: ran.append("rolled back"))
        raise RuntimeError("the pass fails")
    assert ran == []
    with store.session() as s:
        s.add(EventRow(connection="forge", type="x", data={}, created_at=1.0))
        after_commit(s, lambda: ran.append("committed"))
        assert ran == []  # not before the commit
    assert ran == ["committed"]
