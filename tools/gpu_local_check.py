#!/usr/bin/env python3
"""Check the local provider's GPUs on a real GPU machine (no database, no server).

Detects the GPUs with ``zuulish.nodepool.gpus`` (as the local provider does),
hands ``--gpus`` of them to one node of a GPU label, starts that node (the
executor's bubblewrap sandbox, ``zuulish.executor.local_node``) and runs, in it,
``nvidia-smi -L``, the ``/dev/nvidia*`` listing and the ``*_VISIBLE_DEVICES``
variables; then the same in a node of a label without GPUs. Prints one JSON
object with what was detected and what each node saw, and exits 0 when the GPU
node saw exactly its GPUs and the other node none (1 otherwise, 2 when no GPU
was detected).

    python tools/gpu_local_check.py [--nvidia-smi PATH] [--gpus N] [--network none]
    python tools/gpu_local_check.py --cuda   # also: CUDA's device count in the node
                                             # (python ctypes + libcuda, no toolkit)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zuulish.executor import node_agent  # noqa: E402
from zuulish.executor.local_node import HOST_PATHS_VAR, LocalNode, node_gpus  # noqa: E402
from zuulish.nodepool import gpus as detection  # noqa: E402
from zuulish.nodepool.local import LocalProvider  # noqa: E402

CUDA_COUNT = ("import ctypes; c = ctypes.CDLL('libcuda.so.1'); n = ctypes.c_int(); "
              "r = c.cuInit(0); r = r or c.cuDeviceGetCount(ctypes.byref(n)); "
              "print('cuda', r, n.value)")


def _in_node(root: Path, provider: LocalProvider, label: str, network: str,
             smi: str, cuda: bool) -> dict[str, Any]:
    node = provider.launch(label, {})
    if node is None:
        return {"label": label, "error": "the provider gave no node"}
    try:
        gpus = node_gpus([node.host_vars], root / "state")
        paths = tuple(Path(p) for p in node.host_vars.get(HOST_PATHS_VAR, ()))
        started = time.monotonic()
        with LocalNode(root / label, f"gpu-check-{uuid.uuid4().hex[:8]}", network=network,
                       host_paths=paths, gpus=gpus) as local:
            local.wait_ready()
            ready_s = time.monotonic() - started
            commands = {
                "nvidia_smi_L": f"{smi} -L",
                "dev": "ls /dev | grep nvidia",
                "env": "echo NVIDIA_VISIBLE_DEVICES=$NVIDIA_VISIBLE_DEVICES; "
                       "echo CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"}
            if cuda:
                commands["cuda"] = f"{sys.executable} -c \"{CUDA_COUNT}\""
            seen = {}
            for name, cmd in commands.items():
                rc, out, err = node_agent.run(str(local.socket_path), cmd)
                seen[name] = {"rc": rc, "out": out.decode(errors="replace").splitlines(),
                              "err": err.decode(errors="replace").strip()[-500:]}
        return {"label": label, "gpus": gpus.to_var(), "ready_s": round(ready_s, 3),
                "seen": seen}
    finally:
        provider.release(node.hostname, node.host_vars)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nvidia-smi", default="nvidia-smi")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs for the GPU node")
    parser.add_argument("--network", default="none", choices=("none", "private", "host"))
    parser.add_argument("--cuda", action="store_true")
    parser.add_argument("--device-root", default="/dev", type=Path,
                        help="where the device files are (a stand-in, for trying the tool)")
    args = parser.parse_args()

    host = detection.detect(args.nvidia_smi, device_root=args.device_root)
    report: dict[str, Any] = {"detected": {
        "gpus": [vars(g) for g in host.gpus],
        "shared_devices": [str(p) for p in host.shared_devices],
        "paths": [str(p) for p in host.paths]}}
    if not host.gpus:
        report["error"] = f"no GPU detected with {args.nvidia_smi}"
        print(json.dumps(report, indent=2))
        return 2
    smi = shutil.which(args.nvidia_smi) or args.nvidia_smi
    provider = LocalProvider("local", ("local", "local-gpu"), 2, gpus="auto",
                             gpu_labels={"local-gpu": min(args.gpus, len(host.gpus))},
                             nvidia_smi=args.nvidia_smi, detect=lambda *a, **k: host)
    with tempfile.TemporaryDirectory(prefix="zuulish-gpu-check-") as tmp:
        gpu = _in_node(Path(tmp), provider, "local-gpu", args.network, smi, args.cuda)
        plain = _in_node(Path(tmp), provider, "local", args.network, smi, args.cuda)
    report["gpu_node"], report["plain_node"] = gpu, plain
    wanted = {host.gpus[i].uuid for i in range(min(args.gpus, len(host.gpus)))}
    listed = " ".join(gpu.get("seen", {}).get("nvidia_smi_L", {}).get("out", []))
    plain_listed = plain.get("seen", {}).get("nvidia_smi_L", {}).get("out", [])
    others = {g.uuid for g in host.gpus} - wanted
    report["ok"] = (all(u in listed for u in wanted) and not any(u in listed for u in others)
                    and not any(line.startswith("GPU ") for line in plain_listed))
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
