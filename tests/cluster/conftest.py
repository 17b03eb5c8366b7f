"""The scale-out tests need PostgreSQL: every component is a process of its own, some
in a network namespace of their own, and only a database server reaches them all.

They run when ``ZUULISH_TEST_DATABASE_URL`` names one (CI's PostgreSQL pass); without
it they skip, unless ``ZUULISH_CLUSTER_TESTS=required`` (then they fail)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import PG_URL


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)
            item.add_marker(pytest.mark.store)
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def pg_url(database_url: str) -> str:
    if not PG_URL:
        if os.environ.get("ZUULISH_CLUSTER_TESTS") == "required":
            pytest.fail("ZUULISH_CLUSTER_TESTS=required but ZUULISH_TEST_DATABASE_URL is unset")
        pytest.skip("scale-out tests need PostgreSQL (ZUULISH_TEST_DATABASE_URL)")
    assert database_url.startswith("postgresql"), database_url
    return database_url
