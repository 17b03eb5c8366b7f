"""A project whose jobs run on cloud nodes, for end-to-end tests of the providers:
the library's ``gpu-smoke`` on a GPU label and on ``gpus: 1``, and a plain job.

No test machine has a GPU: each ``gpu-smoke`` job's pre-run puts a fake
``nvidia-smi`` on its node (``/tmp/zuulish-fake-nvidia-smi-<build>``) and the job
points ``gpu_smoke_nvidia_smi`` at it. With ``fake_smi_device`` set (a device
path), the fake lists a GPU only when that device is on the node, as the real
tool finds none without the driver's device files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.fakes.tenant import GateTenant
from zuulish.store import BuildRow, NodeRow

FAKE_SMI_PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Put a fake nvidia-smi on the node
      ansible.builtin.copy:
        dest: "/tmp/zuulish-fake-nvidia-smi-{{ zuul.build }}"
        mode: "0755"
        content: |
          #!/bin/sh
          {% if fake_smi_device | default('') %}
          [ -e {{ fake_smi_device }} ] || { echo "No devices were found"; exit 6; }
          {% endif %}
          case "$1" in
            -L) echo "GPU 0: NVIDIA Fake A10 (UUID: GPU-{{ zuul.build[:8] }})" ;;
            --query-gpu=*) echo "0, NVIDIA Fake A10, 24576 MiB, 570.86.15" ;;
            *) exit 2 ;;
          esac
"""

PLAIN_PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Say where it runs
      ansible.builtin.shell:
        cmd: |
          echo "plain job on $(hostname)"
          if [ -e /dev/nvidia0 ]; then echo "plain node has a GPU device"; exit 1; fi
"""


def project_files(gpu_label: str, plain_label: str, fake_smi_device: str = "",
                  extra_jobs: str = "", extra_names: tuple[str, ...] = (),
                  gpu_jobs: bool = True) -> dict[str, str]:
    """The files of ``org/app``: jobs ``gpu-by-label``, ``gpu-by-count`` (unless not
    ``gpu_jobs``) and ``plain`` (and ``extra_jobs``, named ``extra_names``) in its
    check pipeline."""
    smi = "/tmp/zuulish-fake-nvidia-smi-{{ zuul.build }}"
    vars_ = (f"    vars:\n      gpu_smoke_nvidia_smi: \"{smi}\"\n"
             "      gpu_smoke_proc_dir: /nonexistent/zuulish-test-gpus\n"
             f"      fake_smi_device: \"{fake_smi_device}\"\n")
    jobs = [*(["gpu-by-label", "gpu-by-count"] if gpu_jobs else []), "plain", *extra_names]
    zuul_yaml = f"""
- job:
    name: gpu-by-label
    parent: gpu-smoke
    pre-run: playbooks/fake-smi.yaml
    nodeset:
      nodes: [{{name: trainer, label: {gpu_label}}}]
{vars_}
- job:
    name: gpu-by-count
    parent: gpu-smoke
    pre-run: playbooks/fake-smi.yaml
    nodeset:
      nodes: [{{name: trainer, gpus: 1}}]
{vars_}
- job:
    name: plain
    parent: base
    run: playbooks/plain.yaml
    nodeset:
      nodes: [{{name: box, label: {plain_label}}}]
{extra_jobs}
- project:
    check:
      jobs: [{", ".join(jobs)}]
"""
    return {".zuul.yaml": zuul_yaml, "README": "x\n",
            "playbooks/fake-smi.yaml": FAKE_SMI_PLAYBOOK,
            "playbooks/plain.yaml": PLAIN_PLAYBOOK}


@dataclass
class BuildOutcome:
    job: str
    result: str | None
    message: str | None
    labels: list[str]
    providers: list[str]
    output: str


def outcomes(tenant: GateTenant) -> dict[str, BuildOutcome]:
    """Each job's last build: its result and the nodes it ran on."""
    found: dict[str, BuildOutcome] = {}
    with tenant.aio.store.read() as s:
        for build in s.scalars(select(BuildRow).order_by(BuildRow.id)):
            nodes: list[dict[str, Any]] = list((build.params or {}).get("nodes") or [])
            log = Path(build.log_path or "/nonexistent") / "job-output.txt"
            found[build.job] = BuildOutcome(
                build.job, build.result, build.message,
                [n["label"] for n in nodes], [n["provider"] for n in nodes],
                log.read_text() if log.exists() else "")
    return found


def nodes_left(tenant: GateTenant) -> list[str]:
    """The store's nodes that are not deleted yet (``id provider label state``)."""
    with tenant.aio.store.read() as s:
        return [f"{n.id} {n.provider} {n.label} {n.state}" for n in s.scalars(
            select(NodeRow).where(NodeRow.state != "deleted"))]
