"""A dependency cycle across two repositories on the built-in forge, gated as one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.tenant import PIPELINES, GateTenant, git

pytestmark = [pytest.mark.slow, pytest.mark.store, pytest.mark.postgres_e2e]

CONFIG = """
- job:
    name: cycle-test
    parent: run-shell
    vars:
      command: test "$(cat value.txt)" != bad
- project:
    queue: integrated
    gate:
      jobs: [cycle-test]
"""
QUEUE = """
- queue:
    name: integrated
    allow-circular-dependencies: true
"""


def cycle_tenant(tmp_path: Path, database_url: str) -> GateTenant:
    """Two repos sharing a queue that allows circular dependencies, started."""
    return GateTenant(tmp_path, database_url,
                      {p: {".zuul.yaml": CONFIG, "value.txt": "good\n"}
                       for p in ("org/app", "org/lib")},
                      pipelines=PIPELINES + QUEUE).start()


def test_two_changes_that_need_each_other_are_tested_together_and_both_merge(
        tmp_path: Path, database_url: str) -> None:
    tenant = cycle_tenant(tmp_path, database_url)
    try:
        app = tenant.push("org/app", {"app.txt": "uses lib\n"}, "App side",
                          change_id="I" + "a" * 40)
        lib = tenant.push("org/lib", {"lib.txt": "serves app\n"}, "Lib side",
                          depends_on=[app])
        # the app change is amended to need the lib change: a cycle
        again = tenant.push("org/app", {"app.txt": "uses lib\n"}, "App side",
                            change_id="I" + "a" * 40, depends_on=[lib])
        assert again == app
        tenant.approve(lib)
        tenant.approve(app)
        def merged_and_reported(n: int) -> bool:
            """Each side is merged, then reported: its last gate report has a result."""
            reports = tenant.reports(n, "gate")
            return tenant.change(n).status == "MERGED" and bool(reports) \
                and reports[-1].result is not None

        tenant.wait_for(lambda: merged_and_reported(app) and merged_and_reported(lib),
                        timeout=180, what="both sides of the cycle to merge and be reported")
        assert tenant.branch_file("org/app", "app.txt") == "uses lib\n"
        assert tenant.branch_file("org/lib", "lib.txt") == "serves app\n"
        for n in (app, lib):
            assert [r.result for r in tenant.reports(n, "gate") if r.result] == ["SUCCESS"]
    finally:
        tenant.stop()


def test_a_cycle_with_a_bad_side_merges_neither(tmp_path: Path, database_url: str) -> None:
    tenant = cycle_tenant(tmp_path, database_url)
    try:
        tips = {p: git(tenant.forge.repo_path(p), "rev-parse", "refs/heads/main").strip()
                for p in ("org/app", "org/lib")}
        app = tenant.push("org/app", {"app.txt": "x\n"}, "App", change_id="I" + "b" * 40)
        lib = tenant.push("org/lib", {"value.txt": "bad\n"}, "Bad lib", depends_on=[app])
        tenant.push("org/app", {"app.txt": "x\n"}, "App", change_id="I" + "b" * 40,
                    depends_on=[lib])
        tenant.approve(lib)
        tenant.approve(app)
        for n in (app, lib):
            assert tenant.wait_reported(n, "gate", timeout=180).result == "FAILURE"
        for p, tip in tips.items():
            assert git(tenant.forge.repo_path(p), "rev-parse", "refs/heads/main").strip() == tip
    finally:
        tenant.stop()
