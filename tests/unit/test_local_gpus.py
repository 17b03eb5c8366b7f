"""The local provider's GPUs: detection with nvidia-smi, distinct GPUs per node,
their device files and paths in the node's bubblewrap arguments, and their
configuration in zuulish.yaml (a fake nvidia-smi: this machine has no GPU)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.fakes.nvidia import GPUS, fake_nvidia
from zuulish.errors import ConfigError
from zuulish.executor.local_node import GPUS_VAR, NodeGpus, bwrap_args, node_gpus
from zuulish.nodepool import gpus
from zuulish.nodepool.local import LocalProvider
from zuulish.server_config import load_server_config


@pytest.fixture(autouse=True)
def _forget_logged() -> None:
    gpus._said.clear()


def test_detection_reads_nvidia_smi_and_finds_the_device_files(tmp_path: Path) -> None:
    smi, dev = fake_nvidia(tmp_path)
    host = gpus.detect(str(smi), device_root=dev)
    assert host.gpus == tuple(gpus.Gpu(i, name, mem, uuid) for i, name, mem, uuid in GPUS)
    assert host.shared_devices == (dev / "nvidiactl", dev / "nvidia-uvm")
    assert host.devices([1]) == (dev / "nvidia1", dev / "nvidiactl", dev / "nvidia-uvm")
    assert smi in host.paths


def test_only_the_drivers_libraries_are_taken_from_ldconfig(tmp_path: Path) -> None:
    libs = tmp_path / "lib"
    libs.mkdir()
    for name in ("libcuda.so.550.1", "libnvidia-ml.so.1", "libcudart.so.12"):
        (libs / name).write_text("")
    (libs / "libcuda.so.1").symlink_to("libcuda.so.550.1")
    listing = ("3 libs found in cache `/etc/ld.so.cache'\n"
               f"\tlibcudart.so.12 (libc6,x86-64) => {libs}/libcudart.so.12\n"
               f"\tlibcuda.so.1 (libc6,x86-64) => {libs}/libcuda.so.1\n"
               f"\tlibnvidia-ml.so.1 (libc6,x86-64) => {libs}/libnvidia-ml.so.1\n")
    found = gpus.driver_libraries(lambda argv: listing)
    assert found == (libs / "libcuda.so.1", libs / "libcuda.so.550.1",
                     libs / "libnvidia-ml.so.1")


@pytest.mark.parametrize("script, said", [
    (None, "is not found"),
    ("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n", "NVIDIA-SMI has failed"),
    ("#!/bin/sh\necho 'garbage'\n", "is not index, name, memory, uuid"),
    ("#!/bin/sh\ntrue\n", "lists none"),
])
def test_no_working_nvidia_smi_means_no_gpus_said_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, script: str | None,
        said: str) -> None:
    smi = tmp_path / "nvidia-smi"
    if script is not None:
        smi.write_text(script)
        smi.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="zuulish.nodepool.gpus"):
        for _ in range(3):
            assert gpus.detect(str(smi), device_root=tmp_path).gpus == ()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and said in messages[0], messages


def _provider(tmp_path: Path, **options: object) -> LocalProvider:
    smi, dev = fake_nvidia(tmp_path)
    settings: dict = {"gpus": "auto", "gpu_labels": {"gpu": 1, "gpu2": 2}, **options}
    return LocalProvider("local", ("local", "gpu", "gpu2"), 4, nvidia_smi=str(smi),
                         device_root=dev, **settings)


def test_each_gpu_node_holds_distinct_gpus_until_released(tmp_path: Path) -> None:
    provider = _provider(tmp_path)
    first, second = provider.launch("gpu", {}), provider.launch("gpu", {})
    assert first and second
    assert first.host_vars[GPUS_VAR]["indexes"] == [0]
    assert second.host_vars[GPUS_VAR]["indexes"] == [1]
    assert first.host_vars[GPUS_VAR]["uuids"] == [GPUS[0][3]]
    assert provider.launch("gpu", {}) is None  # all held: the request waits
    assert provider.launch("gpu2", {}) is None
    plain = provider.launch("local", {})
    assert plain is not None and GPUS_VAR not in plain.host_vars
    provider.release(first.hostname, first.host_vars)
    again = provider.launch("gpu", {})
    assert again and again.host_vars[GPUS_VAR]["indexes"] == [0]
    provider.release(again.hostname, again.host_vars)
    provider.release(second.hostname, second.host_vars)
    both = provider.launch("gpu2", {})
    assert both and both.host_vars[GPUS_VAR]["indexes"] == [0, 1]
    dev = tmp_path / "fake-dev"
    assert both.host_vars[GPUS_VAR]["devices"] == [
        str(dev / n) for n in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm")]


def test_offers_say_how_many_gpus_of_which_model(tmp_path: Path) -> None:
    provider = _provider(tmp_path, gpu_labels={"gpu": 1, "gpu2": 3})
    assert provider.labels == ("local", "gpu")  # 3 GPUs were never there
    assert provider.offers["gpu"].resources.gpus == 1
    assert provider.offers["gpu"].gpu_model == "NVIDIA H200"
    assert provider.offers["local"].resources.gpus == 0
    assert provider.offers["local"].gpu_model is None


def test_a_number_caps_the_gpus_handed_out(tmp_path: Path) -> None:
    provider = _provider(tmp_path, gpus=1, gpu_labels={"gpu": 1})
    assert provider.launch("gpu", {}) is not None
    assert provider.launch("gpu", {}) is None


def test_gpus_none_detects_nothing(tmp_path: Path) -> None:
    def detect(*_args: object, **_kwargs: object) -> gpus.GpuHost:
        raise AssertionError("nvidia-smi run without gpus")
    provider = LocalProvider("local", ("local", "gpu"), gpus="none",
                             gpu_labels={"gpu": 1}, detect=detect)
    node = provider.launch("gpu", {})
    assert node is not None and GPUS_VAR not in node.host_vars


def test_adopted_nodes_keep_their_gpus(tmp_path: Path) -> None:
    provider = _provider(tmp_path)
    provider.adopt([{GPUS_VAR: {"indexes": [1]}}, {"ansible_connection": "zuulish_local"}])
    node = provider.launch("gpu", {})
    assert node and node.host_vars[GPUS_VAR]["indexes"] == [0]
    assert provider.launch("gpu", {}) is None


def test_the_node_gets_only_its_device_files_and_the_visible_devices(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("nvidia1", "nvidiactl"):
        (dev / name).write_text("")
    lib = tmp_path / "nvidia-lib"
    lib.mkdir()
    given = NodeGpus((1,), ("GPU-x",), (dev / "nvidia1", dev / "nvidiactl"),
                     (lib, Path("/usr/bin/true")))
    args = bwrap_args(tmp_path / "work", (), "private", 250, gpus=given)
    text = " ".join(args)
    assert f"--dev-bind {dev / 'nvidia1'} /dev/nvidia1" in text
    assert f"--dev-bind {dev / 'nvidiactl'} /dev/nvidiactl" in text
    assert f"--ro-bind {lib} {lib}" in text
    assert "/usr/bin/true /usr/bin/true" not in text  # /usr shows it already
    assert "--setenv NVIDIA_VISIBLE_DEVICES 1" in text
    assert "--setenv CUDA_VISIBLE_DEVICES GPU-x" in text
    plain = " ".join(bwrap_args(tmp_path / "work", (), "private", 250))
    assert "nvidia" not in plain and "VISIBLE_DEVICES" not in plain


@pytest.mark.parametrize("var, why", [
    ({"devices": ["/dev/sda"]}, "not an NVIDIA device file"),
    ({"devices": ["nvidia0"]}, "not an NVIDIA device file"),
    ({"indexes": ["0"]}, "not a number"),
    ({"paths": ["relative"]}, "not an absolute path"),
    ({"paths": ["{state}"]}, "state directory"),
    ("all", "not a mapping"),
])
def test_the_executor_binds_nothing_but_nvidia_devices(tmp_path: Path, var: object,
                                                       why: str) -> None:
    state = tmp_path / "state"
    if isinstance(var, dict) and "paths" in var:
        var = {"paths": [p.format(state=state) for p in var["paths"]]}
    with pytest.raises(ValueError, match=why):
        node_gpus([{GPUS_VAR: var}], state)


def test_the_gpus_of_the_builds_nodes_are_joined(tmp_path: Path) -> None:
    got = node_gpus([{GPUS_VAR: {"indexes": [0], "uuids": ["a"], "devices": [
        "/dev/nvidia0", "/dev/nvidiactl"]}}, {}, {GPUS_VAR: {
            "indexes": [1], "uuids": ["b"], "devices": ["/dev/nvidia1", "/dev/nvidiactl"]}}],
        tmp_path / "state")
    assert got.indexes == (0, 1) and got.uuids == ("a", "b")
    assert got.devices == (Path("/dev/nvidia0"), Path("/dev/nvidiactl"), Path("/dev/nvidia1"))


def _config(tmp_path: Path, provider: str) -> Path:
    path = tmp_path / "zuulish.yaml"
    path.write_text(f"tenant_file: main.yaml\nnodepool: {{providers: [{provider}]}}\n")
    return path


def test_gpu_options_are_read(tmp_path: Path) -> None:
    config = load_server_config(_config(
        tmp_path, "{name: l, driver: local, labels: [local, local-gpu], gpus: auto, "
                  "gpu_labels: {local-gpu: 1}, nvidia_smi: /opt/bin/nvidia-smi, "
                  "gpu_paths: [/opt/nvidia/lib]}"))
    assert config.providers[0].options == {
        "gpus": "auto", "gpu_labels": {"local-gpu": 1}, "nvidia_smi": "/opt/bin/nvidia-smi",
        "gpu_paths": ("/opt/nvidia/lib",)}
    plain = load_server_config(_config(tmp_path, "{name: l, driver: local}"))
    assert plain.providers[0].options == {}


@pytest.mark.parametrize("provider, error", [
    ("{name: l, driver: local, gpus: all}", "'nodepool.providers\\[0\\].gpus' must be auto, "
     "none or a positive number"),
    ("{name: l, driver: local, gpus: 0}", "must be auto, none or a positive number"),
    ("{name: l, driver: local, gpus: auto}", "gpu_labels names no label"),
    ("{name: l, driver: local, gpu_labels: {local: 1}}",
     "gpu_labels is set but nodepool.providers\\[0\\].gpus is none"),
    ("{name: l, driver: local, gpus: auto, gpu_labels: {other: 1}}",
     "'other' is not one of this provider's labels"),
    ("{name: l, driver: local, gpus: auto, gpu_labels: {local: two}}",
     "'nodepool.providers\\[0\\].gpu_labels.local' must be a positive number"),
    ("{name: l, driver: local, gpus: 1, gpu_labels: {local: 2}}",
     "wants 2 GPUs, more than"),
    ("{name: l, driver: local, gpus: auto, gpu_labels: {local: 1}, gpu_paths: [lib]}",
     "gpu_paths\\[0\\]: lib is not an absolute path"),
    ("{name: l, driver: local, gpus: auto, gpu_labels: {local: 1}, nvidia_smi: 3}",
     "'nodepool.providers\\[0\\].nvidia_smi' must be a string"),
    ("{name: l, driver: local, gpu-labels: {local: 1}}", "did you mean "
     "'nodepool.providers\\[0\\].gpu_labels'"),
])
def test_bad_gpu_options_name_the_key_and_file(tmp_path: Path, provider: str,
                                               error: str) -> None:
    path = _config(tmp_path, provider)
    with pytest.raises(ConfigError, match=error) as caught:
        load_server_config(path)
    assert str(path) in str(caught.value)


def test_gpu_paths_may_not_show_the_state_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="gpu_paths\\[0\\].*state directory"):
        load_server_config(_config(
            tmp_path, f"{{name: l, driver: local, gpus: auto, gpu_labels: {{local: 1}}, "
                      f"gpu_paths: ['{tmp_path / 'state'}']}}"))
