"""What standard roles read and return, through the whole system: ``zuul_return``'s
``secret_data`` handed to the jobs that depend on the build (as secrets: masked,
below their own variables, literal in trusted playbooks, never in clear in the
database), ``zuul.log_url`` (the build page's and API's logs link, the base of
relative artifact URLs), ``zuul.retry: false``, playbooks that cannot load, and
the variables ``zuul.event_id``, ``zuul.resources``, ``zuul.playbook_context`` and
the inventory file that zuul-jobs' log-inventory copies as ``inventory.yaml``."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.tenant import PIPELINES, GateTenant
from tests.fakes.web_server import served
from zuulish.executor.sandbox import unavailable
from zuulish.store import BuildRow, ReportRow
from zuulish.web.app import create_app

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

PASSWORD = "registry-password-5c1f0e9d"
LOG_URL = "https://logs.example/builds/abc"

# A trusted job of the config project: its playbook logs the inventory as zuul-jobs'
# log-inventory role does, and shows what it got from the producer's secret_data.
CONFIG_JOBS = """
- job:
    name: trusted-consumer
    run: playbooks/trusted-consumer.yaml
"""
TRUSTED_CONSUMER = """- hosts: all
  gather_facts: false
  tasks:
    - name: Ensure Zuul Ansible directory exists
      delegate_to: localhost
      run_once: true
      file: {path: "{{ zuul.executor.log_root }}/zuul-info", state: directory, mode: "0755"}
    - name: Copy ansible inventory to logs dir
      delegate_to: localhost
      copy: {src: "{{ zuul.executor.inventory_file }}",
             dest: "{{ zuul.executor.log_root }}/zuul-info/", mode: "0644"}
    - debug: {msg: "trusted-literal=[{{ template_secret }}]"}
    - shell: test "{{ registry_password }}" = "PASSWORD"
"""

APP_JOBS = """
- job:
    name: producer
    run: playbooks/produce.yaml
- job:
    name: consumer
    dependencies: [producer]
    run: playbooks/consume.yaml
    vars:
      shadowed: from-job-vars
- job:
    name: trusted-child
    parent: trusted-consumer
    dependencies: [producer]
- project:
    check:
      jobs: [producer, consumer, trusted-child]
"""
PRODUCE = """- hosts: all
  gather_facts: false
  tasks:
    - zuul_return:
        secret_data:
          registry_password: PASSWORD
          template_secret: !unsafe "{{ 1 }}"
          shadowed: secret-loses-to-vars
    - zuul_return:
        data:
          zuul:
            log_url: LOG_URL
            artifacts: [{name: docs, url: docs/index.html}]
    - debug:
        msg: >-
          event=[{{ zuul.event_id }}] resources=[{{ zuul.resources }}]
          run=[{{ zuul.playbook_context.playbooks[0].path }}]
          projects=[{{ zuul.playbook_context.playbook_projects | length }}]
"""
CONSUME = """- hosts: all
  gather_facts: false
  tasks:
    - shell: echo "consumer-got=[{{ registry_password }}]"
    - shell: test "{{ registry_password }}" = "PASSWORD"
    - debug: {msg: "shadowed=[{{ shadowed }}] artifact=[{{ zuul.artifacts[0].url }}]"}
"""


def _fill(text: str) -> str:
    return text.replace("PASSWORD", PASSWORD).replace("LOG_URL", LOG_URL)


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": APP_JOBS, "playbooks/produce.yaml": _fill(PRODUCE),
        "playbooks/consume.yaml": _fill(CONSUME)}})
    t.forge.remove("zuul-config")
    t.forge.create_project("zuul-config", {
        "zuul.d/pipelines.yaml": PIPELINES, "zuul.d/jobs.yaml": CONFIG_JOBS,
        "playbooks/trusted-consumer.yaml": _fill(TRUSTED_CONSUMER)})
    t.start()
    yield t
    t.stop()


def _builds(t: GateTenant) -> dict[str, BuildRow]:
    with t.aio.store.read() as s:
        return {b.job: b for b in s.scalars(select(BuildRow))}


def _log(build: BuildRow) -> str:
    return (Path(build.log_path or "") / "job-output.txt").read_text()


def test_secret_data_log_url_and_zuul_variables_reach_the_dependent_jobs(
        tenant: GateTenant) -> None:
    from zuulish.web.history import build_info

    number = tenant.push("org/app", {"README": "more\n"}, "A change")
    report = tenant.wait_reported(number, "check", timeout=240)
    done = _builds(tenant)
    assert report.result == "SUCCESS", [(b.job, b.result, b.message) for b in done.values()]
    producer, consumer, trusted = done["producer"], done["consumer"], done["trusted-child"]

    # the consumers got the value (their `test` passed) but their logs never show it
    consumer_text = _log(consumer)
    assert "consumer-got=[******]" in consumer_text, consumer_text[-3000:]
    assert "shadowed=[from-job-vars]" in consumer_text  # the lowest precedence
    assert f"artifact=[{LOG_URL}/docs/index.html]" in consumer_text
    trusted_text = _log(trusted)
    assert "trusted-literal=[{{ 1 }}]" in trusted_text, trusted_text[-3000:]
    assert PASSWORD not in consumer_text + trusted_text + _log(producer)

    # never in clear in the database: sealed in the producer's row
    assert producer.secret_result_data and PASSWORD not in producer.secret_result_data
    with tenant.aio.store.read() as s:
        stored = json.dumps([[b.params, b.result_data, b.message, b.secret_result_data]
                             for b in s.scalars(select(BuildRow))]
                            + [r.message for r in s.scalars(select(ReportRow))], default=str)
    assert PASSWORD not in stored

    # zuul.log_url: on the build page and the API; relative artifacts resolve against it
    info = build_info(tenant.aio.store, producer.id, "http://zuulish.test")
    assert info is not None and info["returned_log_url"] == LOG_URL
    assert info["artifacts"][0]["url"] == f"{LOG_URL}/docs/index.html"
    with served(lambda url: create_app(tenant.aio.store, tenant.aio.layouts,
                                       tenant.config.state_dir, url)) as url:
        with urllib.request.urlopen(f"{url}/build/{producer.id}", timeout=30) as page:
            html = page.read().decode()
        with urllib.request.urlopen(f"{url}/api/build/{producer.id}", timeout=30) as answer:
            api = json.load(answer)
    assert f'<a id="returned-log-url" href="{LOG_URL}">' in html
    assert api["returned_log_url"] == LOG_URL and "secret_result_data" not in api
    assert PASSWORD not in html + json.dumps(api)

    # the variables standard roles read
    producer_text = _log(producer)
    assert "resources=[{}]" in producer_text, producer_text[-3000:]
    assert "event=[None]" not in producer_text and "event=[]" not in producer_text
    assert "run=[untrusted/org/app/playbooks/produce.yaml]" in producer_text
    # log-inventory's copy of the inventory, where Zuul's roles look for it
    copied = Path(trusted.log_path or "") / "zuul-info" / "inventory.yaml"
    assert copied.is_file() and "zuul" in copied.read_text()
    # secret_data is given as secrets are: never in the inventory
    assert "registry_password" not in copied.read_text()


PHASE_JOBS = """
- job:
    name: pre-unloadable
    attempts: 2
    pre-run: playbooks/missing-role.yaml
    run: playbooks/ok.yaml
- job:
    name: no-retry
    attempts: 3
    pre-run: playbooks/no-retry.yaml
    run: playbooks/ok.yaml
- job:
    name: post-unloadable
    run: playbooks/ok.yaml
    post-run: playbooks/broken.yaml
- project:
    check:
      jobs: [pre-unloadable, no-retry, post-unloadable]
"""
PLAY = "- hosts: all\n  gather_facts: false\n  tasks:\n"


def test_unloadable_playbooks_and_returned_retry_follow_zuul(
        tmp_path: Path, database_url: str) -> None:
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": PHASE_JOBS,
        "playbooks/ok.yaml": PLAY + "    - debug: {msg: ok}\n",
        "playbooks/missing-role.yaml": "- hosts: all\n  gather_facts: false\n"
                                       "  roles: [no-such-role]\n",
        "playbooks/no-retry.yaml": PLAY + "    - zuul_return: {data: {zuul: {retry: false}}}\n"
                                          "    - command: /bin/false\n",
        "playbooks/broken.yaml": PLAY + "    - shell: [unclosed\n"}})
    t.start()
    try:
        number = t.push("org/app", {"README": "more\n"}, "A change")
        report = t.wait_reported(number, "check", timeout=300)
        done = _builds(t)
    finally:
        t.stop()
    assert report.result == "FAILURE"
    outcome = {job: (b.result, b.attempt) for job, b in done.items()}
    # a pre-run that cannot load is retried, counting attempts, as any pre-run failure
    assert outcome["pre-unloadable"] == ("RETRY_LIMIT", 2), done["pre-unloadable"].message
    assert "no-such-role" in (done["pre-unloadable"].message or "")
    # zuul.retry: false keeps the pre-run failure from a retry
    assert outcome["no-retry"] == ("FAILURE", 1)
    assert "not retried: the build returned zuul.retry: false" in (
        done["no-retry"].message or "")
    # a post-run playbook that cannot load: POST_FAILURE, with Ansible's reason
    assert outcome["post-unloadable"] == ("POST_FAILURE", 1)
    message = done["post-unloadable"].message or ""
    assert "could not run" in message and "YAML syntax error" in message
    assert f"post-unloadable http://zuulish.test/build/{done['post-unloadable'].id} : " \
           "POST_FAILURE" in (report.message or "")
