"""The variables Zuul gives playbooks, as roles written for Zuul read them: the
``zuul`` variable's job and item fields, the commit message that Ansible must not
template, and ``zuul_success`` / ``zuul_will_retry`` in post-run and cleanup."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import ansible

from zuulish.executor.ansible_run import JobLog, PlaybookRun
from zuulish.executor.job_vars import inventory, zuul_var
from zuulish.executor.phases import run_phases
from zuulish.executor.unsafe import Unsafe
from zuulish.model import FrozenJob

# What a change's author may write: Ansible would evaluate it if it templated it.
MESSAGE = "Fix the parser\n\nNot {{ 6 * 7 }} but {{ lookup('env', 'HOME') }}.\n"
PARAMS: dict[str, Any] = {
    "tenant": "t", "pipeline": "gate", "project": "org/app", "branch": "main", "change": 7,
    "patchset": 2, "change_url": "http://forge/7", "buildset": "bs1", "message": MESSAGE}


def test_job_and_item_fields_follow_zuuls_documentation(tmp_path: Path) -> None:
    job = FrozenJob(name="unit", attempts=4, post_timeout=600, tags=("fast", "py"),
                    post_review=True, override_checkout="stable")
    zuul = zuul_var(PARAMS, job, "b1", [], tmp_path / "work", tmp_path / "logs", "forge", 2)
    assert (zuul["attempts"], zuul["max_attempts"], zuul["timeout"], zuul["post_timeout"]) \
        == (2, 4, 1800, 600)
    assert zuul["jobtags"] == ["fast", "py"] and zuul["post_review"] is True
    assert zuul["override_checkout"] == "stable"
    assert zuul["ansible_version"] == ansible.__version__
    assert zuul["change_message"] == MESSAGE and isinstance(zuul["change_message"], Unsafe)
    assert base64.b64decode(zuul["message"]).decode() == MESSAGE  # deprecated, as in Zuul
    [this] = zuul["buildset_refs"]
    assert zuul["build_refs"] == [this] and zuul["items"] == [this]
    assert (this["change"], this["patchset"], this["change_message"]) == ("7", "2", MESSAGE)


def test_a_changes_topic_is_zuul_topic_and_never_templated(tmp_path: Path) -> None:
    job = FrozenJob(name="unit")
    plain = zuul_var(PARAMS, job, "b1", [], tmp_path / "work", tmp_path / "logs", "forge", 1)
    assert "topic" not in plain  # as Zuul: only a change with a topic has one
    params = {**PARAMS, "topic": "retry {{ 6 * 7 }}"}
    zuul = zuul_var(params, job, "b1", [], tmp_path / "work", tmp_path / "logs", "forge", 1)
    assert zuul["topic"] == "retry {{ 6 * 7 }}" and isinstance(zuul["topic"], Unsafe)
    assert zuul["items"][-1]["topic"] == "retry {{ 6 * 7 }}"


class Run:
    """A job of a trusted run playbook and a post-run and cleanup playbook that print
    what they were given, on a local node."""

    def __init__(self, tmp: Path, run_task: str = "ansible.builtin.command: 'true'",
                 pre_fails: bool = False):
        self.tmp = tmp
        self.work = tmp / "work"
        self.work.mkdir()
        books = tmp / "books"
        books.mkdir()
        show = ("    - ansible.builtin.debug:\n        msg: >-\n"
                "          {{ phase }} success={{ zuul_success | default('unset') }}"
                " retry={{ zuul_will_retry | default('unset') }}\n")
        (books / "pre.yaml").write_text(
            "- hosts: all\n  gather_facts: false\n  tasks:\n"
            f"    - ansible.builtin.command: '{'false' if pre_fails else 'true'}'\n")
        (books / "run.yaml").write_text(
            "- hosts: all\n  gather_facts: false\n  tasks:\n"
            f"    - {run_task}\n"
            "    - ansible.builtin.copy:\n        content: '{{ zuul.change_message }}'\n"
            "        dest: message.txt\n")
        (books / "post.yaml").write_text(
            "- hosts: all\n  gather_facts: false\n  vars: {phase: post}\n  tasks:\n" + show)
        (books / "cleanup.yaml").write_text(
            "- hosts: all\n  gather_facts: false\n  vars: {phase: cleanup}\n  tasks:\n"
            + show)
        self.books = books

    def go(self, attempts_left: bool = False) -> tuple[tuple[str, str], str]:
        job = FrozenJob(name="unit")
        variables = {"zuul": zuul_var(PARAMS, job, "b1", [], self.work, self.tmp / "logs",
                                      "forge", 1)}
        nodes = [{"name": "node", "label": "local", "hostname": "localhost", "id": 1,
                  "host_vars": {"ansible_connection": "zuulish_local"}}]
        inv = inventory(job, nodes, variables, self.work)
        log = JobLog(self.tmp / "logs")
        result = run_phases(
            self.tmp / "ansible", [PlaybookRun(self.books / "pre.yaml", "pre-run", True)],
            [PlaybookRun(self.books / "run.yaml", "run", True)],
            [PlaybookRun(self.books / "post.yaml", "post-run", True)],
            [PlaybookRun(self.books / "cleanup.yaml", "cleanup-run", True)],
            inv, {}, log, 60, None, self.work, attempts_left=attempts_left)
        log.close()
        return result, (self.tmp / "logs" / "job-output.txt").read_text()


def test_post_run_and_cleanup_learn_that_the_run_succeeded(tmp_path: Path) -> None:
    result, text = Run(tmp_path).go()
    assert result == ("SUCCESS", ""), text[-2000:]
    assert "post success=True retry=False" in text
    assert "cleanup success=True retry=False" in text


def test_post_run_learns_that_the_run_failed(tmp_path: Path) -> None:
    result, text = Run(tmp_path, run_task="ansible.builtin.command: 'false'").go()
    assert result[0] == "FAILURE"
    assert "post success=False retry=False" in text


def test_a_pre_run_failure_with_attempts_left_will_retry(tmp_path: Path) -> None:
    result, text = Run(tmp_path, pre_fails=True).go(attempts_left=True)
    assert result[0] == "RETRY"
    assert "post success=False retry=True" in text
    assert "cleanup success=False retry=True" in text


def test_a_pre_run_failure_on_the_last_attempt_will_not_retry(tmp_path: Path) -> None:
    result, text = Run(tmp_path, pre_fails=True).go(attempts_left=False)
    assert result[0] == "RETRY"  # the executor turns it into RETRY_LIMIT
    assert "post success=False retry=False" in text


def test_the_commit_message_reaches_playbooks_untemplated(tmp_path: Path) -> None:
    result, text = Run(tmp_path).go()
    assert result == ("SUCCESS", ""), text[-2000:]
    assert (tmp_path / "work" / "message.txt").read_text() == MESSAGE
    inventory_file = next((tmp_path / "ansible").rglob("inventory.yaml"))
    assert "!unsafe" in inventory_file.read_text()


def test_event_id_and_resources_are_given_as_zuul_gives_them(tmp_path: Path) -> None:
    job = FrozenJob(name="unit")
    zuul = zuul_var({**PARAMS, "event_id": "42"}, job, "b1", [], tmp_path / "work",
                    tmp_path / "logs", "forge", 1)
    assert zuul["event_id"] == "42"
    assert zuul["resources"] == {}  # no Kubernetes or namespace nodes
    # an item enqueued before the event was kept: undefined, as emit-job-header expects
    assert "event_id" not in zuul_var(PARAMS, job, "b1", [], tmp_path / "work",
                                      tmp_path / "logs", "forge", 1)


def test_the_inventory_file_is_named_as_zuuls(tmp_path: Path) -> None:
    zuul = zuul_var(PARAMS, FrozenJob(name="unit"), "b1", [], tmp_path / "build" / "work",
                    tmp_path / "logs", "forge", 1)
    assert zuul["executor"]["inventory_file"] == str(
        tmp_path / "build" / "ansible" / "inventory" / "inventory.yaml")
