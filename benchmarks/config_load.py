#!/usr/bin/env python3
"""Configuration loading: a cold load of a large tenant, and reconfiguration after
a one-file change in one repository.

By default the tenant is generated with ``../shared/fixtures/make_config_fixture.py
DIR --projects 1000 --jobs 5000`` (the same files other loaders are measured on);
``--fixture DIR`` uses one made already. Prints one JSON line with ``cold_load_s``
and ``reconfigure_ms`` (median of ``--repeat`` runs each).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zuulish.config.loader import ConfigLoader  # noqa: E402
from zuulish.config.tenant import load_tenants  # noqa: E402
from zuulish.config.validate import config_files, generic_trigger  # noqa: E402

GENERATOR = ROOT.parent / "shared" / "fixtures" / "make_config_fixture.py"


def read_tenant(fixture: Path) -> tuple:
    manifest = json.loads((fixture / "manifest.json").read_text())
    connection = manifest["connection"]
    [tenant] = load_tenants(fixture / manifest["tenant_config"], {connection})
    files = {}
    for tp in tenant.projects:
        root = fixture / "repos" / tp.name
        files[tp.name] = ("master", {str(Path(p).relative_to(root)): text
                                     for p, text in config_files(root).items()})
    return tenant, connection, files


def cold_load(fixture: Path) -> tuple[float, object, dict, ConfigLoader]:
    start = time.perf_counter()
    tenant, connection, files = read_tenant(fixture)
    loader = ConfigLoader(tenant, {connection: "gerrit"}, {"gerrit": generic_trigger})
    layout = loader.build(files)
    return time.perf_counter() - start, layout, files, loader


def cold_load_seconds(fixture: Path) -> float:
    return cold_load(fixture)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fixture", type=Path)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fixture = args.fixture
        if fixture is None:
            fixture = Path(tmp) / "fixture"
            subprocess.run([sys.executable, str(GENERATOR), str(fixture), "--projects",
                            str(args.projects), "--jobs", str(args.jobs)], check=True,
                           capture_output=True)
        colds, reconfigs = [], []
        # Each cold load in a fresh interpreter: nothing cached by an earlier one.
        spawn = multiprocessing.get_context("spawn")
        for _ in range(args.repeat):
            with spawn.Pool(1) as pool:
                colds.append(pool.apply(cold_load_seconds, (fixture,)))
        _seconds, layout, files, loader = cold_load(fixture)
        # One file changes in one repository: a job gains a variable.
        project = sorted(p for p in files if p.startswith("org/"))[0]
        branch, project_files = files[project]
        path = sorted(project_files)[0]
        for i in range(args.repeat):
            changed = dict(files)
            edited = project_files[path].replace("    vars:\n",
                                                 f"    vars:\n      bench_edit: {i}\n", 1)
            changed[project] = (branch, {**project_files, path: edited})
            start = time.perf_counter()
            new_layout = loader.build(changed)
            reconfigs.append((time.perf_counter() - start) * 1000)
            if not any(j.vars.get("bench_edit") == i for variants in new_layout.jobs.values()
                       for j in variants):
                raise SystemExit("the edit did not reach the new layout")
    print(json.dumps({
        "cold_load_s": round(statistics.median(colds), 3),
        "reconfigure_ms": round(statistics.median(reconfigs), 1),
        "projects": len(files), "jobs": sum(len(v) for v in layout.jobs.values()),
        "errors": len(new_layout.errors),
    }))


if __name__ == "__main__":
    main()
