"""`zuulish run` with a bad zuulish.yaml: one line naming the file and setting, exit 1."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from zuulish.cli import main
from zuulish.runner import free_port


def write_config(tmp: Path, **settings: str) -> Path:
    (tmp / "main.yaml").write_text("- tenant:\n    name: t\n")
    values = {"state_dir": "state", "database": f"'sqlite:///{tmp}/z.db'",
              "tenant_file": "main.yaml", "web": f"{{listen: '127.0.0.1:{free_port()}'}}",
              **settings}
    path = tmp / "zuulish.yaml"
    path.write_text("".join(f"{key}: {value}\n" for key, value in values.items()))
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["-c", str(config), "run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("zuulish: error: ") and err.count("\n") == 1, err
    return err


def test_a_state_dir_that_cannot_be_made(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a directory\n")
    config = write_config(tmp_path, state_dir="file/state")
    err = run(config, capsys)
    assert f"{config}: state_dir: cannot create {tmp_path}/file/state" in err


def test_a_state_dir_that_is_not_a_string(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, state_dir="[a, b]")
    assert "key 'state_dir' must be a string" in run(config, capsys)


def test_a_database_url_of_an_unknown_kind(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, database="'mysql2://db/zuul'")
    assert "database URL 'mysql2://db/zuul': no database of kind 'mysql2'" \
        in run(config, capsys)


def test_a_sqlite_database_whose_folder_cannot_be_made(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x\n")
    config = write_config(tmp_path, database=f"'sqlite:///{tmp_path}/file/z.db'")
    assert f"cannot create {tmp_path}/file" in run(config, capsys)


def test_a_web_port_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, web=f"{{listen: '127.0.0.1:{port}'}}")
        err = run(config, capsys)
    assert f"{config}: web.listen: cannot serve on 127.0.0.1:{port}: the address is in " \
           "use" in err


def test_a_web_host_that_does_not_resolve(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, web="{listen: 'no-such-host.invalid:9000'}")
    assert "web.listen: cannot serve on no-such-host.invalid:9000: cannot resolve" \
        in run(config, capsys)


def test_an_unknown_key_and_an_unreadable_tenant_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, webb="{}")
    assert "unknown key 'webb' (did you mean 'web'?)" in run(config, capsys)
    config = write_config(tmp_path, tenant_file="nope.yaml")
    assert f"{tmp_path}/nope.yaml: cannot read tenant file" in run(config, capsys)


def test_tenant_reconfigure_without_a_running_scheduler_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    assert main(["-c", str(config), "db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["-c", str(config), "tenant", "reconfigure", "--timeout", "0.3"]) == 1
    assert "the scheduler has not acted on it yet (is `zuulish run` running?)" \
        in capsys.readouterr().out
    assert main(["-c", str(config), "tenant", "reconfigure", " "]) == 1
    assert "a tenant name cannot be empty" in capsys.readouterr().err
