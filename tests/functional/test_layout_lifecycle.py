"""A tenant's layout over its life: config projects' changes validated, a broken
load keeping the last good layout, the errors on the API and the status page,
and reloading the tenant file with SIGHUP or ``zuulish tenant reconfigure``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.tenant import PIPELINES, GateTenant, git
from zuulish.runner import WebThread, free_port

pytestmark = pytest.mark.slow

CONFIG_JOBS = """
- job:
    name: config-check
    parent: run-shell
- project:
    name: zuul-config
    check:
      jobs: [config-check]
    gate:
      jobs: [config-check]
"""
APP = """
- project:
    check:
      jobs: [run-shell]
"""
BROKEN = PIPELINES + "- pipeline:\n    name: [unclosed\n"


def push_branch(tenant: GateTenant, project: str, files: dict[str, str]) -> str:
    """An administrator's direct push onto ``main`` (no review); the new tip."""
    work = tenant.tmp / "work" / f"direct-{time.monotonic_ns()}"
    git(tenant.tmp, "clone", "-q", str(tenant.forge.repo_path(project)), str(work))
    for path, text in files.items():
        (work / path).write_text(text)
    git(work, "commit", "-q", "-am", "Direct push")
    subprocess.run(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], cwd=work,
                   check=True, capture_output=True,
                   env={**os.environ, "ZUULISH_FORGE_ADMIN": "1"})
    return git(work, "rev-parse", "HEAD").strip()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": APP}},
                   config_files={"zuul.d/jobs.yaml": CONFIG_JOBS})
    t.start()
    yield t
    t.stop()


def test_config_project_change_with_broken_yaml_is_reported_and_never_merges(
        tenant: GateTenant) -> None:
    number = tenant.push("zuul-config", {"zuul.d/pipelines.yaml": BROKEN}, "Break pipelines")
    report = tenant.wait_reported(number, "check")
    assert report.result == "CONFIG_ERROR", report.message
    assert "zuul-config/zuul.d/pipelines.yaml:" in report.message
    tenant.approve(number)
    gate = tenant.wait_reported(number, "gate")
    assert gate.result == "CONFIG_ERROR"
    assert "zuul-config/zuul.d/pipelines.yaml:" in gate.message
    assert tenant.change(number).status == "NEW"
    assert tenant.branch_file("zuul-config", "zuul.d/pipelines.yaml") == PIPELINES
    # A good config project change still runs its jobs and merges.
    good = tenant.push("zuul-config", {"zuul.d/more.yaml": "- job:\n    name: extra\n"},
                       "Add a job")
    assert tenant.wait_reported(good, "check").result == "SUCCESS"
    tenant.approve(good)
    tenant.wait_for(lambda: tenant.change(good).status == "MERGED", what="good merged")


def test_config_change_of_a_project_without_jobs_is_validated_in_check(
        tmp_path: Path, database_url: str) -> None:
    t = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": APP}}).start()
    try:
        number = t.push("zuul-config", {"zuul.d/pipelines.yaml": BROKEN}, "Break pipelines")
        report = t.wait_reported(number, "check")
        assert report.result == "CONFIG_ERROR"
        assert "zuul-config/zuul.d/pipelines.yaml:" in report.message
        good = t.push("zuul-config", {"zuul.d/more.yaml": "- job:\n    name: extra\n"},
                      "Add a job")
        # valid, and no jobs: the item ends without a vote (no no-jobs reporter here)
        t.wait_for(lambda: _ended(t, good), what="the valid change's check item to end")
        assert [r.result for r in t.reports(good)] == []
        # a change that touches no configuration still enters no pipeline
        plain = t.push("zuul-config", {"README": "hi\n"}, "Docs")
        app = t.push("org/app", {"x.txt": "x\n"}, "Later")
        assert t.wait_reported(app, "check").result == "SUCCESS"
        assert t.reports(plain) == []
    finally:
        t.stop()


def _ended(t: GateTenant, number: int) -> bool:
    from sqlalchemy import select

    from zuulish.store import QueueItemRow

    with t.aio.store.read() as s:
        states = s.scalars(select(QueueItemRow.state).where(
            QueueItemRow.change_number == number)).all()
    return bool(states) and "queued" not in states


def test_broken_config_project_push_keeps_the_last_good_layout_and_shows_why(
        tenant: GateTenant) -> None:
    tenant.config.listen_port = free_port()
    web = WebThread(tenant.aio)
    web.start()
    base = f"http://127.0.0.1:{tenant.config.listen_port}"
    try:
        assert get_json(f"{base}/api/tenant/t/config-errors") == []
        push_branch(tenant, "zuul-config", {"zuul.d/pipelines.yaml": BROKEN})
        errors = tenant.wait_for(lambda: get_json(f"{base}/api/tenant/t/config-errors"),
                                 timeout=60, what="the refused configuration's errors")
        assert errors[0]["source"] == "refused" and errors[0]["applied"] is False
        assert errors[0]["file"] == "zuul-config/zuul.d/pipelines.yaml"
        assert errors[0]["line"] and errors[0]["error"].startswith(
            f"zuul-config/zuul.d/pipelines.yaml:{errors[0]['line']}: ")
        # the tenant still has its pipelines and still tests changes
        assert set(tenant.aio.layouts.layouts["t"].pipelines) >= {"check", "gate"}
        number = tenant.push("org/app", {"x.txt": "x\n"}, "Still tested")
        assert tenant.wait_reported(number, "check").result == "SUCCESS"
        page = urllib.request.urlopen(f"{base}/t/t/status", timeout=10).read().decode()
        assert 'id="config-errors"' in page and "not applied" in page
        assert "zuul-config/zuul.d/pipelines.yaml:" in page
        tenants = get_json(f"{base}/api/tenants")
        assert tenants == [{"name": "t", "pipelines": 4, "config_errors": len(errors)}]
        assert "YAML syntax error" in errors[0]["message"]
        # fixing it applies the new configuration and clears the errors
        push_branch(tenant, "zuul-config",
                    {"zuul.d/pipelines.yaml": PIPELINES.replace("name: periodic",
                                                                "name: nightly")})
        tenant.wait_for(lambda: "nightly" in tenant.aio.layouts.layouts["t"].pipelines,
                        timeout=60, what="the fixed configuration")
        assert get_json(f"{base}/api/tenant/t/config-errors") == []
        # a setting zuulish reads and ignores is listed as a warning, not an error
        push_branch(tenant, "zuul-config", {"zuul.d/pipelines.yaml": PIPELINES.replace(
            "name: periodic", "name: nightly").replace(
            "    manager: independent\n", "    manager: independent\n    debug: true\n", 1)})
        [warning] = tenant.wait_for(
            lambda: get_json(f"{base}/api/tenant/t/config-errors"), timeout=60,
            what="the warning of a setting read and ignored")
        assert warning["severity"] == "warning" and warning["applied"] is True
        assert warning["file"] == "zuul-config/zuul.d/pipelines.yaml" and warning["line"]
        assert "debug" in warning["error"]
        assert get_json(f"{base}/api/tenants")[0]["config_errors"] == 0
        page = urllib.request.urlopen(f"{base}/t/t/status", timeout=10).read().decode()
        assert 'id="config-warnings"' in page and 'id="config-errors"' not in page
    finally:
        web.stop()


# ------------------------------------------------------- a server of its own

NEW_CONFIG = """
- pipeline:
    name: experimental
    manager: independent
    trigger:
      forge:
        - event: comment-added
          comment: (?i)^\\s*check experimental\\s*$
"""


def _server(tmp: Path, config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zuulish.cli", "-c", str(config), "run"],
                            stdout=(tmp / "server.log").open("a"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zuulish.cli", "-c", str(config), *args],
                          capture_output=True, text=True, timeout=120)


def _pipelines(base: str) -> set[str]:
    return {p["name"] for p in get_json(f"{base}/api/tenant/t/status")["pipelines"]}


def test_sighup_and_tenant_reconfigure_reload_the_tenant_file(
        tmp_path: Path, database_url: str) -> None:
    tenant = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": APP}})
    tenant.forge.create_project("extra-config", {"zuul.d/pipelines.yaml": NEW_CONFIG})
    config = tmp_path / "zuulish.yaml"
    port = free_port()
    config.write_text(config.read_text().replace("'127.0.0.1:9', url: 'http://zuulish.test'",
                                                 f"'127.0.0.1:{port}'"))
    tenant_file = tmp_path / "main.yaml"
    original = tenant_file.read_text()
    # The tenant names a project that does not exist: the server starts anyway.
    tenant_file.write_text(original + "          - org/ghost\n")
    base = f"http://127.0.0.1:{port}"
    server = _server(tmp_path, config)
    try:
        tenant.wait_for(lambda: _up(base), timeout=60, what="the server to start")
        [ghost] = get_json(f"{base}/api/tenant/t/config-errors")
        assert ghost["file"] == str(tenant_file) and ghost["line"] == 10
        assert "'org/ghost' does not exist" in ghost["message"]
        assert _pipelines(base) == {"check", "gate", "post", "periodic"}

        # SIGHUP: the new config project's pipeline appears, without a restart
        tenant_file.write_text(original.replace("          - zuulish-jobs\n",
                                                "          - zuulish-jobs\n"
                                                "          - extra-config\n"))
        os.kill(server.pid, signal.SIGHUP)
        tenant.wait_for(lambda: "experimental" in _pipelines(base), timeout=60,
                        what="the pipeline of the reloaded tenant file")
        assert server.poll() is None
        assert get_json(f"{base}/api/tenant/t/config-errors") == []

        # A broken tenant file: refused, the running layout stays, and it says why
        tenant_file.write_text(original.replace("name: t", "name: t\n    colour: blue"))
        proc = _cli(config, "tenant", "reconfigure")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "unknown attribute 'colour'" in proc.stdout + proc.stderr
        assert "experimental" in _pipelines(base)
        errors = get_json(f"{base}/api/tenant/t/config-errors")
        assert [e["source"] for e in errors] == ["tenant-file"]
        assert errors[0]["file"] == str(tenant_file) and errors[0]["line"]

        # A missing project at reconfiguration: refused, with the reason
        tenant_file.write_text(original + "          - org/ghost\n")
        proc = _cli(config, "tenant", "reconfigure", "t")
        assert proc.returncode == 1
        assert "not applied" in proc.stdout and "'org/ghost' does not exist" in proc.stdout
        assert "experimental" in _pipelines(base)

        # and the CLI reloads a good file
        tenant_file.write_text(original)
        proc = _cli(config, "tenant", "reconfigure")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "tenant t: reconfigured (4 pipeline(s)" in proc.stdout
        assert "experimental" not in _pipelines(base)
        assert get_json(f"{base}/api/tenant/t/config-errors") == []
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def _up(base: str) -> bool:
    try:
        return bool(get_json(f"{base}/api/tenants"))
    except OSError:
        return False
