"""Connections are built by their drivers; one zuulish cannot build is refused at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from zuulish.drivers.registry import make_connections, trigger_parsers
from zuulish.errors import ConfigError
from zuulish.server_config import load_server_config
from zuulish.store import Store


def _config(tmp_path: Path, connections: str):
    path = tmp_path / "zuulish.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\ntenant_file: main.yaml\n"
                    f"connections:\n{connections}")
    return load_server_config(path)


def test_the_built_in_forge_is_a_source_a_reporter_and_repositories(store: Store,
                                                                    tmp_path: Path) -> None:
    conns = make_connections(_config(tmp_path, "  forge: {driver: git}\n"), store)
    assert set(conns.forges) == set(conns.sources) == set(conns.reporters) == {"forge"}
    assert conns.drivers == {"forge": "git", "timer": "timer"}
    # its repositories over git's smart HTTP protocol; no service of its own
    assert sorted((r.method, r.path) for r in conns.routes) == [  # type: ignore[attr-defined]
        ("GET", "/git/{path:.+}"), ("POST", "/git/{path:.+}")]
    assert conns.services == []


def test_a_timer_connection_under_another_name_is_refused(store: Store,
                                                          tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the timer needs no connection"):
        make_connections(_config(tmp_path, "  ticks: {driver: timer}\n"), store)


def test_every_connection_driver_parses_triggers_or_is_the_timer() -> None:
    parsers = trigger_parsers()
    assert {"git", "timer"} <= set(parsers)
    assert all(callable(p) for p in parsers.values())
