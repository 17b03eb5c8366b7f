"""Cloud nodes through the whole system: a change's jobs run on nodes that the
launcher boots in each cloud provider (podman, the fake OpenStack, moto's EC2),
as the tenant's config project defines them (Zuul 14 ``image``/``flavor``/
``label``/``section``/``provider`` objects over a ``zuulish.yaml`` connection).

Each test's change runs the library's ``gpu-smoke`` twice, once on a GPU label
and once asking ``gpus: 1`` (the launcher picks the smallest label with a GPU),
with a fake ``nvidia-smi`` that the job's pre-run puts on the node, and a plain
job, whose node must be of a label without GPUs. Afterwards every node is deleted
in the store and the cloud has no instance of the test left.

Compromise for OpenStack and EC2, whose servers are not machines here: one sshd
in a network namespace answers for a whole /24 (``SubnetSshNode``), and the fake
cloud hands out addresses in it (an OpenStack network with that CIDR; an EC2
subnet with it). So every server of a test is the same machine: one host key
(scanned by the launcher, pinned by the executor), one home directory. Builds
therefore run one at a time there (``executor.workers: 1``), so that two jobs'
workspaces, pushed to the same ``~/src``, do not meet. Podman nodes are real
containers, one per node; a GPU is a host device passed in (``/dev/null`` as
``/dev/nvidia0``), which the fake ``nvidia-smi`` looks for. Their SSH ports are
published on podman's bridge gateway, not on 127.0.0.1: an untrusted playbook
runs in the executor's default sandbox network (pasta), which does not reach the
host's loopback.

On OpenStack also: a label whose flavor the cloud lacks (on a provider of its
own: a missing flavor makes its whole provider unusable) and a label whose
servers always go to ERROR end in NODE_FAILURE with the cloud's reason while a
job of the same change passes; and a ``zuulish run`` SIGKILLed while its node
boots is started again, adopts the server and runs the job.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.cloud_jobs import nodes_left, outcomes, project_files
from tests.fakes.moto_server import MotoServer, moto_server  # noqa: F401
from tests.fakes.openstack import FakeOpenStack
from tests.fakes.ssh_node import SubnetSshNode, make_subnet_node, missing_requirements
from tests.fakes.tenant import GateTenant
from zuulish.executor.sandbox import unavailable
from zuulish.nodepool.cloud import TAG_SYSTEM
from zuulish.runner import free_port

WHY_NOT = missing_requirements() or unavailable()
REQUIRED = os.environ.get("ZUULISH_STATIC_NODE_TESTS") == "required"
pytestmark = [pytest.mark.slow, pytest.mark.store,
              pytest.mark.skipif(WHY_NOT is not None and not REQUIRED,
                                 reason=f"{WHY_NOT} (.ci/run installs what they need)")]


def wait(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def check_gpu_and_plain(tenant: GateTenant, number: int, gpu_label: str, plain_label: str,
                        provider: str) -> None:
    """The change passed; gpu-smoke ran on ``gpu_label`` (both ways of asking), the
    plain job on ``plain_label``, all from ``provider``."""
    report = tenant.wait_reported(number, "check", timeout=240)
    builds = outcomes(tenant)
    detail = {job: (b.result, b.message, b.labels, b.output[-2500:])
              for job, b in builds.items()}
    assert report.result == "SUCCESS", detail
    for job in ("gpu-by-label", "gpu-by-count"):
        build = builds[job]
        assert build.labels == [gpu_label] and build.providers == [provider], detail
        assert "gpu-smoke: 1 GPU(s) on" in build.output, detail
        assert "NVIDIA Fake A10" in build.output, detail
    plain = builds["plain"]
    assert plain.labels == [plain_label] and plain.providers == [provider], detail
    assert "plain job on" in plain.output, detail


def all_nodes(tenant: GateTenant) -> list[tuple]:
    from sqlalchemy import select

    from zuulish.store import NodeRow
    with tenant.aio.store.read() as s:
        return [(n.id, n.label, n.state, n.external_id, n.error, n.request_id)
                for n in s.scalars(select(NodeRow))]


def wait_nodes_deleted(tenant: GateTenant) -> None:
    wait(lambda: not nodes_left(tenant), 60, "the launcher to delete every node")


# ----------------------------------------------------------------------- OpenStack

OPENSTACK_NODES = """
- image: {name: noble, type: cloud}
- flavor: {name: normal}
- flavor: {name: vgpu}
- flavor: {name: a100x2}
- flavor: {name: missing}
- label: {name: plain, image: noble, flavor: normal}
- label: {name: gpu-vgpu, image: noble, flavor: vgpu}
- label: {name: gpu-a100x2, image: noble, flavor: a100x2}
- label: {name: boot-error, image: noble, flavor: normal}
- label: {name: no-flavor, image: noble, flavor: missing}
- section:
    name: fake-os
    connection: os
    launch-timeout: 60
    boot-timeout: 30
    launch-attempts: 2
    networks: [ci-net]
    key-name: zuul
    images:
      - {name: noble, image-name: ubuntu-noble, username: root}
    flavors:
      - {name: normal, flavor-name: m1.small}
      - {name: vgpu, flavor-name: g1.a10-24q}
      - {name: a100x2, flavor-name: p1.a100x2}
      - {name: missing, flavor-name: no.such-flavor}
- provider:
    name: os-ci
    section: fake-os
    labels:
      - {name: plain}
      - {name: gpu-vgpu, gpu-model: nvidia-a10}
      - {name: gpu-a100x2}
      - {name: boot-error}
- provider:
    name: os-bad
    section: fake-os
    labels:
      - {name: no-flavor}
"""


@pytest.fixture
def subnet_node(tmp_path: Path) -> Iterator[SubnetSshNode]:
    if WHY_NOT is not None:
        pytest.fail(f"cloud node tests are required here but cannot run: {WHY_NOT}")
    node = make_subnet_node(WHY_NOT, tmp_path / "node", [tmp_path / "state"])
    yield node
    node.close()


@pytest.fixture
def openstack(subnet_node: SubnetSshNode) -> Iterator[FakeOpenStack]:
    cloud = FakeOpenStack()
    cloud.add_flavor("m1.small", 1, 1024, 10)
    cloud.add_flavor("g1.a10-24q", 4, 16384, 40, extra_specs={"resources:VGPU": "1"})
    cloud.add_flavor("p1.a100x2", 16, 65536, 80,
                     extra_specs={"pci_passthrough:alias": "a100:2"})
    cloud.add_image("ubuntu-noble")
    cloud.add_keypair("zuul", Path(f"{subnet_node.key}.pub").read_text())
    cloud.add_network("ci-net", subnet_node.cidr)
    yield cloud
    cloud.close()
    assert cloud.bugs == [], "the fake cloud failed on its own:\n" + "\n".join(cloud.bugs)


def openstack_tenant(tmp_path: Path, database_url: str, cloud: FakeOpenStack,
                     node: SubnetSshNode, files: dict[str, str]) -> GateTenant:
    connection = {
        "driver": "openstack", "auth-url": cloud.auth_url, "username": "zuul",
        "password": "secret", "project-name": "demo", "user-domain-name": "Default",
        "project-domain-name": "Default", "region-name": "RegionOne", "api-timeout": 10}
    return GateTenant(tmp_path, database_url, {"org/app": files},
                      config_files={"zuul.d/nodes.yaml": OPENSTACK_NODES},
                      connections={"os": connection}, private_key=node.key,
                      executor_workers=1)


def test_openstack_gpu_and_plain_jobs_run_on_their_labels(
        tmp_path: Path, database_url: str, subnet_node: SubnetSshNode,
        openstack: FakeOpenStack) -> None:
    tenant = openstack_tenant(tmp_path, database_url, openstack, subnet_node,
                              project_files("gpu-vgpu", "plain")).start()
    try:
        number = tenant.push("org/app", {"README": "y\n"}, "A change")
        check_gpu_and_plain(tenant, number, "gpu-vgpu", "plain", "os-ci")
        wait_nodes_deleted(tenant)
    finally:
        tenant.stop()
    assert openstack.servers == {}, (all_nodes(tenant), [
        (s.name, s.id, s.created_at) for s in openstack.servers.values()])
    made = {s.flavor.name for s in openstack.deleted_servers}
    assert made == {"g1.a10-24q", "m1.small"}  # never the two-GPU flavor
    addresses = [a for s in openstack.deleted_servers for a in
                 (p.fixed_ips[0]["ip_address"] for p in s.ports)]
    assert all(a.startswith(subnet_node.cidr.rsplit(".", 1)[0]) for a in addresses)


def test_openstack_bad_flavor_and_failing_boots_end_in_node_failure(
        tmp_path: Path, database_url: str, subnet_node: SubnetSshNode,
        openstack: FakeOpenStack) -> None:
    fault = "Build of instance aborted: Block Device Mapping is Invalid."
    openstack.behave("zuulish-os-ci-boot-error-*", outcome="error", fault=fault)
    extra = """
- job:
    name: on-missing-flavor
    parent: base
    run: playbooks/plain.yaml
    nodeset:
      nodes: [{name: box, label: no-flavor}]
- job:
    name: on-failing-boot
    parent: base
    run: playbooks/plain.yaml
    nodeset:
      nodes: [{name: box, label: boot-error}]
"""
    files = project_files("gpu-vgpu", "plain", extra_jobs=extra, gpu_jobs=False,
                          extra_names=("on-missing-flavor", "on-failing-boot"))
    tenant = openstack_tenant(tmp_path, database_url, openstack, subnet_node, files).start()
    try:
        number = tenant.push("org/app", {"README": "y\n"}, "A change")
        report = tenant.wait_reported(number, "check", timeout=180)
        builds = outcomes(tenant)
        wait_nodes_deleted(tenant)
    finally:
        tenant.stop()
    detail = {job: (b.result, b.message, b.labels) for job, b in builds.items()}
    assert report.result == "FAILURE", detail
    assert builds["plain"].result == "SUCCESS", (detail, builds["plain"].output[-3000:])
    missing = builds["on-missing-flavor"]
    assert missing.result == "NODE_FAILURE", detail
    assert "flavor 'no.such-flavor' does not exist in the cloud" in (missing.message or ""), \
        detail
    failing = builds["on-failing-boot"]
    assert failing.result == "NODE_FAILURE", detail
    assert fault in (failing.message or ""), detail
    assert "2 of 2 attempts" in (failing.message or ""), detail
    errored = [s for s in openstack.deleted_servers if "boot-error" in s.name]
    assert len(errored) == 2, [s.name for s in openstack.deleted_servers]
    assert openstack.servers == {}, list(openstack.servers.values())


def test_openstack_system_killed_while_a_node_boots_adopts_it(
        tmp_path: Path, database_url: str, subnet_node: SubnetSshNode,
        openstack: FakeOpenStack) -> None:
    """``zuulish run`` SIGKILLed while its node boots: the next one finds the server
    by its tags, uses it, and deletes it after the build; nothing leaks."""
    openstack.default_behaviour.build_polls = None  # servers take 3 s, however looked at
    openstack.default_behaviour.build_seconds = 3.0
    tenant = openstack_tenant(tmp_path, database_url, openstack, subnet_node,
                              project_files("gpu-vgpu", "plain", gpu_jobs=False))
    config = tmp_path / "zuulish.yaml"
    config.write_text(config.read_text().replace("127.0.0.1:9", f"127.0.0.1:{free_port()}"))
    log = tmp_path / "server.log"
    server = start_server(config, log)
    try:
        number = tenant.push("org/app", {"README": "y\n"}, "A change")
        wait(lambda: any(s.status == "BUILD" for s in list(openstack.servers.values())),
             60, "a server booting")
        os.killpg(server.pid, signal.SIGKILL)  # no chance to clean up
        server.wait(10)
        server = start_server(config, log)
        report = tenant.wait_reported(number, "check", timeout=180)
        builds = outcomes(tenant)
        wait_nodes_deleted(tenant)
        wait(lambda: not openstack.servers, 30, "the cloud's servers to be deleted")
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
    assert report.result == "SUCCESS", ({j: (b.result, b.message, b.output[-2000:])
                                         for j, b in builds.items()}, log.read_text()[-3000:])
    assert builds["plain"].labels == ["plain"]
    # the server booting at the kill was adopted, not booted twice
    assert len(openstack.deleted_servers) == 1, [s.name for s in openstack.deleted_servers]


def start_server(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "zuulish.cli", "-c", str(config), "run"],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


# ----------------------------------------------------------------------- EC2 (moto)

AWS_NODES = """
- image: {name: amzn2, type: cloud}
- flavor: {name: normal}
- flavor: {name: gpu-a10g}
- flavor: {name: gpu-a10gx4}
- label: {name: plain, image: amzn2, flavor: normal}
- label: {name: gpu-a10g, image: amzn2, flavor: gpu-a10g}
- label: {name: gpu-a10gx4, image: amzn2, flavor: gpu-a10gx4}
- section:
    name: moto
    connection: aws
    region: us-east-1
    launch-timeout: 60
    boot-timeout: 30
    label-defaults:
      key-name: SSH_KEY
      subnet-id: SUBNET
    images:
      - name: amzn2
        username: root
        image-filters:
          - {name: name, values: ["amzn2-ami-hvm-2.0.*-x86_64-gp2"]}
    flavors:
      - {name: normal, instance-type: t3.medium}
      - {name: gpu-a10g, instance-type: g5.xlarge}
      - {name: gpu-a10gx4, instance-type: g5.12xlarge}
- provider:
    name: aws-ci
    section: moto
    labels:
      - {name: plain}
      - {name: gpu-a10g}
      - {name: gpu-a10gx4}
"""


@pytest.mark.long
def test_aws_gpu_and_plain_jobs_run_on_their_labels(
        tmp_path: Path, database_url: str, subnet_node: SubnetSshNode,
        moto_server: MotoServer) -> None:  # noqa: F811
    ec2 = moto_server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=subnet_node.cidr.split(".")[0] + "."
                         + subnet_node.cidr.split(".")[1] + ".0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_node.cidr)["Subnet"]["SubnetId"]
    key_name = f"zuulish-e2e-{tmp_path.name}"
    ec2.import_key_pair(KeyName=key_name,
                        PublicKeyMaterial=Path(f"{subnet_node.key}.pub").read_bytes())
    nodes = AWS_NODES.replace("SSH_KEY", key_name).replace("SUBNET", subnet)
    connection = moto_server.connection()
    tenant = GateTenant(tmp_path, database_url, {"org/app": project_files(
        "gpu-a10g", "plain")}, config_files={"zuul.d/nodes.yaml": nodes},
        connections={"aws": connection}, private_key=subnet_node.key, executor_workers=1)
    tenant.start()
    system = ""
    try:
        system = tenant.aio.launcher.system_id
        number = tenant.push("org/app", {"README": "y\n"}, "A change")
        check_gpu_and_plain(tenant, number, "gpu-a10g", "plain", "aws-ci")
        wait_nodes_deleted(tenant)
        made = ec2.describe_instances(Filters=[
            {"Name": f"tag:{TAG_SYSTEM}", "Values": [system]}])["Reservations"]
    finally:
        tenant.stop()
        if system and moto_server.living(system):
            ec2.terminate_instances(InstanceIds=moto_server.living(system))
    assert moto_server.living(system) == []
    instances = [i for r in made for i in r["Instances"]]
    assert sorted(i["InstanceType"] for i in instances) == \
        ["g5.xlarge", "g5.xlarge", "t3.medium"]
    assert all(i["PrivateIpAddress"].startswith(subnet_node.cidr.rsplit(".", 1)[0])
               for i in instances)


# ----------------------------------------------------------------------- podman

PODMAN_NODES = """
- image: {name: bookworm, type: cloud}
- flavor: {name: small}
- label: {name: plain, image: bookworm, flavor: small}
- label: {name: gpu-one, image: bookworm, flavor: small}
- label: {name: gpu-two, image: bookworm, flavor: small}
- section:
    name: pod-host
    connection: pod
    launch-timeout: 120
    boot-timeout: 60
    images:
      - {name: bookworm, image-name: IMAGE, username: zuul, python-path: /usr/bin/python3}
    flavors:
      - {name: small, cpus: 1, memory: 512}
- provider:
    name: pod-local
    section: pod-host
    labels:
      - {name: plain}
      - {name: gpu-one, gpus: 1, gpu-model: fake-a10}
      - {name: gpu-two, gpus: 2}
"""


def bridge_gateway() -> str:
    """The host's address on podman's default bridge, where the nodes' SSH ports are
    published: the build's sandbox (its own network, through pasta) does not reach
    the host's 127.0.0.1, but reaches this address as any machine would."""
    out = subprocess.run(["podman", "network", "inspect", "podman", "--format",
                          "{{range .Subnets}}{{.Gateway}}{{end}}"], capture_output=True,
                         text=True).stdout.strip()
    if not out:
        pytest.skip("podman's default bridge network has no gateway address here")
    return out


def podman_containers(system: str) -> list[str]:
    out = subprocess.run(["podman", "ps", "--all", "--filter", f"label={TAG_SYSTEM}={system}",
                          "--format", "json"], capture_output=True, text=True,
                         check=True).stdout
    return [c["Names"][0] for c in json.loads(out or "[]")]


@pytest.fixture
def podman_image() -> str:
    """The local node image (skipped, or failed under ZUULISH_PODMAN_TESTS=required,
    where podman cannot run)."""
    from tests.fakes.podman_image import missing_requirements as podman_missing
    from tests.fakes.podman_image import skip_or_fail
    from zuulish.nodepool.podman_image import DEFAULT_NAME, ImageBuildError, ensure_image

    missing = "podman is not installed" if shutil.which("podman") is None else podman_missing()
    if missing:
        skip_or_fail(f"podman nodes cannot run here: {missing}")
    try:
        return ensure_image(DEFAULT_NAME).name
    except ImageBuildError as error:
        skip_or_fail(f"the podman node image cannot be built: {error}")
        raise


@pytest.mark.long
def test_podman_gpu_and_plain_jobs_run_on_their_labels(
        tmp_path: Path, database_url: str, podman_image: str) -> None:
    key = tmp_path / "executor_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True)
    connection = {"driver": "podman", "public-key": f"{key}.pub", "host": bridge_gateway(),
                  "gpu-devices": ["/dev/null:/dev/nvidia0", "/dev/zero:/dev/nvidia0"]}
    tenant = GateTenant(tmp_path, database_url, {"org/app": project_files(
        "gpu-one", "plain", fake_smi_device="/dev/nvidia0")},
        config_files={"zuul.d/nodes.yaml": PODMAN_NODES.replace("IMAGE", podman_image)},
        connections={"pod": connection}, private_key=key)
    tenant.start()
    system = ""
    try:
        system = tenant.aio.launcher.system_id
        number = tenant.push("org/app", {"README": "y\n"}, "A change")
        wait(lambda: podman_containers(system), 60, "a node container")
        check_gpu_and_plain(tenant, number, "gpu-one", "plain", "pod-local")
        wait_nodes_deleted(tenant)
        left = podman_containers(system)
    finally:
        tenant.stop()
        for name in podman_containers(system) if system else []:
            subprocess.run(["podman", "rm", "--force", "--time", "0", name],
                           capture_output=True)
    assert left == []

