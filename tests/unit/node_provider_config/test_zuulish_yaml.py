"""zuulish.yaml's connections of cloud drivers: accepted with the options their
driver lists (others refused, naming the key and the file), not built as sources
or reporters, and handed to the tenants' layouts with its providers' labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from zuulish.config.node_providers import CloudConnection, NodeContext
from zuulish.drivers.registry import make_connections
from zuulish.errors import ConfigError
from zuulish.nodepool import drivers
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.server_config import ServerConfig, load_server_config
from zuulish.store import Store

from .test_errors import BASE

STATIC = """
nodepool:
  providers:
    - {name: local, driver: local, labels: [local, small]}
    - name: rack
      driver: static
      nodes: [{name: 192.0.2.10, labels: [bare-metal], username: zuul}]
"""


def _config(tmp_path: Path, connections: str, extra: str = "") -> ServerConfig:
    path = tmp_path / "zuulish.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\ntenant_file: main.yaml\n"
                    f"connections:\n  forge: {{driver: git}}\n{connections}{extra}")
    return load_server_config(path)


def test_a_cloud_connection_is_accepted_with_its_driver_s_options(tmp_path: Path) -> None:
    config = _config(tmp_path, "  cloud: {driver: fake, endpoint: 'https://c', token: t}\n",
                     STATIC)
    assert config.cloud_connections() == {"cloud": config.connections["cloud"]}
    assert config.connections["cloud"].options == {"endpoint": "https://c", "token": "t"}
    assert config.node_context() == NodeContext(
        {"cloud": CloudConnection("cloud", "fake", {"endpoint": "https://c", "token": "t"})},
        frozenset({"local", "small", "bare-metal"}))


@pytest.mark.parametrize("connection, message", [
    ("  cloud: {driver: fake, endpont: x}\n",
     "unknown key for the fake driver 'connections.cloud.endpont' (did you mean "
     "'connections.cloud.endpoint'?); allowed: endpoint, token"),
    ("  cloud: {driver: fkae}\n", "unknown key driver in connections.cloud: 'fkae' (did you "
                                  "mean 'fake'?)"),
])
def test_a_bad_cloud_connection_names_the_key_and_the_file(tmp_path: Path, connection: str,
                                                           message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _config(tmp_path, connection)
    assert message in raised.value.message
    assert raised.value.file == str(tmp_path / "zuulish.yaml")


def test_a_cloud_driver_whose_module_is_missing_is_refused_clearly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(drivers.MODULES, "gone", "tests.fakes.no_such_cloud_driver")
    with pytest.raises(ConfigError, match="the gone node provider driver is not available"):
        _config(tmp_path, "  c: {driver: gone}\n")


def test_the_registry_builds_no_source_for_a_cloud_connection(store: Store,
                                                              tmp_path: Path) -> None:
    config = _config(tmp_path, "  cloud: {driver: fake, endpoint: e}\n")
    conns = make_connections(config, store)
    assert "cloud" not in conns.sources and "cloud" not in conns.reporters
    assert "cloud" not in conns.drivers  # no pipeline or tenant source may name it
    assert conns.node_connections == {"cloud": config.connections["cloud"]}


class _Configs:
    """Project config files for TenantLayouts (a forge holding them, in memory)."""

    def __init__(self, files: dict[str, dict[str, str]]):
        self.files = files

    def exists(self, project: str) -> bool:
        return project in self.files

    def default_branch(self, project: str) -> str:
        return "main"

    def branches(self, project: str) -> list[str]:
        return ["main"]

    def config_files(self, project: str, branch: str) -> dict[str, str]:
        return dict(self.files[project])


def test_tenant_layouts_resolve_each_tenant_s_providers_and_check_proposals(
        tmp_path: Path) -> None:
    config = _config(tmp_path, "  cloud: {driver: fake, endpoint: e}\n", STATIC)
    (tmp_path / "main.yaml").write_text(
        "- tenant:\n    name: t\n    source:\n      forge:\n"
        "        config-projects: [config]\n        untrusted-projects: [app]\n")
    source = _Configs({"config": {"zuul.yaml": BASE}, "app": {".zuul.yaml": ""}})
    layouts = TenantLayouts(config.tenant_file, {"forge": "git"}, {"forge": source}, {},
                            nodes=config.node_context())
    [result] = layouts.load_all()
    assert result.applied and result.errors == []
    [spec] = layouts.node_providers("t")
    assert (spec.name, spec.driver, spec.connection) == ("p", "fake", {"endpoint": "e"})
    assert layouts.node_providers("nope") == []

    # a proposed change to the config project with a bad provider fails at its line
    bad = BASE.replace("region: r1", "regoin: r1")
    layout = layouts.speculative("t", {"config": {"zuul.yaml": bad}}, trusted=True)
    [error] = layouts.proposed_errors("t", layout, {"config": {}})
    assert (error.file, error.line) == ("config/zuul.yaml", bad.split("\n").index(
        "    regoin: r1") + 1)
    # an untrusted project's nodeset of a label nobody offers, likewise
    layout = layouts.speculative("t", {"app": {".zuul.yaml": "- nodeset:\n    name: n\n"
                                                             "    nodes: [{name: a, label: "
                                                             "gpu-box}]\n"}})
    [error] = layouts.proposed_errors("t", layout, {"app": {}})
    assert (error.file, error.line) == ("app/.zuul.yaml", 2)
    assert "no provider offers label 'gpu-box'" in error.message

    # and a merged one is refused: the last good layout (and its providers) stays
    source.files["config"]["zuul.yaml"] = bad
    [result] = layouts.reconfigure("t")
    assert not result.applied
    assert [p.name for p in layouts.node_providers("t")] == ["p"]


def test_the_all_in_one_server_hands_zuulish_yaml_s_nodes_to_its_layouts(
        tmp_path: Path) -> None:
    from zuulish.app import AllInOne

    config = _config(tmp_path, "  cloud: {driver: fake, endpoint: e}\n", STATIC)
    aio = AllInOne(config)
    try:
        assert aio.layouts.nodes == config.node_context()
        assert "cloud" in aio.layouts.nodes.connections
    finally:
        aio.store.engine.dispose()
