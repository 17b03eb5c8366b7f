"""A job's ``roles`` (Zuul's ``job.roles``), end to end: a config project's base job
lists an untrusted project's roles and a repository that is itself a role; jobs
inherit them; a change to the roles is tested speculatively by the untrusted
playbooks that use them, while the base job's trusted playbook keeps the roles
that merged (as Zuul does); a project runs a job defined in another untrusted
repository without naming it in required-projects.

Bad input: a listed repository without roles, and a role that is nowhere on the
roles path, each end their build in ERROR with a message that says what and where.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.tenant import GateTenant
from zuulish.executor.sandbox import unavailable
from zuulish.store import BuildRow

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

CONFIG_JOBS = """
- job:
    name: role-base
    parent: null
    nodeset: local
    roles:
      - zuul: org/roles
      - zuul: org/bare
        name: bare-role
    pre-run: playbooks/role-base-pre.yaml
"""
# the base job's trusted pre-run uses the untrusted project's role
TRUSTED_PRE = """- hosts: all
  gather_facts: false
  vars:
    greet_caller: trusted-pre
  roles:
    - greet
"""


def greet(version: str) -> str:
    return f"- debug:\n    msg: \"GREETING-{version} from {{{{ greet_caller }}}}\"\n"


ROLES_REPO = {
    "roles/greet/tasks/main.yaml": greet("v1"),
    "playbooks/run.yaml": """- hosts: all
  gather_facts: false
  vars:
    greet_caller: untrusted-run
  roles:
    - greet
    - bare-role
""",
    ".zuul.yaml": """
- job:
    name: roles-test
    parent: role-base
    run: playbooks/run.yaml
- project:
    check:
      jobs: [roles-test]
""",
}
BARE_REPO = {"tasks/main.yaml": "- debug:\n    msg: BARE-ROLE-RAN\n",
             "README": "a repository that is itself a role\n"}
# a job of org/lib, used by org/app: its playbook and its own role come from org/lib
LIB_REPO = {
    "roles/lib-helper/tasks/main.yaml": "- debug:\n    msg: LIB-HELPER-RAN\n",
    "playbooks/lib.yaml": """- hosts: all
  gather_facts: false
  vars:
    greet_caller: lib-job
  roles:
    - lib-helper
    - greet
""",
    ".zuul.yaml": """
- job:
    name: lib-job
    parent: role-base
    run: playbooks/lib.yaml
""",
}
APP_REPO = {
    ".zuul.yaml": """
- job:
    name: no-roles-job
    parent: role-base
    roles: [{zuul: org/empty}]
    run: playbooks/run.yaml
- job:
    name: missing-role-job
    parent: role-base
    run: playbooks/missing.yaml
- project:
    check:
      jobs: [lib-job, no-roles-job, missing-role-job]
""",
    "playbooks/run.yaml": "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug:\n"
                          "        msg: APP-RUN\n",
    "playbooks/missing.yaml": "- hosts: all\n  gather_facts: false\n  roles:\n"
                              "    - no-such-role\n",
}


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {
        "org/roles": ROLES_REPO, "org/bare": BARE_REPO, "org/lib": LIB_REPO,
        "org/app": APP_REPO, "org/empty": {"README": "no roles here\n"}},
        config_files={"zuul.d/jobs.yaml": CONFIG_JOBS,
                      "playbooks/role-base-pre.yaml": TRUSTED_PRE})
    t.start()
    yield t
    t.stop()


def _builds(tenant: GateTenant, job: str) -> list[BuildRow]:
    with tenant.aio.store.read() as s:
        return list(s.scalars(select(BuildRow).where(BuildRow.job == job)))


def _output(tenant: GateTenant, build: BuildRow) -> str:
    return (Path(build.log_path) / "job-output.txt").read_text()


def _messages(text: str) -> list[str]:
    return re.findall(r"msg: (.+)$", text, re.MULTILINE)


def test_roles_come_from_their_projects_tested_for_untrusted_playbooks_only(
        tenant: GateTenant) -> None:
    number = tenant.push("org/roles", {"roles/greet/tasks/main.yaml": greet("v2")},
                         "Greet differently")
    report = tenant.wait_reported(number, "check")
    assert report.result == "SUCCESS", report.message
    [build] = _builds(tenant, "roles-test")
    text = _output(tenant, build)
    # the trusted pre-run reads the roles that merged; the untrusted run the change's
    assert _messages(text) == ["GREETING-v1 from trusted-pre", "GREETING-v2 from untrusted-run",
                               "BARE-ROLE-RAN"], text


def test_a_job_from_another_untrusted_repository_runs_without_required_projects(
        tenant: GateTenant) -> None:
    number = tenant.push("org/app", {"x.txt": "x\n"}, "A change")
    tenant.wait_reported(number, "check")
    [lib] = _builds(tenant, "lib-job")
    text = _output(tenant, lib)
    assert lib.result == "SUCCESS", (lib.message, text)
    assert _messages(text) == ["GREETING-v1 from trusted-pre", "LIB-HELPER-RAN",
                               "GREETING-v1 from lib-job"], text
    # org/lib is in the workspace, at the state the merger recorded
    assert "Prepared src/localhost/org/lib at" in text

    [empty] = _builds(tenant, "no-roles-job")
    assert empty.result == "ERROR"
    assert "the roles repository org/empty" in empty.message
    assert "has no roles: Zuul's rule is a roles/ directory in the repository, or tasks/ " \
           "at its root" in empty.message

    [missing] = _builds(tenant, "missing-role-job")
    # a playbook Ansible cannot load: ERROR here; judged by its phase (FAILURE in run)
    # once the rule of issue 18's item 9 is in (as in Zuul)
    assert missing.result in ("ERROR", "FAILURE"), missing.result
    assert "the role 'no-such-role' was not found: not a role of the playbook's roles " \
           "path (" in missing.message, missing.message
    assert "roles/ of org/roles at " in missing.message
    assert "org/bare at " in missing.message and "itself the role 'bare-role'" \
        in missing.message
    # where Ansible found the error, as a path of the project, not of the executor
    assert "(at org/app/playbooks/missing.yaml:4:" in missing.message
    assert str(tenant.config.state_dir) not in missing.message


def test_a_job_from_another_repository_runs_its_playbook_and_roles_as_the_item_has_them(
        tenant: GateTenant) -> None:
    lib = tenant.push("org/lib", {
        "roles/lib-helper/tasks/main.yaml": "- debug:\n    msg: LIB-HELPER-v2\n"},
        "Change the helper")
    app = tenant.push("org/app", {"x.txt": "x\n"}, "Use the new helper", depends_on=[lib])
    tenant.wait_reported(app, "check")
    builds = [b for b in _builds(tenant, "lib-job") if "LIB-HELPER-v2" in _output(tenant, b)]
    assert builds, [(b.result, b.message) for b in _builds(tenant, "lib-job")]
    assert all(b.result == "SUCCESS" for b in builds), [b.message for b in builds]
    assert "LIB-HELPER-RAN" not in _output(tenant, builds[0])
