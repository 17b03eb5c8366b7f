#!/usr/bin/env python3
"""Podman nodes: how long from ``create`` to the provider saying ready, and to SSH
running a command as zuul; the node image's size (and build time when this run
built it). Needs root and podman (and debootstrap for the image's first build).

Prints one JSON line: ``image_build_s`` (null: it was there), ``image_mb``,
``create_s``, ``create_to_ready_s`` and ``create_to_ssh_s`` (medians of
``--nodes`` nodes made one after another) and ``parallel_to_ssh_s`` (``--nodes``
made at once, until the last answers).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zuulish.nodepool.cloud import TAG_SYSTEM, InstanceState, LabelSpec, ProviderSpec  # noqa: E402
from zuulish.nodepool.podman import PodmanProvider, make  # noqa: E402
from zuulish.nodepool.podman_image import DEFAULT_NAME, ensure_image  # noqa: E402


def ssh_until_answers(key: Path, port: int) -> None:
    argv = ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-p", str(port), "zuul@127.0.0.1", "true"]
    while subprocess.run(argv, capture_output=True).returncode != 0:
        time.sleep(0.05)


def one_node(provider: PodmanProvider, key: Path, system_id: str) -> tuple[float, ...]:
    started = time.monotonic()
    external_id = provider.create("debian", {TAG_SYSTEM: system_id})
    created = time.monotonic()
    try:
        while (node := provider.status(external_id)).state is not InstanceState.READY:
            if node.state is not InstanceState.BUILDING:
                raise RuntimeError(f"node {node.state}: {node.reason}")
            time.sleep(0.05)
        ready = time.monotonic()
        ssh_until_answers(key, node.port)
        return created - started, ready - started, time.monotonic() - started
    finally:
        provider.delete(external_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=5)
    args = parser.parse_args()
    image = ensure_image(DEFAULT_NAME)
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "id"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
        spec = ProviderSpec("bench", "podman", {"public-key": f"{key}.pub"}, {}, {
            "debian": LabelSpec("debian", {}, {"name": "d", "image-name": image.name},
                                {"name": "f", "cpus": 1, "memory": 1024})})
        system_id = f"bench-{uuid.uuid4().hex[:8]}"
        provider = make(spec, system_id)
        provider.refresh()
        runs = [one_node(provider, key, system_id) for _ in range(args.nodes)]
        started = time.monotonic()
        threads = [threading.Thread(target=one_node, args=(provider, key, system_id))
                   for _ in range(args.nodes)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        parallel = time.monotonic() - started
    print(json.dumps({
        "image_build_s": round(image.seconds, 1) if image.built else None,
        "image_mb": round(image.size_bytes / 1e6),
        "create_s": round(statistics.median(r[0] for r in runs), 3),
        "create_to_ready_s": round(statistics.median(r[1] for r in runs), 3),
        "create_to_ssh_s": round(statistics.median(r[2] for r in runs), 3),
        "parallel_nodes": args.nodes,
        "parallel_to_ssh_s": round(parallel, 3),
    }))


if __name__ == "__main__":
    main()
