"""The job library in ``jobs/`` is complete: it loads, and each job has its
playbooks, a row in ``jobs/README.md`` and a README of its own."""

from __future__ import annotations

import re

import pytest

from tests.fakes.library_job import JOBS_DIR, LIBRARY
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.config.validate import ANY_DRIVER, AnyConnection, generic_trigger
from zuulish.config.yaml_loader import load_yaml

CONFIG = (JOBS_DIR / "zuul.yaml").read_text()
JOBS = [item["job"] for item in load_yaml(CONFIG, "zuul.yaml") if "job" in item]
NAMES = [job["name"] for job in JOBS]


def test_the_library_loads_without_errors() -> None:
    loader = ConfigLoader(TenantConfig("t", [TenantProject("", LIBRARY, True)]),
                          AnyConnection(), {ANY_DRIVER: generic_trigger}, open_pipelines=True)
    layout = loader.build({LIBRARY: ("main", {"zuul.yaml": CONFIG})})
    assert layout.errors == []


def test_the_library_has_the_jobs_the_quick_start_promises() -> None:
    assert set(NAMES) >= {"base", "run-shell", "tox", "pytest", "python-build", "gpu-smoke"}


@pytest.mark.parametrize("job", JOBS, ids=NAMES)
def test_each_job_has_its_playbooks_and_readmes(job: dict) -> None:
    for phase in ("pre-run", "run", "post-run", "cleanup-run"):
        paths = job.get(phase) or []
        for path in [paths] if isinstance(paths, str) else paths:
            assert (JOBS_DIR / path).is_file(), f"{job['name']}: {path} is missing"
            assert path.startswith(f"playbooks/{job['name']}/")
    assert (JOBS_DIR / "playbooks" / job["name"] / "README.md").is_file()
    table = (JOBS_DIR / "README.md").read_text()
    assert re.search(rf"^\| `{re.escape(job['name'])}` \|", table, re.M), \
        f"{job['name']} has no row in jobs/README.md"
