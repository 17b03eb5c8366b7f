"""A build that ends while the database is away keeps its result until it can be
written (the executor tries again), unless the executor stops first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from zuulish.clock import SimulatedClock
from zuulish.executor.server import Executor
from zuulish.store import BuildRow, Store

pytestmark = pytest.mark.not_store  # the subject is the retry, not what is stored


class _Away(Executor):
    """An executor whose database is away for the first ``away`` tries to record."""

    def __init__(self, *args: Any, away: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.away, self.tries, self.recorded = away, 0, []

    def _finish(self, build: BuildRow, result: str, *args: Any, **kwargs: Any) -> None:
        self.tries += 1
        if self.tries <= self.away:
            raise OperationalError("UPDATE builds", {}, Exception("connection refused"))
        self.recorded.append(result)


def _executor(store: Store, tmp_path: Path, away: int) -> _Away:
    return _Away(store, tmp_path / "executor", SimulatedClock(start=100.0),
                 preload_ansible=False, away=away)


def test_a_result_is_recorded_once_the_database_answers_again(
        store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    executor = _executor(store, tmp_path, away=3)
    executor._record(BuildRow(id="rec-1"), "SUCCESS", "", tmp_path / "log", None)
    assert (executor.tries, executor.recorded) == (4, ["SUCCESS"])
    said = caplog.text
    assert said.count("cannot record its result") == 1  # one line, not one per try
    assert "its result (SUCCESS) is recorded" in said


def test_an_executor_that_stops_while_the_database_is_away_gives_up(
        store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    executor = _executor(store, tmp_path, away=100)
    executor._stopping = True
    executor._record(BuildRow(id="rec-2"), "FAILURE", "", tmp_path / "log", None)
    assert (executor.tries, executor.recorded) == (1, [])
    assert "is not recorded, it will run again" in caplog.text
