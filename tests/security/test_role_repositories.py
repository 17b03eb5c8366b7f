"""The repositories of a job's ``roles`` keep the rules of a playbook's own repository
(issue 15): an untrusted playbook refuses plugins shipped in any of them, reads them
read-only, and a ``roles`` or role that is a link out of its repository (as a change
proposes it, tested speculatively) ends the build in ERROR before anything runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.tenant import GateTenant, git
from zuulish.executor.sandbox import unavailable
from zuulish.store import BuildRow, ChangeRow

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

SAY = "- debug:\n    msg: ROLE-RAN\n"
WRITE = """- debug:
    msg: "{{ lookup('pipe', attempt) }}"
  vars:
    attempt: >-
      touch {{ role_path }}/planted 2>/dev/null
      && echo ROLE-WRITABLE || echo ROLE-READ-ONLY
"""
APP = """
- job:
    name: uses-plugins
    roles: [{zuul: org/plugins}]
    run: playbooks/use-r.yaml
- job:
    name: uses-bare-plugins
    roles: [{zuul: org/bare-plugins, name: r}]
    run: playbooks/use-r.yaml
- job:
    name: writes-role
    roles: [{zuul: org/writable}]
    run: playbooks/use-r.yaml
- job:
    name: uses-linked
    roles: [{zuul: org/linked}]
    run: playbooks/use-r.yaml
- project:
    check:
      jobs: [uses-plugins, uses-bare-plugins, writes-role]
"""
USE_R = "- hosts: all\n  gather_facts: false\n  roles:\n    - r\n"
LINKED = "- project:\n    check:\n      jobs: [uses-linked]\n"


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {
        "org/app": {".zuul.yaml": APP, "playbooks/use-r.yaml": USE_R},
        "org/plugins": {"roles/r/tasks/main.yaml": SAY,
                        "roles/r/action_plugins/command.py": "raise SystemExit(1)\n"},
        "org/bare-plugins": {"tasks/main.yaml": SAY,
                             "connection_plugins/local.py": "raise SystemExit(1)\n"},
        "org/writable": {"roles/r/tasks/main.yaml": WRITE},
        "org/linked": {"roles/r/tasks/main.yaml": SAY, ".zuul.yaml": LINKED}})
    t.start()
    yield t
    t.stop()


def _only(tenant: GateTenant, job: str) -> BuildRow:
    with tenant.aio.store.read() as s:
        [row] = s.scalars(select(BuildRow).where(BuildRow.job == job)).all()
        return row


def test_plugins_in_role_repositories_are_refused_and_roles_are_read_only(
        tenant: GateTenant) -> None:
    number = tenant.push("org/app", {"x.txt": "x\n"}, "A change")
    tenant.wait_reported(number, "check")
    plugins = _only(tenant, "uses-plugins")
    assert plugins.result == "ERROR"
    assert "untrusted playbooks may not ship Ansible plugins: " \
           "org/plugins/roles/r/action_plugins" in plugins.message, plugins.message
    bare = _only(tenant, "uses-bare-plugins")
    assert bare.result == "ERROR"
    assert "untrusted playbooks may not ship Ansible plugins: " \
           "org/bare-plugins/connection_plugins" in bare.message, bare.message
    for row in (plugins, bare):
        assert str(tenant.config.state_dir) not in row.message
    writes = _only(tenant, "writes-role")
    text = (Path(writes.log_path) / "job-output.txt").read_text()
    assert "msg: ROLE-READ-ONLY" in text, text
    assert "ROLE-WRITABLE" not in text
    assert writes.result == "SUCCESS", writes.message


@pytest.mark.parametrize("links, refused", [
    ({"roles": "/etc"}, "roles in org/linked is a symbolic link: refused"),
    ({"roles/escape": "/etc"},
     "the role roles/escape in org/linked is a symbolic link leading out of its "
     "repository: refused"),
])
def test_a_role_repository_with_links_out_of_it_is_refused(
        tenant: GateTenant, links: dict[str, str], refused: str) -> None:
    if "roles" in links:  # the role directory gives way to the link
        number = _push_replacing_roles(tenant, links["roles"])
    else:
        number = tenant.push("org/linked", {}, "Link a role out", links=links)
    report = tenant.wait_reported(number, "check")
    assert report.result != "SUCCESS"
    row = _only(tenant, "uses-linked")
    assert row.result == "ERROR"
    assert refused in row.message, row.message
    assert "ROLE-RAN" not in (Path(row.log_path) / "job-output.txt").read_text()


def _push_replacing_roles(tenant: GateTenant, target: str) -> int:
    """A change to org/linked whose ``roles`` is a link to ``target``."""
    work = tenant.tmp / "work" / "linked-roles"
    git(tenant.tmp, "clone", "-q", str(tenant.forge.repo_path("org/linked")), str(work))
    git(work, "rm", "-q", "-r", "roles")
    (work / "roles").symlink_to(target)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Link roles out\n\nChange-Id: I0123456789abcdef\n")
    git(work, "push", "-q", "origin", "HEAD:refs/for/main")
    sha = git(work, "rev-parse", "HEAD").strip()
    with tenant.aio.store.read() as s:
        return s.scalars(select(ChangeRow.number).where(ChangeRow.commit_sha == sha)).one()
