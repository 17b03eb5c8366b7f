"""The kill test's watchers see what they look for: a killed server's leftovers, a
build run twice at once, and a status API answering something other than 200."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.fakes.kill_watch import BuildProcessWatch, StatusPoller
from zuulish.runner import free_port

SLEEPER = "import sys, time; time.sleep(float(sys.argv[1]))"  # seconds


@contextmanager
def _sleeping(*argvs: list[str]) -> Iterator[list[subprocess.Popen]]:
    procs = [subprocess.Popen(argv) for argv in argvs]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)


def _fake_playbook(tmp_path: Path) -> Path:
    """A program named ansible-playbook that sleeps (its first argument) seconds."""
    program = tmp_path / "bin" / "ansible-playbook"
    program.parent.mkdir()
    program.write_text(SLEEPER)
    return program


def test_a_build_process_outliving_its_server_is_overdue_after_the_grace(
        tmp_path: Path) -> None:
    builds = tmp_path / "state" / "builds"
    watch = BuildProcessWatch(tmp_path / "state", lambda: None, grace=0.3)
    with _sleeping([sys.executable, "-c", SLEEPER, "30", str(builds / "abc-1" / "work")]) \
            as [proc]:
        watch.poll()
        assert (proc.pid in {pid for pid, _ in watch.leftovers}) and not watch.overdue
        time.sleep(0.4)
        watch.poll()
        assert [pid for pid, _ in watch.overdue] == [proc.pid]
        assert str(builds / "abc-1") in next(iter(watch.overdue.values()))


def test_a_build_process_of_the_live_server_is_no_leftover(tmp_path: Path) -> None:
    """The live server here is this test's process: its children are its builds'."""
    builds = tmp_path / "state" / "builds"
    watch = BuildProcessWatch(tmp_path / "state", os.getpid, grace=0.0)
    with _sleeping([sys.executable, "-c", SLEEPER, "30", str(builds / "abc-1" / "work")]):
        watch.poll()
        time.sleep(0.05)
        watch.poll()
    assert not watch.leftovers and not watch.overdue


def _playbook_run(program: Path, builds: Path, node: str, build: str) -> list[str]:
    """An ansible-playbook command line whose inventory names ``build`` as zuul.build."""
    inventory = builds / node / "ansible" / "inventory" / "hosts.yaml"
    inventory.parent.mkdir(parents=True)
    inventory.write_text(f"all:\n  vars:\n    zuul:\n      !unsafe 'build': !unsafe '{build}'\n"
                         f"      !unsafe 'buildset': !unsafe '{'f' * 32}'\n")
    return [sys.executable, "-IS", str(program), "30", "-i", str(inventory), "playbook.yaml"]


def test_two_playbook_runs_of_one_build_at_once_are_seen(tmp_path: Path) -> None:
    program = _fake_playbook(tmp_path)
    builds = tmp_path / "state" / "builds"
    watch = BuildProcessWatch(tmp_path / "state", lambda: None)
    one, other = "a" * 32, "b" * 32
    with _sleeping(_playbook_run(program, builds, "node-1", one),
                   _playbook_run(program, builds, "node-2", other)):
        watch.poll()
    assert not watch.twice
    assert sorted(watch.playbook_runs.values()) == [one, other]
    with _sleeping(_playbook_run(program, builds, "node-3", one),
                   _playbook_run(program, builds, "node-4", one)):
        watch.poll()
    assert watch.twice == [f"build {one}: 2 ansible-playbook runs at once"]


@contextmanager
def _answering(status: int) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/tenant/t/status"
    finally:
        server.shutdown()
        server.server_close()


def test_the_status_poller_keeps_every_answer_but_200_and_no_answer_is_fine() -> None:
    down = StatusPoller(f"http://127.0.0.1:{free_port()}/api/tenant/t/status")
    down.ask()
    assert (down.no_answer, down.bad, sum(down.answers.values())) == (1, [], 0)
    with _answering(200) as url:
        fine = StatusPoller(url)
        fine.ask()
    assert (fine.answers[200], fine.bad) == (1, [])
    with _answering(500) as url:
        broken = StatusPoller(url)
        broken.ask()
    assert broken.answers[500] == 1 and broken.bad == ["500: b'{}'"]
