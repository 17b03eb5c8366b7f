"""Secrets reach the playbooks of the job that declares them, never the logs,
and never a change that proposes the configuration that names them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.tenant import PIPELINES, GateTenant, git
from zuulish.secrets import ProjectKeys, encrypt, encrypted_block

pytestmark = pytest.mark.slow

SECRET = "hunter2-very-secret"

JOB = """
- job:
    name: uses-secret
    run: playbooks/deploy.yaml
    secrets:
      - name: creds
        secret: deploy-creds
- job:
    name: inherits-secret-job
    parent: uses-secret
    run: playbooks/child.yaml
- project:
    reviewed:
      jobs: [uses-secret, inherits-secret-job]
"""
# A job with a secret of an untrusted project is post-review (as in Zuul): it runs
# only in pipelines for reviewed code. This one takes new patch sets, as a team
# whose pushes are all from trusted reviewers might configure it.
REVIEWED = """
- pipeline:
    name: reviewed
    manager: independent
    post-review: true
    trigger:
      forge:
        - event: patchset-created
    success:
      forge: {}
    failure:
      forge: {}
"""

# Playbooks of the job that declares the secret get it; a child job's own playbook
# does not (as in Zuul: secrets are not passed down the inheritance chain).
DEPLOY = """- hosts: all
  gather_facts: false
  tasks:
    - shell: 'test "{{ creds.token }}" = hunter2-very-secret && echo token={{ creds.token }}'
"""
CHILD = """- hosts: all
  gather_facts: false
  tasks:
    - assert:
        that: creds is not defined
"""


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/app": {"README": "app\n"}},
                   pipelines=PIPELINES + REVIEWED)
    keys = ProjectKeys(t.aio.store, t.config.state_dir, bits=2048)
    block = encrypted_block("deploy-creds", "token",
                            encrypt(keys.public_key("forge", "org/app"), SECRET))
    # The project's merged configuration defines the secret (an admin push).
    work = tmp_path / "admin"
    git(tmp_path, "clone", "-q", str(t.forge.repo_path("org/app")), str(work))
    (work / ".zuul.yaml").write_text(block + JOB)
    (work / "playbooks").mkdir()
    (work / "playbooks" / "deploy.yaml").write_text(DEPLOY)
    (work / "playbooks" / "child.yaml").write_text(CHILD)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Add the deploy secret")
    subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work, check=True,
                   env={**os.environ, "ZUULISH_FORGE_ADMIN": "1"})
    t.start()
    yield t
    t.stop()


def test_job_gets_its_secret_and_the_log_masks_it(tenant: GateTenant) -> None:
    number = tenant.push("org/app", {"x.txt": "x\n"}, "Unrelated change")
    report = tenant.wait_reported(number, "reviewed")
    assert report.result == "SUCCESS", report.message
    logs = list((tenant.config.state_dir / "logs").rglob("job-output.*"))
    assert logs
    for path in logs:
        assert SECRET not in path.read_text()
    assert any("token=******" in p.read_text() for p in logs if p.suffix == ".txt")


def test_change_proposing_config_does_not_get_the_secret(tenant: GateTenant) -> None:
    readme = tenant.branch_file("org/app", ".zuul.yaml") + "\n# a proposed tweak\n"
    number = tenant.push("org/app", {".zuul.yaml": readme}, "Touch the config")
    report = tenant.wait_reported(number, "reviewed")
    assert report.result == "FAILURE"  # the secret was withheld, so the test fails

