"""Log retention: logs of builds finished longer ago than the retention time go."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from tests.fakes.rows import item_with_buildset
from zuulish.clock import SimulatedClock
from zuulish.executor.retention import DAY, LogRetention, prune_logs
from zuulish.store import BuildRow, Store

NOW = 100 * DAY


def seed(store: Store, state_dir: Path, builds: dict[str, float | None]) -> None:
    """Builds finished at the given times (None: still running), each with a log."""
    with store.session() as s:
        buildset_id = item_with_buildset(s, pipeline="check", state="reported")
        for build_id, finished in builds.items():
            folder = state_dir / "logs" / build_id
            (folder / "artifacts").mkdir(parents=True)
            (folder / "job-output.txt").write_text("hello\n")
            (folder / "artifacts" / "dist.whl").write_bytes(b"x")
            s.add(BuildRow(id=build_id, buildset_id=buildset_id, job="unit",
                           state="running" if finished is None else "completed",
                           result=None if finished is None else "SUCCESS", created_at=0,
                           started_at=0, finished_at=finished, log_path=str(folder)))


def log_paths(store: Store) -> dict[str, str | None]:
    with store.read() as s:
        return dict(s.execute(select(BuildRow.id, BuildRow.log_path)).all())


def test_only_logs_of_builds_finished_before_the_cutoff_go(store: Store,
                                                          tmp_path: Path) -> None:
    seed(store, tmp_path, {"old": NOW - 40 * DAY, "recent": NOW - 2 * DAY, "running": None})
    assert prune_logs(store, tmp_path, NOW - 30 * DAY) == ["old"]
    assert not (tmp_path / "logs" / "old").exists()
    assert (tmp_path / "logs" / "recent" / "job-output.txt").is_file()
    assert (tmp_path / "logs" / "running" / "job-output.txt").is_file()
    paths = log_paths(store)
    assert paths["old"] is None and paths["recent"] and paths["running"]
    with store.read() as s:  # the build's history stays
        assert s.get(BuildRow, "old").result == "SUCCESS"  # type: ignore[union-attr]
    assert prune_logs(store, tmp_path, NOW - 30 * DAY) == []  # nothing left to do


def test_nothing_outside_the_log_folder_is_ever_removed(store: Store, tmp_path: Path) -> None:
    # A build id that would climb out of logs/ (ids are UUIDs; a broken row must still
    # not make retention delete anything else).
    seed(store, tmp_path, {"../precious": NOW - 40 * DAY, "old": NOW - 40 * DAY})
    assert prune_logs(store, tmp_path, NOW) == ["old"]
    assert (tmp_path / "precious" / "job-output.txt").read_text() == "hello\n"
    assert log_paths(store)["../precious"] is not None


def test_links_in_or_as_a_log_folder_are_never_followed(store: Store, tmp_path: Path) -> None:
    """A post-run playbook may copy links into a log folder; a link may even stand
    in a folder's place. Retention removes the links, never what they point at."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "secrets.key").write_text("key\n")
    seed(store, tmp_path, {"old": NOW - 40 * DAY, "other": NOW - 40 * DAY})
    (tmp_path / "logs" / "old" / "to-file").symlink_to(precious / "secrets.key")
    (tmp_path / "logs" / "old" / "to-dir").symlink_to(precious)
    other = tmp_path / "logs" / "other"
    for child in sorted(other.rglob("*"), reverse=True):
        child.rmdir() if child.is_dir() else child.unlink()
    other.rmdir()
    other.symlink_to(precious)
    assert sorted(prune_logs(store, tmp_path, NOW)) == ["old", "other"]
    assert (precious / "secrets.key").read_text() == "key\n"
    assert not os.path.lexists(other) and not (tmp_path / "logs" / "old").exists()


def test_retention_prunes_at_start_then_at_most_hourly(store: Store, tmp_path: Path) -> None:
    seed(store, tmp_path, {"a": NOW - 40 * DAY, "b": NOW - 29.99 * DAY})
    clock = SimulatedClock(start=NOW)
    retention = LogRetention(store, tmp_path, clock, 30 * DAY)
    assert retention.run_once() == ["a"]
    clock.advance(0.02 * DAY)  # b is now older than 30 days, but an hour has not passed
    assert retention.run_once() == []
    clock.advance(0.03 * DAY)
    assert retention.run_once() == ["b"]


def test_retention_off_keeps_everything(store: Store, tmp_path: Path) -> None:
    seed(store, tmp_path, {"a": 0.0})
    assert LogRetention(store, tmp_path, SimulatedClock(start=NOW), None).run_once() == []
    assert (tmp_path / "logs" / "a").is_dir()
