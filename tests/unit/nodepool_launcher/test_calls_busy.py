"""A provider call stays busy until the launcher has taken its result."""

from __future__ import annotations

import threading

from zuulish.nodepool.calls import Calls


def test_a_finished_call_is_busy_until_its_result_is_taken() -> None:
    woke = threading.Event()
    calls = Calls(woke.set, workers=1)
    try:
        calls.submit(("create", 1), lambda: "server-1")
        assert woke.wait(5)
        # ended, but not applied yet: the same call must not be made again
        assert calls.busy(("create", 1))
        calls.submit(("create", 1), lambda: "server-2")
        [done] = calls.finished()
        assert done.value == "server-1"
        assert not calls.busy(("create", 1))
        assert calls.finished() == []
    finally:
        calls.close()
