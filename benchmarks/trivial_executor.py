#!/usr/bin/env python3
"""An executor process whose builds do no playbook work: each sleeps ``--work-seconds``
and succeeds. Everything else is the real executor component — registration and
heartbeats, claiming with SKIP LOCKED, the build's log, recording the result, waking
the scheduler — so ``scale_out.py`` measures what executors add, not Ansible's CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zuulish.component_runner import run_component  # noqa: E402
from zuulish.executor.server import Executor  # noqa: E402
from zuulish.model import BuildResult  # noqa: E402
from zuulish.server_config import load_server_config  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--work-seconds", type=float, default=1.0)
    args = parser.parse_args()

    def execute(self, build, build_dir, job_log, cancel, secrets, node):  # type: ignore[no-untyped-def]
        (build_dir / "work").mkdir(parents=True, exist_ok=True)
        job_log.write(f"trivial build: waiting {args.work_seconds}s")
        cancel.wait(args.work_seconds)
        return BuildResult.SUCCESS, ""

    Executor._execute = execute  # type: ignore[method-assign]
    Executor._local_node = lambda self, params: None  # type: ignore[method-assign]
    started = time.monotonic()
    run_component(load_server_config(args.config), "executor")
    print(f"ran {time.monotonic() - started:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
