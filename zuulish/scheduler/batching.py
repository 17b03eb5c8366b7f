"""Batching with bisection: a dependent queue that tests runs of items with one build set.

With the ``batch-size: N`` queue option every active item still gets its
speculative state (merges are cheap), but jobs run only on *probes*: the last
item of each run of up to N items, counted from the head, and the last item of
the queue once no probe ahead of it is running (so that, under load, items
gather into runs while a probe runs instead of each taking a node). A probe's state holds
every item ahead of it, so when it passes, the branch can move straight to that
state: every item from the head up to the probe merges at once, exactly as
tested, without builds of their own.

When a probe fails, the culprit lies between the last item known to pass and
the probe. The item in the middle of that range becomes a probe (bisection)
until one item is left: the first item whose state fails while the state just
ahead of it passed. Only that item is treated as failing (as Zuul treats a
failing item): the items behind it are re-based without it, and it is reported
once it reaches the head. A probe that fails while a later state holding it
passed failed for some other reason (a flake), and is not blamed.

With the ``verify-first`` queue option, items are first tested without the
unverified items around them (see ``verification``) and only those that pass
form the chain described above, in the order they passed: a bad change is then
found in one round, in parallel with every other one, instead of costing the
whole queue a round each.
"""

from __future__ import annotations

from zuulish.model import ChangeKey, ChangeQueue, QueueItem
from zuulish.scheduler.actions import Action, Report, StartBuildSet
from zuulish.scheduler.job_planning import lost_dependency, plan_jobs, report_unbuildable
from zuulish.scheduler.verification import plan_verification

# Up to this many untested suspects are all tested at once rather than bisected.
PARALLEL_SEARCH = 3


def plan_batched(queue: ChangeQueue, merged_items: set[int], merged_changes: set[ChangeKey],
                 batch_size: int, verify_first: bool = False) -> list[Action]:
    """Decide what to do for one shared queue tested in batches (see the module).

    With ``verify_first`` the chain holds only verified items (see ``_verify``).
    """
    actions: list[Action] = []
    items = queue.items
    if verify_first:
        items = [i for i in queue.items if i.verified_at is not None]
    chain: list[QueueItem] = []  # active items not known to be culprits, in order
    chain_changes: set[ChangeKey] = set()
    culprits: list[QueueItem] = []
    fresh: set[int] = set()  # items whose build set is for their current place
    passed_states = [i for i in items if i.buildset is not None and i.buildset.succeeded]
    vouched: set[int] = set()  # items a passing state holds (or whose own state passed)
    for good in passed_states:
        vouched.add(good.id)
        vouched.update(good.buildset.ahead)  # type: ignore[union-attr]

    for index, item in enumerate(items):
        lost = lost_dependency(item, chain_changes, merged_changes)
        if lost is not None:
            actions.append(lost)
            continue
        if index >= queue.window:
            break  # outside the active window
        bs = item.buildset
        expected = tuple(i.id for i in chain)
        if bs is None or tuple(a for a in bs.ahead if a not in merged_items) != expected:
            actions.append(StartBuildSet(item.id, expected))
            chain.append(item)
            chain_changes.add(item.change.key)
            continue
        unbuildable = report_unbuildable(item.id, bs)
        if unbuildable is not None:
            actions.append(unbuildable)
            continue
        fresh.add(item.id)
        ahead_known_good = not chain or chain[-1].id in vouched
        if bs.failing and item.id not in vouched and ahead_known_good:
            culprits.append(item)  # its state fails and the one just ahead passes
            actions.extend(plan_jobs(item.id, bs))  # finish (or skip) what is left
            continue
        chain.append(item)
        chain_changes.add(item.change.key)

    actions.extend(_probe_jobs(chain, fresh, vouched, batch_size))
    actions.extend(_reports(items, chain, fresh, culprits, vouched))
    if verify_first:
        actions.extend(plan_verification(queue, chain, merged_items, merged_changes,
                                         batch_size))
    return actions


def _probe_jobs(chain: list[QueueItem], fresh: set[int], vouched: set[int],
                batch_size: int) -> list[Action]:
    """Jobs for probes: ones already started, each N-th item, the last, and bisection."""
    actions: list[Action] = []
    since = 0
    probing = False  # a probe ahead is still running: the last items wait to join a run
    for position, item in enumerate(chain):
        bs = item.buildset
        if item.id not in fresh or bs is None or bs.job_graph is None:
            since += 1
            continue  # its state is being (re)built
        started = bs.started
        if started:
            actions.extend(plan_jobs(item.id, bs))
            since = 0
            probing = probing or not bs.complete
            if bs.failing and item.id not in vouched:
                actions.extend(_bisect(chain[:position + 1], vouched))
                break  # states behind an unresolved failure would fail too
            continue
        since += 1
        last = position == len(chain) - 1
        if since >= batch_size or (last and not probing):
            actions.extend(plan_jobs(item.id, bs))
            since = 0
    return actions


def _bisect(chain: list[QueueItem], vouched: set[int]) -> list[Action]:
    """Start the middle of the range between the last item known good and the failure."""
    last_good = max((n for n, i in enumerate(chain) if i.id in vouched), default=-1)
    suspects = chain[last_good + 1:]
    if len(suspects) <= 1:
        return []
    if any(s.buildset is not None and s.buildset.started and not s.buildset.complete
           for s in suspects[:-1]):
        return []  # a bisection step is already running
    untested = [s for s in suspects[:-1] if s.buildset is not None and not s.buildset.started]
    if not untested:
        return []
    if len(untested) <= PARALLEL_SEARCH:
        # Few suspects: test every one of their states at once, so the culprit is
        # known after one more round (what Zuul's queue would have spent anyway).
        return [a for s in untested for a in plan_jobs(s.id, s.buildset)]  # type: ignore[arg-type]
    middle = untested[(len(untested) - 1) // 2]
    assert middle.buildset is not None
    return plan_jobs(middle.id, middle.buildset)


def _reports(items: list[QueueItem], chain: list[QueueItem], fresh: set[int],
             culprits: list[QueueItem], vouched: set[int]) -> list[Action]:
    """Report from the head: a culprit there fails; a run of items that a passing
    state holds merges, each to that state."""
    if not items:
        return []
    head = items[0]
    if head in culprits:
        return [Report(head.id, "failure")] if head.buildset and head.buildset.complete else []
    if not chain or chain[0] is not head or head.id not in vouched:
        return []
    # The furthest passing state whose items are exactly the head of the queue.
    furthest = None
    for position, item in enumerate(chain):
        if items[position] is not item or item.id not in fresh:
            break  # a culprit sits in between (it is reported first), or a restart
        bs = item.buildset
        if bs is not None and bs.succeeded:
            furthest = position
    if furthest is None:
        return []
    via = chain[furthest]
    return [Report(item.id, "success", merge=True, via=via.id)
            for item in chain[:furthest + 1]]
