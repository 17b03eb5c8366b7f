"""Post and periodic pipelines in the all-in-one process: real git, real Ansible."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.tenant import PIPELINES, GateTenant, git
from zuulish.store import QueueItemRow

pytestmark = [pytest.mark.slow, pytest.mark.store]

# The quick start's pipelines (post and a nightly periodic among them), and one
# whose timer fires every two seconds.
TRIGGERED = PIPELINES + """
- pipeline:
    name: frequent
    manager: independent
    post-review: true
    trigger:
      timer:
        - time: '* * * * * */2'
"""

APP = """
- job:
    name: at-newrev
    parent: run-shell
    vars:
      command: >-
        test "$(git rev-parse HEAD)" = "{{ zuul.newrev }}"
        && test -z "{{ zuul.change | default('') }}"
- project:
    post:
      jobs: [at-newrev]
"""

PERIODIC = APP + """
- project:
    frequent:
      jobs: [at-newrev]
"""


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": APP, "a.txt": "a\n"}},
                   pipelines=TRIGGERED)
    t.start()
    yield t
    t.stop()


def items(tenant: GateTenant, pipeline: str) -> list[QueueItemRow]:
    with tenant.aio.store.read() as s:
        return list(s.scalars(select(QueueItemRow).where(QueueItemRow.pipeline == pipeline)
                              .order_by(QueueItemRow.id)))


def admin_push(tenant: GateTenant, files: dict[str, str]) -> str:
    work = tenant.tmp / "admin"
    if not work.exists():
        git(tenant.tmp, "clone", "-q", str(tenant.forge.repo_path("org/app")), str(work))
    git(work, "pull", "-q", "--ff-only", "origin", "main")
    for path, text in files.items():
        (work / path).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Direct push")
    subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work, check=True,
                   env={**os.environ, "ZUULISH_FORGE_ADMIN": "1"})
    return git(work, "rev-parse", "HEAD").strip()


def test_a_push_runs_the_post_job_checked_out_at_the_pushed_commit(tenant) -> None:
    sha = admin_push(tenant, {"b.txt": "b\n"})
    [item] = tenant.wait_for(lambda: [i for i in items(tenant, "post") if i.result],
                             what="the post item reported")
    assert (item.commit_sha, item.ref, item.result) == (sha, "refs/heads/main", "SUCCESS")


def test_a_periodic_pipeline_runs_the_branch_tip_when_its_tick_comes(tenant) -> None:
    sha = admin_push(tenant, {".zuul.yaml": PERIODIC})
    [item] = tenant.wait_for(lambda: [i for i in items(tenant, "frequent") if i.result][:1],
                             what="a periodic item reported")
    assert (item.commit_sha, item.ref, item.change_number, item.result) == (
        sha, "refs/heads/main", None, "SUCCESS")
