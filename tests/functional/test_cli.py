"""The `zuulish` command as a user runs it, including its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.gitrepo import git
from zuulish.cli import main

pytestmark = pytest.mark.store


def config(tmp: Path, database: str) -> Path:
    path = tmp / "zuulish.yaml"
    path.write_text(f"state_dir: state\ndatabase: '{database}'\ntenant_file: main.yaml\n"
                    "web: {url: 'http://forge.test'}\nconnections: {forge: {driver: git}}\n")
    return path


def test_db_upgrade_project_create_push_review_and_list(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(config(tmp_path, database_url))
    assert main(["-c", cfg, "db", "upgrade"]) == 0
    assert "is at revision 0020" in capsys.readouterr().out
    src = tmp_path / "src"
    src.mkdir()
    (src / "README").write_text("hi\n")
    assert main(["-c", cfg, "project", "create", "org/app", "--from", str(src)]) == 0
    repo = tmp_path / "state" / "git" / "org" / "app.git"
    assert f"git clone {repo} app && (cd app && " in capsys.readouterr().out
    assert main(["-c", cfg, "project", "clone-url", "org/app"]) == 0
    printed = capsys.readouterr()
    assert printed.out == f"{repo}\n"
    assert "curl -fsSL -o \"$f\" http://forge.test/tools/hooks/commit-msg" in printed.err
    assert main(["-c", cfg, "project", "clone-url", "org/nope"]) == 1
    assert "no project 'org/nope' on the forge; projects: org/app" in capsys.readouterr().err
    git(tmp_path, "clone", "-q", str(repo), "work")
    (tmp_path / "work" / "x").write_text("x\n")
    git(tmp_path / "work", "add", "-A")
    git(tmp_path / "work", "commit", "-q", "-m", "Add x\n\nChange-Id: I0123456789abcdef")
    git(tmp_path / "work", "push", "-q", "origin", "HEAD:refs/for/main")
    capsys.readouterr()
    assert main(["-c", cfg, "review", "1", "--approve"]) == 0
    out = capsys.readouterr().out
    assert "approved change 1" in out
    assert "zuulish is not running: the scheduler acts on the approval when it starts" in out
    assert main(["-c", cfg, "changes", "--json"]) == 0
    [change] = json.loads(capsys.readouterr().out)
    assert (change["number"], change["status"], change["subject"]) == (1, "NEW", "Add x")
    assert change["approvals"] == {"Code-Review": 2, "Workflow": 1}


def test_review_of_unknown_change_is_a_clear_error(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(config(tmp_path, database_url))
    main(["-c", cfg, "db", "upgrade"])
    assert main(["-c", cfg, "review", "7", "--approve"]) == 1
    assert "no change 7 on connection 'forge'" in capsys.readouterr().err


def test_unreadable_config_is_a_clear_error(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(tmp_path / "nope.yaml"), "changes"]) == 1
    err = capsys.readouterr().err
    assert "cannot read server configuration" in err and "nope.yaml" in err


def test_unreachable_database_is_a_clear_error(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(config(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/none"))
    assert main(["-c", cfg, "changes"]) == 1
    assert "cannot reach the database" in capsys.readouterr().err


def test_console_script_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "zuulish.cli", "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "demo" in proc.stdout


def test_encrypt_prints_a_secret_block_the_loader_reads(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import zuulish.secrets
    from zuulish.config.yaml_loader import EncryptedValue, load_yaml
    from zuulish.secrets import ProjectKeys
    from zuulish.store import Store

    monkeypatch.setattr(zuulish.secrets, "KEY_BITS", 2048)  # quicker than 4096 in tests
    monkeypatch.setattr(ProjectKeys.__init__, "__defaults__", (2048,))
    cfg = config(tmp_path, database_url)
    (tmp_path / "value.txt").write_text("p4ssw0rd\n")
    assert main(["-c", str(cfg), "encrypt", "--project", "org/app", "--secret", "db",
                 "--field", "password", "--infile", str(tmp_path / "value.txt"),
                 "--strip"]) == 0
    block = capsys.readouterr().out
    [entry] = load_yaml(block, "block.yaml")
    value = entry["secret"]["data"]["password"]
    assert entry["secret"]["name"] == "db" and isinstance(value, EncryptedValue)
    keys = ProjectKeys(Store(database_url), tmp_path / "state")
    assert keys.decrypt("forge", "org/app", value) == "p4ssw0rd"
    assert main(["-c", str(cfg), "encrypt", "--project", "org/app",
                 "--infile", str(tmp_path / "value.txt")]) == 0


def test_enqueue_is_recorded_for_the_scheduler_and_its_answer_printed(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import threading
    import time

    from sqlalchemy import select, update

    from zuulish.store import EventRow, Store
    cfg = str(config(tmp_path, database_url))
    main(["-c", cfg, "db", "upgrade"])
    capsys.readouterr()
    args = ["-c", cfg, "enqueue", "--tenant", "t", "--pipeline", "gate",
            "--project", "org/app", "--change", "1,1"]
    assert main([*args, "--timeout", "0"]) == 0
    assert "the scheduler has not acted on it yet" in capsys.readouterr().out
    store = Store(database_url)
    with store.read() as s:
        first_id = s.scalar(select(EventRow.id))

    def scheduler_answers() -> None:  # what the scheduler writes once it has acted
        for _ in range(100):
            with store.session() as s:
                done = s.execute(update(EventRow).where(EventRow.id > first_id).values(
                    processed_at=1.0, outcome="error: no tenant named 't'")).rowcount
            if done:
                return
            time.sleep(0.05)

    answer = threading.Thread(target=scheduler_answers)
    answer.start()
    assert main([*args, "--timeout", "20"]) == 1
    answer.join()
    assert "error: no tenant named 't'" in capsys.readouterr().out
    with store.read() as s:
        [first, second] = s.scalars(select(EventRow).order_by(EventRow.id)).all()
    assert (first.connection, first.type, first.data["change"]) == ("zuulish", "enqueue", "1,1")
    store.dispose()


def test_malformed_management_requests_are_refused_and_nothing_recorded(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(config(tmp_path, database_url))
    main(["-c", cfg, "db", "upgrade"])
    assert main(["-c", cfg, "promote", "--tenant", "t", "--pipeline", "gate",
                 "--changes", "3", "3"]) == 1
    assert "names a change more than once" in capsys.readouterr().err
    assert main(["-c", cfg, "dequeue", "--tenant", "t", "--pipeline", "gate",
                 "--project", "org/app", "--change", "x,1"]) == 1
    assert "NUMBER or NUMBER,PATCHSET" in capsys.readouterr().err


def test_logs_prune_removes_old_logs_and_refuses_a_negative_age(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.unit.test_log_retention import seed
    from zuulish.store import Store

    cfg = str(config(tmp_path, database_url))
    assert main(["-c", cfg, "db", "upgrade"]) == 0
    store = Store(database_url)
    try:
        seed(store, tmp_path / "state", {"ancient": 1000.0})
    finally:
        store.dispose()
    capsys.readouterr()
    assert main(["-c", cfg, "logs", "prune"]) == 0  # the default: 30 days
    assert "removed the logs of 1 builds that finished more than 30 days ago" in \
        capsys.readouterr().out
    assert not (tmp_path / "state" / "logs" / "ancient").exists()
    assert main(["-c", cfg, "logs", "prune", "--older-than", "-1"]) != 0
    assert "--older-than must be 0 days or more" in capsys.readouterr().err
