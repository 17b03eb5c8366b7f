"""An executor that starts a build says so on the ``status`` channel, so that open
status pages show it at once (on PostgreSQL nothing else tells the web of a start)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.fakes.rows import item_with_buildset
from zuulish.clock import SimulatedClock
from zuulish.executor.server import Executor
from zuulish.model import FrozenJob
from zuulish.store import BuildRow, Store
from zuulish.store import notify as channels

# SQLite only: on PostgreSQL each (re)start of LISTEN wakes every channel once, so
# an unprompted wake-up could not be told from the executor's
pytestmark = pytest.mark.not_store


class _Starting(Executor):
    """An executor whose builds do nothing once started: the subject is the start."""

    def _run_build(self, build: BuildRow, cancel: threading.Event) -> None:
        with self._lock:
            self._running.pop(build.id, None)


def test_starting_a_build_wakes_the_status_channel_and_nothing_else_does(
        store: Store, tmp_path: Path) -> None:
    executor = _Starting(store, tmp_path / "executor", SimulatedClock(start=100.0),
                         preload_ansible=False)
    store.notifier.wait(channels.STATUS, 0)  # (clears it)
    assert executor.run_once() is False  # nothing queued: no wake-up
    assert not store.notifier.wait(channels.STATUS, 0)
    with store.session() as s:
        buildset_id = item_with_buildset(s)
        s.add(BuildRow(id="wake-b1", buildset_id=buildset_id, job="unit", state="queued",
                       frozen_job=FrozenJob(name="unit").to_dict(), params={},
                       created_at=0.0))
    assert executor.run_once() is True
    assert store.notifier.wait(channels.STATUS, 0)
    with store.read() as s:
        row = s.get(BuildRow, "wake-b1")
        assert row is not None and row.state == "running"
