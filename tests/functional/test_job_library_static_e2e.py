"""The standard job library on static nodes, through the whole system.

The same jobs as ``test_job_library_e2e.py`` (pytest, python-build, tox,
run-shell, gpu-smoke), run by the real scheduler, launcher and executor on sshd
hosts in network namespaces (``tests/fakes/ssh_node.py``): the base job pushes
the workspace to the node, the jobs run there over SSH, and what they keep (the
JUnit report, the sdist and the wheel) is fetched back into the build's log
directory. A two-node nodeset shows each node getting the workspace, its
``nodepool`` host var, its groups, host-vars and group-vars.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.ssh_node import (
    SshNodes,
    make_nodes,
    missing_requirements,
    static_node_marks,
)
from tests.fakes.tenant import GateTenant
from zuulish.executor.sandbox import find_bwrap
from zuulish.store import BuildRow, NodeRow

WHY_NOT = missing_requirements() or (None if find_bwrap() else "bubblewrap is not installed")
pytestmark = static_node_marks(WHY_NOT)

# The nodes share the executor's /usr and the test's virtualenv (not its home):
# this python has pytest, build, setuptools and tox, as a prepared node would.
PYTHON = sys.executable
# On each node, in its own home (the executor has no such file).
FAKE_SMI = f"{Path.home()}/bin/nvidia-smi"

LIBRARY_JOBS = f"""
- nodeset:
    name: one-static
    nodes: [{{name: box, label: static}}]
- job:
    name: py-unit
    parent: pytest
    nodeset: one-static
    vars:
      pytest_command: {PYTHON} -m pytest -p no:cacheprovider
- job:
    name: py-dist
    parent: python-build
    nodeset: one-static
    vars:
      python_build_python: {PYTHON}
      python_build_isolation: false
- job:
    name: py-tox
    parent: tox
    nodeset: one-static
    vars:
      tox_executable: {Path(PYTHON).with_name('tox')}
- job:
    name: shell
    parent: run-shell
    nodeset: one-static
    vars:
      command: echo "on $(hostname -I | tr -d ' ') in $(pwd | sed "s|^$HOME/||"):" && cat VERSION
- job:
    name: gpus
    parent: gpu-smoke
    nodeset: one-static
    vars:
      gpu_smoke_nvidia_smi: {FAKE_SMI}
      gpu_smoke_min_gpus: 2
- job:
    name: too-few-gpus
    parent: gpu-smoke
    nodeset: one-static
    vars:
      gpu_smoke_nvidia_smi: {FAKE_SMI}
      gpu_smoke_min_gpus: 4
- job:
    name: no-gpu
    parent: gpu-smoke
    nodeset: one-static
    vars:
      gpu_smoke_nvidia_smi: no-such-nvidia-smi
      gpu_smoke_proc_dir: /no-such-proc-dir
- project:
    check:
      jobs: [py-unit, py-dist, py-tox, shell, gpus, too-few-gpus, no-gpu]
"""

PY_PROJECT = {
    ".zuul.yaml": LIBRARY_JOBS,
    "VERSION": "0.1\n",
    "pyproject.toml": ('[build-system]\nrequires = ["setuptools", "wheel"]\n'
                       'build-backend = "setuptools.build_meta"\n\n'
                       '[project]\nname = "tiny"\nversion = "0.1"\n'),
    "tiny/__init__.py": "def double(x):\n    return 2 * x\n",
    "tests/test_tiny.py": "import pytest\n\nfrom tiny import double\n\n\n"
                          "def test_double():\n    assert double(2) == 4\n\n\n"
                          "@pytest.mark.skip(reason='not today')\ndef test_later():\n"
                          "    pass\n",
    "tox.ini": "[tox]\nenv_list = check\nskipsdist = true\n\n[testenv:check]\n"
               "skip_install = true\nallowlist_externals = sh\n"
               "commands = sh -c 'echo tox-check-ran in $PWD'\n",
}

NVIDIA_SMI = """#!/bin/sh
# A fake nvidia-smi with two GPUs.
case "$1" in
  -L)
    echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-11111111-2222-3333-4444-555555555555)"
    echo "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-66666666-7777-8888-9999-000000000000)" ;;
  --query-gpu=*)
    echo "0, NVIDIA H100 80GB HBM3, 81559 MiB, 550.54.15"
    echo "1, NVIDIA H100 80GB HBM3, 81559 MiB, 550.54.15" ;;
  *) echo "fake nvidia-smi: unknown arguments $*" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def static_nodes(tmp_path: Path) -> Iterator[SshNodes]:
    nodes = make_nodes(WHY_NOT, tmp_path / "nodes", 2, [tmp_path / "state"])
    yield nodes
    nodes.close()


def builds(tenant: GateTenant) -> dict[str, BuildRow]:
    with tenant.aio.store.read() as s:
        return {b.job: b for b in s.scalars(select(BuildRow))}


def output_of(build: BuildRow) -> str:
    return (Path(build.log_path or "") / "job-output.txt").read_text()


def failure_of(build: BuildRow) -> str:
    """The message of the build's failed task."""
    records = json.loads((Path(build.log_path or "") / "job-output.json").read_text())
    return next(r["msg"] for r in records if r["result"] == "failed")


def test_library_jobs_run_on_static_nodes(tmp_path: Path, database_url: str,
                                          static_nodes: SshNodes) -> None:
    for node in static_nodes.nodes:
        smi = node.home / "bin" / "nvidia-smi"
        smi.parent.mkdir()
        smi.write_text(NVIDIA_SMI)
        smi.chmod(0o755)
    tenant = GateTenant(tmp_path, database_url, {"org/py": PY_PROJECT},
                        providers=[{"name": "local", "driver": "local"},
                                   static_nodes.provider_config(labels=["static"])],
                        private_key=static_nodes.key).start()
    try:
        number = tenant.push("org/py", {"VERSION": "0.2\n", "tests/test_more.py":
                                        "def test_more():\n    pass\n"}, "More tests")
        report = tenant.wait_reported(number, "check", timeout=300)
        done = builds(tenant)
        with tenant.aio.store.read() as s:
            hosts = {n.hostname for n in s.scalars(select(NodeRow))}
    finally:
        tenant.stop()
    results = {job: b.result for job, b in done.items()}
    assert results == {"py-unit": "SUCCESS", "py-dist": "SUCCESS", "py-tox": "SUCCESS",
                       "shell": "SUCCESS", "gpus": "SUCCESS", "too-few-gpus": "FAILURE",
                       "no-gpu": "FAILURE"}, \
        {job: (b.result, b.message, output_of(b)[-2000:]) for job, b in done.items()}
    assert report.result == "FAILURE"
    assert hosts == {n.address for n in static_nodes.nodes}  # none ran on the local node

    unit = Path(done["py-unit"].log_path or "")
    assert "pytest results: 2 passed, 0 failed, 0 errors, 1 skipped (3 tests)" \
        in output_of(done["py-unit"])
    assert 'tests="3"' in (unit / "pytest-results.xml").read_text()

    dist = done["py-dist"]
    artifacts = Path(dist.log_path or "") / "artifacts"
    assert sorted(p.name for p in artifacts.iterdir()) == ["tiny-0.1-py3-none-any.whl",
                                                           "tiny-0.1.tar.gz"]
    returned = (dist.result_data or {})["zuul"]["artifacts"]
    assert sorted((a["name"], a["url"], a["metadata"]["type"]) for a in returned) == [
        ("tiny-0.1-py3-none-any.whl", "artifacts/tiny-0.1-py3-none-any.whl", "python_wheel"),
        ("tiny-0.1.tar.gz", "artifacts/tiny-0.1.tar.gz", "python_sdist")]

    assert f"tox-check-ran in {Path.home()}/src/localhost/org/py" in output_of(done["py-tox"])
    shell = output_of(done["shell"])
    assert "in src/localhost/org/py:" in shell and "box | 0.2" in shell
    assert any(f"on {n.address} " in shell for n in static_nodes.nodes)

    gpus = output_of(done["gpus"])
    assert "gpu-smoke: 2 GPU(s) on static-node" in gpus
    assert "0, NVIDIA H100 80GB HBM3, 81559 MiB" in gpus
    # the failed task says why, in the node's own words
    assert failure_of(done["too-few-gpus"]) == \
        "gpu-smoke: found 2 GPU(s), but the job needs at least 4."
    assert failure_of(done["no-gpu"]).startswith(
        "gpu-smoke: no GPU found on static-node")
    assert "no-such-nvidia-smi is not on PATH; /no-such-proc-dir does not exist." \
        in failure_of(done["no-gpu"])

TWO_NODES = """
- nodeset:
    name: two-static
    nodes:
      - {name: controller, label: static-0}
      - {name: worker, label: static-1}
    groups:
      - {name: leaders, nodes: [controller]}
      - {name: followers, nodes: [worker]}
      - {name: peers, nodes: [controller, worker]}
- job:
    name: two-nodes
    parent: run-shell
    nodeset: two-static
    vars:
      duty: none
      command: |
        echo "host={{ inventory_hostname }} name=$(hostname) addr=$(hostname -I | tr -d ' ')"
        echo "duty={{ duty }} port={{ peer_port }} groups={{ group_names | join(',') }}"
        echo "readme=$(cat README) head=$(git rev-parse HEAD) tested={{ zuul.project.commit }}"
        echo "peers={{ groups['peers'] | map('extract', hostvars, ['nodepool', 'private_ipv4'])
                       | join(',') }}"
        echo "nodepool="{{ nodepool | to_json | quote }}
    host-vars:
      controller: {duty: lead}
    group-vars:
      followers: {duty: follow}
      peers: {peer_port: 7000}
- project:
    check:
      jobs: [two-nodes]
"""


def host_lines(output: str, host: str) -> dict[str, str]:
    """What the job printed on ``host`` (``host | key=value ...`` lines), by key."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        _, _, text = line.partition(" | ")
        if not text.startswith(f"{host} | "):
            continue
        body = text[len(host) + 3:]
        if body.startswith("nodepool="):
            found["nodepool"] = body[len("nodepool="):]
            continue
        for word in body.split():
            key, sep, value = word.partition("=")
            if sep:
                found[key] = value
    return found


def test_a_two_node_nodeset_gets_the_workspace_nodepool_vars_groups_and_vars(
        tmp_path: Path, database_url: str, static_nodes: SshNodes) -> None:
    tenant = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": TWO_NODES, "README": "first\n"}},
        providers=[{"name": "local", "driver": "local"}, static_nodes.provider_config()],
        private_key=static_nodes.key).start()
    try:
        number = tenant.push("org/app", {"README": "speculative\n"}, "Two nodes")
        report = tenant.wait_reported(number, "check", timeout=180)
        [build] = builds(tenant).values()
        with tenant.aio.store.read() as s:
            ids = {n.hostname: n.id for n in s.scalars(select(NodeRow))}
    finally:
        tenant.stop()
    output = output_of(build)
    assert report.result == "SUCCESS", (build.result, build.message, output[-3000:])
    first, second = static_nodes.nodes
    controller, worker = host_lines(output, "controller"), host_lines(output, "worker")

    # each host ran on its own node, in its own copy of the speculative workspace
    assert (controller["name"], controller["addr"]) == (first.name, first.address)
    assert (worker["name"], worker["addr"]) == (second.name, second.address)
    for printed, node in ((controller, first), (worker, second)):
        assert printed["readme"] == "speculative"
        assert printed["head"] == printed["tested"]
        pushed = node.home / "src" / "localhost" / "org" / "app" / "README"
        assert pushed.read_text() == "speculative\n"

    # host-vars beat group-vars beat the job's vars; group-vars reach only their group
    assert (controller["duty"], worker["duty"]) == ("lead", "follow")
    assert controller["port"] == worker["port"] == "7000"
    assert controller["groups"] == "leaders,peers"
    assert worker["groups"] == "followers,peers"

    # Zuul's nodepool host var, with the node's address
    for printed, node, label in ((controller, first, "static-0"), (worker, second, "static-1")):
        var = json.loads(printed["nodepool"])
        assert {k: var[k] for k in ("label", "provider", "node_id", "interface_ip",
                                    "public_ipv4", "private_ipv4")} == {
            "label": label, "provider": "static", "node_id": ids[node.address],
            "interface_ip": node.address, "public_ipv4": node.address,
            "private_ipv4": node.address}
    assert controller["peers"] == worker["peers"] == f"{first.address},{second.address}"
