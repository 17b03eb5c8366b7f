"""The library's jobs through the whole system: the quick start's tenant loads
``jobs/`` from the forge, the scheduler freezes the jobs, the executor runs them
from its trusted checkout (with its warm Ansible) and stores their logs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.tenant import GateTenant
from zuulish.store import BuildRow

pytestmark = pytest.mark.slow

ZUUL_YAML = f"""
- job:
    name: py-unit
    parent: pytest
    vars:
      pytest_command: {sys.executable} -m pytest -p no:cacheprovider
- job:
    name: py-dist
    parent: python-build
    vars:
      python_build_python: {sys.executable}
      python_build_isolation: false
- job:
    name: py-tox
    parent: tox
    vars:
      tox_executable: {Path(sys.executable).with_name('tox')}
- job:
    name: no-gpu
    parent: gpu-smoke
    vars:
      gpu_smoke_nvidia_smi: no-such-nvidia-smi
      gpu_smoke_proc_dir: /no-such-proc-dir
- project:
    check:
      jobs: [py-unit, py-dist, py-tox, no-gpu]
"""
PROJECT = {
    ".zuul.yaml": ZUUL_YAML,
    "pyproject.toml": ('[build-system]\nrequires = ["setuptools", "wheel"]\n'
                       'build-backend = "setuptools.build_meta"\n\n'
                       '[project]\nname = "tiny"\nversion = "0.1"\n'),
    "tiny/__init__.py": "def double(x):\n    return 2 * x\n",
    "tests/test_tiny.py": "from tiny import double\n\n\ndef test_double():\n"
                          "    assert double(2) == 4\n",
    "tox.ini": "[tox]\nenv_list = check\nskipsdist = true\n\n[testenv:check]\n"
               "skip_install = true\ncommands = python -c \"print('tox-check-ran')\"\n",
}


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/py": PROJECT})
    t.start()
    yield t
    t.stop()


def builds(tenant: GateTenant) -> dict[str, BuildRow]:
    with tenant.aio.store.read() as s:
        return {b.job: b for b in s.scalars(select(BuildRow))}


def test_library_jobs_run_in_a_check_pipeline(tenant: GateTenant) -> None:
    number = tenant.push("org/py", {"tests/test_more.py": "def test_more():\n    pass\n"},
                         "More tests")
    assert tenant.wait_reported(number, "check", timeout=240).result == "FAILURE"
    done = builds(tenant)
    assert {job: b.result for job, b in done.items()} == {
        "py-unit": "SUCCESS", "py-dist": "SUCCESS", "py-tox": "SUCCESS",
        "no-gpu": "FAILURE"}
    unit = Path(done["py-unit"].log_path)
    assert "pytest results: 2 passed, 0 failed" in (unit / "job-output.txt").read_text()
    assert (unit / "pytest-results.xml").is_file()
    dist = Path(done["py-dist"].log_path) / "artifacts"
    assert sorted(p.name for p in dist.iterdir()) == ["tiny-0.1-py3-none-any.whl",
                                                      "tiny-0.1.tar.gz"]
    assert "tox-check-ran" in (Path(done["py-tox"].log_path) / "job-output.txt").read_text()
    gpu = Path(done["no-gpu"].log_path)
    assert "gpu-smoke: no GPU found" in (gpu / "job-output.txt").read_text()
    assert json.loads((gpu / "job-output.json").read_text())[-1]["result"] == "failed"
