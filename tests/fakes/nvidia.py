"""A stand-in for a host's NVIDIA GPUs: an ``nvidia-smi`` script that prints what
the real one prints for the queries zuulish and the ``gpu-smoke`` job make, and
a directory of (plain) files named as the driver's device files, for the
``gpu_device_root`` a test gives the local provider. Real device files cannot
be made without privileges; the node binds these as it would bind the real ones."""

from __future__ import annotations

from pathlib import Path

GPUS = [(0, "NVIDIA H200", 143771, "GPU-0a1b2c3d-0000-1111-2222-333344445555"),
        (1, "NVIDIA H200", 143771, "GPU-0a1b2c3d-0000-1111-2222-666677778888")]

SCRIPT = """#!/bin/sh
case "$1" in
  -L) {listing} ;;
  --query-gpu=index,name,memory.total,uuid) {query} ;;
  --query-gpu=*) {details} ;;
  *) exit 2 ;;
esac
"""


def _echo(lines: list[str]) -> str:
    return "; ".join(f"echo '{line}'" for line in lines) or "true"


def fake_nvidia(tmp: Path, gpus: list[tuple[int, str, int, str]] = GPUS,
                shared: tuple[str, ...] = ("nvidiactl", "nvidia-uvm")) -> tuple[Path, Path]:
    """(the nvidia-smi script, the device root) of a host with ``gpus``.

    Like the real tool inside a node, the script lists only the GPUs whose device
    file the node has (``/dev/nvidia<index>``): a node sees only its own."""
    bin_dir = tmp / "nvidia-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    listing = " ".join(
        f"[ -e /dev/nvidia{i} ] && echo 'GPU {i}: {name} (UUID: {uuid})';"
        for i, name, _mem, uuid in gpus) or "true"
    smi.write_text(SCRIPT.format(
        listing=listing + " true",
        query=_echo([f"{i}, {name}, {mem} MiB, {uuid}" for i, name, mem, uuid in gpus]),
        details=_echo([f"{i}, {name}, {mem} MiB, 570.86.15" for i, name, mem, _ in gpus])))
    smi.chmod(0o755)
    dev = tmp / "fake-dev"
    dev.mkdir(parents=True, exist_ok=True)
    for i, *_ in gpus:
        (dev / f"nvidia{i}").write_text("")
    for name in shared:
        (dev / name).write_text("")
    return smi, dev
