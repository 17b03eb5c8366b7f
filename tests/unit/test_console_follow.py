"""The console follower reads only the job's own regular files, bounded."""

from __future__ import annotations

import os
from pathlib import Path

from zuulish.executor.console_follow import Follower

SECRET = "followed-secret-91aa"


def test_lines_of_each_file_in_turn(tmp_path: Path) -> None:
    (tmp_path / "t-1.log").write_bytes(b"one\ntwo\npart")
    follower = Follower(str(tmp_path), "t")
    assert follower.poll() == [b"one", b"two"]
    (tmp_path / "t-2.log").write_bytes(b"three\n")
    assert follower.poll(final=True) == [b"part", b"three"]
    follower.close(remove=True)
    assert follower.opened == ["t-1.log", "t-2.log"]
    assert not list(tmp_path.iterdir())


def test_a_planted_link_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.key"
    secret.write_text(SECRET + "\n")
    console = tmp_path / "console"
    console.mkdir()
    (console / "t-1.log").symlink_to(secret)
    os.mkfifo(console / "t-2.log")  # a FIFO would block a plain open
    (console / "t-3.log").write_text("real\n")
    follower = Follower(str(console), "t")
    lines = follower.poll(final=True)
    assert lines == [b"[console file t-1.log is not a regular file: not followed]",
                     b"[console file t-2.log is not a regular file: not followed]", b"real"]
    follower.close(remove=True)
    assert secret.read_text() == SECRET + "\n"  # the link went, not its target
    assert not (console / "t-1.log").is_symlink()


def test_a_console_dir_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "t-1.log").write_text(SECRET + "\n")
    (tmp_path / "console").symlink_to(elsewhere)
    follower = Follower(str(tmp_path / "console"), "t")
    lines = follower.poll(final=True)
    assert lines == [f"[console directory {tmp_path / 'console'} is a symbolic link: not "
                     "followed]".encode()]
    assert follower.poll(final=True) == []
    follower.close(remove=True)
    assert (elsewhere / "t-1.log").exists()


def test_a_file_past_the_limit_is_no_longer_followed(tmp_path: Path) -> None:
    (tmp_path / "t-1.log").write_bytes(b"0123456789\n" * 10)
    follower = Follower(str(tmp_path), "t", limit=25)
    lines = follower.poll()
    assert lines == [b"0123456789", b"0123456789", b"012",
                     b"[console file t-1.log exceeds 25 bytes: no longer followed]"]
    with (tmp_path / "t-1.log").open("ab") as f:
        f.write(b"more\n")
    assert follower.poll() == []
    (tmp_path / "t-2.log").write_bytes(b"next\n")
    assert follower.poll(final=True) == [b"next"]
    follower.close()
