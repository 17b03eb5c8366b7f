"""leftovers.kill ends the processes of a state directory's builds, and only those."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from zuulish.executor import leftovers

# a process naming PATH that starts a child naming nothing of it, in a session of its own
PARENT = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
          "'import time; time.sleep(60)']); time.sleep(60)")


def _start(path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PARENT, str(path)], start_new_session=True)


def test_kill_ends_a_builds_processes_and_their_children_and_spares_other_state_dirs(
        tmp_path: Path) -> None:
    ours = _start(tmp_path / "state" / "builds" / "abc-1" / "work")
    theirs = _start(tmp_path / "other" / "builds" / "abc-1" / "work")
    try:
        found = leftovers.find(tmp_path / "state" / "builds")
        for _ in range(100):  # the child may not have started yet
            if len(found) == 2:
                break
            found = leftovers.find(tmp_path / "state" / "builds")
        assert ours.pid in found and len(found) == 2, found
        assert leftovers.kill(tmp_path / "state" / "builds") == {}
        assert ours.wait(5) == -9
        assert all(not Path(f"/proc/{pid}").exists() or
                   Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
                   for pid in found)
        assert theirs.poll() is None
    finally:
        for proc in (ours, theirs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
