"""The GitHub and Gerrit examples in config-examples/ load as the README says."""

from __future__ import annotations

from pathlib import Path

import pytest

from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.drivers.registry import trigger_parsers
from zuulish.server_config import load_server_config

EXAMPLES = Path(__file__).resolve().parents[2] / "config-examples"


@pytest.mark.parametrize("example", ["github", "gerrit"])
def test_the_examples_pipelines_load_with_their_forges_driver(example: str) -> None:
    server = load_server_config(EXAMPLES / example / "zuulish.yaml")
    drivers = {name: c.driver for name, c in server.connections.items()}
    forge = next(name for name, driver in drivers.items() if driver == example)
    tenant = TenantConfig("t", [TenantProject(forge, "zuul-config", True)])
    pipelines = (EXAMPLES / example / "zuul.d" / "pipelines.yaml").read_text()
    built = ConfigLoader(tenant, drivers, trigger_parsers()).build(
        {"zuul-config": ("main", {"zuul.d/pipelines.yaml": pipelines})})
    assert built.errors == []
    gate = built.pipelines["gate"]
    assert [spec.submit for spec in gate.success] == [True]
    assert {f.connection for f in gate.triggers} == {forge}
    assert set(built.pipelines) == {"check", "gate"}


def test_the_gerrit_checks_api_example_loads_with_its_checks() -> None:
    server = load_server_config(EXAMPLES / "gerrit" / "zuulish.yaml")
    drivers = {name: c.driver for name, c in server.connections.items()}
    tenant = TenantConfig("t", [TenantProject("gerrit", "zuul-config", True)])
    text = (EXAMPLES / "gerrit" / "checks-api.yaml").read_text()
    built = ConfigLoader(tenant, drivers, trigger_parsers()).build(
        {"zuul-config": ("main", {"zuul.d/pipelines.yaml": text})})
    assert built.errors == []
    check = built.pipelines["check"]
    states = [dict(dict(spec.options)["checks-api"])["state"]
              for spec in (*check.enqueue, *check.start, *check.success, *check.failure,
                           *check.no_jobs)]
    assert states == ["SCHEDULED", "RUNNING", "SUCCESSFUL", "FAILED", "NOT_RELEVANT"]
