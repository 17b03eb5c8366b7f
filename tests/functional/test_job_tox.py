"""The library's ``tox`` job on a tiny tox project, run for real on a local node.

The environments skip installing the project and have no deps, so tox only
makes a virtualenv (from virtualenv's bundled seed packages, no network).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.fakes.library_job import run_library_job

TOX_INI = """\
[tox]
env_list = good
skipsdist = true

[testenv:good]
skip_install = true
commands = python -c "print('tox-env-good-ran')"

[testenv:bad]
skip_install = true
commands = python -c "raise SystemExit('tox-env-bad-failed')"

[testenv:shows-env]
skip_install = true
pass_env = ZUULISH_TOX_TEST
commands = python -c "import os; print('value=' + os.environ['ZUULISH_TOX_TEST'])"
"""
TOX = str(Path(sys.executable).with_name("tox"))


def tox_job(tmp: Path, **variables: object):
    return run_library_job(tmp, "tox", {"tox.ini": TOX_INI},
                           {"tox_executable": TOX, **variables})


def test_tox_runs_its_default_env_list(tmp_path: Path) -> None:
    run = tox_job(tmp_path)
    assert run.result == "SUCCESS", run.output
    assert "tox-env-good-ran" in run.output
    assert "good: OK" in run.output


def test_a_failing_tox_env_fails_the_job(tmp_path: Path) -> None:
    run = tox_job(tmp_path, tox_envlist="bad")
    assert run.result == "FAILURE"
    assert "tox-env-bad-failed" in run.output
    assert "bad: FAIL" in run.output


def test_tox_environment_reaches_the_env(tmp_path: Path) -> None:
    run = tox_job(tmp_path, tox_envlist="shows-env",
                  tox_environment={"ZUULISH_TOX_TEST": "from-the-job"})
    assert run.result == "SUCCESS", run.output
    assert "value=from-the-job" in run.output


def test_a_project_without_tox_config_fails_with_a_message(tmp_path: Path) -> None:
    run = run_library_job(tmp_path, "tox", {"README": "no tox here\n"},
                          {"tox_executable": TOX})
    assert run.result == "FAILURE"
    assert "src/localhost/org/demo has no tox.ini" in run.output
