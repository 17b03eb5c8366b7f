"""The library's ``gpu-smoke`` job, run for real on a local node.

This machine has no GPU: the failure path is the real one, and the success path
puts a fake ``nvidia-smi`` (printing what the real one prints) in front of it.
Both point the /proc fallback at a path of the test's choosing, so the result
does not depend on the machine that runs the suite. The node is isolated: what
it must see of the host (the fake tool, the /proc stand-in) is given to it as
the operator gives it, in the local provider's ``host_paths``.
"""

from __future__ import annotations

from pathlib import Path

from tests.fakes.library_job import run_library_job

LISTING = "GPU 0: NVIDIA H200 (UUID: GPU-0a1b2c3d-0000-1111-2222-333344445555)"
FAKE_SMI = f"""#!/bin/sh
case "$1" in
  -L) echo "{LISTING}" ;;
  --query-gpu=*) echo "0, NVIDIA H200, 143771 MiB, 570.86.15" ;;
  *) exit 2 ;;
esac
"""


def fake_smi(tmp: Path) -> str:
    path = tmp / "bin" / "nvidia-smi"
    path.parent.mkdir()
    path.write_text(FAKE_SMI)
    path.chmod(0o755)
    return str(path)


def test_a_node_without_gpus_fails_with_a_clear_message(tmp_path: Path) -> None:
    run = run_library_job(tmp_path, "gpu-smoke", {"README": "x\n"}, {
        "gpu_smoke_nvidia_smi": "no-such-nvidia-smi",
        "gpu_smoke_proc_dir": str(tmp_path / "no-proc")})
    assert run.result == "FAILURE"
    assert "gpu-smoke: no GPU found on" in run.output
    assert "no-such-nvidia-smi is not on PATH" in run.output
    assert f"{tmp_path / 'no-proc'} does not exist" in run.output


def test_gpus_listed_by_nvidia_smi_are_reported(tmp_path: Path) -> None:
    run = run_library_job(tmp_path, "gpu-smoke", {"README": "x\n"}, {
        "gpu_smoke_nvidia_smi": fake_smi(tmp_path),
        "gpu_smoke_proc_dir": str(tmp_path / "no-proc")}, host_paths=(tmp_path / "bin",))
    assert run.result == "SUCCESS", run.output
    assert "gpu-smoke: 1 GPU(s) on" in run.output
    assert LISTING in run.output
    assert "0, NVIDIA H200, 143771 MiB, 570.86.15" in run.output


def test_the_drivers_proc_listing_is_used_without_nvidia_smi(tmp_path: Path) -> None:
    proc = tmp_path / "gpus"
    (proc / "0000:17:00.0").mkdir(parents=True)
    (proc / "0000:17:00.0" / "information").write_text(
        "Model: \t\t NVIDIA H200\nIRQ:   \t\t 42\nBus Location: \t 0000:17:00.0\n")
    run = run_library_job(tmp_path, "gpu-smoke", {"README": "x\n"}, {
        "gpu_smoke_nvidia_smi": "no-such-nvidia-smi", "gpu_smoke_proc_dir": str(proc)},
        host_paths=(proc,))
    assert run.result == "SUCCESS", run.output
    assert "GPU at 0000:17:00.0: NVIDIA H200" in run.output


def test_fewer_gpus_than_the_job_needs_fail(tmp_path: Path) -> None:
    run = run_library_job(tmp_path, "gpu-smoke", {"README": "x\n"}, {
        "gpu_smoke_nvidia_smi": fake_smi(tmp_path), "gpu_smoke_min_gpus": 2,
        "gpu_smoke_proc_dir": str(tmp_path / "no-proc")}, host_paths=(tmp_path / "bin",))
    assert run.result == "FAILURE"
    assert LISTING in run.output
    assert "found 1 GPU(s), but the job needs at least 2" in run.output
