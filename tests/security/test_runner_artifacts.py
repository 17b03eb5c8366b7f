"""ansible-runner's artifact files: an untrusted playbook's controller (a
``pipe`` lookup runs there) links ``status`` and ``rc`` in its artifact dir to
a file of the executor; the executor, writing the playbook's result, must not
overwrite that file, and must not read an event's data through a link."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fakes.tenant import GateTenant
from zuulish.executor import runner_guard
from zuulish.executor.sandbox import unavailable

MISSING = unavailable()
sandboxed = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

PLANTED = "executor-only-7f3a"
JOBS = """
- job:
    name: plant
    run: playbooks/plant.yaml
- project:
    check:
      jobs: [plant]
"""
# The lookup runs in ansible-playbook, in the controller's sandbox, where
# AWX_ISOLATED_DATA_DIR names ansible-runner's artifact dir.
PLANT = """- hosts: all
  gather_facts: false
  vars:
    plant: >-
      d=$AWX_ISOLATED_DATA_DIR;
      ln -sf {target} $d/status; ln -sf {target} $d/rc;
      ln -sf {target} $d/job_events/00000000-0000-0000-0000-000000000000-partial.json;
      echo planted
  tasks:
    - debug:
        msg: "{{{{ lookup('pipe', plant) }}}}"
"""


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    target = tmp_path / "state" / "planted.txt"
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": JOBS, "playbooks/plant.yaml": PLANT.format(target=target)}})
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(PLANTED + "\n")
    t.start()
    yield t
    t.stop()


@sandboxed[0]
@sandboxed[1]
def test_links_in_the_artifact_dir_do_not_overwrite_executor_files(
        tenant: GateTenant, tmp_path: Path) -> None:
    number = tenant.push("org/app", {"x.txt": "x\n"}, "Plant links")
    report = tenant.wait_reported(number, "check")
    logs = tenant.job_outputs()
    assert "planted" in logs, logs  # the lookup ran
    assert report.result == "SUCCESS", report.message
    assert (tmp_path / "state" / "planted.txt").read_text() == PLANTED + "\n"


def _config(tmp_path: Path) -> SimpleNamespace:
    artifact = tmp_path / "data" / "artifacts" / "ident"
    (artifact / "job_events").mkdir(parents=True)
    return SimpleNamespace(private_data_dir=str(tmp_path / "data"), artifact_dir=str(artifact))


def test_event_data_is_not_read_through_a_link(tmp_path: Path) -> None:
    config = _config(tmp_path)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"stdout": PLANTED}))
    events = Path(config.artifact_dir) / "job_events"
    (events / "abc-partial.json").symlink_to(secret)
    assert runner_guard.read_partial(config, "abc") is None
    assert secret.exists()
    (events / "def-partial.json").write_text(json.dumps({"event": "ok"}))
    assert runner_guard.read_partial(config, "def") == {"event": "ok"}
    assert not (events / "def-partial.json").exists()  # read, then removed


def test_an_event_uuid_cannot_climb_out_of_job_events(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (Path(config.artifact_dir) / "x-partial.json").write_text(json.dumps({"stdout": PLANTED}))
    assert runner_guard.read_partial(config, "../x") is None
    assert runner_guard.read_partial(config, 7) is None


def test_result_files_replaced_by_links_are_removed_before_writing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text(PLANTED)
    artifact = Path(config.artifact_dir)
    (artifact / "status").symlink_to(victim)
    os.link(victim, artifact / "rc")  # a hard link to a file the sandbox could see
    runner_guard.clear_result_files(config)
    assert not (artifact / "status").exists() and not (artifact / "rc").exists()
    assert victim.read_text() == PLANTED


def test_an_artifact_dir_replaced_by_a_link_is_made_a_directory_again(tmp_path: Path) -> None:
    config = _config(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    artifact = Path(config.artifact_dir)
    for child in artifact.iterdir():
        child.rmdir()
    artifact.rmdir()
    artifact.symlink_to(elsewhere)
    runner_guard.clear_result_files(config)
    assert artifact.is_dir() and not artifact.is_symlink()
    (artifact / "status").write_text("failed")
    assert list(elsewhere.iterdir()) == []
