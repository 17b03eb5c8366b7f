"""The dependent manager (``gate``): a shared queue tested speculatively (pure).

Each active item is tested on the state of every non-failing item ahead of it
plus itself. When an item fails, the items behind it no longer include it and
are restarted; the failing item stays until it reaches the head, and is
restarted itself if something ahead of it fails in the meantime. Only the head
is reported, and merged when every voting job passed.

An item that needs another change (Depends-On) is tested with it ahead. While
that change waits beyond the window, the item waits too; while its state fails
but it is not reported yet (an item ahead may be the cause, and it be restarted),
the item is held back, neither tested without it nor rejected; once it is
reported or leaves the queue, the item is rejected, as in Zuul.

With the ``trust-later-passes`` queue option an item whose state fails is not
blamed yet while the current state of the item just behind it (inside the
window) holds it and has not failed: the items behind keep it. If that later
state passes, the failure was not the item's change (a bad change fails every
state holding it, so this forgives only flakes): at the head both merge as that
later state, which is exactly what was tested. If it fails too, the item is
blamed as usual.

With ``speculate-failures`` each item also keeps an alternate state on spare
nodes (see ``speculation``), used instead of a restart when the item it leaves
out fails.

Items in a dependency cycle, where the queue allows them, are planned as one
bundle (see ``bundles``).
"""


from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from zuulish.model import Change, ChangeKey, ChangeQueue, QueueItem, change_name
from zuulish.scheduler.actions import Action, Report, StartBuildSet, UseAlternate
from zuulish.scheduler.bundles import find_bundles
from zuulish.scheduler.job_planning import lost_dependency, plan_jobs, report_unbuildable
from zuulish.scheduler.speculation import held, plan_alternate
from zuulish.scheduler.subqueues import Ahead, Footprint, items_ahead


def plan_dependent(queue: ChangeQueue, merged_items: set[int],
                   merged_changes: set[ChangeKey],
                   footprints: Mapping[int, Footprint] | None = None, *,
                   speculate_failures: bool = False,
                   trust_later_passes: bool = False) -> list[Action]:
    """Decide what to do for one shared change queue.

    ``merged_items`` are ids of items that already merged (still valid as part
    of a state built before they left the queue); ``merged_changes`` are
    changes already on their branch, which satisfy dependencies. With
    ``footprints`` (the ``independent-subqueues`` option) an item is tested with,
    and waits for, only the items ahead whose repositories meet its own (see
    ``subqueues``); its place in the window is counted among those it waits for,
    and it waits outside the window while anything it includes does.
    ``speculate_failures`` and ``trust_later_passes`` are the queue options of
    the same names (see the module); neither is used with ``footprints`` or with
    bundles (the queue's ``allow_circular_dependencies``).
    """
    actions: list[Action] = []
    items = queue.items
    dependencies = items_ahead(items, footprints)
    bundles = find_bundles(items) if queue.options.allow_circular_dependencies else {}
    by_id = {item.id: item for item in items}
    split = _split_bundles(items, bundles)
    actions.extend(split)
    broken = {r.item_id for r in split}
    active: set[int] = set()  # items in the window and not failing, so far
    inactive: set[int] = set()  # items outside the window
    active_changes: set[ChangeKey] = set()
    waiting_changes: set[ChangeKey] = set()  # changes of the items outside the window
    # changes of failing items not reported yet (a failure ahead may restart them),
    # and of the items held back because they need one of those
    failing_changes: set[ChangeKey] = set()
    uncertain: set[int] = set()  # active items whose state has not passed (yet)
    passed: set[int] = set()  # items whose state for their place passed
    suspect: QueueItem | None = None  # a failing head that a later state may clear
    for index, item in enumerate(items):
        if item.id in broken:
            continue
        bundle = bundles.get(item.id, ())
        own_bundle = {by_id[m].change.key for m in bundle}
        # A needed change waiting ahead beyond the window, or failing but not reported
        # yet, is still ahead: the item waits for it.
        lost = lost_dependency(item, active_changes | waiting_changes | failing_changes
                               | own_bundle, merged_changes)
        if lost is not None:
            actions.append(lost)
            continue
        ahead = dependencies[item.id]
        enters_with_bundle = bool(bundle) and bundle[0] != item.id \
            and bundle[0] not in inactive  # a bundle enters the window whole
        if not enters_with_bundle and (len(ahead.waits_for) >= queue.window
                                       or inactive.intersection(ahead.includes)
                                       or _needs_waiting(bundle or (item.id,), by_id,
                                                         waiting_changes)):
            inactive.add(item.id)
            waiting_changes.add(item.change.key)
            continue  # outside the active window: waits without a build set
        if not bundle and failing_changes.intersection(item.change.needs):
            # What it needs fails, maybe only because of a change ahead of it: the item
            # is held back (not tested without it) until that is restarted or reported.
            failing_changes.add(item.change.key)
            continue
        bs = item.buildset
        expected = tuple(a for a in ahead.includes if a in active and a not in bundle)
        others = tuple(m for m in bundle if m != item.id)
        if bs is None or held(bs, merged_items) != expected + others:
            alternate = item.alternate if speculate_failures else None
            if alternate is not None and held(alternate, merged_items) == expected:
                actions.append(UseAlternate(item.id, alternate.id))  # no restart
            else:
                actions.append(StartBuildSet(item.id, expected, bundle))
            active.add(item.id)
            active_changes.add(item.change.key)
            uncertain.add(item.id)
            continue
        if bundle:
            active.add(item.id)  # until the bundle is known to fail
            active_changes.add(item.change.key)
            if item.id == bundle[-1]:
                actions.extend(_plan_bundle(bundle, by_id, dependencies, active,
                                            active_changes))
            continue
        unbuildable = report_unbuildable(item.id, bs)
        if unbuildable is not None:
            actions.append(unbuildable)  # reported at once, wherever it is in the queue
            continue
        actions.extend(plan_jobs(item.id, bs))
        if speculate_failures:
            actions.extend(plan_alternate(item, expected, uncertain, merged_items))
        # The item just behind, if it is inside the window (its state runs).
        follower = items[index + 1] if index + 1 < min(len(items), queue.window) else None
        trusted = bs.failing and trust_later_passes and _may_clear(follower, item)
        if not bs.failing or trusted:
            active.add(item.id)
            active_changes.add(item.change.key)
        else:
            failing_changes.add(item.change.key)
        if bs.succeeded:
            passed.add(item.id)
        elif item.id in active:
            uncertain.add(item.id)
        if not ahead.waits_for and bs.complete:  # the head (of its sub-queue)
            if bs.succeeded:
                actions.append(Report(item.id, "success", merge=True))
            elif trusted:
                suspect = item
            else:
                actions.append(Report(item.id, "failure"))
                failing_changes.discard(item.change.key)  # what needs it is rejected
    if suspect is not None:
        follower = items[1]
        if follower.id in passed:  # its state holds the head, as tested (``_may_clear``)
            actions += [Report(i.id, "success", merge=True, via=follower.id)
                        for i in (suspect, follower)]
    return actions


def _needs_waiting(members: tuple[int, ...], by_id: Mapping[int, QueueItem],
                   waiting: set[ChangeKey]) -> bool:
    """Whether an item (or any member of its bundle) needs a change that waits
    ahead beyond the window: then it cannot be tested yet, and waits as well."""
    return any(key in waiting for m in members for key in by_id[m].change.needs)


def _may_clear(follower: QueueItem | None, item: QueueItem) -> bool:
    """Whether the follower's current state holds ``item`` and has not failed."""
    bs = follower.buildset if follower is not None else None
    return bs is not None and item.id in bs.ahead and not bs.failing


def _plan_bundle(bundle: tuple[int, ...], by_id: Mapping[int, QueueItem],
                 dependencies: Mapping[int, Ahead], active: set[int],
                 active_changes: set[ChangeKey]) -> list[Action]:
    """Jobs and reports of a bundle whose members all have a current state."""
    members = [by_id[m] for m in bundle]
    if any(m.buildset is None for m in members):
        return []  # a member's state is being rebuilt: wait for it
    for member in members:
        assert member.buildset is not None
        unbuildable = report_unbuildable(member.id, member.buildset)
        if unbuildable is not None:  # one member cannot be built: none can merge
            _leave(members, active, active_changes)
            return [Report(m.id, unbuildable.action if m is member else "failure",
                           message=(unbuildable.message if m is member else
                                    f"Its dependency cycle ({_names(members, m)}) could not "
                                    f"be tested, because of {_names([member], m)}: "
                                    f"{unbuildable.message}").strip())
                    for m in members]
    actions: list[Action] = []
    for member in members:
        assert member.buildset is not None
        actions.extend(plan_jobs(member.id, member.buildset))
    failing = [m for m in members if m.buildset is not None and m.buildset.failing]
    if failing:
        _leave(members, active, active_changes)
    at_head = all(set(dependencies[m.id].waits_for) <= set(bundle) for m in members)
    if not at_head:
        return actions
    if not failing and all(m.buildset is not None and m.buildset.succeeded for m in members):
        actions.extend(Report(m.id, "success", merge=True) for m in members)
    elif failing and all(m.buildset is not None and m.buildset.complete for m in failing):
        actions.extend(Report(m.id, "failure",
                              message="" if m in failing else
                              f"Its dependency cycle ({_names(members, m)}) failed in "
                              f"{_names(failing, m)}; the cycle merges together or not at "
                              "all.")
                       for m in members)
    return actions


def _names(members: Sequence[QueueItem], beside: QueueItem) -> str:
    """The members' changes as people know them, in a report on ``beside``."""
    return ", ".join(change_name(cast(Change, m.change).key, cast(Change, m.change),
                                 beside.change.key.connection) for m in members)


def _leave(members: list[QueueItem], active: set[int], active_changes: set[ChangeKey]) -> None:
    """A failing bundle: the items behind are tested without any of it."""
    for m in members:
        active.discard(m.id)
        active_changes.discard(m.change.key)


def _split_bundles(items: list[QueueItem], bundles: Mapping[int, tuple[int, ...]]
                   ) -> list[Report]:
    """Bundles whose members are not next to each other any more (a member left
    and came back, say with a new patch set) cannot be tested as one: every
    member is reported, to be enqueued again together."""
    place = {item.id: n for n, item in enumerate(items)}
    reports: list[Report] = []
    for bundle in {b for b in bundles.values()}:
        spots = sorted(place[m] for m in bundle)
        if spots[-1] - spots[0] + 1 == len(bundle):
            continue
        members = [items[place[m]] for m in bundle]
        reports.extend(Report(m.id, "failure", message=(
            f"Its dependency cycle ({_names(members, m)}) is no longer together in the "
            "queue (a change of it was enqueued again); approve the cycle again to test "
            "and merge it as one.")) for m in members)
    return sorted(reports, key=lambda r: place[r.item_id])
