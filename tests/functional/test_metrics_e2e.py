"""Metrics over real HTTP after a real gate: what ``/metrics`` says happened is what
the store says happened; and ``zuulish run``'s web process serves its parent's
counters."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from tests.fakes.tenant import GateTenant
from zuulish.metrics import ProcessMetrics
from zuulish.runner import WebThread, free_port
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.server_config import load_server_config
from zuulish.store import BuildRow, EventRow, MergeRequestRow, QueueItemRow, Store
from zuulish.web.process import WebProcess

pytestmark = pytest.mark.slow

APP_CONFIG = """
- job:
    name: app-test
    parent: run-shell
    vars:
      command: test "$(cat value.txt)" != bad
- project:
    gate:
      jobs: [app-test]
"""

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def scrape(url: str) -> tuple[Samples, str]:
    """Every sample of ``url``'s exposition, parsed as Prometheus parses it."""
    with urllib.request.urlopen(url, timeout=30) as answer:
        text = answer.read().decode()
        content_type = answer.headers["Content-Type"]
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return found, content_type


def settle(what: str, check: Callable[[], object], timeout: float = 60) -> None:
    """Poll until ``check`` raises no AssertionError (the store and the counters are
    written one after the other); then raise its last one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not so within {timeout} s") from None
            time.sleep(0.05)


def pick(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(v for k, v in samples.get(name, {}).items() if set(labels.items()) <= set(k))


def _idle(url: str) -> None:
    samples = scrape(url)[0]
    assert pick(samples, "zuulish_store_up") == 1
    for kind in ("scheduler", "merger", "launcher", "executor"):
        assert pick(samples, "zuulish_components_alive", kind=kind) == 1, kind
    assert pick(samples, "zuulish_queue_window", pipeline="gate", queue="org/app") >= 1
    assert pick(samples, "zuulish_queue_items") == 0
    assert pick(samples, "zuulish_pipeline_items") == 0
    assert pick(samples, "zuulish_events_pending") == 0
    assert pick(samples, "zuulish_builds") == 0


def _no_running_builds(url: str) -> None:
    assert pick(scrape(url)[0], "zuulish_executor_running_builds") == 0


def test_metrics_after_a_gate_match_what_happened(tmp_path: Path, database_url: str) -> None:
    t = GateTenant(tmp_path, database_url,
                   {"org/app": {".zuul.yaml": APP_CONFIG, "value.txt": "good\n"}})
    t.config.listen_port = free_port()
    t.config.metrics_listen = ("127.0.0.1", free_port())
    t.start()
    web = WebThread(t.aio)
    web.start()
    url = f"http://127.0.0.1:{t.config.listen_port}/metrics"
    try:
        good = t.push("org/app", {"a.txt": "a\n"}, "Good")
        bad = t.push("org/app", {"value.txt": "bad\n"}, "Bad")
        t.approve(good)
        t.approve(bad)
        seen_in_gate = 0.0  # the most items the gauge showed in the gate's queue

        def merged() -> bool:
            nonlocal seen_in_gate
            samples, _ = scrape(url)
            seen_in_gate = max(seen_in_gate, pick(samples, "zuulish_queue_items",
                                                  pipeline="gate", queue="org/app"))
            return t.change(good).status == "MERGED"

        t.wait_for(merged, what="the good change merged")
        assert seen_in_gate >= 1  # builds take seconds: scrapes saw the queue
        assert t.wait_reported(bad, "gate").result == "FAILURE"

        def everything_counted() -> None:
            samples, _ = scrape(url)
            with t.aio.store.read() as s:
                assert s.scalar(select(func.count()).select_from(QueueItemRow)
                                .where(QueueItemRow.state == "queued")) == 0
                assert s.scalar(select(func.count()).select_from(EventRow)
                                .where(EventRow.processed_at.is_(None))) == 0
                events = s.scalar(select(func.count()).select_from(EventRow))
            assert pick(samples, "zuulish_events_total") == events
            assert pick(samples, "zuulish_items_dequeued_total", pipeline="gate") == 2

        settle("every event and item counted", everything_counted)
        samples, content_type = scrape(url)
        assert content_type.startswith("text/plain")
        with t.aio.store.read() as s:
            builds = s.scalars(select(BuildRow)).all()
            items = {r.change_number: r for r in s.scalars(
                select(QueueItemRow).where(QueueItemRow.pipeline == "gate"))}
            merge_requests = s.scalar(select(func.count()).select_from(MergeRequestRow))
            merges_done = s.scalar(select(func.count()).select_from(MergeRequestRow)
                                   .where(MergeRequestRow.state == "done"))

        # builds by result: those an executor finished, as the store has them
        ran = Counter((b.params["pipeline"], b.job, b.result) for b in builds
                      if b.started_at is not None and b.finished_at is not None)
        assert ran[("gate", "app-test", "FAILURE")] >= 1
        assert ran[("gate", "app-test", "SUCCESS")] >= 1
        counted = Counter({(dict(k)["pipeline"], dict(k)["job"], dict(k)["result"]): v
                           for k, v in samples["zuulish_builds_total"].items()})
        assert counted == ran
        assert pick(samples, "zuulish_build_duration_seconds_count") == sum(ran.values())

        # items: the good one merged, the bad one failed; time to merge is the good one's
        assert items[good].state == "merged" and items[bad].state == "failed"
        assert pick(samples, "zuulish_items_dequeued_total", pipeline="gate",
                    result="merged") == 1
        assert pick(samples, "zuulish_items_dequeued_total", pipeline="gate",
                    result="failed") == 1
        assert pick(samples, "zuulish_time_to_merge_seconds_count", tenant="t",
                    pipeline="gate") == 1
        assert pick(samples, "zuulish_time_to_merge_seconds_sum") == pytest.approx(
            items[good].dequeued_at - items[good].enqueued_at)

        # merges, node requests, the executor's load
        assert pick(samples, "zuulish_merge_requests_total") == merge_requests
        assert pick(samples, "zuulish_merges_total") == merges_done
        assert pick(samples, "zuulish_node_requests_fulfilled_total", provider="local") == \
            len({b.node_request_id for b in builds if b.started_at is not None})
        assert pick(samples, "zuulish_executor_slots") == t.config.executor_workers
        # a finished build holds its slot until its workspace is cleaned up
        settle("the executor's slots free", lambda: _no_running_builds(url))

        # the store's gauges: the whole system's picture (a collection is kept a
        # second: a scrape may see the one made before the queue emptied)
        settle("the store's gauges tell the queues are empty", lambda: _idle(url))

        # metrics.listen: the same process's counters, without the store's gauges
        own, _ = scrape(f"http://127.0.0.1:{t.config.metrics_listen[1]}/metrics")
        assert own["zuulish_builds_total"] == samples["zuulish_builds_total"]
        assert "zuulish_store_up" not in own
    finally:
        web.stop()
        t.stop()


def test_the_web_process_of_zuulish_run_serves_its_parents_counters(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "main.yaml").write_text("- tenant:\n    name: first\n")
    (tmp_path / "zuulish.yaml").write_text(
        f"state_dir: {tmp_path / 'state'}\ntenant_file: main.yaml\n"
        f"web:\n  listen: 127.0.0.1:{port}\n")
    config = load_server_config(tmp_path / "zuulish.yaml")
    config.state_dir.mkdir()
    store = Store(config.database)
    store.upgrade()
    layouts = TenantLayouts(config.tenant_file, {}, {}, {})
    layouts.load_all()
    parent = ProcessMetrics()
    parent.build_finished("first", "check", "org/app", "unit", "SUCCESS", 0.0, 2.0)
    web = WebProcess(config, layouts, parent.registry)
    web.start()
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        def builds(expected: float) -> Callable[[], None]:
            def check() -> None:
                samples, _ = scrape(url)
                assert pick(samples, "zuulish_builds_total", result="SUCCESS") == expected
                assert pick(samples, "zuulish_store_up") == 1
            return check

        settle("the parent's counter served", builds(1), timeout=30)
        parent.build_finished("first", "check", "org/app", "unit", "SUCCESS", 0.0, 2.0)
        settle("the parent's counter followed", builds(2), timeout=30)
    finally:
        web.stop()
        store.dispose()


def test_a_metrics_port_in_use_stops_the_start_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zuulish.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "main.yaml").write_text("- tenant:\n    name: t\n")
        config = tmp_path / "zuulish.yaml"
        config.write_text(f"state_dir: state\ntenant_file: main.yaml\n"
                          f"web: {{listen: '127.0.0.1:{free_port()}'}}\n"
                          f"metrics: {{listen: '127.0.0.1:{port}'}}\n")
        assert main(["-c", str(config), "run"]) == 1
    err = capsys.readouterr().err
    assert err == (f"zuulish: error: {config}: metrics.listen: cannot listen on "
                   f"127.0.0.1:{port}: Address already in use\n")
