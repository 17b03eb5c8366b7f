"""``zuulish autohold``, ``autohold-list`` and ``autohold-delete`` as a user runs them,
against a real web server on 127.0.0.1 and a real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.fakes.web_server import served
from tests.functional.test_web_autohold import layout
from zuulish.cli import main
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import AutoholdRow, NodeRow, Store
from zuulish.web.app import create_app

pytestmark = pytest.mark.store

TOKEN = "a-cli-autohold-token-0123"


def write_config(tmp: Path, database: str, port: int, token: str | None = TOKEN) -> str:
    path = tmp / "zuulish.yaml"
    admin = f", admin_token: '{token}'" if token else ""
    path.write_text(f"state_dir: state\ndatabase: '{database}'\ntenant_file: main.yaml\n"
                    f"web: {{listen: '127.0.0.1:{port}'{admin}}}\n"
                    "connections: {forge: {driver: git}}\n")
    return str(path)


@pytest.fixture
def cfg(store: Store, tmp_path: Path) -> Iterator[str]:
    """A configuration whose web API (with the admin token) is being served."""
    layouts = TenantLayouts(tmp_path / "main.yaml", {}, {}, {})
    layouts.layouts = {"t": layout()}
    with served(lambda url: create_app(store, layouts, tmp_path, url,
                                       admin_token=TOKEN)) as url:
        yield write_config(tmp_path, store.url, urlsplit(url).port or 0)


def test_autohold_then_list_shows_the_held_node_and_delete_releases_it(
        cfg: str, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", cfg, "autohold", "--tenant", "t", "--project", "org/app",
                 "--job", "unit", "--change", "1234", "--reason", "why does unit fail?",
                 "--count", "2", "--node-hold-expiration", "600"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("autohold request 1: tenant t, project org/app, job unit, "
                          "ref refs/changes/34/1234/.*: 0 of 2 failed build(s) held"), out
    with store.session() as s:  # what a failed build leaves: its node held
        s.add(NodeRow(provider="static", label="ubuntu", state="held", hostname="n1",
                      host_vars={"ansible_host": "192.0.2.4", "ansible_user": "zuul",
                                 "ansible_port": 2200}, created_at=0, hold_id=1,
                      hold_until=1_800_000_000.0))
    assert main(["-c", cfg, "autohold-list", "--tenant", "t"]) == 0
    out = capsys.readouterr().out
    assert "    reason: why does unit fail?" in out
    assert ("    node 1 (ubuntu from static, held until 2027-01-15 08:00:00 UTC): "
            "ssh zuul@192.0.2.4 -p 2200") in out
    assert main(["-c", cfg, "autohold-list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["nodes"][0]["login"] == "ssh zuul@192.0.2.4 -p 2200"
    assert main(["-c", cfg, "autohold-list", "--tenant", "other"]) == 0
    assert capsys.readouterr().out == "no autohold requests in tenant other\n"
    assert main(["-c", cfg, "autohold-delete", "1"]) == 0
    assert "deleted autohold request 1; released node(s) 1" in capsys.readouterr().out
    with store.read() as s:
        assert s.scalars(select(NodeRow.state)).all() == ["used"]


@pytest.mark.parametrize(("argv", "words"), [
    (["--tenant", "x", "--project", "org/app", "--job", "unit"], "no tenant named 'x'"),
    (["--tenant", "t", "--project", "org/nope", "--job", "unit"],
     "project 'org/nope' is not in tenant 't'"),
    (["--tenant", "t", "--project", "org/app", "--job", "nope"], "defines no job 'nope'"),
    (["--tenant", "t", "--project", "org/app", "--job", "unit", "--ref", "refs/("],
     "not a regular expression"),
    (["--tenant", "t", "--project", "org/app", "--job", "unit", "--count", "0"],
     "--count must be 1 or more"),
    (["--tenant", "t", "--project", "org/app", "--job", "unit",
      "--node-hold-expiration", "-1"], "--node-hold-expiration must be 0 or more"),
])
def test_bad_autohold_requests_are_refused_clearly(
        cfg: str, store: Store, capsys: pytest.CaptureFixture[str], argv: list[str],
        words: str) -> None:
    assert main(["-c", cfg, "autohold", *argv, "--reason", "r"]) == 1
    assert words in capsys.readouterr().err
    with store.read() as s:
        assert s.scalars(select(AutoholdRow)).all() == []


def test_deleting_an_unknown_request_is_a_clear_error(
        cfg: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", cfg, "autohold-delete", "42"]) == 1
    assert "no autohold request 42" in capsys.readouterr().err


def test_autohold_says_when_the_server_or_its_management_api_is_not_there(
        store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zuulish.runner import free_port

    args = ["autohold", "--tenant", "t", "--project", "org/app", "--job", "unit",
            "--reason", "r"]
    cfg = write_config(tmp_path, store.url, free_port())
    assert main(["-c", cfg, *args]) == 1
    assert "is `zuulish run` running" in capsys.readouterr().err
    cfg = write_config(tmp_path, store.url, free_port(), token=None)
    assert main(["-c", cfg, *args]) == 1
    assert "set web.admin_token in" in capsys.readouterr().err
