"""`zuulish demo --once`: the newcomer's first run, end to end (real git, real Ansible)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_merges_good_changes_and_rejects_the_broken_one(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "zuulish.cli", "demo", "--once", "--dir", str(demo_dir),
         "--port", "0"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["merged"] == [1, 2, 4, 5]
    assert summary["rejected"] == [3]
    assert summary["dashboard"].startswith("http://127.0.0.1:")
    # The branches hold the merged changes, and not the broken one.
    app = demo_dir / "git" / "demo" / "app.git"  # the forge's repository
    show = subprocess.run(["git", "show", "main:app.py"], cwd=app, capture_output=True,
                          text=True, check=True).stdout
    assert '"world"' in show and '"everyone"' not in show
    files = subprocess.run(["git", "ls-tree", "-r", "--name-only", "main"], cwd=app,
                           capture_output=True, text=True, check=True).stdout.split()
    assert "loud.py" in files and "app_version.py" in files
