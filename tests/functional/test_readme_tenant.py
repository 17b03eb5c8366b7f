"""The README's "Your own tenant, step by step", followed verbatim.

The blocks marked ``<!-- walkthrough: ... -->`` in README.md are run in order as one
shell script in an empty directory: ``file PATH`` blocks are written to PATH, ``run``
blocks are run, the ``start`` block (``zuulish run``) is started in the background and
waited for. The only change made to them is the web port (9000 becomes a free one).
The ``reference`` block must load to exactly the configuration the defaults give.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import zuulish
from zuulish.runner import free_port
from zuulish.server_config import load_server_config

ROOT = Path(zuulish.__file__).resolve().parent.parent
BLOCK = re.compile(r"<!-- walkthrough: (\w+)(?: (\S+))? -->\n```\w*\n(.*?)```", re.S)


def walkthrough() -> list[tuple[str, str | None, str]]:
    """(kind, path, text) of each marked block of the README, in order."""
    text = (ROOT / "README.md").read_text()
    blocks = [(m.group(1), m.group(2), m.group(3)) for m in BLOCK.finditer(text)]
    assert blocks, "the README has no walkthrough blocks"
    return blocks


def script(blocks: list[tuple[str, str | None, str]], port: int, pidfile: Path) -> str:
    lines = ["set -eux"]
    for kind, path, text in blocks:
        text = text.replace("127.0.0.1:9000", f"127.0.0.1:{port}")
        if kind == "file":
            assert path and "EOF_README" not in text
            lines += [f"mkdir -p \"$(dirname '{path}')\"",
                      f"cat > '{path}' <<'EOF_README'", text.rstrip("\n"), "EOF_README"]
        elif kind == "run":
            lines.append(text)
        elif kind == "start":
            lines += [f"{text.strip()} > zuulish-run.log 2>&1 &", f"echo $! > {pidfile}",
                      "for _ in $(seq 600); do",
                      "  grep -q 'zuulish is running' zuulish-run.log && break; sleep 0.5",
                      "done",
                      "grep -q 'zuulish is running' zuulish-run.log || "
                      "{ cat zuulish-run.log; exit 1; }"]
        else:
            assert kind == "reference", kind
    return "\n".join(lines) + "\n"


def _stop(pidfile: Path) -> None:
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def test_the_reference_configuration_states_the_real_defaults(tmp_path: Path) -> None:
    blocks = walkthrough()
    [reference] = [text for kind, _, text in blocks if kind == "reference"]
    [minimal] = [text for kind, path, text in blocks if path == "zuulish.yaml"]
    (tmp_path / "reference.yaml").write_text(reference)
    (tmp_path / "zuulish.yaml").write_text(minimal)
    loaded = load_server_config(tmp_path / "reference.yaml")
    default = load_server_config(tmp_path / "zuulish.yaml")
    assert dataclasses.replace(loaded, path=default.path) == default


@pytest.mark.slow
def test_the_walkthrough_gets_a_change_merged(tmp_path: Path) -> None:
    pidfile = tmp_path / "zuulish-run.pid"
    text = script(walkthrough(), free_port(), pidfile)
    (tmp_path / "walkthrough.sh").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.org",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.org"}
    env.pop("ZUULISH_CONFIG", None)
    try:
        proc = subprocess.run(["bash", str(tmp_path / "walkthrough.sh")], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=600)
    finally:
        _stop(pidfile)
    log = tmp_path / "my-ci" / "zuulish-run.log"
    assert proc.returncode == 0, (proc.stdout[-5000:], proc.stderr[-5000:],
                                  log.read_text()[-3000:] if log.exists() else "")
    # The last step printed the branch's greeting: the change merged.
    assert "Hello, world." in proc.stdout
    app = tmp_path / "my-ci" / "state" / "git" / "org" / "app.git"
    shown = subprocess.run(["git", "show", "main:greeting.txt"], cwd=app,
                           capture_output=True, text=True, check=True).stdout
    assert shown == "Hello, world.\n"
    branches = subprocess.run(["git", "branch", "--format=%(refname:short)"], cwd=app,
                              capture_output=True, text=True, check=True).stdout.split()
    assert branches == ["main", "stable/1.0"]
