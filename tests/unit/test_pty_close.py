"""ansible-runner's terminal closes at once once its playbook has exited."""

from __future__ import annotations

import time
from typing import Any

import pytest
from ptyprocess import PtyProcess
from ptyprocess import ptyprocess as ptyprocess_module

from zuulish.executor import pty_close


class RecordingTime:
    """ptyprocess's ``time``: its waits are noted (and still taken)."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorder = RecordingTime()
    monkeypatch.setattr(ptyprocess_module, "time", recorder)
    return recorder.sleeps


def test_closing_the_terminal_of_a_reaped_child_does_not_wait(sleeps: list[float]) -> None:
    pty_close.install()
    proc = PtyProcess.spawn(["true"])
    while proc.isalive():  # as ansible-runner's loop does until the playbook has exited
        time.sleep(0.01)
    proc.close()
    assert proc.closed and proc.exitstatus == 0
    assert sleeps == [0]


def test_closing_the_terminal_of_a_running_child_keeps_ptyprocess_wait(
        sleeps: list[float]) -> None:
    pty_close.install()
    proc = PtyProcess.spawn(["sleep", "30"])
    proc.close()
    assert proc.closed and not proc.isalive()
    assert sleeps[0] == proc.delayafterclose == 0.1


def test_install_twice_wraps_once() -> None:
    pty_close.install()
    close = PtyProcess.close
    pty_close.install()
    assert PtyProcess.close is close
