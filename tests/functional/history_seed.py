"""A store with a history of a few hundred builds, for the history pages' tests.

Tenant ``t``: 80 items of changes 1..40 (two patch sets each) in ``check`` and
``gate`` of ``org/app`` and ``org/lib``, 10 branch updates in ``post``, each with
one build set of the jobs ``unit``, ``lint`` (non-voting), ``docs`` and
``integration`` (plus a retried attempt here and there), results chosen by a
fixed rule, so each test can compute what it expects from :data:`BUILDS`. One
item still queued with a running build; one build held by an autohold request;
tenant ``other`` holds builds that ``t``'s answers must never show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zuulish.store import (
    AutoholdRow,
    BuildRow,
    BuildSetRow,
    ChangeRow,
    PatchsetRow,
    QueueItemRow,
    ReportRow,
    Store,
)

T0 = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
JOBS = ("unit", "lint", "docs", "integration")
HELD = "b-held"


@dataclass(frozen=True)
class Seeded:
    """One seeded build, as the tests expect to see it."""

    uuid: str
    tenant: str
    job: str
    project: str
    pipeline: str
    branch: str
    change: int | None
    patchset: int | None
    ref: str | None
    result: str | None
    voting: bool
    started_at: float
    finished_at: float | None
    buildset: str


BUILDS: list[Seeded] = []


def _result(n: int, job: str) -> str:
    if job == "integration" and n % 5 == 0:
        return "FAILURE"
    if job == "unit" and n % 11 == 0:
        return "TIMED_OUT"
    if job == "docs" and n % 17 == 0:
        return "POST_FAILURE"
    return "SUCCESS"


def _item_specs() -> list[dict[str, Any]]:
    specs = []
    for change in range(1, 41):
        project = "org/app" if change % 2 else "org/lib"
        for patchset in (1, 2):
            specs.append({"tenant": "t", "pipeline": "check" if patchset == 1 else "gate",
                          "project": project, "branch": "main" if change % 3 else "stable",
                          "change": change, "patchset": patchset, "ref": None})
    for _ in range(10):
        specs.append({"tenant": "t", "pipeline": "post", "project": "org/app",
                      "branch": "main", "change": None, "patchset": None,
                      "ref": "refs/heads/main"})
    for n in range(5):
        specs.append({"tenant": "other", "pipeline": "check", "project": "org/secret",
                      "branch": "main", "change": 100 + n, "patchset": 1, "ref": None})
    return specs


def seed_history(store: Store, log_root: Path | None = None) -> list[Seeded]:
    """Fill ``store`` (and, with ``log_root``, the failed integration builds' logs)."""
    BUILDS.clear()
    n = 0
    with store.session() as s:
        changes: dict[int, ChangeRow] = {}
        for change in range(1, 41):
            row = ChangeRow(connection="forge", number=change,
                            project="org/app" if change % 2 else "org/lib",
                            branch="main" if change % 3 else "stable", status="NEW",
                            patchset=2, commit_sha=f"{change:040x}",
                            subject=f"Change number {change}", message=f"Change {change}\n",
                            created_at=T0, updated_at=T0 + change)
            s.add(row)
            changes[change] = row
        s.flush()
        for change, row in changes.items():
            for ps in (1, 2):
                s.add(PatchsetRow(change_id=row.id, number=ps,
                                  commit_sha=f"{change * 10 + ps:040x}",
                                  ref=f"refs/changes/{change % 100:02d}/{change}/{ps}",
                                  created_at=T0 + change * 100 + ps))
        for i, spec in enumerate(_item_specs()):
            sha = f"{i + 1:040x}"
            item = QueueItemRow(tenant=spec["tenant"], pipeline=spec["pipeline"],
                                queue_name=spec["project"], connection="forge",
                                change_number=spec["change"], patchset=spec["patchset"],
                                commit_sha=sha, ref=spec["ref"], project=spec["project"],
                                branch=spec["branch"], sequence=i, state="reported",
                                result="SUCCESS", enqueued_at=T0 + i * 1000)
            s.add(item)
            s.flush()
            bs = BuildSetRow(uuid=f"bs-{i:04d}", item_id=item.id, ahead=[], merge_state="merged",
                             repo_state={spec["project"]: {"branch": spec["branch"],
                                                           "commit": sha}},
                             created_at=T0 + i * 1000)
            s.add(bs)
            s.flush()
            failed = False
            for job in JOBS:
                n += 1
                result = _result(n, job)
                attempts = 2 if n % 23 == 0 else 1
                for attempt in range(1, attempts + 1):
                    uuid = f"b-{n:04d}-{attempt}"
                    this = "NODE_FAILURE" if attempt < attempts else result
                    started = T0 + i * 1000 + 10 + JOBS.index(job) + attempt * 2
                    finished = started + 60 + (n % 7) * 30
                    voting = job != "lint"
                    BUILDS.append(Seeded(uuid, spec["tenant"], job, spec["project"],
                                         spec["pipeline"], spec["branch"], spec["change"],
                                         spec["patchset"], spec["ref"], this, voting, started,
                                         finished, bs.uuid))
                    s.add(BuildRow(id=uuid, buildset_id=bs.id, job=job, state="completed",
                                   result=this, voting=voting, attempt=attempt,
                                   created_at=started - 1, started_at=started,
                                   finished_at=finished,
                                   params={"repo_state": bs.repo_state}))
                    if voting and this not in ("SUCCESS", "NODE_FAILURE"):
                        failed = True
            item.result = "FAILURE" if failed else "SUCCESS"
            if spec["change"] is not None and spec["tenant"] == "t":
                s.add(ReportRow(change_id=changes[spec["change"]].id, patchset=spec["patchset"],
                                tenant="t", pipeline=spec["pipeline"],
                                action="failure" if failed else "success",
                                result=item.result, votes={"Verified": -1 if failed else 1},
                                message=f"Build {'failed' if failed else 'succeeded'} "
                                        f"({spec['pipeline']} pipeline).\n\n"
                                        f"http://zuulish.test/t/t/buildset/{bs.uuid}",
                                created_at=T0 + i * 1000 + 900))
        # one item still in the queue: a running build
        item = QueueItemRow(tenant="t", pipeline="check", queue_name="org/app",
                            connection="forge", change_number=1, patchset=2,
                            commit_sha="f" * 40, project="org/app", branch="main",
                            sequence=999, state="queued", enqueued_at=T0 + 10**6)
        s.add(item)
        s.flush()
        bs = BuildSetRow(uuid="bs-running", item_id=item.id, ahead=[], merge_state="merged",
                         repo_state={}, created_at=T0 + 10**6)
        s.add(bs)
        s.flush()
        s.add(BuildRow(id="b-running", buildset_id=bs.id, job="unit", state="running",
                       created_at=T0 + 10**6, started_at=T0 + 10**6 + 1))
        # a failed build whose nodes an autohold request kept
        s.add(BuildRow(id=HELD, buildset_id=bs.id, job="integration", state="completed",
                       result="FAILURE", created_at=T0 + 10**6, started_at=T0 + 10**6 + 1,
                       finished_at=T0 + 10**6 + 100))
        BUILDS.append(Seeded(HELD, "t", "integration", "org/app", "check", "main", 1, 2, None,
                             "FAILURE", True, T0 + 10**6 + 1, T0 + 10**6 + 100, "bs-running"))
        s.add(AutoholdRow(tenant="t", project="org/app", job="integration", ref_filter=".*",
                          reason="debugging", count=1, current_count=1, created_at=T0,
                          held=[{"build": HELD, "nodes": [1], "held_at": T0}]))
    if log_root is not None:
        write_failed_logs(log_root, HELD)
    return list(BUILDS)


def task_records(failed_task: str = "run the tests") -> list[dict[str, Any]]:
    """``job-output.json`` as the executor writes it: two playbooks of pre-run and
    run, the second failing on one of its two hosts; post-run after it."""
    def rec(phase: str, playbook: str, play: str, task: str, host: str, result: str,
            start: str, end: str, **more: Any) -> dict[str, Any]:
        return {"phase": phase, "playbook": playbook, "play": play, "host": host,
                "task": task, "action": more.pop("action", "command"), "result": result,
                "changed": more.pop("changed", False), "duration": None,
                "start": f"2026-05-28T20:{start}Z", "end": f"2026-05-28T20:{end}Z",
                "rc": more.pop("rc", 0), "stdout": more.pop("stdout", ""),
                "stderr": more.pop("stderr", ""), "msg": more.pop("msg", "")}
    return [
        rec("pre-run", "org/jobs/playbooks/pre.yaml", "all", "Gathering Facts", "node", "ok",
            "30:00.000000", "30:02.000000", action="gather_facts"),
        rec("pre-run", "org/jobs/playbooks/pre.yaml", "all", "prepare the workspace", "node",
            "ok", "30:02.000000", "30:05.000000", changed=True),
        rec("run", "org/app/playbooks/run.yaml", "nodes", "install <deps>", "node", "ok",
            "30:05.000000", "30:20.000000"),
        rec("run", "org/app/playbooks/run.yaml", "nodes", "install <deps>", "helper", "ok",
            "30:05.000000", "30:18.000000"),
        rec("run", "org/app/playbooks/run.yaml", "nodes", failed_task, "node", "failed",
            "30:20.000000", "31:40.000000", rc=2,
            stdout="collected 12 items\nFAILED test_app.py::test_speed <b>slow</b>",
            stderr="AssertionError: 3 != 2"),
        rec("run", "org/app/playbooks/run.yaml", "nodes", failed_task, "helper", "ok",
            "30:20.000000", "30:30.000000"),
        rec("post-run", "org/jobs/playbooks/post.yaml", "all", "collect logs", "node", "ok",
            "31:41.000000", "31:45.000000", action="synchronize"),
    ]


def write_failed_logs(log_root: Path, uuid: str, lines: int = 5000) -> Path:
    """A failed build's ``job-output.txt`` (``lines`` numbered lines) and
    ``job-output.json``; returns its folder."""
    folder = log_root / uuid
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job-output.txt").write_text(
        "".join(f"2026-05-28 20:30:00.000000 | log line {n:05d} of the job\n"
                for n in range(1, lines + 1)), encoding="utf-8")
    (folder / "job-output.json").write_text(json.dumps(task_records()), encoding="utf-8")
    return folder
