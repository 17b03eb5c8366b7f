"""``gerrit stream-events`` over a real SSH connection to a fake Gerrit on 127.0.0.1:
events arrive in order, a line cut by a dropped connection is discarded, the
stream comes back with back-off and the catch-up fills the gap exactly once."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.fakes.gerrit import stream_line
from tests.fakes.gerrit.rest import FakeGerritRest
from tests.fakes.gerrit.ssh import FakeGerritSSH
from tests.unit.gerrit.test_catchup import VOTE, updated_change
from zuulish.clock import SimulatedClock
from zuulish.drivers.gerrit.backoff import Backoff
from zuulish.drivers.gerrit.listener import GerritListener
from zuulish.drivers.gerrit.rest import GerritRest
from zuulish.drivers.gerrit.stream import GerritStream
from zuulish.errors import ConfigError
from zuulish.store import EventRow, Store

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*DSA.*")
    import asyncssh


def wait_until(what: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def stored_types(store: Store) -> list[str]:
    with store.read() as s:
        return list(s.scalars(select(EventRow.type).order_by(EventRow.id)))


async def no_wait(_seconds: float) -> None:
    """The back-off pause, taken at once (the pauses are recorded by the stream)."""
    await asyncio.sleep(0)


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, asyncssh.SSHKey]:
    private = asyncssh.generate_private_key("ssh-ed25519")
    path = tmp_path / "id_ed25519"
    path.write_bytes(private.export_private_key())
    return path, private


@pytest.fixture
def gerrit_ssh(key: tuple[Path, asyncssh.SSHKey]) -> Iterator[FakeGerritSSH]:
    fake = FakeGerritSSH()
    fake.add_user("zuul", key[1])
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def gerrit_rest() -> Iterator[FakeGerritRest]:
    fake = FakeGerritRest()
    yield fake
    fake.close()


class Lines:
    """An ``on_line`` that keeps what it was given."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.lock = threading.Lock()

    def __call__(self, line: bytes) -> None:
        with self.lock:
            self.lines.append(line)


def make_stream(gerrit: FakeGerritSSH, tmp_path: Path, key_path: Path, **kwargs: Any
                ) -> GerritStream:
    kwargs.setdefault("on_line", Lines())
    kwargs.setdefault("backoff", Backoff(base=1, cap=8, rng=random.Random(7)))
    kwargs.setdefault("sleep", no_wait)
    return GerritStream("127.0.0.1", "zuul", key_path, port=gerrit.port,
                        known_hosts=gerrit.known_hosts(tmp_path / "known_hosts"), **kwargs)


@pytest.fixture
def started() -> Iterator[list[GerritStream]]:
    streams: list[GerritStream] = []
    yield streams
    for stream in streams:
        stream.stop()


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    backoff = Backoff(base=1, factor=2, cap=8, jitter=0.5, rng=random.Random(1))
    delays = [backoff.delay(n) for n in range(6)]
    for n, delay in enumerate(delays):
        plain = min(8, 2 ** n)
        assert plain * 0.5 <= delay <= plain
    assert max(delays) <= 8
    again = Backoff(base=1, factor=2, cap=8, jitter=0.5, rng=random.Random(1))
    assert [again.delay(n) for n in range(6)] == delays  # the randomness is injected


def test_events_arrive_in_order_byte_for_byte(gerrit_ssh: FakeGerritSSH, tmp_path: Path,
                                              key: tuple[Path, Any],
                                              started: list[GerritStream]) -> None:
    lines = Lines()
    stream = make_stream(gerrit_ssh, tmp_path, key[0], on_line=lines)
    started.append(stream)
    stream.start()
    wait_until(stream.connected.is_set)
    names = ["patchset-created", "comment-added.recheck", "comment-added.vote",
             "change-merged", "ref-updated"]
    sent = [stream_line(n) for n in names]
    for line in sent:
        gerrit_ssh.send(line[:40])  # in pieces, as TCP may deliver them
        gerrit_ssh.send(line[40:])
    wait_until(lambda: len(lines.lines) == len(sent))
    assert lines.lines == sent
    assert gerrit_ssh.commands == ["gerrit stream-events"]
    assert stream.connections == 1 and stream.connected.is_set()


def test_stop_ends_the_reader(gerrit_ssh: FakeGerritSSH, tmp_path: Path,
                              key: tuple[Path, Any]) -> None:
    stream = make_stream(gerrit_ssh, tmp_path, key[0])
    stream.start()
    wait_until(stream.connected.is_set)
    stream.stop()
    assert stream._thread is not None and not stream._thread.is_alive()
    wait_until(lambda: not gerrit_ssh._sessions)


def test_a_handler_that_fails_does_not_stop_the_reader(
        gerrit_ssh: FakeGerritSSH, tmp_path: Path, key: tuple[Path, Any],
        started: list[GerritStream]) -> None:
    good = Lines()

    def handler(line: bytes) -> None:
        if b"boom" in line:
            raise RuntimeError("a bug")
        good(line)

    stream = make_stream(gerrit_ssh, tmp_path, key[0], on_line=handler)
    started.append(stream)
    stream.start()
    wait_until(stream.connected.is_set)
    gerrit_ssh.send(b'{"type":"boom"}\n' + stream_line("ref-updated"))
    wait_until(lambda: good.lines == [stream_line("ref-updated")])


def test_an_unknown_host_key_is_refused_with_a_clear_error(
        gerrit_ssh: FakeGerritSSH, tmp_path: Path, key: tuple[Path, Any],
        started: list[GerritStream], caplog: pytest.LogCaptureFixture) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    known = tmp_path / "other_known_hosts"
    known.write_text(f"[127.0.0.1]:{gerrit_ssh.port} {other}")
    stream = GerritStream("127.0.0.1", "zuul", key[0], port=gerrit_ssh.port, known_hosts=known,
                          on_line=Lines(), sleep=no_wait,
                          backoff=Backoff(base=1, cap=4, rng=random.Random(1)))
    started.append(stream)
    with caplog.at_level(logging.ERROR, logger="zuulish.drivers.gerrit.stream"):
        stream.start()
        wait_until(lambda: len(stream.delays) >= 3)
        stream.stop()
    assert gerrit_ssh.sessions_started == 0
    assert f"refusing 127.0.0.1:{gerrit_ssh.port}: its host key is not the one in {known}" \
        in (stream.last_error or "")
    assert any("host key" in r.getMessage() for r in caplog.records)
    assert max(stream.delays) <= 4


def test_a_missing_known_hosts_file_is_a_configuration_error(tmp_path: Path,
                                                             key: tuple[Path, Any]) -> None:
    with pytest.raises(ConfigError, match="known_hosts file .* does not exist; .*ssh-keyscan"):
        GerritStream("gerrit.example.org", "zuul", key[0], on_line=Lines(),
                     known_hosts=tmp_path / "nope")


def test_an_unreadable_private_key_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "known_hosts").write_text("")
    (tmp_path / "key").write_text("not a key")
    with pytest.raises(ConfigError, match="cannot read the SSH private key"):
        GerritStream("gerrit.example.org", "zuul", tmp_path / "key", on_line=Lines(),
                     known_hosts=tmp_path / "known_hosts")


def test_a_key_gerrit_does_not_know_is_said_so(gerrit_ssh: FakeGerritSSH, tmp_path: Path,
                                               started: list[GerritStream]) -> None:
    stranger = tmp_path / "stranger"
    stranger.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    stream = make_stream(gerrit_ssh, tmp_path, stranger)
    started.append(stream)
    stream.start()
    wait_until(lambda: stream.delays)
    assert "refused the SSH key" in (stream.last_error or "")
    assert gerrit_ssh.sessions_started == 0


def test_refused_connections_are_retried_with_growing_pauses(
        gerrit_ssh: FakeGerritSSH, tmp_path: Path, key: tuple[Path, Any],
        started: list[GerritStream]) -> None:
    gerrit_ssh.refuse = 3
    stream = make_stream(gerrit_ssh, tmp_path, key[0],
                         backoff=Backoff(base=1, cap=30, jitter=0.0))
    started.append(stream)
    stream.start()
    wait_until(stream.connected.is_set)
    assert stream.delays == [1, 2, 4]
    assert stream.connections == 1


def test_a_drop_mid_line_discards_the_partial_line_and_the_catch_up_fills_the_gap_once(
        gerrit_ssh: FakeGerritSSH, gerrit_rest: FakeGerritRest, tmp_path: Path,
        key: tuple[Path, Any], store: Store, started: list[GerritStream],
        caplog: pytest.LogCaptureFixture) -> None:
    clock = SimulatedClock(start=1_700_003_000)
    rest = GerritRest(gerrit_rest.url, user="zuul", password="secret")
    listener = GerritListener(store, "review", rest, clock=clock.now)
    stream = make_stream(gerrit_ssh, tmp_path, key[0], on_line=listener.handle_line,
                         on_connect=listener.on_connect, on_gap=listener.catch_up)
    started.append(stream)

    def events() -> list[tuple[str, int | None, str | None]]:
        with store.read() as s:
            rows = s.scalars(select(EventRow).order_by(EventRow.id)).all()
        return [(r.type, r.patchset, (r.data or {}).get("comment")) for r in rows]

    with caplog.at_level(logging.WARNING, logger="zuulish.drivers.gerrit.stream"):
        stream.start()
        gerrit_ssh.wait_for_sessions(1)
        gerrit_ssh.send(stream_line("patchset-created"))
        wait_until(lambda: len(events()) == 1)
        # The recheck is cut by the network; meanwhile Bob approves and the change
        # merges, and Gerrit's REST API has it all.
        recheck = stream_line("comment-added.recheck")
        gerrit_ssh.send(recheck[:150])
        gerrit_rest.add_change(updated_change())
        clock.advance(20_000)
        gerrit_ssh.drop()
        gerrit_ssh.wait_for_sessions(2)
        wait_until(lambda: listener.catch_ups)
        # After reconnecting, the stream also sends the vote (it was in flight).
        gerrit_ssh.send(stream_line("comment-added.vote"))
        gerrit_ssh.send(stream_line("ref-updated"))
        wait_until(lambda: len(events()) == 5)
    assert sorted(events(), key=str) == sorted([
        ("patchset-created", 2, None),
        ("comment-added", 2, "Patch Set 2:\n\nrecheck"),
        ("comment-added", 2, VOTE),
        ("change-merged", 2, None),
        ("ref-updated", None, None)], key=str)
    assert any("discarding its 150 bytes" in r.getMessage() for r in caplog.records)
    assert len(stream.delays) == 1 and 0.5 <= stream.delays[0] <= 1
    result = listener.catch_ups[0]
    assert (result.changes, result.stored + result.duplicates) == (1, 4)
    assert listener.ignored == []


def test_lines_that_are_not_json_are_logged_and_skipped(
        gerrit_ssh: FakeGerritSSH, tmp_path: Path, key: tuple[Path, Any], store: Store,
        started: list[GerritStream]) -> None:
    clock = SimulatedClock(start=1_700_003_000)
    listener = GerritListener(store, "review", None, clock=clock.now)
    stream = make_stream(gerrit_ssh, tmp_path, key[0], on_line=listener.handle_line,
                         on_connect=listener.on_connect)
    started.append(stream)
    stream.start()
    wait_until(stream.connected.is_set)
    gerrit_ssh.send(b"Welcome to Gerrit\n" + b'{"type": "reviewer-added"}\n'
                    + stream_line("ref-updated"))
    wait_until(lambda: len(listener.ignored) == 2)
    wait_until(lambda: stored_types(store) == ["ref-updated"])
    assert listener.ignored[0].startswith("not JSON")
    assert "reviewer-added events are not used" in listener.ignored[1]


def test_dropped_output_from_gerrit_starts_a_catch_up(
        gerrit_ssh: FakeGerritSSH, gerrit_rest: FakeGerritRest, tmp_path: Path,
        key: tuple[Path, Any], store: Store, started: list[GerritStream]) -> None:
    clock = SimulatedClock(start=1_700_003_000)
    rest = GerritRest(gerrit_rest.url, user="zuul", password="secret")
    listener = GerritListener(store, "review", rest, clock=clock.now)
    stream = make_stream(gerrit_ssh, tmp_path, key[0], on_line=listener.handle_line,
                         on_connect=listener.on_connect, on_gap=listener.catch_up)
    started.append(stream)
    stream.start()
    wait_until(stream.connected.is_set)
    gerrit_rest.add_change(updated_change())
    clock.advance(20_000)
    gerrit_ssh.send(b'{"type":"dropped-output","eventCreatedOn":1700020000}\n')
    result = wait_until(lambda: listener.catch_ups)[0]
    assert result.stored == 4
    assert stream.connections == 1


def test_a_failing_catch_up_is_tried_again_until_it_succeeds(
        gerrit_ssh: FakeGerritSSH, gerrit_rest: FakeGerritRest, tmp_path: Path,
        key: tuple[Path, Any], store: Store, started: list[GerritStream]) -> None:
    clock = SimulatedClock(start=1_700_003_000)
    rest = GerritRest(gerrit_rest.url, user="zuul", password="secret", retries=0)
    listener = GerritListener(store, "review", rest, clock=clock.now)
    stream = make_stream(gerrit_ssh, tmp_path, key[0], on_line=listener.handle_line,
                         on_connect=listener.on_connect, on_gap=listener.catch_up)
    started.append(stream)
    stream.start()
    wait_until(stream.connected.is_set)
    gerrit_rest.add_change(updated_change())
    gerrit_rest.fail_next = 2  # Gerrit's REST API is down for the first two tries
    clock.advance(20_000)
    gerrit_ssh.drop()
    result = wait_until(lambda: listener.catch_ups)[0]
    assert result.stored == 4
    assert len([c for c in gerrit_rest.calls if c.path == "/a/changes/"]) == 3


def test_a_character_split_between_packets_is_read_whole(
        gerrit_ssh: FakeGerritSSH, tmp_path: Path, key: tuple[Path, Any], store: Store,
        started: list[GerritStream]) -> None:
    clock = SimulatedClock(start=1_700_003_000)
    listener = GerritListener(store, "review", None, clock=clock.now)
    stream = make_stream(gerrit_ssh, tmp_path, key[0], on_line=listener.handle_line)
    started.append(stream)
    stream.start()
    wait_until(stream.connected.is_set)
    obj = json.loads(stream_line("comment-added.recheck"))
    obj["comment"] = "Patch Set 2:\n\nrecheck — Grüße"
    line = json.dumps(obj, ensure_ascii=False).encode() + b"\n"
    cut = line.index("ü".encode()) + 1  # between the two bytes of ü
    gerrit_ssh.send(line[:cut])
    gerrit_ssh.send(line[cut:])
    wait_until(lambda: stored_types(store) == ["comment-added"])
    with store.read() as s:
        assert s.scalars(select(EventRow.data)).one()["comment"].endswith("Grüße")


def test_stop_interrupts_a_back_off_pause(tmp_path: Path, key: tuple[Path, Any]) -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    (tmp_path / "known_hosts").write_text("")
    stream = GerritStream("127.0.0.1", "zuul", key[0], port=port,
                          known_hosts=tmp_path / "known_hosts", on_line=Lines(),
                          backoff=Backoff(base=3600, cap=3600))  # the real sleep
    stream.start()
    wait_until(lambda: stream.delays)
    assert "cannot connect to zuul@127.0.0.1" in (stream.last_error or "")
    stream.stop(timeout=30)
    assert stream._thread is not None and not stream._thread.is_alive()


def test_a_command_gerrit_refuses_is_said_with_gerrits_words(
        gerrit_ssh: FakeGerritSSH, tmp_path: Path, key: tuple[Path, Any],
        started: list[GerritStream]) -> None:
    stream = make_stream(gerrit_ssh, tmp_path, key[0], command="gerrit stream-evnts")
    started.append(stream)
    stream.start()
    wait_until(lambda: stream.delays)
    said = "'gerrit stream-evnts' ended (exit status 1): fatal: gerrit: stream-evnts: not found"
    assert said in (stream.last_error or "")
