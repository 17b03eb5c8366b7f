"""The server configuration file: good files load, bad ones name the key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from zuulish.errors import ConfigError
from zuulish.server_config import load_server_config


def write(tmp: Path, text: str) -> Path:
    path = tmp / "zuulish.yaml"
    path.write_text(text)
    return path


def test_minimal_file_gets_the_embedded_defaults(tmp_path: Path) -> None:
    config = load_server_config(write(tmp_path, "tenant_file: main.yaml\n"))
    assert config.database == f"sqlite:///{tmp_path / 'state' / 'zuulish.db'}"
    assert config.tenant_file == tmp_path / "main.yaml"
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 9000)
    assert config.web_url == "http://127.0.0.1:9000"
    assert [p.name for p in config.providers] == ["local"]
    assert config.log_retention_days == 30.0
    assert config.executor_sandbox_network == "private"
    assert config.executor_max_returned_bytes == 1024 * 1024


def test_full_file(tmp_path: Path) -> None:
    config = load_server_config(write(tmp_path, """
state_dir: /var/lib/zuulish
database: postgresql+psycopg://zuul@db/zuul
tenant_file: tenants/main.yaml
web: {listen: 0.0.0.0:8080, url: https://ci.example.org/}
connections:
  forge: {driver: git}
nodepool:
  providers:
    - name: gpu
      driver: static
      nodes:
        - {name: 192.0.2.5, labels: [gpu, a100], username: ci, connection-port: 2222,
           host-key: "ssh-ed25519 AAAAC3Nza x@y", max-parallel-jobs: 2}
      pools:
        - name: main
          nodes: [{name: gpu2.example.org, labels: gpu, host-key-checking: false}]
executor: {workers: 4, log_retention_days: 7.5, private_key_file: keys/id_ed25519,
           sandbox_network: none, max_returned_bytes: 4096}
"""))
    assert config.state_dir == Path("/var/lib/zuulish")
    assert config.web_url == "https://ci.example.org"
    assert config.connections["forge"].driver == "git"
    [gpu] = config.providers
    assert gpu.labels == ("a100", "gpu") and gpu.max_nodes == 3
    first, second = gpu.options["hosts"]
    assert (first.name, first.username, first.port, first.host_keys, first.max_parallel_jobs) \
        == ("192.0.2.5", "ci", 2222, ("ssh-ed25519 AAAAC3Nza",), 2)
    assert (second.name, second.labels, second.username, second.host_key_checking) == \
        ("gpu2.example.org", ("gpu",), "zuul", False)
    assert config.executor_private_key == tmp_path / "keys" / "id_ed25519"
    assert config.executor_workers == 4
    assert config.executor_sandbox_network == "none"
    assert config.executor_max_returned_bytes == 4096
    assert config.log_retention_days == 7.5
    kept = load_server_config(write(tmp_path, "tenant_file: m.yaml\n"
                                              "executor: {log_retention_days: null}\n"))
    assert kept.log_retention_days is None


@pytest.mark.parametrize("text, message", [
    ("tenant_file: m.yaml\ndatabse: x\n", "unknown key 'databse' (did you mean 'database'?)"),
    ("state_dir: x\n", "missing required key 'tenant_file'"),
    ("tenant_file: m.yaml\nweb: {listen: nope}\n", "'web.listen' must be HOST:PORT"),
    ("tenant_file: m.yaml\nconnections: {f: {}}\n", "'connections.f.driver'"),
    ("tenant_file: m.yaml\nconnections: {f: {driver: gitt}}\n", "did you mean 'git'"),
    ("tenant_file: m.yaml\nexecutor: {workers: many}\n", "'executor.workers' must be an integer"),
    ("tenant_file: m.yaml\nexecutor: {preload_ansible: maybe}\n",
     "'executor.preload_ansible' must be"),
    ("tenant_file: m.yaml\nexecutor: {preload: true}\n",
     "unknown key 'executor.preload' (did you mean 'executor.preload_ansible'?)"),
    ("tenant_file: [m.yaml\n", "not valid YAML"),
    ("tenant_file: m.yaml\nexecutor: {log_retention_days: 0}\n",
     "'executor.log_retention_days' must be a positive number of days"),
    ("tenant_file: m.yaml\nexecutor: {log_retention_days: a week}\n",
     "not 'a week'"),
    ("tenant_file: m.yaml\nexecutor: {log_retention_days: true}\n",
     "'executor.log_retention_days' must be a positive number of days"),
    ("tenant_file: m.yaml\nmerger: {timeout: soon}\n", "'merger.timeout' must be"),
    # one merger builds every state: a pool size it would ignore is refused
    ("tenant_file: m.yaml\nmerger: {workers: 4}\n",
     "key 'merger.workers' must be 1, not 4: zuulish runs one merger"),
    ("tenant_file: m.yaml\nmerger: {timeout: 0}\n", "merger.timeout and merger.cache_max"),
    ("tenant_file: m.yaml\nnodepool: {providers: [{name: s, driver: static}]}\n",
     "nodepool.providers[0]: a static provider needs at least one node"),
    ("tenant_file: m.yaml\nnodepool: {providers: [{name: s, driver: static, "
     "nodes: [{labels: [x]}]}]}\n", "missing required key 'nodepool.providers[0].nodes[0].name'"),
    ("tenant_file: m.yaml\nnodepool: {providers: [{name: s, driver: static, "
     "nodes: [{name: h}]}]}\n", "'nodepool.providers[0].nodes[0].labels' must be a label"),
    ("tenant_file: m.yaml\nnodepool: {providers: [{name: s, driver: static, "
     "nodes: [{name: h, labels: x, connection-type: winrm}]}]}\n", "only 'ssh' is supported"),
    ("tenant_file: m.yaml\nnodepool: {providers: [{name: s, driver: static, "
     "nodes: [{name: h, labels: x, host-key: nope}]}]}\n", "must be an SSH public host key"),
    ("tenant_file: m.yaml\nnodepool: {providers: [{name: s, driver: static, "
     "nodes: [{name: h, labels: x, connection-port: '22'}]}]}\n", "has the wrong type"),
    ("tenant_file: m.yaml\nnodepool: {providers: [{name: s, driver: static, "
     "nodes: [{name: h, labels: x, max-parallel-jobs: 0}]}]}\n", "must be positive"),
    ("tenant_file: m.yaml\nnodepool: {providers: [{name: s, driver: static, "
     "nodes: [{name: h, labels: x}, {name: h, labels: y}]}]}\n", "h:22 is listed twice"),
    ("tenant_file: m.yaml\nnodepool: {providers: [{name: s, driver: static, "
     "nodes: [{name: h, labels: x, user: root}]}]}\n", "unknown key nodepool.providers[0]"),
    ("tenant_file: m.yaml\nnodepool: {providers: [{name: s, driver: static, labels: [x], "
     "nodes: [{name: h, labels: x}]}]}\n", "takes its labels and size from its nodes"),
    ("tenant_file: m.yaml\nnodepool: {providers: [{name: o, driver: openstack}]}\n",
     "an 'openstack' provider is a Zuul 'provider' object"),
    ("tenant_file: m.yaml\nnodepool: {providers: [{name: l, driver: local, hosts: [a]}]}\n",
     "unknown key 'nodepool.providers[0].hosts'"),
    ("tenant_file: m.yaml\nexecutor: {private_key_file: 5}\n",
     "'executor.private_key_file' must be a string"),
    ("tenant_file: m.yaml\nexecutor: {sandbox_network: isolated}\n",
     "key 'executor.sandbox_network' must be one of private, host, none, not 'isolated'"),
    ("tenant_file: m.yaml\nexecutor: {sandbox_network: [host]}\n",
     "key 'executor.sandbox_network' must be one of private, host, none"),
    ("tenant_file: m.yaml\nexecutor: {max_returned_bytes: 0}\n",
     "key 'executor.max_returned_bytes' must be a positive whole number of bytes, not 0"),
    ("tenant_file: m.yaml\nexecutor: {max_returned_bytes: 1MB}\n",
     "key 'executor.max_returned_bytes' must be a positive whole number of bytes, not '1MB'"),
    ("tenant_file: m.yaml\nexecutor: {max_returned_bytes: true}\n",
     "key 'executor.max_returned_bytes' must be a positive whole number of bytes"),
    ("tenant_file: m.yaml\nmerger: {cache_max: 5}\n",
     "unknown key 'merger.cache_max' (did you mean 'merger.cache_max_bytes'?)"),
    ("tenant_file: m.yaml\nweb: {max_streams_per_client: 0}\n",
     "key 'web.max_streams_per_client' must be a whole number, 1 or more, not 0"),
    ("tenant_file: m.yaml\nweb: {max_streams_per_client: many}\n",
     "key 'web.max_streams_per_client' must be a whole number, 1 or more, not 'many'"),
    ("tenant_file: m.yaml\nweb: {trusted_proxies: 10.0.0.0/8}\n",
     "key 'web.trusted_proxies' must be a list of addresses or networks"),
    ("tenant_file: m.yaml\nweb: {trusted_proxies: [proxy.example]}\n",
     "key 'web.trusted_proxies': 'proxy.example' is not an address or a network"),
    ("tenant_file: m.yaml\nweb: {trusted_proxies: [10.0.0.0/40]}\n",
     "key 'web.trusted_proxies': '10.0.0.0/40' is not an address or a network"),
])
def test_bad_files_name_the_key_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_server_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read server configuration"):
        load_server_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("example", sorted(
    (Path(__file__).resolve().parents[2] / "config-examples").glob("*/zuulish.yaml")),
    ids=lambda p: p.parent.name)
def test_every_example_configuration_loads(example: Path) -> None:
    config = load_server_config(example)
    assert config.providers and config.tenant_file.is_file()


def test_trusted_paths_are_absolute_existing_and_apart_from_the_state_dir(
        tmp_path: Path) -> None:
    tools, drop = tmp_path / "tools", tmp_path / "drop"
    tools.mkdir()
    drop.mkdir()
    config = load_server_config(write(
        tmp_path, f"tenant_file: m.yaml\nstate_dir: {tmp_path / 'state'}\nexecutor:\n"
        f"  trusted_ro_paths: [{tools}]\n  trusted_rw_paths: [{drop}]\n"))
    assert config.executor_trusted_ro_paths == (tools,)
    assert config.executor_trusted_rw_paths == (drop,)
    assert load_server_config(write(tmp_path, "tenant_file: m.yaml\n")) \
        .executor_trusted_ro_paths == ()


@pytest.mark.parametrize("entry, message", [
    ("tools", "executor.trusted_ro_paths: 'tools' must be an absolute path"),
    ("{tmp}/missing", "executor.trusted_ro_paths: {tmp}/missing does not exist"),
    ("{tmp}/state", "executor.trusted_ro_paths: {tmp}/state is, holds or lies in the state "
                    "directory"),
    ("{tmp}", "executor.trusted_ro_paths: {tmp} is, holds or lies in the state directory"),
    ("/", "executor.trusted_ro_paths: / is, holds or lies in the state directory"),
    ("{tmp}/state/secrets.key", "secrets.key is, holds or lies in the state directory"),
])
def test_trusted_paths_that_would_show_the_state_dir_are_refused(
        tmp_path: Path, entry: str, message: str) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "secrets.key").write_text("k")
    path = write(tmp_path, f"tenant_file: m.yaml\nstate_dir: state\nexecutor:\n"
                           f"  trusted_ro_paths: ['{entry.format(tmp=tmp_path)}']\n")
    with pytest.raises(ConfigError) as info:
        load_server_config(path)
    assert message.format(tmp=tmp_path) in str(info.value)
    assert str(path) in str(info.value) or info.value.file == str(path)
def test_node_limits_and_disk_limit_have_defaults_and_can_be_set(tmp_path: Path) -> None:
    config = load_server_config(write(tmp_path, "tenant_file: main.yaml\n"))
    limits = config.executor_node_limits
    assert (limits.max_processes, limits.memory_mb, limits.disk_limit_mb) == (1024, 4096, 250)
    config = load_server_config(write(tmp_path, (
        "tenant_file: main.yaml\nexecutor: {disk_limit_per_job: -1, node_max_processes: 50, "
        "node_memory_mb: 512}\n")))
    limits = config.executor_node_limits
    assert (limits.max_processes, limits.memory_mb, limits.disk_limit_mb) == (50, 512, -1)


@pytest.mark.parametrize(("text", "message"), [
    ("executor: {disk_limit_per_job: 0}", "'executor.disk_limit_per_job' must be a number"),
    ("executor: {disk_limit_per_job: big}", "executor.disk_limit_per_job"),
    ("executor: {node_max_processes: 0}", "'executor.node_max_processes' must be a positive"),
    ("executor: {node_memory_mb: -5}", "'executor.node_memory_mb' must be a positive"),
    ("nodepool: {providers: [{name: l, driver: local, host_paths: [tools]}]}",
     "host_paths\\[0\\]: tools is not an absolute path"),
    ("nodepool: {providers: [{name: l, driver: local, host_paths: /opt}]}",
     "host_paths"),
])
def test_bad_limits_and_host_paths_are_refused(tmp_path: Path, text: str,
                                               message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_server_config(write(tmp_path, f"tenant_file: main.yaml\n{text}\n"))


def test_host_paths_may_not_show_the_state_dir(tmp_path: Path) -> None:
    for path in (tmp_path / "state", tmp_path / "state" / "keys", tmp_path):
        with pytest.raises(ConfigError, match="state directory"):
            load_server_config(write(tmp_path, (
                "tenant_file: main.yaml\nnodepool: {providers: [{name: l, driver: local, "
                f"host_paths: ['{path}']}}]}}\n")))
    config = load_server_config(write(tmp_path, (
        "tenant_file: main.yaml\nnodepool: {providers: [{name: l, driver: local, "
        "host_paths: [/opt/tools]}]}\n")))
    assert config.providers[0].options["host_paths"] == ("/opt/tools",)


@pytest.mark.parametrize("nodepool, message", [
    ("{tenant-resource-limits: [{tenant-name: t, max-gpus: -1}]}",
     "nodepool.tenant-resource-limits[0].max-gpus must be a whole number"),
    ("{tenant-resource-limits: [{tenant-name: t, max-cpus: 4}]}",
     "unknown key nodepool.tenant-resource-limits[0].max-cpus"),
    ("{tenant-resource-limits: [{max-servers: 4}]}", "needs 'tenant-name'"),
    ("{tenant-weights: {t: 0}}", "nodepool.tenant-weights.t must be a positive number"),
])
def test_bad_tenant_shares_name_the_key(tmp_path: Path, nodepool: str, message: str) -> None:
    path = tmp_path / "zuulish.yaml"
    path.write_text(f"tenant_file: m.yaml\nnodepool: {nodepool}\n")
    with pytest.raises(ConfigError) as info:
        load_server_config(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_tenant_shares_are_read(tmp_path: Path) -> None:
    path = tmp_path / "zuulish.yaml"
    path.write_text("tenant_file: m.yaml\nnodepool:\n  tenant-resource-limits:\n"
                    "    - {tenant-name: t, max-servers: 3, max-gpus: 2}\n"
                    "  tenant-weights: {t: 2}\n")
    config = load_server_config(path)
    assert config.tenant_limits["t"].instances == 3 and config.tenant_limits["t"].gpus == 2
    assert config.tenant_limits["t"].cores is None and config.tenant_weights == {"t": 2.0}


def test_the_streams_a_client_may_hold_have_a_default_and_can_be_set(tmp_path: Path) -> None:
    assert load_server_config(write(tmp_path, "tenant_file: m.yaml\n")) \
        .max_streams_per_client == 20
    assert load_server_config(write(
        tmp_path, "tenant_file: m.yaml\nweb: {max_streams_per_client: 3}\n")) \
        .max_streams_per_client == 3


def test_trusted_proxies_are_networks(tmp_path: Path) -> None:
    config = load_server_config(write(tmp_path, "tenant_file: m.yaml\n"
                                      "web: {trusted_proxies: [10.0.0.0/8, 192.0.2.7]}\n"))
    assert [str(n) for n in config.trusted_proxies] == ["10.0.0.0/8", "192.0.2.7/32"]
    assert load_server_config(write(tmp_path, "tenant_file: m.yaml\n")).trusted_proxies == ()
