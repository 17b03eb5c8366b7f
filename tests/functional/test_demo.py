"""`zuulish demo`: the newcomer's first run, end to end (real git, real Ansible, real HTTP)."""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

import zuulish

pytestmark = pytest.mark.slow

ROOT = Path(zuulish.__file__).resolve().parent.parent


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The process's output, line by line, as it comes; None at its end."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _status(url: str) -> dict:
    with urllib.request.urlopen(url.replace("/t/demo/status", "/api/tenant/demo/status"),
                                timeout=10) as response:
        return json.loads(response.read())


def _running_jobs(status: dict) -> list[str]:
    return [job["name"] for p in status["pipelines"] for q in p["queues"]
            for item in q["items"] for job in item["jobs"] if job["state"] == "running"]


@pytest.mark.long
def test_demo_is_live_merges_good_changes_rejects_the_broken_one_and_its_hints_work(
        tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    # The console script, as make runs it: `.venv/bin/zuulish` when the venv is the
    # repository's own (as `make test` makes it), else the running venv's.
    program = Path(os.path.relpath(Path(sys.executable).parent / "zuulish", ROOT))
    if program.parts[0] == "..":
        program = Path(sys.executable).parent / "zuulish"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [str(program), "demo", "--dir", str(demo_dir), "--port", "0", "--job-seconds", "4",
         "--pace", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
    out: list[str] = []
    try:
        lines = _lines(proc)
        deadline = time.monotonic() + 600
        seen_running: list[str] = []
        dashboard = None
        while time.monotonic() < deadline:
            line = lines.get(timeout=deadline - time.monotonic())
            if line is None:
                break
            out.append(line)
            if line.startswith("{"):
                break
            if "Open the dashboard now" in line:
                # The URL comes before any change is pushed ...
                assert not any("pushed change" in seen for seen in out), out
                dashboard = line.rsplit(" ", 1)[1]
            if dashboard and not seen_running and "pushed change" in line:
                # ... and a person who opens it then sees the gate at work.
                until = time.monotonic() + 120
                while not seen_running and time.monotonic() < until:
                    seen_running = _running_jobs(_status(dashboard))
                    time.sleep(0.2)
        assert dashboard and seen_running, "\n".join(out)
        summary = json.loads(out[-1])
        assert summary["merged"] == [1, 2, 4, 5], "\n".join(out)
        assert summary["rejected"] == [3]
        assert summary["dashboard"] == dashboard

        # Every hint works as printed, from where make runs the demo.
        hints = [line.removeprefix("Try: ") for line in out if line.startswith("Try: ")]
        assert [h.split()[-1] for h in hints] == ["changes", "3", "list", "status"], hints
        assert all(h.startswith(f"{program} -c {demo_dir}/zuulish.yaml ") for h in hints)
        results = {}
        for hint in hints:
            ran = subprocess.run(shlex.split(hint), cwd=ROOT, env=env, capture_output=True,
                                 text=True, timeout=60)
            assert ran.returncode == 0, (hint, ran.stdout, ran.stderr)
            results[hint.split()[-1]] = ran.stdout
        assert results["changes"].splitlines()[0].startswith("NUMBER")
        assert results["3"].startswith("Change 3: Greet everyone by default")
        assert "demo-app-unit" in results["3"]
        assert "demo/app" in results["list"] and "zuul-config" in results["list"]
        assert results["status"].startswith("Tenant demo\n")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0, "\n".join(out)

    # The branches hold the merged changes, and not the broken one.
    app = demo_dir / "git" / "demo" / "app.git"  # the forge's repository
    show = subprocess.run(["git", "show", "main:app.py"], cwd=app, capture_output=True,
                          text=True, check=True).stdout
    assert '"world"' in show and '"everyone"' not in show
    files = subprocess.run(["git", "ls-tree", "-r", "--name-only", "main"], cwd=app,
                           capture_output=True, text=True, check=True).stdout.split()
    assert "loud.py" in files and "app_version.py" in files


@pytest.mark.long
def test_demo_once_exits_after_its_summary_with_hints_that_need_no_server(
        tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "zuulish.cli", "demo", "--once", "--dir", str(tmp_path / "d"),
         "--port", "0", "--job-seconds", "0", "--pace", "0"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["merged"], summary["rejected"]) == ([1, 2, 4, 5], [3])
    hints = [line[5:] for line in proc.stdout.splitlines() if line.startswith("Try: ")]
    assert hints == [f"{sys.executable} -m zuulish.cli -c d/zuulish.yaml {what}"
                     for what in ("changes", "show 3", "project list")]


def test_demo_refuses_negative_timings(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "zuulish.cli", "demo", "--once", "--dir", str(tmp_path / "d"),
         "--pace", "-1"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == "zuulish: error: --job-seconds and --pace must be 0 or more\n"
    assert not (tmp_path / "d").exists()
