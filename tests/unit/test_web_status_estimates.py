"""Job estimates from past builds, and the times the status page shows."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session

from zuulish.store import BuildRow, BuildSetRow, QueueItemRow, Store
from zuulish.web.estimates import (
    EstimatesCache,
    estimate,
    item_remaining,
    job_timing,
    read_estimates,
    remaining_shrinks,
)


def test_an_estimate_is_the_median_and_ignores_clock_jumps() -> None:
    assert estimate([10, 30, 20, -5]) == 20
    assert estimate([10, 20]) == 15
    assert estimate([]) is None and estimate([-1]) is None


def test_a_running_job_shows_its_share_of_the_estimate() -> None:
    t = job_timing("running", None, 100.0, None, 40.0, now=110.0)
    assert (t.elapsed, t.remaining, t.progress) == (10.0, 30.0, 25)


def test_a_job_running_past_its_estimate_stays_below_done() -> None:
    t = job_timing("running", None, 100.0, None, 40.0, now=200.0)
    assert (t.elapsed, t.remaining, t.progress) == (100.0, 0.0, 99)


def test_a_finished_job_is_done_and_one_not_started_has_all_ahead() -> None:
    done = job_timing("completed", "FAILURE", 1.0, 4.0, 40.0, 9.0)
    assert (done.elapsed, done.remaining, done.progress) == (3.0, 0.0, 100)
    waiting = job_timing("waiting", None, None, None, 40.0, 9.0)
    assert (waiting.elapsed, waiting.remaining, waiting.progress) == (None, 40.0, 0)
    unknown = job_timing("running", None, 1.0, None, None, 9.0)
    assert (unknown.elapsed, unknown.remaining, unknown.progress) == (8.0, None, None)
    paused = job_timing("paused", None, 1.0, None, 10.0, 6.0)
    assert paused.progress == 50


def test_an_item_waits_for_its_longest_job_or_the_item_ahead() -> None:
    assert item_remaining([10.0, 30.0, 0.0], None, has_ahead=False) == 30.0
    assert item_remaining([10.0, 30.0], 50.0, has_ahead=True) == 50.0
    assert item_remaining([10.0, 30.0], 5.0, has_ahead=True) == 30.0
    assert item_remaining([10.0, None], 5.0, has_ahead=True) == 10.0  # None: no history
    assert item_remaining([None, None], 5.0, has_ahead=True) is None
    assert item_remaining([10.0], None, has_ahead=True) is None
    assert item_remaining([], None, has_ahead=False) is None


def _builds(s: Session, tenant: str, project: str, job: str, durations: list[float],
            result: str = "SUCCESS", start: float = 0.0) -> None:
    item = QueueItemRow(tenant=tenant, pipeline="gate", queue_name="q", connection="c",
                        change_number=1, patchset=1, commit_sha="0" * 40, project=project,
                        branch="main", state="merged", sequence=1, enqueued_at=0.0)
    s.add(item)
    s.flush()
    bs = BuildSetRow(uuid=uuid.uuid4().hex, item_id=item.id,
                     ahead=[], merge_state="merged", created_at=0.0)
    s.add(bs)
    s.flush()
    for n, seconds in enumerate(durations):
        began = start + 1000 * n
        s.add(BuildRow(id=uuid.uuid4().hex, buildset_id=bs.id, job=job, state="completed",
                       result=result, created_at=began, started_at=began,
                       finished_at=began + seconds))


@pytest.mark.store
def test_estimates_use_the_newest_successes_of_the_project_else_of_the_job(
        store: Store) -> None:
    with store.session() as s:
        # oldest first: the 10 newest of org/app's unit are 20..29 seconds
        _builds(s, "t", "org/app", "unit", [500.0] * 5 + [20.0 + n for n in range(10)])
        _builds(s, "t", "org/app", "unit", [900.0, 900.0], result="FAILURE", start=1e6)
        _builds(s, "t", "org/lib", "lint", [7.0, 9.0])
        _builds(s, "other", "org/app", "unit", [1.0, 1.0, 1.0])
    found = read_estimates(store, "t")
    assert found.of("org/app", "unit") == 24.5
    assert found.of("org/lib", "lint") == 8.0
    assert found.of("org/new", "lint") == 8.0  # the job's, from any project
    assert found.of("org/app", "docs") is None
    assert read_estimates(store, "nobody").by_job == {}


@pytest.mark.store
def test_estimates_are_read_again_only_when_old(store: Store) -> None:
    now = [0.0]
    cache = EstimatesCache(ttl=30.0, clock=lambda: now[0])
    assert cache.get(store, "t").of("org/app", "unit") is None
    with store.session() as s:
        _builds(s, "t", "org/app", "unit", [12.0])
    assert cache.get(store, "t").of("org/app", "unit") is None  # still the cached one
    now[0] = 31.0
    assert cache.get(store, "t").of("org/app", "unit") == 12.0


def test_an_items_time_counts_down_only_when_a_running_job_or_the_item_ahead_sets_it(
) -> None:
    assert remaining_shrinks(30.0, [30.0, 10.0], None, False)  # its running job's
    assert not remaining_shrinks(30.0, [10.0], None, False)  # a job not started: 30 s
    assert remaining_shrinks(50.0, [10.0], 50.0, True)  # the item ahead's, counting
    assert not remaining_shrinks(50.0, [10.0], 50.0, False)  # the item ahead's, fixed
    assert not remaining_shrinks(50.0, [], 20.0, True)  # its own job's, not started
    assert not remaining_shrinks(None, [10.0], None, False)
    assert not remaining_shrinks(0.0, [0.0], None, False)  # nothing left to count
