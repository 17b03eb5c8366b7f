"""Attack 3b (issue 15): a project name holding ``$(...)`` was run by an
unquoted ``echo "{{ name }}"`` in the library's base pre-run; the same for a
job variable the library put into a shell (``tox_extra_args``,
``pytest_args``). Every value the library puts into a shell is quoted, or the
command is an argument list: the text reaches the log as written, and the
command substitution never runs (it would print ``uid=``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.tenant import GateTenant
from zuulish.executor.sandbox import unavailable
from zuulish.store import BuildRow

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

NAME = "org/app$(id)"
ZUUL_YAML = f"""
- job:
    name: py-unit
    parent: pytest
    vars:
      pytest_command: {sys.executable} -m pytest -p no:cacheprovider
      pytest_args: "tests $(id)"
- job:
    name: py-tox
    parent: tox
    vars:
      tox_executable: {Path(sys.executable).with_name('tox')}
      tox_extra_args: "-- $(id)"
- project:
    check:
      jobs: [py-unit, py-tox]
"""
PROJECT = {
    ".zuul.yaml": ZUUL_YAML,
    "tests/test_tiny.py": "def test_ok():\n    assert True\n",
    "tox.ini": "[tox]\nenv_list = check\nskipsdist = true\n\n[testenv:check]\n"
               "skip_install = true\ncommands = python -c \"import sys; "
               "print('tox-args', sys.argv[1:])\" {posargs}\n",
}


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {NAME: PROJECT})
    t.start()
    yield t
    t.stop()


def test_names_and_variables_never_reach_a_shell_as_code(tenant: GateTenant) -> None:
    number = tenant.push(NAME, {"README": "more\n"}, "A change")
    tenant.wait_reported(number, "check", timeout=300)
    with tenant.aio.store.read() as s:
        done = {b.job: b for b in s.scalars(select(BuildRow))}
    assert set(done) == {"py-unit", "py-tox"}, done
    for job, build in done.items():
        text = (Path(build.log_path or "") / "job-output.txt").read_text()
        assert "uid=" not in text, (job, text[-3000:])
        # the base pre-run printed the project name as written, and passed
        assert f"{NAME}: " in text, (job, text[-3000:])
        assert "PRE-RUN" in text and "RETRY" not in (build.result or ""), build.message
    unit = (Path(done["py-unit"].log_path or "") / "job-output.txt").read_text()
    assert "$(id)" in unit  # pytest was given the text as an argument
    tox = (Path(done["py-tox"].log_path or "") / "job-output.txt").read_text()
    assert "tox-args ['$(id)']" in tox, tox[-3000:]
    assert done["py-tox"].result == "SUCCESS", done["py-tox"].message
