#!/usr/bin/env python3
"""What the bubblewrap sandbox costs an untrusted playbook.

Runs a trivial one-task playbook (``command: "true"`` on a local-provider node)
through ``run_playbook`` (real ansible-runner) ``--runs`` times in each of these
ways: trusted and forked from the warm zygote into a build's trusted sandbox
(what trusted playbooks get), trusted and cold (a fresh ``ansible-playbook`` in
a trusted sandbox of its own), and untrusted (a fresh ``ansible-playbook`` in
the untrusted sandbox, which must not see the trusted data dir, so the zygote
does not serve it) with each sandbox network
(``executor.sandbox_network``): ``untrusted_sandboxed`` is the default,
``private`` (a network namespace connected by pasta), ``untrusted_host`` the
host's network and ``untrusted_none`` no network. Per way, the median and p90
of ``first_task_ms`` (from the call to the first task's start event) and
``total_ms`` (the whole call). The ways take turns run by run, so a load that
comes and goes weighs on each alike. Prints one JSON line;
``sandbox_vs_warm_ms`` and ``sandbox_vs_cold_ms`` are the differences of the
median first-task times; ``private_vs_host_ms`` and ``none_vs_host_ms`` what a
private network, or none, adds to the sandbox's start.
"""

from __future__ import annotations

import argparse
import json
import os
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
from zuulish.executor.sandbox import DEFAULT_NETWORK, TrustedSpec  # noqa: E402
from zuulish.executor.trusted_view import BuildSandbox  # noqa: E402

PLAYBOOK = '- hosts: all\n  gather_facts: false\n  tasks:\n    - command: "true"\n'
INVENTORY = {"all": {"hosts": {"node": {"ansible_connection": "zuulish_local"}}}}


def _once(tmp: Path, n: int, trusted: bool, preload: dict[str, str] | None,
          network: str) -> tuple[float, float] | None:
    """One run in ``tmp``: (first task ms, total ms), or None when no task started."""
    book = tmp / "playbooks" / "trivial.yaml"
    if not book.exists():
        book.parent.mkdir(parents=True)
        book.write_text(PLAYBOOK)
    work = tmp / f"work-{n}"
    work.mkdir()
    log = JobLog(tmp / f"logs-{n}")
    started = time.time()
    outcome = run_playbook(tmp / f"ansible-{n}", PlaybookRun(book, "run", trusted),
                           INVENTORY, {}, log, 60, None, work, preload=preload,
                           sandbox_network=network, trusted=TrustedSpec(((tmp, True),)))
    ended = time.time()
    log.close()
    if outcome.status != "successful":
        raise SystemExit(f"the trivial playbook failed: {outcome.message}")
    if log.first_task_started is None:
        return None
    return (log.first_task_started - started) * 1000, (ended - started) * 1000


def _figures(times: list[tuple[float, float]]) -> dict[str, float]:
    first = [f for f, _ in times]
    return {"first_task_ms": round(statistics.median(first), 1),
            "first_task_p90_ms": round(statistics.quantiles(first, n=10)[-1], 1),
            "total_ms": round(statistics.median([t for _, t in times]), 1)}


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
        (tmp / "trusted_warm").mkdir()
        box = BuildSandbox(TrustedSpec(((tmp / "trusted_warm", True),)))
        box.start()
        handles = box.handles()
        registered = zygote.register("bench", handles)
        for fd in handles.values():
            os.close(fd)
        if not registered:
            raise SystemExit("the preloaded Ansible did not take the sandbox")
        ways = {  # name: (trusted, preload, sandbox network)
            "trusted_warm": (True, zygote.playbook_env("bench", ""), DEFAULT_NETWORK),
            "trusted_cold": (True, None, DEFAULT_NETWORK),
            "untrusted_sandboxed": (False, None, DEFAULT_NETWORK),
            "untrusted_host": (False, None, "host"),
            "untrusted_none": (False, None, "none"),
        }
        times: dict[str, list[tuple[float, float]]] = {way: [] for way in ways}
        try:
            for n in range(args.runs + 1):  # the first round is a warm-up, not counted
                for way, (trusted, preload, network) in ways.items():
                    measured = _once(tmp / way, n, trusted, preload, network)
                    if n and measured is not None:
                        times[way].append(measured)
        finally:
            zygote.stop()
            box.stop()
    figures: dict[str, Any] = {way: _figures(t) for way, t in times.items()}
    sandboxed = figures["untrusted_sandboxed"]["first_task_ms"]
    host = figures["untrusted_host"]["first_task_ms"]
    figures["sandbox_network"] = DEFAULT_NETWORK
    figures["sandbox_vs_warm_ms"] = round(sandboxed - figures["trusted_warm"]["first_task_ms"], 1)
    figures["sandbox_vs_cold_ms"] = round(sandboxed - figures["trusted_cold"]["first_task_ms"], 1)
    figures["private_vs_host_ms"] = round(sandboxed - host, 1)
    figures["none_vs_host_ms"] = round(figures["untrusted_none"]["first_task_ms"] - host, 1)
    figures["runs"] = args.runs
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
