"""An executor's console server in a process of its own (a "remote" executor for tests).

``python -m tests.fakes.console_process DATABASE_URL STATE_DIR`` starts
``ConsoleServer`` on a free port of 127.0.0.1 over that database and state
directory (its ``secrets.key``), prints its URL on one line and serves until
its standard input closes. ``remote_console`` starts one and stops it.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(database: str, state_dir: str) -> None:
    from zuulish.executor.console_server import ConsoleServer
    from zuulish.store import Store

    server = ConsoleServer(Store(database), Path(state_dir), host="127.0.0.1", port=0,
                           url=None)
    server.start()
    print(f"http://127.0.0.1:{server.port}", flush=True)
    sys.stdin.read()  # until the test closes it
    server.stop()


@contextlib.contextmanager
def remote_console(database: str, state_dir: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A console server process; yields its URL and the process."""
    process = subprocess.Popen([sys.executable, "-m", "tests.fakes.console_process",
                                database, str(state_dir)], cwd=ROOT, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise RuntimeError("the console server process did not start")
        yield url, process
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
