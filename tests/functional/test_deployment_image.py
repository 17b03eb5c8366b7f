"""The top-level Dockerfile builds, with podman, on a Debian bookworm base made here
(docker.io cannot be reached: the base is the podman node image, built with
debootstrap), and the image runs: as its own user it upgrades a schema; as root in a
privileged container (what the executor needs) it runs the demo's gate, builds in
bubblewrap with pasta's network included.

Run by hand with ``ZUULISH_IMAGE_TESTS=1`` (CI leaves them out: about two minutes
for the build, as the pip layer is rebuilt whenever zuulish's source changes, and a
minute and a half for the demo); then skipped where podman or debootstrap cannot
run, failed there under ZUULISH_PODMAN_TESTS=required.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fakes.podman_image import podman_node_image  # noqa: F401 - a fixture
from zuulish.nodepool.podman import host_ulimits

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/zuulish:test"
BUILD_CA = "/run/build-ca.crt"

pytestmark = [pytest.mark.slow, pytest.mark.podman, pytest.mark.timeout(1200),
              pytest.mark.skipif(not os.environ.get("ZUULISH_IMAGE_TESTS"),
                                 reason="building the image takes minutes: "
                                        "ZUULISH_IMAGE_TESTS=1 runs it")]


def podman() -> list[str]:
    """podman with the settings this kind of host needs (no systemd; runc, as crun
    cannot run on hybrid cgroup hierarchies)."""
    command = ["podman", "--cgroup-manager", "cgroupfs"]
    if shutil.which("runc"):
        command += ["--runtime", "runc"]
    return command


def run_args() -> list[str]:
    return ["run", "--rm", *(f"--ulimit={u}" for u in host_ulimits())]


def build_args(base: str) -> list[str]:
    """The build's arguments; pip trusts this host's CA bundle when pip here has one
    (a TLS-intercepting proxy), and uses its index when one is set."""
    args = ["build", "--build-arg", f"BASE={base}", "-t", IMAGE, "-f", "Dockerfile"]
    cert = os.environ.get("PIP_CERT")
    if cert and Path(cert).is_file():
        args += ["-v", f"{Path(cert).resolve()}:{BUILD_CA}:ro",
                 "--build-arg", f"PIP_CERT={BUILD_CA}"]
    if os.environ.get("PIP_INDEX_URL"):
        args += ["--build-arg", f"PIP_INDEX_URL={os.environ['PIP_INDEX_URL']}"]
    return [*args, "."]


@pytest.fixture(scope="module")
def image(podman_node_image: str) -> str:  # noqa: F811 - the fixture imported above
    result = subprocess.run([*podman(), *build_args(podman_node_image)], cwd=ROOT,
                            capture_output=True, text=True, timeout=1000)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return IMAGE


def test_the_image_runs_zuulish_as_its_own_user(image: str, tmp_path: Path) -> None:
    out = subprocess.run([*podman(), *run_args(), image, "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: zuulish")
    etc = tmp_path / "etc"  # readable by the image's user, as /etc/zuulish
    etc.mkdir(mode=0o755)
    etc.chmod(0o755)
    (etc / "zuulish.yaml").write_text("state_dir: /var/lib/zuulish\ntenant_file: main.yaml\n")
    (etc / "main.yaml").write_text("[]\n")
    upgrade = subprocess.run(
        [*podman(), *run_args(), "-v", f"{etc}:/etc/zuulish:ro",
         # a fresh volume takes the image's directory and owner, as compose's do
         "-v", "/var/lib/zuulish", image, "db", "upgrade"],
        capture_output=True, text=True, timeout=300)
    assert upgrade.returncode == 0, upgrade.stderr
    assert upgrade.stdout.startswith(
        "database at sqlite:////var/lib/zuulish/zuulish.db is at revision ")
    whoami = subprocess.run([*podman(), *run_args(), "--entrypoint", "id", image, "-u"],
                            capture_output=True, text=True, timeout=120)
    assert whoami.stdout.strip() == "10001"


def test_the_image_runs_the_gate_with_sandboxed_builds_as_the_executor_runs(
        image: str) -> None:
    """The executor's container: root, privileged (bubblewrap, pasta, cgroups)."""
    demo = subprocess.run(
        [*podman(), *run_args(), "--user", "0", "--privileged", image, "demo", "--once",
         "--job-seconds", "0", "--pace", "0", "--port", "0", "--dir", "/tmp/demo"],
        capture_output=True, text=True, timeout=900)
    assert demo.returncode == 0, (demo.stdout + demo.stderr)[-3000:]
    summary = json.loads(demo.stdout.strip().splitlines()[-1])
    assert (summary["merged"], summary["rejected"]) == ([1, 2, 4, 5], [3])
