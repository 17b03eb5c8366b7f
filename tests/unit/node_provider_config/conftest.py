"""A tenant loader that knows a fake cloud connection, and its driver registered."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.node_providers import CloudConnection, NodeContext
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.nodepool import drivers

NODES = NodeContext({"cloud": CloudConnection("cloud", "fake", {"endpoint": "https://c"}),
                     "other": CloudConnection("other", "fake", {"endpoint": "https://o"})},
                    frozenset({"local"}))

Build = Callable[..., Layout]


@pytest.fixture(autouse=True)
def fake_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(drivers.MODULES, "fake", "tests.fakes.cloud_driver")


def loader(nodes: NodeContext | None = NODES) -> ConfigLoader:
    tenant = TenantConfig("t", [TenantProject("forge", "config", True),
                                TenantProject("forge", "org/app", False)])
    return ConfigLoader(tenant, {"forge": "git"}, {}, nodes=nodes)


@pytest.fixture
def build() -> Build:
    """Build a layout from the config project's ``zuul.yaml`` (and the untrusted
    project's ``.zuul.yaml``, ``app``)."""
    def run(config: str, app: str | None = None, nodes: NodeContext | None = NODES) -> Layout:
        files = {"config": ("main", {"zuul.yaml": config})}
        if app is not None:
            files["org/app"] = ("main", {".zuul.yaml": app})
        return loader(nodes).build(files)
    return run


def line_of(text: str, needle: str, after: str | None = None) -> int:
    """The 1-based line of ``text`` holding ``needle`` (the first after ``after``)."""
    lines = text.split("\n")
    start = 0
    if after is not None:
        start = next(i for i, line in enumerate(lines) if after in line) + 1
    return next(i for i, line in enumerate(lines[start:], start) if needle in line) + 1
