"""The library's ``python-build`` job on tiny projects, run for real on a local node.

Builds run without build isolation (setuptools and wheel from the test's own
environment), so no package index is needed.
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

from tests.fakes.library_job import run_library_job

PACKAGE = {
    "pyproject.toml": ('[build-system]\nrequires = ["setuptools", "wheel"]\n'
                       'build-backend = "setuptools.build_meta"\n\n'
                       '[project]\nname = "tiny"\nversion = "0.1"\n'),
    "tiny/__init__.py": "def double(x: int) -> int:\n    return 2 * x\n",
}
VARS = {"python_build_python": sys.executable, "python_build_isolation": False}


def test_sdist_and_wheel_are_artifacts_in_the_log_dir(tmp_path: Path) -> None:
    run = run_library_job(tmp_path, "python-build", PACKAGE, VARS)
    assert run.result == "SUCCESS", run.output
    artifacts = run.log_dir / "artifacts"
    assert sorted(p.name for p in artifacts.iterdir()) == ["tiny-0.1-py3-none-any.whl",
                                                           "tiny-0.1.tar.gz"]
    with zipfile.ZipFile(artifacts / "tiny-0.1-py3-none-any.whl") as wheel:
        assert "tiny/__init__.py" in wheel.namelist()
    with tarfile.open(artifacts / "tiny-0.1.tar.gz") as sdist:
        assert "tiny-0.1/tiny/__init__.py" in sdist.getnames()
    assert "artifacts/tiny-0.1-py3-none-any.whl" in run.output
    assert run.returned is not None and list(run.returned) == ["zuul"]
    assert sorted(run.returned["zuul"]["artifacts"], key=lambda a: a["name"]) == [
        {"name": "tiny-0.1-py3-none-any.whl", "url": "artifacts/tiny-0.1-py3-none-any.whl",
         "metadata": {"type": "python_wheel"}},
        {"name": "tiny-0.1.tar.gz", "url": "artifacts/tiny-0.1.tar.gz",
         "metadata": {"type": "python_sdist"}}]


def test_a_project_that_does_not_build_fails_without_artifacts(tmp_path: Path) -> None:
    broken = {**PACKAGE, "pyproject.toml": PACKAGE["pyproject.toml"] + "version = 2\n"}
    run = run_library_job(tmp_path, "python-build", broken, VARS)
    assert run.result == "FAILURE"
    assert "Failed to parse ./pyproject.toml" in run.output
    assert not (run.log_dir / "artifacts").exists() and run.returned is None
