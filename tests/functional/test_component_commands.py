"""The component commands a distributed deployment runs (``zuulish scheduler``,
``executor``...) as an operator meets them: schema checks, the listing, a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from zuulish.cli import main
from zuulish.cluster.schema import head_revision
from zuulish.store import Store
from zuulish.store.database import MIGRATIONS_DIR

pytestmark = pytest.mark.store


def _config(tmp: Path, database: str, extra: str = "") -> Path:
    (tmp / "main.yaml").write_text("- tenant:\n    name: t\n    source: {}\n")
    path = tmp / "zuulish.yaml"
    path.write_text(f"state_dir: state\ndatabase: '{database}'\ntenant_file: main.yaml\n"
                    "web: {url: 'http://forge.test'}\nconnections: {forge: {driver: git}}\n"
                    + extra)
    return path


def _upgrade_to(url: str, revision: str) -> None:
    store = Store(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    store.dispose()


@pytest.mark.parametrize("kind", ["scheduler", "executor", "merger", "launcher", "web"])
def test_a_component_refuses_a_database_without_the_schema(
        tmp_path: Path, database_url: str, kind: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, database_url)
    assert main(["-c", str(cfg), kind]) == 1
    err = capsys.readouterr().err
    assert "has no zuulish schema yet" in err and f"zuulish -c {cfg} db upgrade" in err


def test_a_component_refuses_an_older_schema_and_names_the_upgrade(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, database_url)
    _upgrade_to(database_url, "0016")
    assert main(["-c", str(cfg), "scheduler"]) == 1
    err = capsys.readouterr().err
    assert "revision 0016, older than this zuulish's" in err and "db upgrade" in err
    with Store(database_url).engine.connect() as conn:  # it upgraded nothing itself
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0016"


def test_a_component_refuses_a_schema_from_a_newer_zuulish(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, database_url)
    assert main(["-c", str(cfg), "db", "upgrade"]) == 0
    with Store(database_url).engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    assert main(["-c", str(cfg), "executor"]) == 1
    err = capsys.readouterr().err
    assert "revision 9999, which this zuulish" in err and "install that version" in err


def test_a_merger_runs_is_listed_and_stops_cleanly_on_sigterm(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, database_url,
                  "cluster: {heartbeat_seconds: 0.2, dead_after_seconds: 1, lease_seconds: 1}\n")
    assert main(["-c", str(cfg), "db", "upgrade"]) == 0
    assert main(["-c", str(cfg), "components"]) == 1  # none running
    log = tmp_path / "merger.log"
    proc = subprocess.Popen([sys.executable, "-m", "zuulish.cli", "-c", str(cfg), "merger"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "is running" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        capsys.readouterr()
        assert main(["-c", str(cfg), "components"]) == 0
        listed = capsys.readouterr().out
        assert f"merger:{os.uname().nodename}:{proc.pid}:" in listed
        assert "running" in listed
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert main(["-c", str(cfg), "components"]) == 1  # stopped: no longer listed
    capsys.readouterr()
    assert main(["-c", str(cfg), "components", "--all"]) == 0
    assert "stopped" in capsys.readouterr().out


def test_the_head_revision_is_the_newest_migration() -> None:
    assert head_revision() == max(p.name.split("_")[0] for p in
                                  (MIGRATIONS_DIR / "versions").glob("0*.py"))


def test_cluster_settings_that_cannot_work_are_refused(tmp_path: Path) -> None:
    from zuulish.errors import ConfigError
    from zuulish.server_config import load_server_config

    cfg = _config(tmp_path, "sqlite:///x.db",
                  "cluster: {heartbeat_seconds: 5, dead_after_seconds: 6}\n")
    with pytest.raises(ConfigError, match="at least three heartbeats"):
        load_server_config(cfg)
    cfg = _config(tmp_path, "sqlite:///x.db", "cluster: {lease_seconds: fast}\n")
    with pytest.raises(ConfigError, match="cluster.lease_seconds' must be a number"):
        load_server_config(cfg)
    cfg = _config(tmp_path, "sqlite:///x.db", "executor: {zone: ''}\n")
    with pytest.raises(ConfigError, match="executor.zone"):
        load_server_config(cfg)
