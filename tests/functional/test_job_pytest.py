"""The library's ``pytest`` job on tiny projects, run for real on a local node."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.fakes.library_job import run_library_job

PACKAGE = {
    "pyproject.toml": '[project]\nname = "tiny"\nversion = "0.1"\n',
    "tiny/__init__.py": "def double(x: int) -> int:\n    return 2 * x\n",
}
PASSING = "from tiny import double\n\n\ndef test_double():\n    assert double(2) == 4\n"
FAILING = ("import pytest\n\nfrom tiny import double\n\n\n"
           "def test_double():\n    assert double(2) == 4\n\n\n"
           "def test_double_is_wrong():\n    assert double(2) == 5\n\n\n"
           "@pytest.mark.skip(reason='not yet')\ndef test_later():\n    pass\n")
VARS = {"pytest_command": f"{sys.executable} -m pytest -p no:cacheprovider"}


def test_passing_tests_succeed_with_a_summary_and_a_report(tmp_path: Path) -> None:
    run = run_library_job(tmp_path, "pytest", {**PACKAGE, "tests/test_tiny.py": PASSING},
                          VARS)
    assert run.result == "SUCCESS", run.output
    assert "pytest results: 1 passed, 0 failed, 0 errors, 0 skipped (1 tests)" in run.output
    assert "<testcase" in (run.log_dir / "pytest-results.xml").read_text()


def test_a_failing_test_fails_the_job_and_is_named(tmp_path: Path) -> None:
    run = run_library_job(tmp_path, "pytest", {**PACKAGE, "tests/test_tiny.py": FAILING},
                          VARS)
    assert run.result == "FAILURE"
    assert "pytest results: 1 passed, 1 failed, 0 errors, 1 skipped (3 tests)" in run.output
    assert "FAILED tests.test_tiny::test_double_is_wrong" in run.output
    assert "pytest exited with 1 (some tests failed)" in run.output
    assert (run.log_dir / "pytest-results.xml").is_file()


def test_an_import_error_counts_as_an_error(tmp_path: Path) -> None:
    broken = "import no_such_module\n\n\ndef test_x():\n    pass\n"
    run = run_library_job(tmp_path, "pytest", {**PACKAGE, "tests/test_tiny.py": broken},
                          {**VARS, "pytest_args": "tests"})
    assert run.result == "FAILURE"
    assert "0 passed, 0 failed, 1 errors" in run.output
    assert "FAILED tests.test_tiny" in run.output


def test_no_tests_is_a_failure_that_says_so(tmp_path: Path) -> None:
    run = run_library_job(tmp_path, "pytest", PACKAGE, VARS)
    assert run.result == "FAILURE"
    assert "pytest exited with 5 (no tests were collected)" in run.output
