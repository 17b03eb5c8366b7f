"""The launcher with a local provider's GPUs: requests for a GPU label get
distinct GPUs and wait while all are held; a restarted launcher knows which
GPUs the nodes still in use hold."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.fakes.nvidia import fake_nvidia
from zuulish.clock import SimulatedClock
from zuulish.executor.local_node import GPUS_VAR
from zuulish.model.node import NodeState
from zuulish.nodepool.launcher import Launcher
from zuulish.nodepool.local import LocalProvider
from zuulish.store import NodeRequestRow, NodeRow, Store


def _launcher(store: Store, tmp_path: Path) -> Launcher:
    smi, dev = fake_nvidia(tmp_path)
    provider = LocalProvider("local", ("local", "local-gpu"), 4, gpus="auto",
                             gpu_labels={"local-gpu": 1}, nvidia_smi=str(smi),
                             device_root=dev)
    return Launcher(store, [provider], SimulatedClock(start=100.0))


def _request(store: Store, labels: list[str]) -> int:
    with store.session() as s:
        req = NodeRequestRow(build_id=f"b-{len(labels)}", labels=labels, priority=100,
                             created_at=0.0)
        s.add(req)
        s.flush()
        return req.id


def _gpus(store: Store, request_id: int) -> list[list[int] | None]:
    """The GPU indexes of the request's nodes (None: the request is not fulfilled)."""
    with store.read() as s:
        req = s.get(NodeRequestRow, request_id)
        assert req is not None
        if req.state != "fulfilled":
            return [None]
        return [(s.get(NodeRow, n).host_vars.get(GPUS_VAR) or {}).get("indexes", [])
                for n in req.node_ids]


def test_gpu_requests_get_distinct_gpus_and_wait_for_one(store: Store, tmp_path: Path) -> None:
    launcher = _launcher(store, tmp_path)
    first, second, third = (_request(store, ["local-gpu"]) for _ in range(3))
    plain = _request(store, ["local"])
    launcher.run_once()
    assert _gpus(store, first) == [[0]] and _gpus(store, second) == [[1]]
    assert _gpus(store, third) == [None]  # both GPUs are held: it waits
    assert _gpus(store, plain) == [[]]    # a node of another label gets none
    with store.session() as s:
        node = s.get(NodeRow, s.get(NodeRequestRow, first).node_ids[0])
        node.state = NodeState.USED  # its build is done
    launcher.run_once()
    assert _gpus(store, third) == [[0]]

    # a new launcher (a restarted zuulish) knows GPUs 0 and 1 are held
    restarted = _launcher(store, tmp_path / "again")
    fourth = _request(store, ["local-gpu"])
    restarted.run_once()
    assert _gpus(store, fourth) == [None]
    with store.session() as s:
        node = s.get(NodeRow, s.get(NodeRequestRow, second).node_ids[0])
        node.state = NodeState.USED
    restarted.run_once()
    assert _gpus(store, fourth) == [[1]]


def test_a_request_for_two_gpu_nodes_gets_two_gpus_or_waits(store: Store,
                                                            tmp_path: Path) -> None:
    launcher = _launcher(store, tmp_path)
    held = _request(store, ["local-gpu"])
    both = _request(store, ["local-gpu", "local-gpu"])
    launcher.run_once()
    assert _gpus(store, held) == [[0]]
    assert _gpus(store, both) == [None]  # one GPU is free: nothing taken
    assert launcher.providers[0].free_gpus == [1]
    with store.session() as s:
        s.get(NodeRow, s.get(NodeRequestRow, held).node_ids[0]).state = NodeState.USED
    launcher.run_once()
    assert _gpus(store, both) == [[0], [1]]
    with store.read() as s:
        nodes = s.scalars(select(NodeRow).where(NodeRow.state == NodeState.IN_USE)).all()
        assert [n.resources for n in nodes] == [{"instances": 1, "gpus": 1}] * 2
