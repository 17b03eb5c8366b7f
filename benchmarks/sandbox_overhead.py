#!/usr/bin/env python3
"""What the bubblewrap sandbox costs an untrusted playbook.

Runs a trivial one-task playbook (``command: "true"`` on a local-provider node)
through ``run_playbook`` (real ansible-runner) ``--runs`` times in each of three
ways: trusted and forked from the warm zygote (what trusted playbooks get),
trusted and cold (a fresh ``ansible-playbook``), and untrusted (a fresh
``ansible-playbook`` in the sandbox: the zygote cannot serve it, since its
children would run outside the sandbox). Per way, the median and p90 of
``first_task_ms`` (from the call to the first task's start event) and
``total_ms`` (the whole call). Prints one JSON line; ``sandbox_vs_warm_ms`` and
``sandbox_vs_cold_ms`` are the differences of the median first-task times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zuulish.executor.ansible_run import JobLog, PlaybookRun, ansible_env, run_playbook  # noqa: E402
from zuulish.executor.ansible_zygote import AnsibleZygote  # noqa: E402

PLAYBOOK = '- hosts: all\n  gather_facts: false\n  tasks:\n    - command: "true"\n'
INVENTORY = {"all": {"hosts": {"node": {"ansible_connection": "zuulish_local"}}}}


def _measure(tmp: Path, trusted: bool, preload: dict[str, str] | None,
             runs: int) -> dict[str, float]:
    book = tmp / "playbooks" / "trivial.yaml"
    book.parent.mkdir(parents=True, exist_ok=True)
    book.write_text(PLAYBOOK)
    first, total = [], []
    for n in range(runs + 1):  # the first run is a warm-up, not counted
        work = tmp / f"work-{n}"
        work.mkdir()
        log = JobLog(tmp / f"logs-{n}")
        started = time.time()
        outcome = run_playbook(tmp / f"ansible-{n}", PlaybookRun(book, "run", trusted),
                               INVENTORY, {}, log, 60, None, work, preload=preload)
        ended = time.time()
        log.close()
        if outcome.status != "successful":
            raise SystemExit(f"the trivial playbook failed: {outcome.message}")
        if n and log.first_task_started is not None:
            first.append((log.first_task_started - started) * 1000)
            total.append((ended - started) * 1000)
    return {"first_task_ms": round(statistics.median(first), 1),
            "first_task_p90_ms": round(statistics.quantiles(first, n=10)[-1], 1),
            "total_ms": round(statistics.median(total), 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zuulish-sandbox-bench-") as name:
        tmp = Path(name)
        zygote = AnsibleZygote(tmp / "zygote", ansible_env())
        zygote.start()
        if not zygote.wait_ready():
            raise SystemExit("the preloaded Ansible did not start")
        try:
            figures: dict[str, Any] = {
                "trusted_warm": _measure(tmp / "warm", True, zygote.playbook_env(), args.runs),
                "trusted_cold": _measure(tmp / "cold", True, None, args.runs),
                "untrusted_sandboxed": _measure(tmp / "sandboxed", False, None, args.runs),
            }
        finally:
            zygote.stop()
    sandboxed = figures["untrusted_sandboxed"]["first_task_ms"]
    figures["sandbox_vs_warm_ms"] = round(sandboxed - figures["trusted_warm"]["first_task_ms"], 1)
    figures["sandbox_vs_cold_ms"] = round(sandboxed - figures["trusted_cold"]["first_task_ms"], 1)
    figures["runs"] = args.runs
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
