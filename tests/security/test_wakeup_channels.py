"""Wake-up channel names on PostgreSQL: never SQL, never able to wake a channel
they do not name.

Channel names come from code and from connection names (the server
configuration); a hostile one must neither reach the database as SQL nor forge a
second channel in a NOTIFY's payload (``"a b"`` must not wake ``b``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from zuulish.store import Store
from zuulish.store.pg_wakeups import (
    MAX_CHANNEL_LENGTH,
    MAX_PAYLOAD_BYTES,
    PG_CHANNEL,
    decode,
    encode,
    valid_channel,
)

TAG = uuid.uuid4().hex[:8]
# (random, so that concurrent runs on one database never hear each other; the
# tests' ids do not show it, so that every xdist worker collects the same tests)
#: odd but harmless: delivered exactly as written
ODD = [f"x');SELECT/**/pg_sleep(5);--{TAG}", f'";LISTEN/**/evil;--{TAG}', f"outbox:ü-{TAG}",
       f"$$-{TAG}$$", f"\\'{TAG}"]
#: refused: they could not be read back out of a payload as themselves
REFUSED = ["", f"a {TAG}", f"x');SELECT pg_sleep(5);--{TAG}", f"nl\n{TAG}", f"tab\t{TAG}",
           f"nul\0{TAG}", "x" * (MAX_CHANNEL_LENGTH + 1)]


@pytest.mark.parametrize("name", ODD, ids=[f"odd{i}" for i in range(len(ODD))])
def test_odd_names_travel_verbatim(name: str) -> None:
    assert valid_channel(name)
    assert decode(encode("me", [name])[0]) == ("me", [name])


@pytest.mark.parametrize("name", REFUSED,
                         ids=[f"refused{i}" for i in range(len(REFUSED))])
def test_names_that_would_split_or_overflow_a_payload_are_refused(name: str) -> None:
    assert not valid_channel(name)


def test_a_forged_payload_wakes_only_valid_names() -> None:
    assert decode("someone a  b\tc\0d e") == ("someone", ["a", "e"])


def test_many_channels_are_split_under_postgresqls_payload_limit() -> None:
    names = [f"c{i:04d}-" + "y" * 150 for i in range(200)]
    payloads = encode("me", names)
    assert len(payloads) > 1
    assert all(len(p.encode()) <= MAX_PAYLOAD_BYTES for p in payloads)
    assert sorted(c for p in payloads for c in decode(p)[1]) == sorted(names)


def test_the_postgresql_channel_is_a_plain_identifier() -> None:
    assert PG_CHANNEL.isidentifier() and PG_CHANNEL.islower() and len(PG_CHANNEL) < 64


@pytest.fixture
def pair(postgres_url: str | None) -> Iterator[tuple[Store, Store]]:
    if not postgres_url:
        pytest.skip("needs ZUULISH_TEST_DATABASE_URL pointing at PostgreSQL")
    a, b = Store(postgres_url), Store(postgres_url)
    yield a, b
    a.dispose()
    b.dispose()


@pytest.mark.store
def test_hostile_names_reach_the_other_process_verbatim_or_not_at_all(
        pair: tuple[Store, Store], caplog: pytest.LogCaptureFixture) -> None:
    a, b = pair
    assert b.notifier.postgres is not None and a.notifier.postgres is not None
    b.notifier.postgres.start_listening()
    assert b.notifier.postgres.listening(10)
    split_off = TAG  # what "a TAG" would wake if it were split
    for name in [*ODD, *REFUSED, split_off]:
        b.notifier.wait(name, 0)
    caplog.set_level(logging.ERROR)
    a.notifier.notify(*ODD, *REFUSED)  # never raises
    assert a.notifier.postgres.flush(5)
    for name in ODD:
        assert b.notifier.wait(name, 5), name
    for name in [*REFUSED, split_off]:
        assert not b.notifier.wait(name, 0), name
    refused = [r for r in caplog.records if "cannot be sent through PostgreSQL" in r.getMessage()]
    assert len(refused) == len(REFUSED)
    # the database is intact and answered at once (no pg_sleep ran)
    with a.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
