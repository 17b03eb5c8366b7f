"""The podman driver over real containers of the node image: SSH in, host keys,
tags and leaks, resources and GPUs, and each way it fails."""

from __future__ import annotations

import json
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.nodepool_podman.conftest import MakeProvider, containers_of
from zuulish.nodepool.cloud import (
    TAG_NODE,
    TAG_SYSTEM,
    ErrorKind,
    Instance,
    InstanceState,
    ProviderError,
)
from zuulish.nodepool.podman import GPU_LABEL, HostSettings, run_args
from zuulish.nodepool.resources import Resources

pytestmark = pytest.mark.slow
Tags = Callable[[str], dict[str, str]]


def wait_for(provider, external_id: str, state: InstanceState,  # type: ignore[no-untyped-def]
             timeout: float = 30) -> Instance:
    deadline = time.monotonic() + timeout
    while True:
        instance: Instance = provider.status(external_id)
        if instance.state is state or time.monotonic() > deadline:
            assert instance.state is state, instance
            return instance
        time.sleep(0.1)


def ssh(key: Path, port: int, command: str, known_hosts: Path | None = None,
        timeout: float = 20, host: str = "127.0.0.1") -> subprocess.CompletedProcess[str]:
    """``command`` on the node as zuul, retried until sshd answers."""
    checking = (["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}"]
                if known_hosts else ["-o", "StrictHostKeyChecking=no",
                                     "-o", "UserKnownHostsFile=/dev/null"])
    argv = ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "ConnectTimeout=5", *checking, "-p", str(port), f"zuul@{host}",
            command]
    deadline = time.monotonic() + timeout
    while True:
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 255 or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_node_answers_ssh_with_python_and_passwordless_sudo(
        make_provider: MakeProvider, ssh_key: Path, tags: Tags, system_id: str,
        tmp_path: Path) -> None:
    provider = make_provider()
    provider.refresh()
    started = time.monotonic()
    external_id = provider.create("debian", tags("n1"))
    node = wait_for(provider, external_id, InstanceState.READY)
    # published on the host's address on podman's bridge (``host: auto``), which
    # builds' sandboxes reach (they do not reach the host's 127.0.0.1)
    assert node.hostname == provider.host != "auto" and node.port > 1024
    assert not node.hostname.startswith("127.")
    assert node.host_vars == {"ansible_host": node.hostname, "ansible_port": node.port,
                              "ansible_user": "zuul"}
    assert node.tags[TAG_SYSTEM] == system_id and node.tags[TAG_NODE] == "n1"
    # the host keys the container printed are the ones sshd presents
    known = tmp_path / "known_hosts"
    known.write_text("".join(f"[{node.hostname}]:{node.port} {key}\n"
                             for key in node.host_keys))
    result = ssh(ssh_key, node.port,
                 "python3 -c 'import sys; print(sys.version_info[0] * 14)' "
                 "&& sudo -n true && echo sudo-ok && id -un", known_hosts=known,
                 host=node.hostname)
    print(f"create to SSH: {time.monotonic() - started:.2f} s")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["42", "sudo-ok", "zuul"]
    assert {key.split()[0] for key in node.host_keys} == {"ssh-ed25519", "ecdsa-sha2-nistp256"}

    # the flavor's limits are the container's
    host_config = json.loads(subprocess.run(
        ["podman", "container", "inspect", "--format", "{{json .HostConfig}}",
         external_id], capture_output=True, text=True, check=True).stdout)
    assert host_config["NanoCpus"] == 1_000_000_000
    assert host_config["Memory"] == 512 * 1024 * 1024
    assert host_config["NetworkMode"] != "host"

    provider.delete(external_id)
    assert provider.status(external_id).state is InstanceState.GONE
    assert containers_of(system_id) == []
    provider.delete(external_id)  # gone already: not an error


def test_each_node_makes_its_own_host_keys(make_provider: MakeProvider,
                                           tags: Tags) -> None:
    provider = make_provider()
    first, second = provider.create("debian", tags("a")), provider.create("debian", tags("b"))
    try:
        keys = [set(wait_for(provider, i, InstanceState.READY).host_keys)
                for i in (first, second)]
        assert keys[0] and keys[1] and not keys[0] & keys[1]
    finally:
        provider.delete(first)
        provider.delete(second)


def test_nodes_made_at_once_from_threads_all_come_up(make_provider: MakeProvider,
                                                     tags: Tags, ssh_key: Path) -> None:
    provider = make_provider()
    made: list[str] = []
    errors: list[BaseException] = []

    def create(n: int) -> None:
        try:
            made.append(provider.create("debian", tags(f"t{n}")))
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == [] and len(made) == 3
        ports = {wait_for(provider, i, InstanceState.READY).port for i in made}
        assert len(ports) == 3
        for port in ports:
            assert ssh(ssh_key, port, "true", host=provider.host).returncode == 0
    finally:
        for external_id in made:
            provider.delete(external_id)


def test_instances_lists_only_tagged_containers_with_their_tags(
        make_provider: MakeProvider, tags: Tags, system_id: str,
        podman_node_image: str) -> None:
    provider = make_provider(label_attrs={"tags": {"team": "ci"}})
    untagged = subprocess.run(["podman", "create", "--pull", "never", podman_node_image],
                              capture_output=True, text=True, check=True).stdout.strip()
    external_id = provider.create("debian", {**tags("n7"), "zuulish-request": "r1"})
    try:
        listed = {i.external_id: i for i in provider.instances()}
        assert untagged not in listed
        mine = listed[external_id]
        assert mine.tags[TAG_SYSTEM] == system_id
        assert mine.tags[TAG_NODE] == "n7" and mine.tags["zuulish-request"] == "r1"
        assert mine.tags["team"] == "ci"  # the label's own tags
        assert mine.state in (InstanceState.READY, InstanceState.BUILDING)
    finally:
        provider.delete(external_id)
        subprocess.run(["podman", "rm", "--force", untagged], capture_output=True)
    assert external_id not in {i.external_id for i in provider.instances()}


def test_a_container_made_but_not_started_is_building(
        make_provider: MakeProvider, system_id: str, podman_node_image: str) -> None:
    provider = make_provider()
    made = subprocess.run(["podman", "create", "--pull", "never", "--label",
                           f"{TAG_SYSTEM}={system_id}", podman_node_image],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert provider.status(made).state is InstanceState.BUILDING
    assert [i.state for i in provider.instances()
            if i.external_id == made] == [InstanceState.BUILDING]
    provider.delete(made)
    assert provider.status(made).state is InstanceState.GONE


def test_a_container_that_exits_at_once_fails_with_its_reason(
        make_provider: MakeProvider, tags: Tags) -> None:
    # the image's start command finds no such user and exits 2
    provider = make_provider(image_attrs={"username": "ghost"})
    external_id = provider.create("debian", tags("n1"))
    try:
        failed = wait_for(provider, external_id, InstanceState.FAILED)
        assert failed.reason is not None
        assert "exited with code 2" in failed.reason, failed.reason
        assert "no user ghost in this image" in failed.reason
        assert [i.state for i in provider.instances()
                if i.external_id == external_id] == [InstanceState.FAILED]
    finally:
        provider.delete(external_id)
    assert provider.status(external_id).state is InstanceState.GONE


def test_unknown_image_is_permanent_and_named(make_provider: MakeProvider,
                                              tags: Tags) -> None:
    provider = make_provider(image="localhost/no-such-image:1")
    provider.refresh()  # the label gets the error; the provider's others stay usable
    error = provider.offers["debian"].error or ""
    assert "localhost/no-such-image:1" in error and "label debian" in error
    with pytest.raises(ProviderError) as created:
        provider.create("debian", tags("n1"))
    assert created.value.kind is ErrorKind.PERMANENT
    assert "no-such-image" in str(created.value)


def test_missing_podman_binary_is_permanent(make_provider: MakeProvider,
                                            tags: Tags) -> None:
    provider = make_provider(connection={"podman": "/nonexistent/podman"})
    for call in (provider.refresh, lambda: provider.create("debian", tags("n1")),
                 provider.instances):
        with pytest.raises(ProviderError) as raised:
            call()
        assert raised.value.kind is ErrorKind.PERMANENT
        assert "/nonexistent/podman" in str(raised.value)


def _fake_podman(tmp_path: Path, body: str) -> str:
    script = tmp_path / "podman"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_podman_that_hangs_or_fails_is_transient(make_provider: MakeProvider,
                                                 tmp_path: Path) -> None:
    hangs = make_provider(connection={"podman": _fake_podman(tmp_path, "sleep 10"),
                                      "command-timeout": 0.5})
    with pytest.raises(ProviderError) as raised:
        hangs.instances()
    assert raised.value.kind is ErrorKind.TRANSIENT
    assert "did not answer within 0.5 s" in str(raised.value)

    broken = make_provider(connection={"podman": _fake_podman(
        tmp_path, 'echo "Error: database is locked" >&2; exit 125')})
    with pytest.raises(ProviderError) as raised:
        broken.status("abc")
    assert raised.value.kind is ErrorKind.TRANSIENT
    assert "database is locked" in str(raised.value)


def test_a_runtime_podman_does_not_know_is_refused_clearly(make_provider: MakeProvider,
                                                           tags: Tags) -> None:
    provider = make_provider(connection={"runtime": "no-such-runtime"})
    with pytest.raises(ProviderError) as raised:
        provider.create("debian", tags("n1"))
    assert raised.value.kind is ErrorKind.PERMANENT
    assert "no-such-runtime" in str(raised.value)


def test_ulimits_the_host_cannot_give_are_refused_with_the_runtimes_reason(
        make_provider: MakeProvider, tags: Tags, system_id: str) -> None:
    # above fs.nr_open: no runtime may set it, root or not
    provider = make_provider(connection={"ulimits": ["nofile=99999999:99999999"]})
    with pytest.raises(ProviderError) as raised:
        provider.create("debian", tags("n1"))
    assert raised.value.kind is ErrorKind.PERMANENT
    assert "podman cannot start a container of" in str(raised.value)
    assert "rlimit" in str(raised.value).lower()
    assert "set the connection's runtime, cgroup-manager, ulimits or network" \
        in str(raised.value)
    assert containers_of(system_id) == [] and not [
        c for c in subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"],
                                  capture_output=True, text=True).stdout.split()
        if c.startswith("zuulish-probe-")]


def test_status_and_delete_of_an_unknown_container(make_provider: MakeProvider) -> None:
    provider = make_provider()
    assert provider.status("0" * 64).state is InstanceState.GONE
    provider.delete("0" * 64)


def test_gpu_labels_pass_cdi_devices_and_count_gpus(make_provider: MakeProvider,
                                                    tags: Tags, system_id: str,
                                                    podman_node_image: str) -> None:
    provider = make_provider(connection={"gpu-devices": ["nvidia.com/gpu=0",
                                                         "nvidia.com/gpu=1"]},
                             label_attrs={"gpus": 1, "gpu-model": "nvidia-h100"},
                             flavor={"name": "big", "cpus": 4, "memory": 8192})
    offer = provider.offers["debian"]
    assert offer.resources == Resources(instances=1, cores=4, ram_mb=8192, gpus=1)
    assert offer.gpu_model == "nvidia-h100"
    args = run_args(provider.plans["debian"], name="n", host="127.0.0.1",
                    public_key="ssh-ed25519 AAAA", tags=tags("n1"),
                    devices=("nvidia.com/gpu=1",), settings=HostSettings())
    assert args[args.index("--device") + 1] == "nvidia.com/gpu=1"
    assert f"{GPU_LABEL}=nvidia.com/gpu=1" in args

    # a container of this system holding GPU 0: the node gets GPU 1; no CDI
    # devices on this host, so podman refuses it, and nothing is left behind
    holder = subprocess.run(
        ["podman", "create", "--pull", "never", "--label", f"{TAG_SYSTEM}={system_id}",
         "--label", f"{GPU_LABEL}=nvidia.com/gpu=0", podman_node_image],
        capture_output=True, text=True, check=True).stdout.strip()
    try:
        with pytest.raises(ProviderError) as raised:
            provider.create("debian", tags("g1"))
        if raised.value.kind is not ErrorKind.PERMANENT:
            pytest.fail(f"expected a CDI error: {raised.value}")
        assert "nvidia.com/gpu=1" in str(raised.value)
        assert {c["Id"] for c in containers_of(system_id)} == {holder}
        # both GPUs held: over quota
        subprocess.run(["podman", "create", "--pull", "never", "--name",
                        f"{system_id}-gpu1", "--label", f"{TAG_SYSTEM}={system_id}",
                        "--label", f"{GPU_LABEL}=nvidia.com/gpu=1", podman_node_image],
                       capture_output=True, check=True)
        with pytest.raises(ProviderError) as raised:
            provider.create("debian", tags("g2"))
        assert raised.value.kind is ErrorKind.QUOTA
        assert "0 of 2 free" in str(raised.value)
    finally:
        subprocess.run(["podman", "rm", "--force", holder, f"{system_id}-gpu1"],
                       capture_output=True)
