"""``make demo``'s set-up of the sandbox tools (bubblewrap, passt), run by the real make."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import zuulish

ROOT = Path(zuulish.__file__).resolve().parent.parent
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def _bin(tmp: Path, *tools: str) -> Path:
    """A PATH directory holding only ``id`` and ``tools`` (links to the real programs)."""
    path = tmp / "bin"
    path.mkdir()
    for tool in ("id", *tools):
        real = shutil.which(tool)
        if real is None:
            pytest.skip(f"{tool} is not installed")
        (path / tool).symlink_to(real)
    return path


def _make(target: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MAKE), "-s", "-C", str(ROOT), target],
                          env={**os.environ, "PATH": str(path)}, capture_output=True,
                          text=True, timeout=120)


def test_missing_tools_without_apt_get_are_named_with_what_to_install(tmp_path: Path) -> None:
    proc = _make("demo", _bin(tmp_path))
    assert proc.returncode != 0
    assert proc.stdout.splitlines() == [
        "zuulish needs bubblewrap passt rsync: every playbook runs in bubblewrap's sandbox, "
        "pasta (from passt) connects the sandbox's private network, and synchronize tasks "
        "run rsync.",
        "Install the packages bubblewrap passt rsync with your system's package manager."]


def test_present_tools_need_nothing(tmp_path: Path) -> None:
    proc = _make("sandbox-tools", _bin(tmp_path, "bwrap", "pasta", "rsync"))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_one_missing_tool_is_named_alone(tmp_path: Path) -> None:
    proc = _make("sandbox-tools", _bin(tmp_path, "bwrap", "rsync"))
    assert proc.returncode != 0 and "zuulish needs passt:" in proc.stdout
    assert "bubblewrap " not in proc.stdout.split(":")[0]
