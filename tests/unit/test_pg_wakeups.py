"""Wake-ups between processes (and hosts) through PostgreSQL's LISTEN/NOTIFY.

The tests that need the server are marked ``store`` and skip on an SQLite run
(CI runs them with ``ZUULISH_TEST_DATABASE_URL`` set). Every channel is unique to
its test: other test runs may share the database, and hear each other's NOTIFYs.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from tests.fakes.tcp_proxy import TcpProxy
from zuulish.store import Store, pg_wakeups
from zuulish.store.notify import Notifier, wake

ROOT = Path(__file__).resolve().parents[2]
POLL_INTERVAL = 0.2  # the components' default (scheduler.poll_interval)


@pytest.fixture
def pg(postgres_url: str | None) -> str:
    if not postgres_url:
        pytest.skip("needs ZUULISH_TEST_DATABASE_URL pointing at PostgreSQL")
    return postgres_url


@pytest.fixture
def stores() -> Iterator[list[Store]]:
    """Stores to dispose of at the end of the test (their notifiers' threads)."""
    made: list[Store] = []
    yield made
    for store in made:
        store.dispose()


def _listening(store: Store) -> Notifier:
    notifier = store.notifier
    assert notifier.postgres is not None
    notifier.postgres.start_listening()
    assert notifier.postgres.listening(10), "the listener never connected"
    return notifier


def _channel(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _wake_time(notifier: Notifier, channel: str, timeout: float = 5.0) -> float:
    started = time.monotonic()
    assert notifier.wait(channel, timeout), f"{channel} never woke"
    return time.monotonic() - started


@pytest.mark.store
def test_two_stores_wake_each_other_well_under_the_poll_interval(
        pg: str, stores: list[Store]) -> None:
    a, b = Store(pg), Store(pg)
    stores += [a, b]
    na, nb = _listening(a), _listening(b)
    there, back = _channel("there"), _channel("back")
    nb.wait(there, 0)
    na.wait(back, 0)
    times = []
    for _ in range(5):
        started = time.monotonic()
        na.notify(there)
        assert nb.wait(there, 5)
        times.append(time.monotonic() - started)
        nb.notify(back)
        assert na.wait(back, 5)
    assert statistics.median(times) < POLL_INTERVAL / 2, times
    # its own NOTIFY coming back does not wake the sender a second time
    na.notify(there)
    assert na.wait(there, 0)
    assert not na.wait(there, 0.3)


@pytest.mark.store
def test_a_burst_of_notifications_sends_few_notifies_and_never_waits_on_the_network(
        pg: str, stores: list[Store]) -> None:
    a, b = Store(pg), Store(pg)
    stores += [a, b]
    nb = _listening(b)
    channel = _channel("burst")
    nb.wait(channel, 0)
    started = time.monotonic()
    for _ in range(2000):
        a.notifier.notify(channel, "scheduler")
    spent = time.monotonic() - started
    assert a.notifier.postgres is not None and a.notifier.postgres.flush(5)
    assert nb.wait(channel, 5)
    assert spent < 0.5, f"2000 notifications took {spent:.3f} s"
    assert 1 <= a.notifier.postgres.sent <= 50


SUBPROCESS = textwrap.dedent("""
    import sys, time
    from zuulish.store import Store
    url, ping, pong, bye = sys.argv[1:]
    store = Store(url)
    store.notifier.postgres.start_listening()
    assert store.notifier.postgres.listening(10)
    store.notifier.wait(ping, 0)
    print("ready", flush=True)
    if not store.notifier.wait(ping, 10):
        sys.exit(3)
    print(time.monotonic(), flush=True)
    store.notifier.notify(pong)
    store.notifier.postgres.flush(5)
    store.notifier.notify(bye)  # and exit at once: its last NOTIFY still goes out
""")


@pytest.mark.store
def test_a_process_and_a_subprocess_wake_each_other(pg: str, stores: list[Store]) -> None:
    store = Store(pg)
    stores.append(store)
    notifier = _listening(store)
    ping, pong, bye = _channel("ping"), _channel("pong"), _channel("bye")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", SUBPROCESS, pg, ping, pong, bye],
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        notifier.wait(pong, 0)
        notifier.wait(bye, 0)
        sent = time.monotonic()
        notifier.notify(ping)
        woke = float(child.stdout.readline())  # CLOCK_MONOTONIC: one clock per host
        assert woke - sent < POLL_INTERVAL / 2
        assert notifier.wait(pong, 5)
        assert child.wait(timeout=20) == 0
        assert notifier.wait(bye, 5), "a process's last notification was lost at exit"
    finally:
        child.kill()
        child.wait()


@pytest.mark.store
def test_a_terminated_listener_logs_once_reconnects_and_wakes_every_channel(
        pg: str, stores: list[Store], caplog: pytest.LogCaptureFixture) -> None:
    a, b = Store(pg), Store(pg)
    stores += [a, b]
    nb = _listening(b)
    assert nb.postgres is not None
    waiting, later = _channel("waiting"), _channel("later")
    nb.wait(waiting, 0)
    nb.wait(later, 0)
    old_pid = nb.postgres.listener_pid
    caplog.set_level(logging.INFO, logger=pg_wakeups.__name__)
    with psycopg.connect(_libpq(pg), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (old_pid,)).fetchone() == (True,)
    # after reconnecting it wakes every channel once: work may have come meanwhile
    assert nb.wait(waiting, 10)
    assert nb.postgres.listening(5) and nb.postgres.listener_pid not in (None, old_pid)
    a.notifier.notify(later)
    _wake_time(nb, later)
    lost = [r for r in caplog.records if "not listening on PostgreSQL" in r.getMessage()]
    assert len(lost) == 1 and lost[0].levelno == logging.WARNING
    assert any("listening on PostgreSQL again" in r.getMessage() for r in caplog.records)


@pytest.mark.store
def test_a_server_refusing_connections_for_a_while_is_waited_out(
        pg: str, stores: list[Store], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_wakeups, "BACKOFF_MAX", 0.4)
    parsed = make_url(pg)
    proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432)).start()
    try:
        direct = Store(pg)
        behind = Store(parsed.set(host="127.0.0.1", port=proxy.port)
                       .render_as_string(hide_password=False))
        stores += [direct, behind]
        nb = _listening(behind)
        assert nb.postgres is not None
        waiting, sent_while_down, after = (_channel("waiting"), _channel("down"),
                                           _channel("after"))
        direct.notifier.wait(sent_while_down, 0)
        direct.notifier.postgres.start_listening()  # type: ignore[union-attr]
        assert direct.notifier.postgres.listening(10)  # type: ignore[union-attr]
        nb.wait(waiting, 0)
        caplog.set_level(logging.INFO, logger=pg_wakeups.__name__)
        proxy.cut()
        deadline = time.monotonic() + 5
        while nb.postgres.listening() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not nb.postgres.listening()
        started = time.monotonic()
        behind.notifier.notify(sent_while_down)  # queued, never raises, never blocks
        assert time.monotonic() - started < 0.05
        time.sleep(1.0)  # several refused reconnections
        assert not nb.wait(waiting, 0)
        proxy.restore()
        assert nb.wait(waiting, 10)  # woken once it listens again
        assert direct.notifier.wait(sent_while_down, 10)  # the queued NOTIFY went out
        direct.notifier.notify(after)
        _wake_time(nb, after)
        lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert sum("not listening on PostgreSQL" in line for line in lines) == 1, lines
        assert sum("cannot notify other hosts" in line for line in lines) == 1, lines
    finally:
        proxy.stop()


def test_notify_never_raises_nor_blocks_when_the_database_is_unreachable(
        tmp_path: Path) -> None:
    store = Store("postgresql+psycopg://postgres@127.0.0.1:1/none")
    notifier = store.notifier
    assert notifier.postgres is not None
    try:
        started = time.monotonic()
        for _ in range(200):
            notifier.notify("scheduler")
        assert time.monotonic() - started < 0.1
        assert notifier.wait("scheduler", 0)  # this process still hears itself
        assert not notifier.wait("scheduler", 0.3)  # and polls; the listener never woke it
        started = time.monotonic()
        notifier.notify_everywhere(tmp_path, "scheduler", timeout=2.0)
        assert time.monotonic() - started < 2.5
        assert notifier.postgres.flush(0.5) is False
    finally:
        started = time.monotonic()
        store.dispose()
        assert time.monotonic() - started < 3


def test_on_sqlite_wakeups_stay_on_this_host(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'zuulish.db'}")
    running = Notifier()
    assert store.notifier.postgres is None
    assert running.listen(tmp_path / "state")
    try:
        store.notifier.notify_everywhere(tmp_path / "state", "scheduler")
        assert running.wait("scheduler", 5)
        wake(tmp_path / "state", "launcher")
        assert running.wait("launcher", 5)
    finally:
        running.close()
        store.dispose()
