"""GPU device files reach a local node only from the launcher: a job cannot name
devices for its node through its variables (``zuulish_gpus`` is zuulish's own
host var, as ``zuulish_host_paths`` is), and a node of a label without GPUs has
none, while a GPU label's node has its own. Through the whole system (config,
launcher, executor) with a fake nvidia-smi and a device root of the test's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.nvidia import GPUS, fake_nvidia
from tests.fakes.tenant import GateTenant
from zuulish.executor.local_node import GPUS_VAR
from zuulish.executor.sandbox import unavailable
from zuulish.model.varnames import forbidden, without_forbidden
from zuulish.store import BuildRow

MISSING = unavailable()

JOBS = """- job:
    name: gpu
    parent: gpu-smoke
    nodeset: {{nodes: [{{name: node, label: local-gpu}}]}}
    vars: {{gpu_smoke_nvidia_smi: {smi}, gpu_smoke_proc_dir: /nonexistent}}
- job:
    name: probe
    run: playbooks/probe.yaml
- project: {{check: {{jobs: [gpu, probe]}}}}
"""
PROBE = """- hosts: all
  gather_facts: false
  tasks:
    - shell: "ls /dev | grep nvidia || echo NO-DEVICES; echo NV=$NVIDIA_VISIBLE_DEVICES"
"""
ATTACKS = {
    "host-vars": "    host-vars:\n      node:\n        zuulish_gpus: {devices: [%s]}\n",
    "vars": "    vars:\n      zuulish_gpus: {devices: [%s]}\n",
    "extra-vars": "    extra-vars:\n      zuulish_gpus: {devices: [%s]}\n",
}


def test_the_gpu_host_var_is_zuulish_own() -> None:
    assert "reserved" in (forbidden(GPUS_VAR) or "")
    assert without_forbidden({GPUS_VAR: {"devices": ["/dev/nvidia0"]}, "x": 1},
                             returned=True)[0] == {"x": 1}  # zuul_return drops it


@pytest.mark.slow
@pytest.mark.skipif(MISSING is not None, reason=str(MISSING))
def test_only_the_launcher_gives_a_node_gpus(tmp_path: Path, database_url: str) -> None:
    smi, dev = fake_nvidia(tmp_path)
    tenant = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": "- project: {check: {jobs: [noop]}}\n"}}, providers=[{
            "name": "local", "driver": "local", "labels": ["local", "local-gpu"],
            "gpus": "auto", "gpu_labels": {"local-gpu": 1}, "nvidia_smi": str(smi),
            "gpu_device_root": str(dev)}]).start()
    try:
        number = tenant.push("org/app", {".zuul.yaml": JOBS.format(smi=smi),
                                         "playbooks/probe.yaml": PROBE})
        report = tenant.wait_reported(number, "check")
        with tenant.aio.store.read() as s:
            builds = {b.job: b for b in s.scalars(select(BuildRow))}
        logs = tenant.config.state_dir / "logs"
        gpu_log = (logs / builds["gpu"].id / "job-output.txt").read_text()
        probe_log = (logs / builds["probe"].id / "job-output.txt").read_text()
        assert report.result == "SUCCESS", (builds["gpu"].message, gpu_log[-1500:],
                                            probe_log[-300:])
        assert f"GPU 0: NVIDIA H200 (UUID: {GPUS[0][3]})" in gpu_log
        assert "NO-DEVICES" in probe_log and "NV=" in probe_log
        assert "nvidia0" not in probe_log

        for kind, body in ATTACKS.items():
            config = ("- job:\n    name: evil\n    run: playbooks/probe.yaml\n"
                      + body % (dev / "nvidia1")
                      + "- project: {check: {jobs: [evil]}}\n")
            number = tenant.push("org/app", {".zuul.yaml": config,
                                             "playbooks/probe.yaml": PROBE}, f"Via {kind}")
            report = tenant.wait_reported(number, "check")
            assert report.result == "CONFIG_ERROR", (kind, report.result, report.message)
            assert "variable name 'zuulish_gpus' is reserved" in report.message, kind
    finally:
        tenant.stop()
