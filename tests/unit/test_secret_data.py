"""zuul_return's secret_data between builds: sealed at rest with the master key,
opened only by the executor, given to child jobs below every other variable."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from zuulish.executor.secret_data import (
    SealError,
    from_parents,
    literal,
    lowest,
    seal,
    unseal,
)
from zuulish.executor.unsafe import Unsafe


def test_sealed_data_is_not_readable_and_opens_with_the_same_key() -> None:
    key = Fernet(Fernet.generate_key())
    token = seal(key, {"registry": {"password": "pa55-word-123"}})
    assert "pa55-word-123" not in token
    assert unseal(key, token) == {"registry": {"password": "pa55-word-123"}}


def test_a_token_of_another_key_is_refused_with_the_reason() -> None:
    token = seal(Fernet(Fernet.generate_key()), {"a": 1})
    with pytest.raises(SealError, match="cannot be opened with this server's master key"):
        unseal(Fernet(Fernet.generate_key()), token)
    with pytest.raises(SealError):
        unseal(Fernet(Fernet.generate_key()), "not a token")


def test_parents_merge_farthest_first_so_the_nearest_wins() -> None:
    key = Fernet(Fernet.generate_key())
    merged = from_parents(key, [seal(key, {"a": {"x": 1, "y": 1}, "b": "far"}),
                                seal(key, {"a": {"y": 2}, "b": "near"})])
    assert merged == {"a": {"x": 1, "y": 2}, "b": "near"}
    assert from_parents(key, []) == {}


def test_secret_data_has_the_lowest_precedence() -> None:
    assert lowest({"a": 1, "b": 2, "c": 3}, {"b", "zuul"}) == {"a": 1, "c": 3}


def test_trusted_playbooks_get_every_string_literal() -> None:
    value = literal({"k{{ x }}": ["{{ lookup('pipe', 'id') }}", 3, {"n": "v"}]})
    [(key, items)] = value.items()
    assert isinstance(key, Unsafe)
    assert isinstance(items[0], Unsafe) and items[1] == 3
    assert isinstance(items[2]["n"], Unsafe)
