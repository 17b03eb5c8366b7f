"""The store's state gauges, read from a seeded store at scrape time."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from zuulish.cluster.db_time import db_now
from zuulish.metrics import Scrape
from zuulish.store import (
    BuildRow,
    BuildSetRow,
    ChangeQueueRow,
    ComponentRow,
    EventRow,
    MergeRequestRow,
    NodeRequestRow,
    NodeRow,
    QueueItemRow,
    Store,
)

NOW = 1_000_000.0


def samples(scrape: Scrape) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape's text, parsed as Prometheus would."""
    text = scrape.render()[0].decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def of(found: dict, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (n, labels), value in found.items() if n == name}


def _item(s, tenant: str, pipeline: str, queue: str, number: int, state: str = "queued",
          merge_state: str | None = None) -> None:
    item = QueueItemRow(tenant=tenant, pipeline=pipeline, queue_name=queue,
                        connection="forge", change_number=number, patchset=1,
                        commit_sha="a" * 40, project="org/app", branch="main",
                        sequence=number, enqueued_at=0, state=state)
    s.add(item)
    s.flush()
    if merge_state is not None:
        # an earlier state, replaced: never counted
        s.add(BuildSetRow(uuid=f"old-{number}", item_id=item.id, current=False, ahead=[],
                          merge_state="conflict", created_at=0))
        s.add(BuildSetRow(uuid=f"bs-{number}", item_id=item.id, ahead=[],
                          merge_state=merge_state, created_at=0))


def seed(store: Store) -> None:
    with store.session() as s:
        now = db_now(s)
        s.add_all([ChangeQueueRow(tenant="t", pipeline="gate", name="shared", window=20),
                   ChangeQueueRow(tenant="u", pipeline="gate", name="org/lib", window=3)])
        _item(s, "t", "gate", "shared", 1, merge_state="merged")
        _item(s, "t", "gate", "shared", 2, merge_state="merged")
        _item(s, "t", "gate", "shared", 3, merge_state="pending")
        _item(s, "t", "gate", "shared", 4)
        # an independent pipeline's queue is one change's: never a label
        _item(s, "t", "check", "org/app:5", 5, merge_state="conflict")
        _item(s, "t", "check", "org/app:8", 8)
        _item(s, "u", "gate", "org/lib", 6, merge_state="pending")
        _item(s, "t", "gate", "shared", 7, state="merged", merge_state="merged")  # gone
        s.flush()
        s.add_all([
            BuildRow(id="b1", buildset_id=1, job="unit", state="running", zone=None,
                     created_at=0),
            BuildRow(id="b2", buildset_id=1, job="lint", state="running", zone="east",
                     created_at=0),
            BuildRow(id="b3", buildset_id=1, job="docs", state="waiting", zone=None,
                     created_at=0),
            BuildRow(id="b4", buildset_id=1, job="docs", state="queued", zone="east",
                     created_at=0),
            BuildRow(id="b5", buildset_id=1, job="old", state="completed", result="SUCCESS",
                     created_at=0),
        ])
        s.add_all([NodeRequestRow(build_id="b3", labels=["small"], state="requested",
                                  created_at=0),
                   NodeRequestRow(build_id="b1", labels=["small"], state="fulfilled",
                                  created_at=0)])
        s.add_all([NodeRow(provider="cloud", label="small", state=state, hostname="h",
                           created_at=0)
                   for state in ("in-use", "in-use", "ready", "deleted", "deleted")])
        s.add(NodeRow(provider="local", label="local", state="building", hostname="h",
                      created_at=0))
        beat = {"hostname": "h", "pid": 1, "machine": "m", "started_at": now}
        s.add_all([
            ComponentRow(id="executor-a", kind="executor", zone="east", state="running",
                         heartbeat_at=now, **beat),
            ComponentRow(id="executor-b", kind="executor", zone=None, state="running",
                         heartbeat_at=now, **beat),
            # silent for a minute: not alive, though its row still says running
            ComponentRow(id="executor-c", kind="executor", zone=None, state="running",
                         heartbeat_at=now - 60, **beat),
            ComponentRow(id="scheduler-a", kind="scheduler", zone=None, state="dead",
                         heartbeat_at=now - 600, **beat),
            ComponentRow(id="scheduler-b", kind="scheduler", zone=None, state="running",
                         heartbeat_at=now, **beat),
        ])
        s.add_all([
            EventRow(connection="forge", type="patchset-created", created_at=NOW - 40),
            EventRow(connection="forge", type="comment-added", created_at=NOW - 5),
            EventRow(connection="github", type="pull_request", created_at=NOW - 2),
            EventRow(connection="forge", type="comment-added", created_at=NOW - 900,
                     processed_at=NOW - 899),
        ])
        s.add_all([MergeRequestRow(buildset_id=1, state=state, created_at=0)
                   for state in ("requested", "requested", "running", "done", "extended")])


def scrape(store: Store, ttl: float = 1.0) -> Scrape:
    """Events' ages count from ``NOW``."""
    return Scrape(store, dead_after=15.0, ttl=ttl, now=lambda: NOW)


def test_queue_lengths_windows_and_item_states(store: Store) -> None:
    seed(store)
    found = samples(scrape(store))
    assert of(found, "zuulish_queue_items") == {
        (("pipeline", "gate"), ("queue", "shared"), ("tenant", "t")): 4,
        (("pipeline", "check"), ("queue", ""), ("tenant", "t")): 2,
        (("pipeline", "gate"), ("queue", "org/lib"), ("tenant", "u")): 1,
    }
    assert of(found, "zuulish_pipeline_items") == {
        (("pipeline", "gate"), ("state", "merged"), ("tenant", "t")): 2,
        (("pipeline", "gate"), ("state", "pending"), ("tenant", "t")): 1,
        (("pipeline", "gate"), ("state", "new"), ("tenant", "t")): 1,
        (("pipeline", "check"), ("state", "conflict"), ("tenant", "t")): 1,
        (("pipeline", "check"), ("state", "new"), ("tenant", "t")): 1,
        (("pipeline", "gate"), ("state", "pending"), ("tenant", "u")): 1,
    }
    assert of(found, "zuulish_queue_window") == {
        (("pipeline", "gate"), ("queue", "shared"), ("tenant", "t")): 20,
        (("pipeline", "gate"), ("queue", "org/lib"), ("tenant", "u")): 3,
    }


def test_items_are_counted_in_the_pipelines_of_the_running_layouts(store: Store) -> None:
    seed(store)
    pipelines = [("t", "gate"), ("u", "gate"), ("u", "check")]
    scrape = Scrape(store, ttl=0, now=lambda: NOW, pipelines=lambda: pipelines)
    found = samples(scrape)
    assert of(found, "zuulish_queue_items") == {
        (("pipeline", "gate"), ("queue", "shared"), ("tenant", "t")): 4,
        (("pipeline", "gate"), ("queue", "org/lib"), ("tenant", "u")): 1,
    }
    pipelines.clear()  # no tenant: no item query at all
    assert of(samples(scrape), "zuulish_queue_items") == {}
    assert len(of(samples(scrape), "zuulish_queue_window")) == 2


def test_builds_nodes_and_merges_by_state(store: Store) -> None:
    seed(store)
    found = samples(scrape(store))
    assert of(found, "zuulish_builds") == {
        (("state", "running"), ("zone", "")): 1, (("state", "running"), ("zone", "east")): 1,
        (("state", "waiting"), ("zone", "")): 1, (("state", "queued"), ("zone", "east")): 1,
    }
    assert of(found, "zuulish_node_requests") == {
        (("state", "requested"),): 1, (("state", "fulfilled"),): 1}
    assert of(found, "zuulish_nodes") == {
        (("label", "small"), ("provider", "cloud"), ("state", "in-use")): 2,
        (("label", "small"), ("provider", "cloud"), ("state", "ready")): 1,
        (("label", "local"), ("provider", "local"), ("state", "building")): 1,
    }
    assert of(found, "zuulish_merge_requests_pending") == {
        (("state", "requested"),): 2, (("state", "running"),): 1}


def test_components_alive_go_by_heartbeat_not_by_their_row(store: Store) -> None:
    seed(store)
    found = samples(scrape(store))
    assert of(found, "zuulish_components_alive") == {
        (("kind", "executor"), ("zone", "east")): 1,
        (("kind", "executor"), ("zone", "")): 1,
        (("kind", "scheduler"), ("zone", "")): 1,
    }
    assert of(found, "zuulish_components") == {
        (("kind", "executor"), ("state", "running")): 3,
        (("kind", "scheduler"), ("state", "dead")): 1,
        (("kind", "scheduler"), ("state", "running")): 1,
    }


def test_events_not_handled_and_the_age_of_the_oldest(store: Store) -> None:
    seed(store)
    found = samples(scrape(store))
    assert of(found, "zuulish_events_pending") == {
        (("connection", "forge"),): 2, (("connection", "github"),): 1}
    assert of(found, "zuulish_events_oldest_pending_age_seconds") == {
        (("connection", "forge"),): 40, (("connection", "github"),): 2}
    assert of(found, "zuulish_store_up") == {(): 1}


def test_an_empty_store_gives_families_without_samples(store: Store) -> None:
    found = samples(scrape(store))
    assert set(found) == {("zuulish_store_up", ())}


def test_scrapes_within_the_ttl_share_one_collection(store: Store) -> None:
    cached = scrape(store, ttl=3600)
    fresh = scrape(store, ttl=0)
    assert of(samples(cached), "zuulish_queue_window") == {}
    seed(store)
    assert of(samples(cached), "zuulish_queue_window") == {}  # the collection kept
    assert len(of(samples(fresh), "zuulish_queue_window")) == 2


def test_a_database_that_fails_is_a_gauge_not_an_error(tmp_path: Path) -> None:
    broken = Store(f"sqlite:///{tmp_path / 'no-schema.db'}")  # no tables: every read fails
    try:
        assert samples(Scrape(broken)) == {("zuulish_store_up", ()): 0}
    finally:
        broken.dispose()
