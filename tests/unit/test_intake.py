"""Pushes handed from the proc-receive hook to a running zuulish, and the fallback."""

from __future__ import annotations

import io
from pathlib import Path

from zuulish.drivers.git.intake import IntakeServer, hand_over
from zuulish.drivers.git.pktline import read_until_flush, write_flush, write_pkt


def test_running_server_records_the_push_and_answers(tmp_path: Path) -> None:
    seen = []

    def handler(connection: str, project: str, commands, user):
        seen.append((connection, project, commands, user))
        return [(ref, None) for _o, _n, ref in commands], ["New change: x"]

    server = IntakeServer(tmp_path / "zuulish.yaml", handler)
    assert server.start()
    try:
        outcome = hand_over(str(tmp_path / "zuulish.yaml"), "forge", "org/app",
                            [("0" * 40, "a" * 40, "refs/for/main")], "alice")
    finally:
        server.stop()
    assert outcome == ([("refs/for/main", None)], ["New change: x"])
    assert seen == [("forge", "org/app", [("0" * 40, "a" * 40, "refs/for/main")], "alice")]


def test_no_server_means_the_hook_records_it_itself(tmp_path: Path) -> None:
    assert hand_over(str(tmp_path / "other.yaml"), "forge", "org/app", []) is None


def test_second_server_for_the_same_config_steps_aside(tmp_path: Path) -> None:
    first = IntakeServer(tmp_path / "z.yaml", lambda *a: ([], []))
    second = IntakeServer(tmp_path / "z.yaml", lambda *a: ([], []))
    assert first.start()
    try:
        assert not second.start()
    finally:
        first.stop()


def test_pkt_lines_round_trip() -> None:
    out = io.BytesIO()
    write_pkt(out, b"version=1\0push-options\n")
    write_pkt(out, b"ok refs/for/main\n")
    write_flush(out)
    assert out.getvalue().startswith(b"001bversion=1\0push-options\n")
    assert read_until_flush(io.BytesIO(out.getvalue())) == [b"version=1\0push-options",
                                                            b"ok refs/for/main"]
