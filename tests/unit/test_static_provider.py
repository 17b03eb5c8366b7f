"""The static provider: configured hosts handed out over the store, each to a
bounded number of builds, and only while they answer with the expected host key."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from zuulish.clock import SimulatedClock
from zuulish.errors import ConfigError
from zuulish.nodepool.launcher import Launcher
from zuulish.nodepool.static import StaticHost, StaticProvider, parse_hosts
from zuulish.store import NodeRequestRow, NodeRow, Store

KEY_A = "ssh-ed25519 AAAAkeyA"
KEY_B = "ssh-ed25519 AAAAkeyB"


class FakeScans:
    """ssh-keyscan's answers per host (missing: the host does not answer)."""

    def __init__(self, keys: dict[str, list[str]]):
        self.keys = keys
        self.calls: list[str] = []

    def __call__(self, host: str, port: int, timeout: float) -> list[str]:
        self.calls.append(host)
        return list(self.keys.get(host, []))


def request(store: Store, labels: list[str], build_id: str = "b1") -> int:
    with store.session() as s:
        req = NodeRequestRow(build_id=build_id, labels=labels, priority=100, created_at=0.0)
        s.add(req)
        s.flush()
        return req.id


def state_of(store: Store, request_id: int) -> tuple[str, list[str]]:
    with store.read() as s:
        req = s.get(NodeRequestRow, request_id)
        assert req is not None
        hosts = [s.get(NodeRow, n).hostname for n in req.node_ids]  # type: ignore[union-attr]
        return req.state, hosts


def release(store: Store, request_id: int) -> None:
    """What the executor does when the build is over: its nodes are used."""
    with store.session() as s:
        for node in s.scalars(select(NodeRow).where(NodeRow.request_id == request_id)):
            node.state = "used"


def test_each_host_serves_up_to_its_max_parallel_jobs(store: Store) -> None:
    scans = FakeScans({"a": [KEY_A], "b": [KEY_B]})
    provider = StaticProvider("rack", [StaticHost("a", ("linux",), max_parallel_jobs=2),
                                       StaticHost("b", ("linux",))], scan=scans)
    launcher = Launcher(store, [provider], SimulatedClock(start=0.0))
    ids = [request(store, ["linux"], f"b{i}") for i in range(4)]
    launcher.run_once()
    assert [state_of(store, i) for i in ids] == [
        ("fulfilled", ["a"]), ("fulfilled", ["b"]), ("fulfilled", ["a"]), ("requested", [])]
    release(store, ids[1])
    launcher.run_once()
    assert state_of(store, ids[3]) == ("fulfilled", ["b"])
    with store.read() as s:
        node = s.scalars(select(NodeRow).where(NodeRow.request_id == ids[3])).one()
        assert node.host_keys == [KEY_B]
        assert node.host_vars == {"ansible_host": "b", "ansible_port": 22,
                                  "ansible_user": "zuul"}


def test_a_host_that_does_not_answer_is_not_handed_out_until_it_does(store: Store) -> None:
    scans = FakeScans({})
    clock = [0.0]
    provider = StaticProvider("rack", [StaticHost("a", ("linux",))], scan=scans,
                              monotonic=lambda: clock[0])
    launcher = Launcher(store, [provider], SimulatedClock(start=0.0))
    req = request(store, ["linux"])
    launcher.run_once()
    launcher.run_once()  # within SCAN_SECONDS: not scanned again
    assert state_of(store, req) == ("requested", []) and scans.calls == ["a"]
    scans.keys["a"] = [KEY_A]
    clock[0] = 11.0
    launcher.run_once()
    assert state_of(store, req) == ("fulfilled", ["a"]) and scans.calls == ["a", "a"]


def test_a_released_host_is_scanned_again_before_its_next_build(store: Store) -> None:
    scans = FakeScans({"a": [KEY_A]})
    provider = StaticProvider("rack", [StaticHost("a", ("linux",))], scan=scans)
    launcher = Launcher(store, [provider], SimulatedClock(start=0.0))
    first = request(store, ["linux"], "b1")
    launcher.run_once()
    release(store, first)
    del scans.keys["a"]  # the host went away while its build ran
    second = request(store, ["linux"], "b2")
    launcher.run_once()
    assert state_of(store, second) == ("requested", []) and scans.calls == ["a", "a"]


def test_a_host_whose_build_just_ended_is_not_handed_out_on_its_stale_scan(
        store: Store) -> None:
    """The executor can mark a lost node ``used`` (and ask for a new one) after the
    launcher's release pass and before it hands nodes out: the host must count as
    busy until it is released and scanned again, or the retry lands on the host
    that just vanished (seen in CI: a third attempt)."""
    scans = FakeScans({"a": [KEY_A], "b": [KEY_B]})
    provider = StaticProvider("rack", [StaticHost("a", ("linux",)),
                                       StaticHost("b", ("linux",))], scan=scans)
    launcher = Launcher(store, [provider], SimulatedClock(start=0.0))
    first = request(store, ["linux"], "b1")
    launcher.run_once()
    assert state_of(store, first) == ("fulfilled", ["a"])
    del scans.keys["a"]  # host a vanishes mid-build
    retry = request(store, ["linux"], "b1")
    release_pass = launcher._release_used

    def release_pass_then_the_executor_commits() -> int:
        released = release_pass()
        release(store, first)
        return released

    launcher._release_used = release_pass_then_the_executor_commits  # type: ignore[method-assign]
    launcher.run_once()
    assert state_of(store, retry) == ("fulfilled", ["b"])


def test_a_host_whose_key_differs_from_the_configured_one_is_not_used(store: Store) -> None:
    scans = FakeScans({"a": [KEY_B], "b": [KEY_B, KEY_A]})
    provider = StaticProvider("rack", [StaticHost("a", ("linux",), host_keys=(KEY_A,)),
                                       StaticHost("b", ("linux",), host_keys=(KEY_A,))],
                              scan=scans)
    launcher = Launcher(store, [provider], SimulatedClock(start=0.0))
    req = request(store, ["linux"])
    launcher.run_once()
    assert state_of(store, req) == ("fulfilled", ["b"])
    with store.read() as s:
        assert s.scalars(select(NodeRow)).one().host_keys == [KEY_A]


def test_without_host_key_checking_nothing_is_scanned(store: Store) -> None:
    scans = FakeScans({})
    provider = StaticProvider("rack", [StaticHost("a", ("linux",), host_key_checking=False,
                                                  python_path="/usr/bin/python3",
                                                  username="ci", port=2222)], scan=scans)
    launcher = Launcher(store, [provider], SimulatedClock(start=0.0))
    req = request(store, ["linux"])
    launcher.run_once()
    assert state_of(store, req) == ("fulfilled", ["a"]) and scans.calls == []
    with store.read() as s:
        node = s.scalars(select(NodeRow)).one()
        assert node.host_keys == []
        assert node.host_vars == {"ansible_host": "a", "ansible_port": 2222,
                                  "ansible_user": "ci",
                                  "ansible_python_interpreter": "/usr/bin/python3",
                                  "ansible_host_key_checking": False}


def test_a_request_for_two_labels_takes_both_hosts_or_neither(store: Store) -> None:
    scans = FakeScans({"a": [KEY_A], "b": [KEY_B]})
    provider = StaticProvider("rack", [StaticHost("a", ("x",)), StaticHost("b", ("y",))],
                              scan=scans)
    launcher = Launcher(store, [provider], SimulatedClock(start=0.0))
    busy = request(store, ["y"], "b1")
    both = request(store, ["x", "y"], "b2")
    launcher.run_once()
    assert state_of(store, busy) == ("fulfilled", ["b"])
    assert state_of(store, both) == ("requested", [])
    with store.read() as s:
        assert len(s.scalars(select(NodeRow)).all()) == 1  # "a" was not taken meanwhile
    release(store, busy)
    launcher.run_once()
    assert state_of(store, both) == ("fulfilled", ["a", "b"])


def test_nodepool_pools_and_the_shorthand_both_load(tmp_path: Path) -> None:
    hosts = parse_hosts({"pools": [{"name": "main", "nodes": [
        {"name": "h1", "labels": "x", "host-key": f"{KEY_A} comment"}]}],
        "nodes": [{"name": "h2", "labels": ["x", "y"]}]}, "nodepool.providers[0]")
    assert [(h.name, h.labels, h.host_keys) for h in hosts] == [
        ("h2", ("x", "y"), ()), ("h1", ("x",), (KEY_A,))]
    with pytest.raises(ConfigError, match="at least one node"):
        parse_hosts({"pools": [{"name": "main", "nodes": []}]}, "p", tmp_path / "z.yaml")
