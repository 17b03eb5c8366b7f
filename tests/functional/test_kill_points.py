"""Promise 2 under fire: SIGKILL the all-in-one process at chosen moments of a busy gate.

Each run pushes and approves changes (some bad, and a cross-repository
Depends-On pair) into a shared queue of two repositories while a real
``zuulish run`` process is SIGKILLed at moments of these kinds:

- ``random``: any time in the busy period (events taken in, states merged,
  builds run, results reported, branches moved);
- ``push``: while a ``git push`` is under way (the forge's hook stores it, or,
  when the server dies holding it, git refuses it with "try again" and nothing of
  it is stored: the test then pushes again, as a user would);
- ``approve``: just after an approval is stored;
- ``recovery``: at once, then again within seconds of the restart;
- ``merge``: right after the gate moved a branch;
- ``playbooks``: only the builds' ansible-playbook processes, not the server.

The server is started again at once or a little later (pushes and approvals
made while it is down must not be lost). One run in three has a small window
(``window: 2, window-floor: 1``). Throughout, ``/proc`` is watched: after each
kill no process of the killed incarnation may live past a few seconds, and no
build may run twice at once (also checked in each build's job log); and the
status API is asked: every answer that arrives must be 200 (no answer while the
server is down is fine). Once the kills stop, the gate must finish as if
nothing had happened: every good change merged exactly once and never reported
FAILURE, every bad change rejected, the Depends-On change merged after the
change it needs, the branch holding exactly the good changes, and nothing left
queued, running or unprocessed.

By default (CI) three seeded runs cover every kind of kill moment twice.
``ZUULISH_KILL_RUNS`` sets how many seeded runs there are; ``ZUULISH_KILL_SEED``
replays one seed. Runs whose seed is a multiple of 3 have the small window
(their test id ends in ``-window2``: ``-k 'not window2'`` leaves them out).
"""

from __future__ import annotations

import contextlib
import heapq
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.fakes.kill_watch import BuildProcessWatch, StatusPoller, is_playbook, processes
from tests.fakes.tenant import PIPELINES, GateTenant, git
from zuulish.runner import free_port
from zuulish.store import (
    BuildRow,
    ChangeRow,
    EventRow,
    MergeRequestRow,
    NodeRow,
    QueueItemRow,
)

pytestmark = [pytest.mark.slow, pytest.mark.store, pytest.mark.postgres_e2e]

MOMENTS = ("random", "push", "approve", "recovery", "merge", "playbooks")
KILLS_PER_RUN = 4  # moments MOMENTS[4 * (seed - 1) + k]: seeds 1..3 cover each twice
RUNS = int(os.environ.get("ZUULISH_KILL_RUNS", "3"))
SEEDS = [int(os.environ["ZUULISH_KILL_SEED"])] if os.environ.get("ZUULISH_KILL_SEED") \
    else list(range(1, RUNS + 1))


def _small_window(seed: int) -> bool:
    return seed % 3 == 0


JOBS = """
- job:
    name: gate-test
    parent: run-shell
    vars:
      command: "sleep 1 && test ! -e BAD"
- project:
    queue: shared
    gate:
      jobs: [gate-test]
"""
PROJECTS = ("org/app", "org/lib")
CHANGES = 7
NEEDED, DEPENDENT = 1, 2  # change 2 (org/app) has Depends-On: change 1 (org/lib)
HEADER = re.compile(r"^(\S+ \S+) \| Job \S+ \(build (\w+), attempt (\d+)\)", re.M)
LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) \| ", re.M)


@dataclass
class Server:
    """The ``zuulish run`` process, killed and restarted by the test."""

    config: Path
    log: Path
    proc: subprocess.Popen | None = None
    kills: list[tuple[float, str]] = field(default_factory=list)  # (when, moment)
    playbook_kills: list[tuple[float, int]] = field(default_factory=list)  # (when, how many)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zuulish.cli", "-c", str(self.config), "run"],
            stdout=self.log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)

    def pid(self) -> int | None:
        proc = self.proc
        return proc.pid if proc is not None else None

    def kill(self, at: float, moment: str) -> bool:
        """SIGKILL the server's process group (no clean-up at all), if it runs."""
        if self.proc is None:
            return False
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        with self.log.open("a") as f:
            f.write(f"\n===== SIGKILL ({moment}) at +{at:.2f}s =====\n")
        self.kills.append((at, moment))
        self.proc = None
        return True

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None


@dataclass(order=True)
class Step:
    at: float
    kind: str  # push, approve, kill, restart
    index: int = 0
    moment: str = "random"


def plan(rng: random.Random, seed: int) -> tuple[list[Step], set[int]]:
    """A timeline of pushes, approvals and kills, and which changes are bad.

    The seed's kill moments are ``MOMENTS`` from ``4 * (seed - 1)`` on, so every
    three consecutive seeds see each moment twice; when each falls is random. The
    Depends-On change is pushed after, and approved after, the change it needs; with
    the small window, right after it, and both right after two good changes, so that
    the pair waits beyond the window (issue 17, fault 1)."""
    bad = set(rng.sample([i for i in range(CHANGES) if i not in (NEEDED, DEPENDENT)],
                         k=rng.choice((1, 2))))
    pushed = {i: rng.uniform(0, 12) for i in range(CHANGES)}
    pushed[DEPENDENT] = max(pushed[DEPENDENT], pushed[NEEDED] + 0.1)
    approved = {i: pushed[i] + rng.uniform(0.1, 4) for i in range(CHANGES)}
    approved[DEPENDENT] = max(approved[DEPENDENT], approved[NEEDED] + 0.1)
    if _small_window(seed):  # two changes fill the window, the pair waits beyond it
        first, second = rng.sample([i for i in range(CHANGES) if i not in bad
                                    and i not in (NEEDED, DEPENDENT)], k=2)
        at = max(pushed[i] for i in (first, second, NEEDED, DEPENDENT)) + 0.2
        for offset, i in enumerate((first, second, NEEDED, DEPENDENT)):
            approved[i] = at + 0.05 * offset
    moments = [MOMENTS[(KILLS_PER_RUN * (seed - 1) + k) % len(MOMENTS)]
               for k in range(KILLS_PER_RUN)]
    steps = [Step(pushed[i], "push", i) for i in range(CHANGES)]
    steps += [Step(approved[i], "approve", i) for i in range(CHANGES)]
    for moment in moments:
        if moment in ("push", "approve"):  # a kill while that change's push/approval is made
            i = rng.randrange(CHANGES)
            steps = [Step(s.at, s.kind, s.index, moment)
                     if (s.kind, s.index) == (moment, i) else s for s in steps]
        else:  # a merge or a playbook to kill is awaited: drawn while the gate is busy
            at = rng.uniform(1, 14) if moment in ("merge", "playbooks") else rng.uniform(1, 25)
            steps.append(Step(at, "kill", 0, moment))
    return sorted(steps), bad


@pytest.mark.parametrize("seed", SEEDS, ids=[
    f"seed{s}" + ("-window2" if _small_window(s) else "") for s in SEEDS])
def test_sigkills_at_each_moment_lose_nothing_and_merge_each_change_once(
        tmp_path: Path, database_url: str, seed: int) -> None:
    rng = random.Random(seed)
    window = _small_window(seed)
    pipelines = PIPELINES.replace("manager: dependent\n",
                                  "manager: dependent\n    window: 2\n    window-floor: 1\n") \
        if window else PIPELINES
    assert pipelines.count("window: 2") == int(window)
    tenant = GateTenant(tmp_path, database_url,
                        {p: {".zuul.yaml": JOBS, "README": f"{p}\n"} for p in PROJECTS},
                        pipelines=pipelines)
    config = tmp_path / "zuulish.yaml"
    port = free_port()
    config.write_text(config.read_text().replace("127.0.0.1:9", f"127.0.0.1:{port}"))
    server = Server(config, tmp_path / "server.log")
    tips = {p: _tip(tenant, p) for p in PROJECTS}
    steps, bad = plan(rng, seed)
    numbers: dict[int, int] = {}
    projects: dict[int, str] = {}
    refused: list[int] = []  # pushes git refused (try again) as the server died
    state = tenant.config.state_dir
    watch = BuildProcessWatch(state, server.pid)
    poller = StatusPoller(f"http://127.0.0.1:{port}/api/tenant/t/status")
    server.start()
    watch.start()
    poller.start()
    began = time.monotonic()

    def now() -> float:
        return time.monotonic() - began

    def up() -> None:
        """A kill moment needs a working server: start it now if a restart is pending,
        and wait until it answers."""
        if server.proc is None:
            server.start()
        tenant.wait_for(poller.serving, timeout=60, what="the restarted server to answer")

    def kill(moment: str) -> None:
        if server.kill(now(), moment):
            delay = rng.choice((0.0, 0.0, rng.uniform(0.2, 3)))
            heapq.heappush(steps, Step(now() + delay, "restart"))

    def push(i: int) -> None:
        project = PROJECTS[i % 2]
        files = {f"change-{i}.txt": f"{i}\n"}
        if i in bad:
            files["BAD"] = "this change breaks the tests\n"
        needs = [numbers[NEEDED]] if i == DEPENDENT else None
        try:
            numbers[i] = tenant.push(project, files, f"Change {i}", depends_on=needs)
        except RuntimeError as exc:  # the server died holding the push: git refused it
            if "try again" not in str(exc):
                raise
            refused.append(i)  # nothing of it may be stored; the user pushes again
            with tenant.aio.store.read() as s:
                assert s.scalar(select(ChangeRow.id).where(
                    ChangeRow.subject == f"Change {i}")) is None, f"refused push {i} stored"
            numbers[i] = tenant.push(project, files, f"Change {i}", depends_on=needs)
        projects[i] = project

    heapq.heapify(steps)
    try:
        while steps:
            step = heapq.heappop(steps)
            time.sleep(max(0.0, step.at - now()))
            if (step.kind == "kill" and step.moment in MOMENTS) or step.kind == step.moment:
                up()  # a kill moment (not a plain push or approval, which may find it down)
            if step.kind == "push" and step.moment == "push":
                pushing = threading.Thread(target=push, args=(step.index,))
                pushing.start()
                time.sleep(rng.uniform(0.0, 0.3))
                kill("push")
                pushing.join(60)
                assert not pushing.is_alive() and step.index in numbers, "the push hung"
            elif step.kind == "push":
                push(step.index)
            elif step.kind == "approve":
                tenant.approve(numbers[step.index])
                if step.moment == "approve":
                    time.sleep(rng.uniform(0.0, 0.2))
                    kill("approve")
            elif step.kind == "restart" and server.proc is None:
                server.start()
            elif step.kind == "kill" and step.moment == "recovery":
                server.kill(now(), "recovery")  # started again at once, and killed again
                server.start()                   # within seconds, while it recovers
                time.sleep(rng.uniform(0.3, 3))
                kill("recovery-again")
            elif step.kind == "kill" and step.moment == "merge":
                moved = _wait_for_a_merge(tenant, timeout=40)
                kill("merge" if moved else "no-merge-came")
            elif step.kind == "kill" and step.moment == "playbooks":
                server.playbook_kills.append((now(), _kill_playbooks(state, timeout=30)))
            elif step.kind == "kill":
                kill(step.moment)
        if server.proc is None:
            server.start()
        tenant.wait_for(lambda: all(_finished(tenant, n) for n in numbers.values()),
                        timeout=300, what=f"every change to be decided (seed {seed}, "
                                          f"kills {server.kills})")
        tenant.wait_for(lambda: not _unfinished_work(tenant), timeout=60,
                        what="the queues and workers to go idle")
        watch.poll()
    except AssertionError:
        print(server.log.read_text()[-8000:])
        raise
    finally:
        poller.stop()
        server.stop()
        time.sleep(watch.grace + 1)  # the last SIGKILL's leftovers are overdue by now
        watch.stop()
    took = now()
    kills = [(round(at, 2), moment) for at, moment in server.kills]
    context = (f"seed {seed}, window {2 if window else 'default'}, kills {kills}, "
               f"playbook kills {server.playbook_kills}, bad {sorted(bad)}, "
               f"pushes refused and pushed again {refused}")
    print(f"kill run: {context}; {took:.0f}s; status API answers {dict(poller.answers)}, "
          f"{poller.no_answer} unanswered; {watch.polls} /proc polls, "
          f"{len(watch.playbook_runs)} playbook runs "
          f"({sum(1 for b in watch.playbook_runs.values() if b)} of a known build), "
          f"{len(watch.leftovers)} leftover "
          "processes seen after kills (each gone in time)")
    # the kills happened as planned
    seen = {m for _, m in server.kills}
    if any(n for _, n in server.playbook_kills):
        seen.add("playbooks")
    wanted = {MOMENTS[(KILLS_PER_RUN * (seed - 1) + k) % len(MOMENTS)]
              for k in range(KILLS_PER_RUN)}
    assert wanted <= seen, f"moments {wanted - seen} never came ({context})"
    if "recovery" in wanted:
        assert "recovery-again" in seen, f"no second kill after a restart ({context})"
    # no process of a killed incarnation outlived it, no build ran twice at once
    assert not watch.overdue, f"outlived their server by more than 5s ({context}):\n" + \
        "\n".join(f"{pid} (from +{watch.leftovers[(pid, t)][0] - began:.1f}s): {cmd}"
                  for (pid, t), cmd in watch.overdue.items())
    assert not watch.twice, f"{sorted(set(watch.twice))} ({context})"
    assert any(watch.playbook_runs.values()), "the watch never saw a build's playbook run"
    assert not _runs_overlapping(state), context
    # every answer the status API gave was 200
    assert not poller.bad, f"status API: {poller.bad[:5]} ({context})"
    assert poller.answers[200] > 0, f"the status API never answered ({context})"
    good = [i for i in numbers if i not in bad]
    for i in good:
        n = numbers[i]
        assert tenant.change(n).status == "MERGED", context
        assert tenant.branch_file(projects[i], f"change-{i}.txt") == f"{i}\n", context
        reports = tenant.reports(n, "gate")
        results = {r.result for r in reports if r.result}
        assert results == {"SUCCESS"}, f"change {n}: {results} ({context})"
        assert not any(_vote_is_failure(r.votes) for r in reports), \
            f"change {n}: {[r.votes for r in reports]} ({context})"
    for i in bad:
        n = numbers[i]
        assert tenant.change(n).status != "MERGED", context
        results = {r.result for r in tenant.reports(n, "gate") if r.result}
        assert results == {"FAILURE"}, f"change {n}: {results} ({context})"
    needed_merge = _merged_report(tenant, numbers[NEEDED])
    dependent_merge = _merged_report(tenant, numbers[DEPENDENT])
    assert needed_merge.id < dependent_merge.id, \
        f"change {numbers[DEPENDENT]} merged before the change it needs ({context})"
    for project in PROJECTS:
        assert tenant.branch_file(project, "BAD") is None, context
        wanted_merges = sum(1 for i in good if projects[i] == project)
        moved = git(tenant.forge.repo_path(project), "rev-list", "--first-parent", "--count",
                    f"{tips[project]}..refs/heads/main").strip()
        assert int(moved) == wanted_merges, f"{project}: {moved} commits for " \
                                            f"{wanted_merges} merges ({context})"
    with tenant.aio.store.read() as s:
        merged = s.execute(select(QueueItemRow.change_number, func.count())
                           .where(QueueItemRow.pipeline == "gate",
                                  QueueItemRow.state == "merged")
                           .group_by(QueueItemRow.change_number)).all()
    assert sorted(n for n, _ in merged) == sorted(numbers[i] for i in good), context
    assert all(count == 1 for _, count in merged), f"merged twice: {merged} ({context})"


def _wait_for_a_merge(tenant: GateTenant, timeout: float) -> bool:
    """Return as soon as the gate moves a branch (False if none moved in ``timeout``)."""
    before = {p: _tip(tenant, p) for p in PROJECTS}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(_tip(tenant, p) != tip for p, tip in before.items()):
            return True
        time.sleep(0.02)
    return False


def _kill_playbooks(state: Path, timeout: float) -> int:
    """SIGKILL every build's ansible-playbook processes (cold ones and the preloaded
    Ansible's clients; not the server, nor their sandboxes) as soon as there are some;
    returns how many were killed."""
    builds = str(state.absolute() / "builds") + "/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [pid for pid, (_, _, argv) in processes().items()
                 if is_playbook(argv) and any(builds in a for a in argv)]
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if found:
            return len(found)
        time.sleep(0.02)
    return 0


def _runs_overlapping(state: Path) -> list[str]:
    """Builds whose job log shows two runs at once: each run (from its ``Job ...
    (build X, attempt N)`` line to its last line) ends before the next one starts,
    and prepares its workspace and runs the job's playbook at most once."""
    found = []
    for output in sorted((state / "logs").rglob("job-output.txt")):
        text = output.read_text()
        heads = list(HEADER.finditer(text))
        for k, head in enumerate(heads):
            body = text[head.start():heads[k + 1].start() if k + 1 < len(heads) else None]
            stamps = LINE.findall(body)
            if stamps != sorted(stamps):
                found.append(f"{output}: run {k + 1} has lines out of order")
            if body.count("RUN (trusted) playbooks/run-shell/run.yaml") > 1 \
                    or body.count("| Workspace ready in") > 1:
                found.append(f"{output}: run {k + 1} holds two runs' lines")
            if k + 1 < len(heads) and stamps and stamps[-1] > heads[k + 1].group(1):
                found.append(f"{output}: run {k + 1} ends after run {k + 2} began")
    return found


def _vote_is_failure(votes: dict) -> bool:
    """A report's votes reject the change (a negative Verified, say)."""
    return any(isinstance(v, int) and not isinstance(v, bool) and v < 0 for v in votes.values())


def _merged_report(tenant: GateTenant, number: int):
    return next(r for r in tenant.reports(number, "gate") if r.result == "SUCCESS")


def _tip(tenant: GateTenant, project: str) -> str:
    return git(tenant.forge.repo_path(project), "rev-parse", "refs/heads/main").strip()


def _finished(tenant: GateTenant, number: int) -> bool:
    """The change has a gate result and is no longer queued there."""
    if not any(r.result for r in tenant.reports(number, "gate")):
        return False
    with tenant.aio.store.read() as s:
        return s.scalar(select(QueueItemRow.id).where(
            QueueItemRow.pipeline == "gate", QueueItemRow.change_number == number,
            QueueItemRow.state == "queued")) is None


def _unfinished_work(tenant: GateTenant) -> list[str]:
    """Whatever is still queued, running or waiting anywhere in the store."""
    with tenant.aio.store.read() as s:
        left = []
        if s.scalar(select(EventRow.id).where(EventRow.processed_at.is_(None))):
            left.append("events")
        if s.scalar(select(QueueItemRow.id).where(QueueItemRow.state == "queued")):
            left.append("queue items")
        if s.scalar(select(BuildRow.id).where(
                BuildRow.state.in_(("waiting", "queued", "running")))):
            left.append("builds")
        if s.scalar(select(MergeRequestRow.id).where(
                MergeRequestRow.state.in_(("requested", "running")))):
            left.append("merge requests")
        if s.scalar(select(NodeRow.id).where(NodeRow.state == "in-use")):
            left.append("nodes")
        return left
