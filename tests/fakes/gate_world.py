"""A simulated world around the real scheduler: forge, merger, launcher, executor.

The scheduler, its pipeline managers, the configuration loader and the store
are the real ones; only what lies outside them is simulated, on a simulated
clock:

- ``SimForge`` is the source and reporter of connection ``sim``. A branch is
  the list of change numbers merged on it; a speculative state is a branch
  history plus the changes on top. Submitting checks that the branch holds
  exactly what the item was tested on (promise 1) and records any violation.
- ``SimMerger`` answers merge requests at once with such states.
- ``SimLauncher`` hands out ``nodes`` node slots by priority (and fails the next
  ``fail_next`` requests).
- ``SimExecutor`` runs each build for a drawn duration (or its job's
  ``job_seconds``); it fails when the state holds a bad change, at random with
  ``flaky_rate``, or while its job has ``fail_next`` failures left.

Used by ``benchmarks/gate_sim.py`` and by the property test of the gate.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import heapq
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select

from zuulish.clock import SimulatedClock
from zuulish.drivers.git.trigger import parse_trigger
from zuulish.errors import ForgeUnavailable, UserError
from zuulish.model import BuildResult, BuildState, Change, ChangeKey, ChangeStatus, JobGraph
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.scheduler.scheduler import Scheduler
from zuulish.store import (
    BuildRow,
    BuildSetRow,
    EventRow,
    MergeRequestRow,
    NodeRequestRow,
    NodeRow,
    QueueItemRow,
    Store,
)

CONNECTION = "sim"
TENANT = "sim"


@functools.cache
def _migrated_template() -> Path:
    """An empty, migrated SQLite database, copied for each world (migrating is slow)."""
    folder = tempfile.mkdtemp(prefix="zuulish-sim-schema-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = Path(folder) / "schema.db"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    store.dispose()
    return path


class SimError(UserError):
    """What the simulated forge refuses (as a real one would)."""


def gate_config(repos: list[str], queue_options: dict[str, Any],
                window: dict[str, Any], manager: str = "dependent") -> str:
    """The tenant's config: one gate over a shared queue; per repo a job of its own
    and, for changes under ``couple/<other>/``, a job that also checks out <other>."""
    lines = ["- pipeline:", "    name: gate", f"    manager: {manager}",
             "    precedence: high", "    trigger:", f"      {CONNECTION}:",
             "        - event: comment-added", "          approval:",
             "            - Workflow: 1", "    success:", f"      {CONNECTION}:",
             "        Verified: 2", "        submit: true", "    failure:",
             f"      {CONNECTION}:", "        Verified: -2"]
    lines += [f"    {key}: {value}" for key, value in window.items()]
    lines += ["", "- queue:", "    name: integrated"]
    lines += [f"    {key}: {str(value).lower()}" for key, value in queue_options.items()]
    lines += ["", "- job:", "    name: base", "    parent: null", "    run: sim.yaml",
              "    nodeset:",
              "      nodes:", "        - name: node", "          label: sim"]
    for repo in repos:
        lines += ["", "- job:", f"    name: test-{repo}", "    irrelevant-files:",
                  "      - ^couple/"]
        for other in repos:
            if other != repo:
                lines += ["", "- job:", f"    name: test-{repo}-with-{other}",
                          "    files:", f"      - ^couple/{other}/",
                          "    required-projects:", f"      - {other}"]
        jobs = [f"test-{repo}"] + [f"test-{repo}-with-{o}" for o in repos if o != repo]
        lines += ["", "- project:", f"    name: {repo}", "    queue: integrated",
                  "    gate:", "      jobs:"] + [f"        - {j}" for j in jobs]
    return "\n".join(lines) + "\n"


@dataclass
class SimChange:
    number: int
    project: str
    files: tuple[str, ...]
    bad: bool
    arrival: float
    patchset: int = 1
    status: ChangeStatus = ChangeStatus.NEW
    needs: tuple[int, ...] = ()
    approved: bool = False
    topic: str = ""  # as Gerrit's (the simulated forge answers topic look-ups)

    @property
    def commit(self) -> str:
        return f"{self.number:08d}{self.patchset:04d}".ljust(40, "0")


@dataclass
class Merge:
    """One submit: what the branch became and what was tested."""

    number: int
    project: str
    at: float
    history: tuple[int, ...]
    commit: str = ""


class SimForge:
    """Source and reporter of the simulated connection."""

    def __init__(self, clock: SimulatedClock, repos: list[str], config: str):
        self.clock = clock
        self.repos = repos
        self.config = config
        self.changes: dict[int, SimChange] = {}
        self.branch: dict[str, list[int]] = {r: [] for r in repos}
        self.merges: list[Merge] = []
        self.reports: list[tuple[int, str, str | None]] = []
        # (number, tenant, pipeline, patch set, action) of every report made
        self.made: set[tuple[int, str, str, int | None, str]] = set()
        self.messages: list[tuple[int, str]] = []  # (change, report text)
        self.file_comments: list[tuple[int, dict[str, Any]]] = []  # (change, comments)
        self.violations: list[str] = []
        self.states: dict[str, tuple[str, tuple[int, ...], tuple[int, ...]]] = {}
        self.bad_commits: set[str] = set()
        # (number, project, tested commit) -> why that state did not pass, or None
        # (project, commit) -> (why no passing build set was built on it, or None;
        # the projects that build set's jobs check out)
        self.verify: Callable[[str, str], tuple[str | None, set[str]]] = \
            lambda p, c: (None, set(self.repos))
        self.allow_batches = False  # may a submit find its branch already moved there?
        # (start, end) of an outage: the forge answers nothing (ForgeUnavailable)
        self.outage: tuple[float, float] | None = None
        self.outage_of = {"get_change", "submit"}  # what the outage stops
        self.unanswered: list[str] = []  # what was asked during the outage

    def _answering(self, what: str) -> None:
        if self.outage is not None and what in self.outage_of \
                and self.outage[0] <= self.clock.now() < self.outage[1]:
            self.unanswered.append(what)
            raise ForgeUnavailable("the simulated forge is down",
                                   after=self.outage[1] - self.clock.now())

    def add(self, change: SimChange) -> None:
        self.changes[change.number] = change
        if change.bad:
            self.bad_commits.add(change.commit)

    def new_patchset(self, number: int, bad: bool) -> None:
        change = self.changes[number]
        change.patchset += 1
        change.bad, change.approved = bad, False
        if bad:
            self.bad_commits.add(change.commit)

    # ------------------------------------------------------------ source
    def get_change(self, number: int) -> Change | None:
        self._answering("get_change")
        c = self.changes.get(number)
        if c is None:
            return None
        return Change(ChangeKey(CONNECTION, number), c.project, "main", c.patchset,
                      c.commit, subject=f"change {number}", status=c.status,
                      approvals={"Workflow": 1} if c.approved else {},
                      needs=tuple(ChangeKey(CONNECTION, n) for n in c.needs), files=c.files,
                      topic=c.topic)

    def topic_changes(self, topic: str) -> list[Change]:
        self._answering("get_change")
        return [change for n, c in sorted(self.changes.items())
                if c.topic == topic and c.status == ChangeStatus.NEW
                and (change := self.get_change(n)) is not None]

    def config_files(self, project: str, branch: str) -> dict[str, str]:
        return {"zuul.yaml": self.config} if project == "zuul-config" else {}

    def exists(self, project: str) -> bool:
        return project == "zuul-config" or project in self.repos

    def default_branch(self, project: str) -> str:
        return "main"

    def branches(self, project: str) -> list[str]:
        return ["main"]

    def project_url(self, project: str) -> str:
        return f"sim://{project}"

    def change_url(self, project: str, number: int) -> str:
        return f"sim://{project}/+/{number}"

    def default_merge_mode(self, project: str) -> str:
        return "merge-resolve"

    # ------------------------------------------------------------ states
    def state(self, project: str, changes: list[int]) -> dict[str, Any]:
        """The repo state of ``changes`` (in order) on the branch as it is now."""
        pre = tuple(self.branch.get(project, []))
        on_top = tuple(n for n in changes if n not in pre)
        commit = hashlib.sha1(repr((project, pre, on_top)).encode()).hexdigest()
        self.states[commit] = (project, pre, on_top)
        pre_sha = hashlib.sha1(repr((project, pre, ())).encode()).hexdigest()
        return {"branch": "main", "pre": pre_sha, "commit": commit,
                "changes": [self.changes[n].commit for n in on_top], "numbers": list(on_top)}

    def _tested(self, project: str, state: dict[str, Any]) -> tuple[int, ...]:
        known = self.states.get(state.get("commit", ""))
        if known is None or known[0] != project:
            raise SimError(f"{project}: {state.get('commit')} is not a state the merger made")
        return known[1] + known[2]

    # ---------------------------------------------------------- reporter
    def report(self, number: int, *, tenant: str, pipeline: str, action: str,
               result: str | None, votes: dict[str, int], message: str,
               patchset: int | None = None,
               file_comments: dict[str, list[dict[str, Any]]] | None = None,
               options: dict[str, Any] | None = None, comment: bool = True) -> None:
        self.reports.append((number, action, result))
        self.made.add((number, tenant, pipeline, patchset, action))
        self.messages.append((number, message))
        if file_comments:
            self.file_comments.append((number, file_comments))

    def reported(self, number: int, *, tenant: str, pipeline: str, patchset: int,
                 action: str) -> bool:
        return (number, tenant, pipeline, patchset, action) in self.made

    def submit(self, number: int, repo_state: dict, **reporter: Any) -> str:
        self._answering("submit")
        change = self.changes[number]
        if change.status == ChangeStatus.MERGED:
            return ""
        if change.status != ChangeStatus.NEW:
            raise SimError(f"change {number} is {change.status.lower()}")
        state = repo_state.get(change.project)
        if state is None or state["commit"] not in self.states:
            raise SimError(f"no tested state for {change.project}")
        if change.commit not in state["changes"]:
            raise SimError(f"change {number} has a patch set that was not tested")
        project = change.project
        tested = self._tested(project, state)
        now = tuple(self.branch[project])
        why, seen_by = self.verify(project, state["commit"])
        if why:
            self.violations.append(f"change {number} merged a state that did not pass: {why}")
        if now == tested and self.allow_batches:
            pass  # a batch: an earlier change of it already moved the branch here
        elif tested[:len(now)] != now or number not in tested[len(now):]:
            # The branch may have moved since, but only by the changes ahead in this
            # very state (they merged first); anything else merges what was not tested.
            self.violations.append(
                f"change {number}: branch {project} is {now}, tested state was {tested}")
            raise SimError("the branch moved away from the tested state")
        for other, other_state in repo_state.items():
            if other != project and other not in seen_by:
                continue  # prepared by the merger, but no job of this item checks it out
            seen = self._tested(other, other_state)
            ahead = tuple(n for n in seen if n != number)
            now_other = tuple(self.branch.get(other, []))
            batch_ok = self.allow_batches and seen[:len(now_other)] == now_other
            if ahead != now_other and not batch_ok:
                # Every repo the jobs saw must hold just what they saw once this merges
                # (in a batch, the rest of the batch merges straight after).
                self.violations.append(
                    f"change {number} merges while {other} is {now_other}, but its jobs "
                    f"saw {ahead}")
        if change.commit in self.bad_commits:
            self.violations.append(f"change {number} merged a bad patch set")
        if any(m.number == number for m in self.merges):
            self.violations.append(f"change {number} merged twice")
        self.branch[project] = list(tested)
        change.status = ChangeStatus.MERGED
        self.merges.append(Merge(number, project, self.clock.now(), tested, change.commit))
        return state["commit"]


class SimMerger:
    """Answers every merge request at once (merges are cheap next to builds)."""

    def __init__(self, store: Store, forge: SimForge):
        self.store, self.forge = store, forge

    def step(self) -> bool:
        with self.store.session() as s:
            rows = s.scalars(select(MergeRequestRow).where(MergeRequestRow.state == "requested")
                             .order_by(MergeRequestRow.id)).all()
            for row in rows:
                spec = row.spec
                numbers: dict[str, list[int]] = {p: [] for p in spec["projects"]}
                own: list[str] = []
                for entry in spec["changes"]:
                    numbers.setdefault(entry["project"], []).append(entry["number"])
                    if entry.get("own"):
                        own = list(self.forge.changes[entry["number"]].files)
                row.state = "done"
                row.result = {"status": "merged", "changed_files": own, "config_files": {},
                              "repo_state": {p: self.forge.state(p, ns)
                                             for p, ns in numbers.items()}}
        return bool(rows)


class SimLauncher:
    """``nodes`` node slots, given to requests by priority, then age."""

    def __init__(self, store: Store, clock: SimulatedClock, nodes: int):
        self.store, self.clock, self.nodes = store, clock, nodes
        self.fail_next = 0  # how many of the next requests fail (a cloud error)

    def step(self) -> bool:
        with self.store.session() as s:
            busy = s.scalar(select(func.count()).select_from(NodeRow)
                            .where(NodeRow.state == "in-use")) or 0
            free = self.nodes - busy
            if free <= 0:
                return False
            rows = s.scalars(select(NodeRequestRow).where(NodeRequestRow.state == "requested")
                             .order_by(NodeRequestRow.priority, NodeRequestRow.id)
                             .limit(free)).all()
            for req in rows:
                if self.fail_next > 0:
                    self.fail_next -= 1
                    req.state, req.error = "failed", "simulated cloud error"
                    continue
                ids = []
                for label in req.labels:
                    node = NodeRow(provider="sim", label=label, state="in-use",
                                   hostname="sim", host_vars={}, request_id=req.id,
                                   created_at=self.clock.now())
                    s.add(node)
                    s.flush()
                    ids.append(node.id)
                req.node_ids, req.state, req.fulfilled_at = ids, "fulfilled", self.clock.now()
        return bool(rows)


@dataclass
class SimBuild:
    id: str
    started: float
    ends: float
    result: str


class SimExecutor:
    """Runs builds for a drawn time; a state with a bad change fails, and any build
    may flake."""

    def __init__(self, store: Store, clock: SimulatedClock, forge: SimForge,
                 duration: Callable[[], float], flaky_rate: float, rng: random.Random):
        self.store, self.clock, self.forge = store, clock, forge
        self.duration, self.flaky_rate, self.rng = duration, flaky_rate, rng
        self.running: dict[str, SimBuild] = {}
        self.node_seconds = 0.0
        self.started = 0
        self.fail_next: dict[str, int] = {}  # job -> how many of its next builds fail
        self.job_seconds: dict[str, float] = {}  # job -> how long each of its builds runs
        self.returns: dict[str, dict[str, Any]] = {}  # job -> what its builds return

    def outcome(self, repo_state: dict[str, Any], job: str = "") -> str:
        commits = {c for st in repo_state.values() for c in st.get("changes", ())}
        if commits & self.forge.bad_commits:
            return BuildResult.FAILURE
        if self.fail_next.get(job, 0) > 0:
            self.fail_next[job] -= 1
            return BuildResult.FAILURE
        if self.rng.random() < self.flaky_rate:
            return BuildResult.FAILURE
        return BuildResult.SUCCESS

    def step(self) -> bool:
        now = self.clock.now()
        busy = False
        with self.store.session() as s:
            for row in s.scalars(select(BuildRow).where(BuildRow.state == BuildState.QUEUED)
                                 .order_by(BuildRow.priority, BuildRow.created_at)):
                row.state, row.started_at, row.worker = BuildState.RUNNING, now, "sim"
                seconds = self.job_seconds.get(row.job) or self.duration()
                self.running[row.id] = SimBuild(row.id, now, now + seconds,
                                                self.outcome(row.params["repo_state"], row.job))
                self.started += 1
                busy = True
            ids = list(self.running)
            if ids:
                # only the builds that end now or were asked to stop: a write
                # transaction that loads every running build (their parameters hold
                # repo states) holds the database's write lock far longer than any
                # real executor does
                ended = [i for i, b in self.running.items() if b.ends <= now]
                rows = s.scalars(select(BuildRow).where(
                    BuildRow.id.in_(ids),
                    or_(BuildRow.cancel_requested.is_(True), BuildRow.id.in_(ended)))).all()
                for row in rows:
                    build = self.running[row.id]
                    if row.cancel_requested:
                        self._finish(s, row, BuildState.CANCELED, BuildResult.CANCELED, now)
                    elif build.ends <= now:
                        self._finish(s, row, BuildState.COMPLETED, build.result, now)
                    else:
                        continue
                    busy = True
        return busy

    def _finish(self, s: Any, row: BuildRow, state: str, result: str, now: float) -> None:
        build = self.running.pop(row.id)
        self.node_seconds += now - build.started
        row.state, row.result, row.finished_at = state, result, now
        if state == BuildState.COMPLETED and row.job in self.returns:
            row.result_data = self.returns[row.job]  # as if it called zuul_return
        if row.node_request_id is not None:
            for node in s.scalars(select(NodeRow).where(NodeRow.request_id == row.node_request_id,
                                                        NodeRow.state == "in-use")):
                node.state, node.released_at = "used", now

    def next_end(self) -> float | None:
        return min((b.ends for b in self.running.values()), default=None)


@dataclass
class GateWorld:
    """The real scheduler over a store, with the simulated world around it."""

    repos: list[str]
    nodes: int = 20
    flaky_rate: float = 0.0
    build_seconds: Callable[[random.Random], float] = lambda rng: 1800.0
    queue_options: dict[str, Any] = field(default_factory=dict)
    window: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    database_url: str | None = None
    manager: str = "dependent"
    config: str | None = None  # the tenant's whole config, instead of ``gate_config``'s

    def __post_init__(self) -> None:
        self.clock = SimulatedClock(start=0.0)
        self._tmp = tempfile.TemporaryDirectory(prefix="zuulish-sim-")
        tmp = Path(self._tmp.name)
        config = self.config or gate_config(self.repos, self.queue_options, self.window,
                                            self.manager)
        self.forge = SimForge(self.clock, self.repos, config)
        if self.database_url:
            self.store = Store(self.database_url)
            self.store.upgrade()
        else:
            shutil.copyfile(_migrated_template(), tmp / "sim.db")
            self.store = Store(f"sqlite:///{tmp / 'sim.db'}")
        self.forge.verify = self._verify
        # a batch, a bundle (dependency cycle) or a trusted later pass merges one tested
        # state for several changes, so a submit may find its branch already moved there
        self.forge.allow_batches = int(self.queue_options.get("batch-size", 1)) > 1 \
            or bool(self.queue_options.get("allow-circular-dependencies")) \
            or bool(self.queue_options.get("trust-later-passes"))
        self.tenant_file = tmp / "main.yaml"
        untrusted = "".join(f"          - {r}\n" for r in self.repos)
        self.tenant_file.write_text(
            f"- tenant:\n    name: {TENANT}\n    source:\n      {CONNECTION}:\n"
            f"        config-projects:\n          - zuul-config\n"
            f"        untrusted-projects:\n{untrusted}")
        rng = random.Random(self.seed)
        self.merger = SimMerger(self.store, self.forge)
        self.launcher = SimLauncher(self.store, self.clock, self.nodes)
        self.executor = SimExecutor(self.store, self.clock, self.forge,
                                    lambda: self.build_seconds(rng), self.flaky_rate,
                                    random.Random(self.seed + 1))
        self.restart()
        self._arrivals: list[tuple[float, int, SimChange]] = []

    def restart(self) -> None:
        """A new scheduler over the same store, as after ``kill -9`` of the scheduler."""
        layouts = TenantLayouts(self.tenant_file, {CONNECTION: "git"},
                                {CONNECTION: self.forge}, {"git": parse_trigger})
        layouts.load_all()
        errors = layouts.layouts[TENANT].errors
        if errors:
            raise RuntimeError(f"simulated tenant config is broken: {errors}")
        self.scheduler = Scheduler(self.store, self.clock, layouts, {CONNECTION: self.forge},
                                   {CONNECTION: self.forge}, "http://sim")

    def _verify(self, project: str, commit: str) -> tuple[str | None, set[str]]:
        """Whether a current build set built on ``commit`` passed its voting jobs, and
        the projects its jobs check out."""
        with self.store.read() as s:
            sets = s.scalars(select(BuildSetRow)
                             .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                             .where(QueueItemRow.state == "queued",
                                    BuildSetRow.current.is_(True))).all()
            why = "no current build set was built on it"
            for bs in sets:
                if (bs.repo_state.get(project) or {}).get("commit") != commit:
                    continue
                graph = JobGraph.from_dict(bs.job_graph or {})
                seen = {p for job in graph.jobs.values() for p in job.required_projects}
                jobs = {n for n, j in graph.jobs.items() if j.voting}
                passed = {b.job for b in s.scalars(select(BuildRow).where(
                    BuildRow.buildset_id == bs.id, BuildRow.voting.is_(True),
                    BuildRow.result == BuildResult.SUCCESS))}
                if jobs and jobs <= passed:
                    return None, seen
                why = f"jobs {sorted(jobs - passed)} did not pass"
        return why, set()

    def close(self) -> None:
        self.store.dispose()
        self._tmp.cleanup()

    # ------------------------------------------------------------ events
    def add_change(self, change: SimChange) -> None:
        """Schedule ``change`` to be pushed and approved at ``change.arrival``."""
        self.forge.add(change)
        heapq.heappush(self._arrivals, (change.arrival, change.number, change))

    def event(self, type_: str, number: int, **data: Any) -> None:
        change = self.forge.changes[number]
        with self.store.session() as s:
            s.add(EventRow(connection=CONNECTION, type=type_, project=change.project,
                           branch="main", change_number=number, patchset=change.patchset,
                           data=data, created_at=self.clock.now()))

    def approve(self, number: int) -> None:
        self.forge.changes[number].approved = True
        self.event("comment-added", number, approvals={"Workflow": 1}, comment="Workflow+1")

    # -------------------------------------------------------------- time
    def settle(self, limit: int = 1000) -> None:
        """Run every component until none has anything left to do right now."""
        for _ in range(limit):
            busy = self.scheduler.run_once().busy
            busy = self.merger.step() or busy
            busy = self.launcher.step() or busy
            busy = self.executor.step() or busy
            if not busy:
                return
        raise RuntimeError("the simulated gate did not settle")

    def next_time(self) -> float | None:
        outage_end = self.forge.outage[1] if self.forge.outage is not None \
            and self.forge.outage[1] > self.clock.now() else None
        times = [t for t in (self.executor.next_end(),
                             self._arrivals[0][0] if self._arrivals else None, outage_end)
                 if t is not None]
        return min(times, default=None)

    def advance_to(self, when: float) -> None:
        if when > self.clock.now():
            self.clock.advance(when - self.clock.now())
        while self._arrivals and self._arrivals[0][0] <= self.clock.now():
            _, number, _change = heapq.heappop(self._arrivals)
            self.approve(number)

    def run(self, until: float | None = None) -> None:
        """Advance from event to event until nothing is left (or ``until``)."""
        self.settle()
        while True:
            when = self.next_time()
            if when is None or (until is not None and when > until):
                return
            self.advance_to(when)
            self.settle()

    def run_for(self, seconds: float) -> None:
        """Advance ``seconds`` of simulated time, event by event."""
        target = self.clock.now() + seconds
        self.settle()
        while (when := self.next_time()) is not None and when <= target:
            self.advance_to(when)
            self.settle()
        self.advance_to(target)
        self.settle()

    # ----------------------------------------------------------- figures
    def queued(self) -> int:
        with self.store.read() as s:
            return s.scalar(select(func.count()).select_from(QueueItemRow)
                            .where(QueueItemRow.state == "queued")) or 0

    def useful_builds(self) -> int:
        """Builds whose results decided something: those of the build sets items were
        finally reported with, and (verify-first) the passing builds of earlier build
        sets of verified items (what verified them)."""
        with self.store.read() as s:
            final = s.scalar(
                select(func.count()).select_from(BuildRow)
                .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                .where(BuildSetRow.current.is_(True), QueueItemRow.state != "queued",
                       BuildRow.started_at.is_not(None))) or 0
            verifying = s.scalar(
                select(func.count()).select_from(BuildSetRow)
                .join(BuildRow, BuildRow.buildset_id == BuildSetRow.id)
                .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                .where(BuildSetRow.current.is_(False), QueueItemRow.verified_at.is_not(None),
                       BuildRow.result == BuildResult.SUCCESS)) or 0
        return final + verifying
