"""The history's store queries (``zuulish.web.history``) over a seeded store of a
few hundred builds: every filter, paging, totals, tenants kept apart, and each
filter answered through an index (SQLite's query plan)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from tests.conftest import PG_URL, _reset_postgres, _worker_database
from tests.functional.history_seed import HELD, T0, Seeded, seed_history
from zuulish.store import BuildRow, BuildSetRow, QueueItemRow, Store
from zuulish.web.history import (
    HistoryFilter,
    _builds_query,
    _buildsets_query,
    build_info,
    build_neighbours,
    buildset_info,
    change_info,
    find_builds,
    find_buildsets,
    job_trend,
)

pytestmark = pytest.mark.store
WEB = "http://zuulish.test"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, list[Seeded]]]:
    """One seeded store for the module (PostgreSQL where the run uses it)."""
    if PG_URL:
        url = _worker_database(PG_URL)
        _reset_postgres(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('history') / 'zuulish.db'}"
    store = Store(url)
    store.upgrade()
    builds = seed_history(store)
    yield store, builds
    store.dispose()


def expected(builds: list[Seeded], **want: object) -> list[str]:
    """The finished builds of tenant t matching ``want``, newest first."""
    rows = [b for b in builds if b.tenant == "t" and b.finished_at is not None
            and all(getattr(b, k) == v if not isinstance(v, tuple) else getattr(b, k) in v
                    for k, v in want.items())]
    rows.sort(key=lambda b: (b.finished_at, b.uuid), reverse=True)
    return [b.uuid for b in rows]


CASES = [
    ({}, {}),
    ({"project": "org/lib"}, {"project": "org/lib"}),
    ({"pipeline": "gate"}, {"pipeline": "gate"}),
    ({"job_name": "docs"}, {"job": "docs"}),
    ({"change": 7}, {"change": 7}),
    ({"change": 7, "patchset": 1}, {"change": 7, "patchset": 1}),
    ({"ref": "refs/heads/main"}, {"ref": "refs/heads/main"}),
    ({"branch": "stable"}, {"branch": "stable"}),
    ({"result": ("FAILURE",)}, {"result": "FAILURE"}),
    ({"result": ("TIMED_OUT", "POST_FAILURE")}, {"result": ("TIMED_OUT", "POST_FAILURE")}),
    ({"voting": False}, {"voting": False}),
    ({"uuid": "b-0010-1"}, {"uuid": "b-0010-1"}),
    ({"project": "org/app", "job_name": "integration", "result": ("FAILURE",)},
     {"project": "org/app", "job": "integration", "result": "FAILURE"}),
]


@pytest.mark.parametrize(("given", "want"), CASES, ids=[str(c[0]) for c in CASES])
def test_each_filter_finds_exactly_the_matching_builds(seeded, given, want) -> None:
    store, builds = seeded
    page = find_builds(store, "t", HistoryFilter(**given, limit=500), WEB)
    wanted = expected(builds, **want)
    assert page.total == len(wanted) and [b["uuid"] for b in page.rows] == wanted[:500]
    assert all(b["tenant"] == "t" for b in page.rows)


def test_pages_walk_the_whole_history_once(seeded) -> None:
    store, builds = seeded
    seen: list[str] = []
    skip = 0
    while True:
        page = find_builds(store, "t", HistoryFilter(limit=37, skip=skip), WEB)
        if not page.rows:
            break
        seen += [b["uuid"] for b in page.rows]
        skip += 37
    assert seen == expected(builds) and page.total == len(seen) > 300


def test_time_filters_take_the_finish_time(seeded) -> None:
    store, builds = seeded
    newer, older = T0 + 20_000, T0 + 40_000
    page = find_builds(store, "t", HistoryFilter(newer_than=newer, older_than=older,
                                                 limit=500), WEB)
    wanted = [u for u in expected(builds)
              if newer <= next(b.finished_at for b in builds if b.uuid == u) < older]
    assert [b["uuid"] for b in page.rows] == wanted and wanted


def test_unfinished_builds_are_asked_for_with_complete_false(seeded) -> None:
    store, _ = seeded
    page = find_builds(store, "t", HistoryFilter(complete=False), WEB)
    assert [b["uuid"] for b in page.rows] == ["b-running"] and page.total == 1
    assert page.rows[0]["result"] is None and page.rows[0]["state"] == "running"


def test_held_builds_are_those_an_autohold_request_kept(seeded) -> None:
    store, builds = seeded
    held = find_builds(store, "t", HistoryFilter(held=True), WEB)
    assert [b["uuid"] for b in held.rows] == [HELD] and held.rows[0]["held"] is True
    not_held = find_builds(store, "t", HistoryFilter(held=False, limit=500), WEB)
    assert not_held.total == len(expected(builds)) - 1
    assert HELD not in {b["uuid"] for b in not_held.rows}


def test_another_tenants_builds_are_never_shown(seeded) -> None:
    store, builds = seeded
    secret = next(b for b in builds if b.tenant == "other")
    assert find_builds(store, "t", HistoryFilter(uuid=secret.uuid), WEB).total == 0
    assert find_builds(store, "t", HistoryFilter(project="org/secret"), WEB).rows == []
    assert build_info(store, secret.uuid, WEB, tenant="t") is None
    assert build_info(store, secret.uuid, WEB)["tenant"] == "other"
    assert buildset_info(store, "t", secret.buildset, WEB) is None
    assert find_builds(store, "other", HistoryFilter(), WEB).total == len(
        [b for b in builds if b.tenant == "other"])


def test_a_build_is_shaped_as_zuuls_api_shapes_it(seeded) -> None:
    store, builds = seeded
    one = next(b for b in builds if b.uuid == "b-0010-1")
    [row] = find_builds(store, "t", HistoryFilter(uuid=one.uuid), WEB).rows
    assert row["job_name"] == one.job and row["result"] == one.result
    assert row["start_time"] and row["end_time"] and row["duration"] == pytest.approx(
        one.finished_at - one.started_at)
    assert (row["project"], row["change"], row["patchset"]) == (one.project, one.change,
                                                                one.patchset)
    assert row["buildset"] == one.buildset and row["held"] is False
    assert row["ref_url"] == f"{WEB}/c/{one.project}/+/{one.change}"
    assert row["url"] == f"{WEB}/t/t/build/{one.uuid}"
    assert row["log_url"] == f"{WEB}/logs/{one.uuid}/job-output.txt"


def test_buildsets_are_filtered_and_paged(seeded) -> None:
    store, _ = seeded
    everything = find_buildsets(store, "t", HistoryFilter(limit=500), WEB)
    assert everything.total == 90  # 80 change items and 10 branch updates; not the queued one
    assert [bs["uuid"] for bs in everything.rows][:2] == ["bs-0089", "bs-0088"]
    failed = find_buildsets(store, "t", HistoryFilter(result=("FAILURE",), limit=500), WEB)
    assert failed.total and all(bs["result"] == "FAILURE" for bs in failed.rows)
    succeeded = find_buildsets(store, "t", HistoryFilter(result=("SUCCESS",), limit=500), WEB)
    assert failed.total + succeeded.total == 90
    change = find_buildsets(store, "t", HistoryFilter(change=7), WEB)
    assert {(bs["change"], bs["patchset"]) for bs in change.rows} == {(7, 1), (7, 2)}
    running = find_buildsets(store, "t", HistoryFilter(complete=False), WEB)
    assert [bs["uuid"] for bs in running.rows] == ["bs-running"]
    assert running.rows[0]["result"] is None
    second = find_buildsets(store, "t", HistoryFilter(limit=10, skip=10), WEB)
    assert [bs["uuid"] for bs in second.rows] == [bs["uuid"] for bs in everything.rows[10:20]]


def test_a_buildset_lists_its_builds_and_tested_commits(seeded) -> None:
    store, builds = seeded
    info = buildset_info(store, "t", "bs-0000", WEB)
    assert info is not None
    assert [b["uuid"] for b in info["builds"]] == [b.uuid for b in builds
                                                  if b.buildset == "bs-0000"]
    assert info["repos"] == {"org/app": {"branch": "main", "commit": f"{1:040x}"}}
    assert buildset_info(store, "t", "nope", WEB) is None


def test_a_build_knows_its_siblings_and_the_earlier_builds_of_its_job(seeded) -> None:
    store, builds = seeded
    one = next(b for b in builds if b.uuid == "b-0041-1")
    near = build_neighbours(store, one.uuid, WEB)
    assert {b["uuid"] for b in near["siblings"]} == {
        b.uuid for b in builds if b.buildset == one.buildset and b.uuid != one.uuid}
    earlier = [b.uuid for b in sorted(
        (b for b in builds if b.tenant == "t" and b.job == one.job
         and b.project == one.project and b.finished_at < one.finished_at),
        key=lambda b: b.finished_at, reverse=True)][:10]
    assert [b["uuid"] for b in near["earlier"]] == earlier and earlier


def test_a_jobs_trend_is_its_newest_builds_oldest_first(seeded) -> None:
    store, builds = seeded
    points = job_trend(store, "t", HistoryFilter(job_name="integration", project="org/app"))
    wanted = sorted((b for b in builds if b.tenant == "t" and b.job == "integration"
                     and b.project == "org/app"), key=lambda b: b.finished_at)
    assert [p["result"] for p in points] == [b.result for b in wanted]
    assert job_trend(store, "t", HistoryFilter()) == []


def test_the_change_view_groups_reports_and_buildsets_by_patch_set(seeded) -> None:
    store, builds = seeded
    info = change_info(store, "org/app", 7, WEB, tenant="t")
    assert info is not None and [p["number"] for p in info["history"]] == [2, 1]
    gate, check = info["history"]
    assert [bs["pipeline"] for bs in gate["buildsets"]] == ["gate"]
    assert {b["uuid"] for b in check["buildsets"][0]["builds"]} == {
        b.uuid for b in builds if b.change == 7 and b.patchset == 1}
    assert check["reports"][0]["message_parts"][-1]["url"].endswith(
        check["buildsets"][0]["uuid"])
    assert change_info(store, "org/app", 7, WEB, tenant="other")["history"][0]["buildsets"] \
        == []
    assert change_info(store, "org/app", 999, WEB) is None


@pytest.mark.parametrize("given", [c[0] for c in CASES] + [
    {"newer_than": T0 + 1000}, {"held": True}, {"complete": False}],
    ids=[str(c[0]) for c in CASES] + ["newer", "held", "incomplete"])
def test_every_filter_is_answered_through_an_index(seeded, given) -> None:
    """SQLite's plan for each filter's page and count: no table is read whole."""
    store, _ = seeded
    if store.engine.dialect.name != "sqlite":
        pytest.skip("the plan is SQLite's")
    f = HistoryFilter(**given)
    with store.read() as s:
        for columns, page in (((BuildRow, BuildSetRow, QueueItemRow), True),
                              ((BuildRow.id,), False)):
            query = _builds_query(s, f, "t", columns, page).order_by(
                BuildRow.finished_at.desc()).limit(50)
            plan = _plan(store, query)
            assert not re.search(r"\bSCAN (builds|queue_items|buildsets)\b(?! USING)", plan), plan
        query = _buildsets_query(f, "t", (BuildSetRow.id,))
        plan = _plan(store, query)
        assert not re.search(r"\bSCAN (builds|queue_items|buildsets)\b(?! USING)", plan), plan


def _plan(store: Store, query) -> str:
    sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        return "\n".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))

