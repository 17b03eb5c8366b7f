"""Closing ansible-runner's terminal without ptyprocess's idle 0.1 s.

ansible-runner runs ``ansible-playbook`` under pexpect and, once the playbook
has exited and been reaped (its loop runs while ``child.isalive()``), calls
``child.close()``. ptyprocess's ``close()`` then sleeps ``delayafterclose``
(0.1 s) "to give the kernel time to update process status" before checking
whether the child is still alive -- for a child that is already known to have
exited. That is 0.1 s per playbook between the last task and the build's
result, with the build's worker thread asleep.

``install()`` wraps ``PtyProcess.close`` so that the wait is skipped only for a
child already reaped (``terminated``); a close while the child may still run
keeps ptyprocess's behaviour, wait and all.
"""

from __future__ import annotations

import threading
from typing import Any

from ptyprocess import PtyProcess

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Make ``PtyProcess.close`` skip its wait for an exited child (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        original = PtyProcess.close

        def close(self: PtyProcess, force: bool = True) -> Any:
            if getattr(self, "terminated", False):
                self.delayafterclose = 0  # reaped: nothing left for the kernel to settle
            return original(self, force)

        close.__doc__ = original.__doc__
        PtyProcess.close = close  # type: ignore[method-assign]
        _installed = True
