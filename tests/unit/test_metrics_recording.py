"""Counters and histograms recorded where things happen, their label bounds, how
``zuulish run`` forwards them to the web's process, and ``metrics.listen``."""

from __future__ import annotations

import pickle
import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from zuulish.errors import ConfigError
from zuulish.metrics import ForwardedFamilies, MetricsServer, ProcessMetrics, snapshot
from zuulish.metrics.definitions import MAX_VALUE, OTHER
from zuulish.server_config import load_server_config


def values(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == name}


def test_builds_are_counted_by_result_with_their_durations() -> None:
    m = ProcessMetrics()
    m.build_finished("t", "gate", "org/app", "unit", "SUCCESS", 10.0, 40.0)
    m.build_finished("t", "gate", "org/app", "unit", "FAILURE", 10.0, 12.0)
    m.build_finished("t", "gate", "org/app", "unit", "SUCCESS", None, 12.0)  # never started
    text = generate_latest(m.registry).decode()
    labels = (("job", "unit"), ("pipeline", "gate"), ("project", "org/app"), ("tenant", "t"))
    assert values(text, "zuulish_builds_total") == {
        (*labels[:3], ("result", "SUCCESS"), labels[3]): 2,
        (*labels[:3], ("result", "FAILURE"), labels[3]): 1}
    durations = values(text, "zuulish_build_duration_seconds_sum")
    assert durations == {(("job", "unit"), ("pipeline", "gate"), ("result", "SUCCESS"),
                          ("tenant", "t")): 30.0,
                         (("job", "unit"), ("pipeline", "gate"), ("result", "FAILURE"),
                          ("tenant", "t")): 2.0}


def test_only_merged_items_count_towards_time_to_merge() -> None:
    m = ProcessMetrics()
    m.item_ended("t", "gate", "merged", 100.0, 160.0)
    m.item_ended("t", "gate", "failed", 100.0, 130.0)
    m.item_ended("t", "check", "reported", 100.0, 110.0)
    text = generate_latest(m.registry).decode()
    assert values(text, "zuulish_time_to_merge_seconds_count") == {
        (("pipeline", "gate"), ("tenant", "t")): 1}
    assert values(text, "zuulish_time_to_merge_seconds_sum") == {
        (("pipeline", "gate"), ("tenant", "t")): 60.0}
    assert values(text, "zuulish_items_dequeued_total") == {
        (("pipeline", "gate"), ("result", "merged"), ("tenant", "t")): 1,
        (("pipeline", "gate"), ("result", "failed"), ("tenant", "t")): 1,
        (("pipeline", "check"), ("result", "reported"), ("tenant", "t")): 1}
    assert values(text, "zuulish_item_resident_seconds_sum") == {
        (("pipeline", "gate"), ("tenant", "t")): 90.0,
        (("pipeline", "check"), ("tenant", "t")): 10.0}


def test_event_lag_is_never_negative_when_clocks_differ() -> None:
    m = ProcessMetrics()
    m.event_handled("forge", "patchset-created", stored_at=105.0, now=100.0)
    m.event_handled("forge", "patchset-created", stored_at=90.0, now=100.0)
    text = generate_latest(m.registry).decode()
    assert values(text, "zuulish_events_total") == {
        (("connection", "forge"), ("type", "patchset-created")): 2}
    assert values(text, "zuulish_event_processing_lag_seconds_sum") == {
        (("connection", "forge"),): 10.0}


def test_label_values_an_attacker_chooses_cannot_grow_the_series_without_bound() -> None:
    m = ProcessMetrics(max_series=3)
    for n in range(50):
        m.event_handled("github", f"made-up-{n}", 0.0, 1.0)
    m.event_handled("github", "made-up-1", 0.0, 1.0)  # one already kept: still its own
    m.event_handled("forge", "x" * 10_000, 0.0, 1.0)
    counted = values(generate_latest(m.registry).decode(), "zuulish_events_total")
    assert counted == {(("connection", "github"), ("type", "made-up-0")): 1,
                       (("connection", "github"), ("type", "made-up-1")): 2,
                       (("connection", "github"), ("type", "made-up-2")): 1,
                       (("connection", OTHER), ("type", OTHER)): 48}
    fresh = ProcessMetrics()
    fresh.event_handled("forge", "x" * 10_000, 0.0, 1.0)
    [(labels, _)] = values(generate_latest(fresh.registry).decode(),
                           "zuulish_events_total").items()
    assert dict(labels)["type"] == "x" * MAX_VALUE


def test_registries_of_two_process_objects_are_apart() -> None:
    one, other = ProcessMetrics(), ProcessMetrics()
    one.merge_requested()
    assert values(generate_latest(one.registry).decode(), "zuulish_merge_requests_total") \
        == {(): 1}
    assert values(generate_latest(other.registry).decode(), "zuulish_merge_requests_total") \
        == {(): 0}


def test_forwarded_families_render_as_the_sending_process_does() -> None:
    m = ProcessMetrics()
    m.merge_finished("merged", 0.2)
    m.node_request_fulfilled("local", 10.0, 13.0)
    m.watch_executor(lambda: 1, lambda: 4)
    received = ForwardedFamilies()
    received.replace(pickle.loads(pickle.dumps(snapshot(m.registry))))  # across the pipe
    from prometheus_client import CollectorRegistry

    served = CollectorRegistry(auto_describe=False)
    served.register(received)
    assert generate_latest(served) == generate_latest(m.registry)
    text = generate_latest(served).decode()
    assert values(text, "zuulish_executor_slots") == {(): 4}
    assert values(text, "zuulish_node_request_fulfil_seconds_sum") == {
        (("provider", "local"),): 3.0}


# ---------------------------------------------------------------- metrics.listen
def write_config(tmp_path: Path, metrics: str) -> Path:
    path = tmp_path / "zuulish.yaml"
    path.write_text("state_dir: state\ntenant_file: main.yaml\n" + metrics)
    return path


@pytest.mark.parametrize(("metrics", "line", "says"), [
    ("metrics:\n  listen: 9100\n", 6, "must be HOST:PORT"),
    ("metrics:\n  listen: localhost\n", 6, "must be HOST:PORT"),
    ("metrics:\n  listen: 'localhost:99999'\n", 6, "must be HOST:PORT"),
    ("metrics:\n  listen: ':9100'\n", 6, "must be HOST:PORT"),
    ("metrics:\n  listen: 'a b:9100'\n", 6, "must be HOST:PORT"),
    ("metrics:\n  listen: [127.0.0.1, 9100]\n", 6, "must be HOST:PORT"),
    ("metrics:\n  lisen: '127.0.0.1:9100'\n", 6, "did you mean 'metrics.listen'"),
    ("metrics: 127.0.0.1:9100\n", 5, "'metrics' must be a mapping"),
])
def test_a_malformed_metrics_listen_is_refused_at_its_file_and_line(
        tmp_path: Path, metrics: str, line: int, says: str) -> None:
    path = write_config(tmp_path, "web:\n  listen: 127.0.0.1:9000\n" + metrics)
    with pytest.raises(ConfigError) as caught:
        load_server_config(path)
    assert caught.value.line == line
    assert says in caught.value.message
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_metrics_listen_is_off_by_default_and_read_when_given(tmp_path: Path) -> None:
    assert load_server_config(write_config(tmp_path, "")).metrics_listen is None
    assert load_server_config(write_config(tmp_path, "metrics:\n")).metrics_listen is None
    given = load_server_config(write_config(tmp_path, "metrics: {listen: '[::1]:9100'}\n"))
    assert given.metrics_listen == ("::1", 9100)


def test_a_component_serves_its_own_counters_on_metrics_listen() -> None:
    m = ProcessMetrics()
    m.merge_finished("conflict", 1.5)
    server = MetricsServer("127.0.0.1", 0, m.registry)
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics",
                                    timeout=10) as answer:
            text = answer.read().decode()
        assert values(text, "zuulish_merges_total") == {(("result", "conflict"),): 1}
        # its own counters only: the store's gauges are a web's
        assert not values(text, "zuulish_store_up")
    finally:
        server.stop()


def test_an_address_in_use_is_an_error_at_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MetricsServer("127.0.0.1", taken.getsockname()[1], ProcessMetrics().registry)
        with pytest.raises(OSError):
            server.start()


def test_forwarded_families_are_asked_for_at_each_collection() -> None:
    sender = ProcessMetrics()
    received = ForwardedFamilies(lambda: received.replace(snapshot(sender.registry)))
    sender.merge_requested()
    assert values(_text(received), "zuulish_merge_requests_total") == {(): 1}
    sender.merge_requested()  # the next scrape asks again: no stale figures
    assert values(_text(received), "zuulish_merge_requests_total") == {(): 2}


def test_forwarded_families_fall_back_to_the_last_when_no_answer_comes() -> None:
    sender = ProcessMetrics()
    sender.merge_requested()
    silent = ForwardedFamilies(lambda: None, wait=0.01)
    silent.replace(snapshot(sender.registry))
    sender.merge_requested()
    assert values(_text(silent), "zuulish_merge_requests_total") == {(): 1}

    def gone() -> None:
        raise BrokenPipeError("the components' process is gone")

    orphan = ForwardedFamilies(gone)
    orphan.replace(snapshot(sender.registry))
    assert values(_text(orphan), "zuulish_merge_requests_total") == {(): 2}


def _text(collector: ForwardedFamilies) -> str:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry).decode()
