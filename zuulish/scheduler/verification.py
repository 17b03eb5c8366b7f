"""Verify-first: new items are tested on the verified chain, in groups (pure).

In a ``verify-first`` queue an item joins the tested chain (see ``batching``)
only once its change has passed without the unverified items around it: on the
branch tip plus the verified chain. Items waiting for that are tested in
*groups* of up to ``batch-size``, the way the chain itself is tested: member
``k`` of a group has the state chain + members ``0..k``, and jobs run only on
the last member's state (the group's probe). When it passes, every member is
verified with one build; when it fails, the group is bisected as the chain is,
and the first member whose state fails while the state just ahead passed (or
the chain itself, for the first member) is rejected at once. The members ahead
of it are verified; those behind it are tested again without it.

A group starts its jobs once it is full, or once no other group is waiting for
nodes: when nodes are idle, each item starts at once, and under load the items
that arrive while a group waits for a node gather into one group instead of
each taking a node of its own.

A change that needs others (Depends-On, or a parent commit) waits until all of
them are in the chain, and is then verified on it like any other: it is never
tested without what it needs, and never joins the chain untested.

A group whose chain has not moved by the time it passes keeps its states: the
members join the end of the chain in order, so the probe's state is exactly the
chain up to its last member, and they merge with no further build.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from zuulish.model import (
    BuildSet,
    BuildState,
    ChangeKey,
    ChangeQueue,
    QueueItem,
    change_name,
)
from zuulish.scheduler.actions import (
    Action,
    MarkVerified,
    Report,
    SetFailureRate,
    StartBuildSet,
    StartJobs,
)
from zuulish.scheduler.job_planning import plan_jobs, report_unbuildable
from zuulish.scheduler.speculation import held

# Up to this many untested suspects are all tested at once rather than bisected.
PARALLEL_SEARCH = 3
# Until a queue has results, a change is taken to fail verification this often.
PRIOR_FAILURE_RATE = 0.2
# The weight of each new result in a queue's moving failure rate.
RATE_WEIGHT = 0.03
# What a round of waiting costs, in builds, when choosing a group size.
DELAY_WEIGHT = 0.5


@dataclass
class Group:
    """Items tested together on one chain: each member's state holds those ahead."""

    base: tuple[int, ...]  # the chain its states are built on
    members: list[QueueItem] = field(default_factory=list)
    rebuilding: bool = False  # some member gets a new state in this pass

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(m.id for m in self.members)

    @property
    def started(self) -> bool:
        return any(m.buildset is not None and m.buildset.started for m in self.members)

    @property
    def waiting_for_nodes(self) -> bool:
        return any(b.state == BuildState.WAITING for m in self.members if m.buildset
                   for b in m.buildset.builds.values())


def plan_verification(queue: ChangeQueue, chain: list[QueueItem], merged_items: set[int],
                      merged_changes: set[ChangeKey], batch_size: int) -> list[Action]:
    """Actions that test the unverified items of ``queue`` on ``chain`` (see the module)."""
    items = queue.items
    rate = PRIOR_FAILURE_RATE if queue.failure_rate is None else queue.failure_rate
    group_size = best_group_size(rate, batch_size)
    base = tuple(i.id for i in chain)
    actions: list[Action] = []
    queued = {i.change.key for i in items}
    in_chain = {i.change.key for i in chain}
    groups: list[Group] = []
    candidates: list[QueueItem] = []  # unverified items tested on their own
    for item in items:
        if item.verified_at is not None:
            continue
        needs = [k for k in item.change.needs if k not in merged_changes]
        gone = [k for k in needs if k not in queued]
        if gone:
            names = ", ".join(change_name(k, beside=item.change.key.connection) for k in gone)
            actions.append(Report(item.id, "failure", window=False, message=(
                f"This change depends on {names},"
                " which is no longer in the queue (it failed or was dequeued).")))
        elif all(k in in_chain for k in needs):
            candidates.append(item)
        # else it waits: it is tested on the chain once every change it needs is there
    homeless = _regroup(candidates, groups, base, merged_items)
    for group in [g for g in groups if not g.started and g.base != base]:
        groups.remove(group)  # not started yet: rebuilt on the chain as it is now
        homeless.extend(group.members)
    order = {item.id: n for n, item in enumerate(items)}
    for item in sorted(homeless, key=lambda i: order[i.id]):
        group = next((g for g in groups if not g.started and g.base == base
                      and len(g.members) < group_size), None)
        if group is None:
            group = Group(base)
            groups.append(group)
        actions.append(StartBuildSet(item.id, group.base + group.ids))
        group.members.append(item)
        group.rebuilding = True
    waiting = any(g.waiting_for_nodes for g in groups)
    new_rate = rate
    joined = base  # the chain, with the members this pass verifies joined in order
    for group in groups:
        planned, verified, rejected = _plan_group(group, joined, group_size, waiting)
        actions.extend(planned)
        joined += tuple(a.item_id for a in planned if isinstance(a, MarkVerified))
        new_rate = observed(new_rate, verified, rejected)
    if new_rate != rate:
        actions.append(SetFailureRate(groups[0].members[0].id, round(new_rate, 6)))
    return actions


def observed(rate: float, verified: int, rejected: int) -> float:
    """The failure rate after ``verified`` changes passed and ``rejected`` failed: a
    moving average in which each result has the weight ``RATE_WEIGHT``."""
    for _ in range(verified):
        rate *= 1 - RATE_WEIGHT
    for _ in range(rejected):
        rate = rate * (1 - RATE_WEIGHT) + RATE_WEIGHT
    return rate


def best_group_size(rate: float, batch_size: int) -> int:
    """The group size that costs least at this failure rate, up to ``batch_size``.

    The cost per change is the builds it takes (Dorfman's group testing: one
    build per group, plus one per member of a group that fails) plus, at
    ``DELAY_WEIGHT``, the chance that it waits another round because another
    member failed. Testing alone (1) wins from a rate of about 0.2.
    """
    def cost(size: int) -> float:
        builds = 1.0 if size == 1 else 1 / size + 1 - (1 - rate) ** size
        return builds + DELAY_WEIGHT * (1 - (1 - rate) ** (size - 1))
    return min(range(1, max(1, batch_size) + 1), key=lambda n: (cost(n), n))


def _regroup(items: list[QueueItem], groups: list[Group], base: tuple[int, ...],
             merged_items: set[int]) -> list[QueueItem]:
    """Put the items back into the groups their current states form, and return the
    ones that need a new state.

    A state that holds only items of the chain starts a group; one that holds
    other items belongs to the group whose members (after its chain) are exactly
    those items, in order. Member order is the order states were made in, which
    need not be queue order.
    """
    held_by: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    homeless: list[QueueItem] = []
    for item in items:
        if item.buildset is None:
            homeless.append(item)
            continue
        ahead = held(item.buildset, merged_items)
        held_by[item.id] = (tuple(a for a in ahead if a in base),
                            tuple(a for a in ahead if a not in base))
    left = [i for i in items if i.id in held_by]
    for item in left:
        in_chain, others = held_by[item.id]
        if not others:
            groups.append(Group(in_chain, [item]))
    left = [i for i in left if held_by[i.id][1]]
    grew = True
    while grew and left:
        grew = False
        for item in list(left):
            in_chain, others = held_by[item.id]
            group = next((g for g in groups if g.ids == others and g.base == in_chain), None)
            if group is not None:
                group.members.append(item)
                left.remove(item)
                grew = True
    return homeless + left


def _plan_group(group: Group, chain: tuple[int, ...], group_size: int,
                others_waiting: bool) -> tuple[list[Action], int, int]:
    """Start, continue, bisect or conclude one group's tests; with how many members
    this pass verifies and rejects. ``chain`` is the chain the members would join
    (with what this pass verified before them): they keep their states only if
    that is the chain their states were built on."""
    members = group.members
    actions: list[Action] = []
    for member in members:
        bs = member.buildset
        if bs is None or group.rebuilding:
            continue
        unbuildable = report_unbuildable(member.id, bs)
        if unbuildable is not None:
            # A conflict with the chain or with a member ahead: reported at once, as Zuul
            # reports a change that does not merge on the changes ahead of it.
            return [*actions, replace(unbuildable, window=False)], 0, 0
        if bs.started:
            actions.extend(_spare(plan_jobs(member.id, bs)))
    if group.rebuilding or any(m.buildset is None or m.buildset.job_graph is None
                               for m in members):
        return actions, 0, 0  # some state is still being built
    passed = max((n for n, m in enumerate(members) if _state(m).succeeded), default=-1)
    keep = group.base == chain
    verified: list[Action] = [MarkVerified(m.id, keep=keep) for m in members[:passed + 1]]
    if passed == len(members) - 1:
        return verified, len(verified), 0
    failing = [n for n, m in enumerate(members) if n > passed and _state(m).failing]
    if not failing:
        if not group.started and (len(members) >= group_size or not others_waiting):
            actions.extend(_spare(plan_jobs(members[-1].id, _state(members[-1]))))
        return [*verified, *actions], len(verified), 0
    first = failing[0]
    if first == passed + 1:
        culprit = members[first]
        return [*verified, Report(culprit.id, "failure", window=False,
                                  message=_rejection(members[:first]))], len(verified), 1
    suspects = members[passed + 1:first]
    if any(_state(s).started and not _state(s).complete for s in suspects):
        return [*verified, *actions], len(verified), 0  # a bisection step is already running
    untested = [s for s in suspects if not _state(s).started]
    if len(untested) > PARALLEL_SEARCH:
        untested = [untested[(len(untested) - 1) // 2]]
    for suspect in untested:
        actions.extend(_spare(plan_jobs(suspect.id, _state(suspect))))
    return [*verified, *actions], len(verified), 0


def _state(item: QueueItem) -> BuildSet:
    assert item.buildset is not None
    return item.buildset


def _spare(actions: list[Action]) -> list[Action]:
    """Verification builds get nodes only after the chain's."""
    return [replace(a, spare=True) if isinstance(a, StartJobs) else a for a in actions]


def _rejection(ahead: list[QueueItem]) -> str:
    message = ("This change fails on its own: it was tested on the tip of its branch with "
               "only the changes ahead of it that had passed this way")
    if ahead:
        numbers = ", ".join(str(m.change.key.number) for m in ahead)
        message += f", and with change {numbers}, tested with it, which passed without it"
    return message + "."
