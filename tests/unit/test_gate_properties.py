"""The gate's promises, checked by Hypothesis over random histories.

Random sequences of pushes (some bad, some with a job that checks out another
repo, some depending on an earlier change, some in Depends-On chains longer
than the window), approvals, new patch sets, abandons, flaky builds, time
passing and scheduler restarts drive the real scheduler in the simulated world,
under Zuul's default window or a small one (1 to 3 items) that failures shrink
and successes grow. After every step: every merge put on its branch exactly a
state whose voting jobs passed, no bad patch set merged, and nothing merged
twice (the simulated forge checks each submit). At the end, when nothing
flaked, every approved good change has merged without a recheck if nobody
touched it or what it needs after approving (no new patch set, abandon or
cycle); then, with flakes off and rechecks for what flaked or lost a
dependency, nothing is left in the queue and every approved good change whose
dependencies can merge has merged.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from tests.fakes.gate_world import GateWorld, SimChange
from zuulish.model import ChangeStatus
from zuulish.scheduler import verification

REPOS = ["a", "b"]  # few repos, so that changes meet often
DEFAULT_PRIOR = verification.PRIOR_FAILURE_RATE
# Histories with small windows and Depends-On chains cost about 1.9 times the CPU of the
# earlier ones (measured: 238 s against 127 s for 300 of each, seed 7), so fewer are tried.
EXAMPLES = int(os.environ.get("ZUULISH_PROPERTY_EXAMPLES", "200"))
# The queue modes histories are tried in; ZUULISH_PROPERTY_MODE=<name> tries one only.
ALL_MODES: dict[str, dict] = {
    "zuul": {},
    "subqueues": {"independent-subqueues": True},
    "batch": {"batch-size": 3},
    "verify-first": {"verify-first": True, "batch-size": 3},
    "verify-retry": {"verify-first": True, "batch-size": 3, "retry-failed-jobs": 1},
    "spare": {"speculate-failures": True},
    "trust": {"trust-later-passes": True},
    "spare-trust": {"speculate-failures": True, "trust-later-passes": True},
    "cycles": {"allow-circular-dependencies": True},
    "retry-failed-jobs": {"retry-failed-jobs": 1},
}
_ONLY = os.environ.get("ZUULISH_PROPERTY_MODE")
MODES = [ALL_MODES[_ONLY]] if _ONLY else list(ALL_MODES.values())


@st.composite
def windows(draw: st.DrawFn) -> dict:
    """Zuul's default window, or a small one that a failure shrinks (to its floor)
    and a success grows (to its ceiling)."""
    if draw(st.integers(0, 3)) == 0:
        return {}
    size = draw(st.integers(1, 3))
    return {"window": size, "window-floor": draw(st.integers(1, size)),
            "window-ceiling": draw(st.integers(size, size + 2)),
            "window-decrease-type": draw(st.sampled_from(["exponential", "linear"])),
            "window-decrease-factor": draw(st.integers(1, 2))}


class GateMachine(RuleBasedStateMachine):
    changes = Bundle("changes")

    def __init__(self) -> None:
        super().__init__()
        self.world: GateWorld | None = None
        self.next_number = 1
        # good changes approved when pushed, needing only such changes, and never
        # touched since (new patch set, abandon, cycle): these merge without a recheck
        # when nothing flakes
        self.untouched: set[int] = set()

    @initialize(options=st.sampled_from(MODES),
                flaky=st.sampled_from([0.0, 0.0, 0.25]),
                nodes=st.integers(1, 4),
                window=windows(),
                seed=st.integers(0, 2**16),
                prior=st.sampled_from([None, 0.0]))
    def start(self, options: dict, flaky: float, nodes: int, window: dict,
              seed: int, prior: float | None) -> None:
        if prior is not None:
            # Verify-first queues: start from groups as large as batch-size allows
            # (the default prior makes them small until results come in).
            verification.PRIOR_FAILURE_RATE = prior
        self.world = GateWorld(repos=REPOS, nodes=nodes, flaky_rate=flaky,
                               queue_options=options, window=window, seed=seed,
                               build_seconds=lambda rng: rng.choice([600.0, 1200.0, 1800.0]))

    def teardown(self) -> None:
        verification.PRIOR_FAILURE_RATE = DEFAULT_PRIOR
        if self.world is not None:
            self.world.close()

    @property
    def forge(self):
        assert self.world is not None
        return self.world.forge

    def open(self, number: int) -> bool:
        return self.forge.changes[number].status == ChangeStatus.NEW

    @rule(target=changes, repo=st.sampled_from(REPOS), bad=st.booleans(),
          sees=st.sampled_from([None, *REPOS]),
          needs=st.lists(st.integers(1, 40), max_size=2).filter(lambda x: len(x) < 2 or
                                                                 x[0] != x[1]),
          approved=st.sampled_from([True, True, True, False]))
    def push(self, repo: str, bad: bool, sees: str | None, needs: list[int],
             approved: bool) -> int:
        assert self.world is not None
        number = self.next_number
        self.next_number += 1
        files = (f"couple/{sees}/x.py",) if sees and sees != repo else (f"src/{number}.py",)
        deps = tuple(sorted({n for n in needs if n < number}))
        self._push(number, repo, files, bad, deps, approved)
        return number

    def _push(self, number: int, repo: str, files: tuple[str, ...], bad: bool,
              needs: tuple[int, ...], approved: bool) -> None:
        assert self.world is not None
        self.forge.add(SimChange(number, repo, files, bad, self.world.clock.now(), needs=needs))
        self.world.event("patchset-created", number)
        if approved:
            self.world.approve(number)
            if not bad:
                self.untouched.add(number)

    @rule(target=changes, repos=st.lists(st.sampled_from(REPOS), min_size=2, max_size=3),
          bad=st.integers(0, 8), on=st.sampled_from([None, None, *range(1, 41)]))
    def push_chain(self, repos: list[str], bad: int, on: int | None) -> multiple[int]:
        """Changes that each need the one before (Depends-On), all approved: a chain
        longer than a small window. The first may need an earlier change; one may be
        bad (``bad`` counts from the first; past the end, none is)."""
        numbers = list(range(self.next_number, self.next_number + len(repos)))
        self.next_number += len(repos)
        before = (on,) if on is not None and on < numbers[0] else ()
        for index, (number, repo) in enumerate(zip(numbers, repos, strict=True)):
            needs = (numbers[index - 1],) if index else before
            self._push(number, repo, (f"src/{number}.py",), index == bad, needs, True)
        return multiple(*numbers)

    @rule(number=changes)
    def approve(self, number: int) -> None:
        assert self.world is not None
        if self.open(number):
            self.world.approve(number)

    @rule(number=changes, bad=st.booleans())
    def new_patchset(self, number: int, bad: bool) -> None:
        assert self.world is not None
        if self.open(number):
            self.untouched.discard(number)
            self.forge.new_patchset(number, bad)
            self.world.event("patchset-created", number)

    @rule(target=changes, repos=st.tuples(st.sampled_from(REPOS), st.sampled_from(REPOS)),
          bad=st.tuples(st.booleans(), st.booleans()),
          approved=st.sampled_from([True, True, False]))
    def push_cycle(self, repos: tuple[str, str], bad: tuple[bool, bool],
                   approved: bool) -> int:
        """Two changes that need each other (Depends-On both ways), pushed at once."""
        assert self.world is not None
        first, second = self.next_number, self.next_number + 1
        self.next_number += 2
        now = self.world.clock.now()
        for number, other, repo, is_bad in ((first, second, repos[0], bad[0]),
                                            (second, first, repos[1], bad[1])):
            self.forge.add(SimChange(number, repo, (f"src/{number}.py",), is_bad, now,
                                     needs=(other,), approved=approved))
        for number in (first, second):
            self.world.event("patchset-created", number)
            if approved:
                self.world.event("comment-added", number, approvals={"Workflow": 1},
                                 comment="Workflow+1")
        return first

    @rule(number=changes, on=changes)
    def depend_on(self, number: int, on: int) -> None:
        """A new patch set of ``number`` that also needs ``on``: a change may come
        to need a newer one, and so close a dependency cycle."""
        assert self.world is not None
        if self.open(number) and number != on:
            self.untouched.discard(number)
            change = self.forge.changes[number]
            change.needs = tuple(sorted({*change.needs, on}))
            self.forge.new_patchset(number, change.bad)
            self.world.event("patchset-created", number)

    @rule(number=changes)
    def abandon(self, number: int) -> None:
        assert self.world is not None
        if self.open(number):
            self.untouched.discard(number)
            self.forge.changes[number].status = ChangeStatus.ABANDONED
            self.world.event("change-abandoned", number)

    @rule(minutes=st.sampled_from([1, 5, 15, 30, 60]))
    def time_passes(self, minutes: int) -> None:
        assert self.world is not None
        self.world.run_for(minutes * 60)

    @precondition(lambda self: self.world is not None)
    @rule()
    def restart_scheduler(self) -> None:
        assert self.world is not None
        self.world.restart()

    @invariant()
    def every_merge_is_a_tested_passing_state(self) -> None:
        if self.world is not None:
            assert self.forge.violations == []

    def should_merge(self) -> set[int]:
        """Approved, good, open changes whose needed changes merged or will. Where
        the queue allows cycles, changes that need each other merge together (the
        largest such set); elsewhere a cycle never merges (the smallest)."""
        if self.world is not None and \
                self.world.queue_options.get("allow-circular-dependencies"):
            out = {n for n, c in self.forge.changes.items()
                   if c.status == ChangeStatus.NEW and c.approved and not c.bad}
            shrunk = True
            while shrunk:
                shrunk = False
                for number in sorted(out):
                    if any(self.forge.changes[n].status != ChangeStatus.MERGED
                           and n not in out for n in self.forge.changes[number].needs):
                        out.discard(number)
                        shrunk = True
            return out
        out = set()
        grew = True
        while grew:
            grew = False
            for number, c in self.forge.changes.items():
                if number in out or c.status != ChangeStatus.NEW or not c.approved or c.bad:
                    continue
                if all(self.forge.changes[n].status == ChangeStatus.MERGED or n in out
                       for n in c.needs):
                    out.add(number)
                    grew = True
        return out

    def never_rejected(self) -> set[int]:
        """Untouched changes whose needed changes (all the way down) are untouched: no
        reason to reject them ever arose, so they merge without anyone rechecking."""
        out: set[int] = set()
        for number in sorted(self.untouched):  # a change needs only lower numbers
            if all(n in out for n in self.forge.changes[number].needs):
                out.add(number)
        return out

    def check_eventually(self) -> None:
        """Flakes stop; whatever failed is rechecked; everything that can merge does."""
        world = self.world
        assert world is not None
        flaky = world.executor.flaky_rate > 0
        world.executor.flaky_rate = 0.0
        world.run()
        expected = self.should_merge()
        if not flaky:
            # Nothing flaked: an approved good change with no dependencies merges
            # without anyone rechecking it, whatever failed around it.
            alone = {n for n in expected if not self.forge.changes[n].needs}
            merged = {m.number for m in self.forge.merges}
            assert alone <= merged, f"good changes rejected without cause: {alone - merged}"
            # Nor one that needs others, if none of them gave a cause either (however
            # far beyond the window they waited).
            chained = self.never_rejected() - merged
            assert not chained, f"good changes with Depends-On rejected without cause: " \
                f"{chained}: {[m for n, m in self.forge.messages if n in chained]}"
        for _ in range(len(self.forge.changes) + 1):
            # A flaky failure (or a needed change that flaked) rejects a good change; a
            # user would recheck it, as here, in dependency order.
            waiting = sorted(n for n in self.should_merge()
                             if self.forge.changes[n].status == ChangeStatus.NEW)
            if not waiting:
                break
            for number in waiting:
                world.approve(number)
            world.run()
        assert world.queued() == 0, "items left in the queue with nothing to wait for"
        merged = {m.number for m in self.forge.merges}
        assert expected <= merged, f"approved good changes never merged: {expected - merged}"
        assert self.forge.violations == []


class GateWithEnd(GateMachine):
    def teardown(self) -> None:
        try:
            if self.world is not None:
                self.check_eventually()
        finally:
            super().teardown()


#: The histories are split over this many tests, so that pytest-xdist's workers share
#: them (each draws its own: Hypothesis seeds each test at random). Eight of about a
#: minute each in CI (marked ``long``: they start first) leave no worker alone at the
#: end on a two-minute one.
SHARDS = 8


def _shard(index: int) -> type:
    """One test of ``EXAMPLES / SHARDS`` histories."""
    case = type(f"GateHistories{index}", (GateWithEnd.TestCase,), {})
    examples = max(1, -(-EXAMPLES // SHARDS))
    case.settings = settings(
        max_examples=examples, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    # A history takes about a second: allow for that many, well past the suite's
    # per-test timeout.
    return pytest.mark.long(pytest.mark.timeout(max(300, 3 * examples))(case))


test_gate_promises_hold_for_random_histories_0 = _shard(0)
test_gate_promises_hold_for_random_histories_1 = _shard(1)
test_gate_promises_hold_for_random_histories_2 = _shard(2)
test_gate_promises_hold_for_random_histories_3 = _shard(3)
test_gate_promises_hold_for_random_histories_4 = _shard(4)
test_gate_promises_hold_for_random_histories_5 = _shard(5)
test_gate_promises_hold_for_random_histories_6 = _shard(6)
test_gate_promises_hold_for_random_histories_7 = _shard(7)
