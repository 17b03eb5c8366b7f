"""What playbooks write to ``zuul.executor.log_root`` is kept with the build's logs,
and nothing a build plants there reaches beyond them (``build_logs``)."""

from __future__ import annotations

import os
from pathlib import Path

from zuulish.executor import build_logs


def _setup(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    work = tmp_path / "work"
    (work / "logs" / "tox" / "py3").mkdir(parents=True)
    log_dir = tmp_path / "served"
    log_dir.mkdir()
    (log_dir / "job-output.txt").write_text("the executor's log\n")
    return work, log_dir, []


def test_files_and_directories_are_copied_with_the_logs(tmp_path: Path) -> None:
    work, log_dir, notes = _setup(tmp_path)
    (work / "logs" / "zuul-info").mkdir()
    (work / "logs" / "zuul-info" / "inventory.yaml").write_text("all: {}\n")
    (work / "logs" / "tox" / "py3" / "log.txt").write_bytes(b"\x00binary\xff" * 1000)
    done = build_logs.collect(work, log_dir, notes.append)
    assert (log_dir / "zuul-info" / "inventory.yaml").read_text() == "all: {}\n"
    assert (log_dir / "tox" / "py3" / "log.txt").read_bytes() == b"\x00binary\xff" * 1000
    assert (done.files, done.size, done.left_out, notes) == (2, 8 + 8000, [], [])
    assert build_logs.log_root(work) == work / "logs"


def test_links_and_special_files_are_left_out_and_named(tmp_path: Path) -> None:
    work, log_dir, notes = _setup(tmp_path)
    secret = tmp_path / "secrets.key"
    secret.write_text("SECRET-KEY\n")
    (work / "logs" / "key.txt").symlink_to(secret)
    (work / "logs" / "outside").symlink_to(tmp_path)
    os.mkfifo(work / "logs" / "fifo")
    done = build_logs.collect(work, log_dir, notes.append)
    assert sorted(done.left_out) == ["fifo (not a regular file)", "key.txt (a link)",
                                     "outside (a link)"]
    assert not (log_dir / "key.txt").exists() and not (log_dir / "outside").exists()
    assert all(n.startswith("not kept with the logs: ") for n in notes)
    assert not any("SECRET-KEY" in p.read_text() for p in log_dir.rglob("*") if p.is_file())


def test_the_executors_own_files_are_never_replaced(tmp_path: Path) -> None:
    work, log_dir, notes = _setup(tmp_path)
    (work / "logs" / "job-output.txt").write_text("forged\n")
    (work / "logs" / "job-output.json").write_text("[]\n")
    (work / "logs" / "tox" / "job-output.txt").write_text("fine below the top\n")
    done = build_logs.collect(work, log_dir, notes.append)
    assert (log_dir / "job-output.txt").read_text() == "the executor's log\n"
    assert not (log_dir / "job-output.json").exists()
    assert (log_dir / "tox" / "job-output.txt").read_text() == "fine below the top\n"
    assert sorted(done.left_out) == ["job-output.json (the executor's own file)",
                                     "job-output.txt (the executor's own file)"]


def test_a_log_root_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    elsewhere = tmp_path / "state"
    elsewhere.mkdir()
    (elsewhere / "zuulish.db").write_text("the store\n")
    (work / "logs").symlink_to(elsewhere)
    log_dir = tmp_path / "served"
    notes: list[str] = []
    done = build_logs.collect(work, log_dir, notes.append)
    assert done.files == 0 and done.left_out == ["logs"]
    assert notes and "the build's logs were not kept" in notes[0]
    assert not (log_dir / "zuulish.db").exists()


def test_no_log_root_keeps_nothing_and_says_nothing(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    notes: list[str] = []
    done = build_logs.collect(tmp_path / "work", tmp_path / "served", notes.append)
    assert (done.files, done.left_out, notes) == (0, [], [])
