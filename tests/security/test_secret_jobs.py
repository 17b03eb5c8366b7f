"""Attack 9 (issue 15): a child job overriding a variable of a secret-using
trusted parent got the secret out through the parent's own shell task.

As in Zuul, a secret-using job is kept to its owners with ``final``,
``protected`` or ``allowed-projects`` (each enforced here with a message naming
the rule); one that is none of those may still be inherited by another project
(Zuul allows it: the secret stays bound to the parent's playbooks), and then the
child's values reach the parent's trusted playbook frozen and unsafe, so a
template in them cannot read the secret, and the library quotes them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.tenant import PIPELINES, GateTenant
from tests.unit.test_job_use_rules import SECRET, build, stanza
from zuulish.config.freeze import freeze_job_graph
from zuulish.errors import ConfigError
from zuulish.executor.sandbox import unavailable
from zuulish.store import BuildRow

DEPLOY = SECRET + "- job:\n    name: deploy\n    run: d.yaml\n    secrets: [creds]\n"


def test_a_protected_secret_job_may_not_be_inherited_by_another_project() -> None:
    central = DEPLOY.replace("run: d.yaml", "run: d.yaml\n    protected: true")
    app = ("- job:\n    name: my-deploy\n    parent: deploy\n    vars: {target: x}\n"
           + stanza("check", "my-deploy"))
    with pytest.raises(ConfigError, match="job 'my-deploy' cannot inherit from 'deploy': it "
                                          "is protected and may only be inherited by jobs "
                                          "of 'config'"):
        freeze_job_graph(build(app, central=central), "org/app", "main", "check")


def test_a_protected_secret_job_may_not_be_changed_by_another_projects_variant() -> None:
    central = DEPLOY.replace("run: d.yaml", "run: d.yaml\n    protected: true")
    app = "- job:\n    name: deploy\n    vars: {target: x}\n" + stanza("check", "deploy")
    with pytest.raises(ConfigError, match="job 'deploy' is protected and may only be "
                                          "changed by variants of 'config', not of "
                                          "'org/app'") as caught:
        freeze_job_graph(build(app, central=central), "org/app", "main", "check")
    assert caught.value.file == "org/app/.zuul.yaml"
    inline = stanza("check", "{deploy: {vars: {target: x}}}")
    with pytest.raises(ConfigError, match="job 'deploy' is protected \\(defined in config\\) "
                                          "and cannot be changed by project 'org/app'"):
        freeze_job_graph(build(inline, central=central), "org/app", "main", "check")


def test_a_final_secret_job_may_not_be_inherited_or_changed_by_a_variant() -> None:
    central = DEPLOY.replace("run: d.yaml", "run: d.yaml\n    final: true")
    child = ("- job:\n    name: my-deploy\n    parent: deploy\n"
             + stanza("check", "my-deploy"))
    with pytest.raises(ConfigError, match="cannot inherit from 'deploy': it is final"):
        freeze_job_graph(build(child, central=central), "org/app", "main", "check")
    variant = "- job:\n    name: deploy\n    vars: {target: x}\n" + stanza("check", "deploy")
    with pytest.raises(ConfigError, match="job 'deploy' is final \\(at config/zuul.d/"
                                          "jobs.yaml:\\d+\\) and cannot be changed by a "
                                          "variant"):
        freeze_job_graph(build(variant, central=central), "org/app", "main", "check")
    inline = stanza("check", "{deploy: {vars: {target: x}}}")
    with pytest.raises(ConfigError, match="job 'deploy' is final and cannot be changed by "
                                          "project 'org/app'"):
        freeze_job_graph(build(inline, central=central), "org/app", "main", "check")


def test_a_secret_job_with_allowed_projects_is_refused_to_others() -> None:
    central = DEPLOY.replace("run: d.yaml", "run: d.yaml\n    allowed-projects: [org/lib]")
    child = ("- job:\n    name: my-deploy\n    parent: deploy\n"
             + stanza("check", "my-deploy"))
    with pytest.raises(ConfigError, match="job 'my-deploy' may not be used by project "
                                          "'org/app' \\(allowed-projects: org/lib\\)"):
        freeze_job_graph(build(child, central=central), "org/app", "main", "check")
    lib = stanza("check", "deploy")
    assert "deploy" in freeze_job_graph(build("", lib=lib, central=central), "org/lib",
                                        "main", "check").jobs


def test_the_owners_project_may_still_change_its_protected_job() -> None:
    central = (DEPLOY.replace("run: d.yaml", "run: d.yaml\n    protected: true")
               + "- job:\n    name: deploy\n    vars: {target: prod}\n"
               + "- job:\n    name: deploy-prod\n    parent: deploy\n"
               + stanza("check", "deploy-prod", name="org/app"))
    jobs = freeze_job_graph(build("", central=central), "org/app", "main", "check").jobs
    assert jobs["deploy-prod"].vars["target"] == "prod"


# ------------------------------------------------ through the real executor

MISSING = unavailable()
TOKEN = "s3cr3t-token-91"
CONFIG_JOBS = f"""
- secret:
    name: creds
    data:
      token: {TOKEN}
- job:
    name: deploy
    run: playbooks/deploy.yaml
    secrets: [creds]
    vars:
      target: staging
"""
DEPLOY_PLAYBOOK = """- hosts: all
  gather_facts: false
  tasks:
    - shell: echo "uploading {{ creds.token | length }} characters to" {{ target | quote }}
"""
CHILDREN = """
- job:
    name: steal-by-template
    parent: deploy
    vars:
      target: "{{ creds.token | join('-') }}"
- job:
    name: steal-with-a-fact
    parent: deploy
    vars:
      target: "{{ ansible_user_dir }}{{ creds.token | join('-') }}"
- job:
    name: steal-by-shell
    parent: deploy
    vars:
      target: "x; echo $(echo stolen-$((6*7)))"
- project:
    check:
      jobs: [steal-by-template, steal-with-a-fact, steal-by-shell]
"""


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": CHILDREN}})
    t.forge.remove("zuul-config")
    t.forge.create_project("zuul-config", {
        "zuul.d/pipelines.yaml": PIPELINES, "zuul.d/jobs.yaml": CONFIG_JOBS,
        "playbooks/deploy.yaml": DEPLOY_PLAYBOOK})
    t.start()
    yield t
    t.stop()


@pytest.mark.slow
@pytest.mark.skipif(MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")
def test_a_child_cannot_get_the_secret_out_through_its_parents_playbook(
        tenant: GateTenant) -> None:
    number = tenant.push("org/app", {"README": "more\n"}, "A change")
    tenant.wait_reported(number, "check", timeout=240)
    with tenant.aio.store.read() as s:
        done = {b.job: b for b in s.scalars(select(BuildRow))}
    texts = {job: (Path(b.log_path or "") / "job-output.txt").read_text()
             for job, b in done.items()}
    for job, build_row in done.items():
        assert build_row.result == "SUCCESS", (job, build_row.message, texts[job][-3000:])
        assert "-".join(TOKEN) not in texts[job]
        assert TOKEN not in texts[job]
    # the parent's playbook ran with the secret, and took the child's value as text
    assert (f"uploading {len(TOKEN)} characters to {{{{ creds.token | join('-') }}}}"
            in texts["steal-by-template"]), texts["steal-by-template"][-3000:]
    assert ("characters to {{ ansible_user_dir }}{{ creds.token | join('-') }}"
            in texts["steal-with-a-fact"]), texts["steal-with-a-fact"][-3000:]
    assert ("uploading 15 characters to x; echo $(echo stolen-$((6*7)))"
            in texts["steal-by-shell"]), texts["steal-by-shell"][-3000:]
    assert "stolen-42" not in texts["steal-by-shell"]
