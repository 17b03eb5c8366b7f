"""GPUs of the local provider in real local nodes (bubblewrap): a GPU label's
node has its own GPUs' device files and sees the tool, a node of another label
has none, and the library's ``gpu-smoke`` job passes on a GPU node with the
nvidia-smi that detection found (a fake one, and plain files in a device root
of the test's: this machine has no GPU)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.fakes.library_job import run_library_job
from tests.fakes.nvidia import GPUS, fake_nvidia
from zuulish.executor import node_agent
from zuulish.executor.local_node import LocalNode, NodeLimits, SpareNodes, node_gpus
from zuulish.executor.sandbox import unavailable
from zuulish.nodepool.local import LocalProvider

MISSING = unavailable()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


def _provider(tmp_path: Path) -> LocalProvider:
    smi, dev = fake_nvidia(tmp_path)
    return LocalProvider("local", ("local", "local-gpu"), 4, gpus="auto",
                         gpu_labels={"local-gpu": 1}, nvidia_smi=str(smi), device_root=dev)


def _seen(tmp_path: Path, provider: LocalProvider, label: str) -> str:
    node = provider.launch(label, {})
    assert node is not None
    gpus = node_gpus([node.host_vars], tmp_path / "state")
    with LocalNode(tmp_path / label, f"gpu-test-{uuid.uuid4().hex[:8]}",
                   gpus=gpus) as local:
        local.wait_ready()
        smi = provider.gpu_host.paths[0]
        rc, out, err = node_agent.run(
            str(local.socket_path),
            f"ls /dev; echo NV=$NVIDIA_VISIBLE_DEVICES CUDA=$CUDA_VISIBLE_DEVICES; "
            "echo SYS=$(ls /sys 2>/dev/null | tr '\\n' ,); "
            f"{smi} -L 2>/dev/null || echo NO-NVIDIA-SMI")
    assert rc == 0, err
    return out.decode()


def test_a_gpu_node_has_its_own_gpu_and_another_node_none(tmp_path: Path) -> None:
    provider = _provider(tmp_path)
    provider.launch("local-gpu", {})  # GPU 0 is held by another build's node
    seen = _seen(tmp_path, provider, "local-gpu").split()
    assert "nvidia1" in seen and "nvidiactl" in seen and "nvidia-uvm" in seen
    assert "nvidia0" not in seen
    assert "NV=1" in seen and f"CUDA={GPUS[1][3]}" in seen
    assert "SYS=bus,class,dev,devices,module," in seen  # what NVML reads, read-only
    assert GPUS[1][3] + ")" in seen and GPUS[0][3] + ")" not in seen  # nvidia-smi -L
    plain = _seen(tmp_path, provider, "local")
    assert "nvidia" not in plain.split("NV=")[0]  # no device file
    assert "NV= CUDA=" in plain and "NO-NVIDIA-SMI" in plain  # nor the tool
    assert "SYS=\n" in plain  # nor /sys


def test_gpu_smoke_passes_on_a_gpu_node_and_fails_on_another(tmp_path: Path) -> None:
    provider = _provider(tmp_path)
    smi = str(provider.gpu_host.paths[0])
    variables = {"gpu_smoke_nvidia_smi": smi, "gpu_smoke_proc_dir": str(tmp_path / "no-proc")}
    run = run_library_job(tmp_path / "gpu", "gpu-smoke", {"README": "x\n"}, variables,
                          provider=provider, label="local-gpu")
    assert run.result == "SUCCESS", run.output
    assert f"GPU 0: NVIDIA H200 (UUID: {GPUS[0][3]})" in run.output
    assert "gpu-smoke: 1 GPU(s) on" in run.output
    assert provider.free_gpus == [0, 1]  # released when the build was done
    plain = run_library_job(tmp_path / "plain", "gpu-smoke", {"README": "x\n"}, variables,
                            provider=provider, label="local")
    assert plain.result == "FAILURE"
    assert f"{smi} is not on PATH" in plain.output  # the node does not see it


def test_a_gpu_node_taken_first_survives_the_next_builds_take(tmp_path: Path) -> None:
    """The executor's first take clears what an earlier run left in its builds
    directory: a GPU node (never a spare) taken first is not among that."""
    provider = _provider(tmp_path)
    node = provider.launch("local-gpu", {})
    assert node is not None
    spares = SpareNodes(tmp_path / "builds", NodeLimits(), "private")
    try:
        gpu_node = spares.take((), node_gpus([node.host_vars], tmp_path / "state"))
        plain = spares.take(())
        try:
            gpu_node.wait_ready()
            plain.wait_ready()
            assert gpu_node.work_dir.is_dir() and gpu_node.running
            assert gpu_node.gpus.indexes == (0,) and not plain.gpus.indexes
        finally:
            gpu_node.stop()
            plain.stop()
    finally:
        spares.stop()
