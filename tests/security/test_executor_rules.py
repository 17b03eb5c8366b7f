"""The pieces behind three refusals, without a build: the executor's own
``ANSIBLE_*`` variables kept from an untrusted sandbox, the cgroup limits a
local node ran into, and the rule a failed task broke (for the build's message)."""

from __future__ import annotations

from pathlib import Path

from zuulish.executor.ansible_run import _note_refusal
from zuulish.executor.node_cgroup import NodeCgroup
from zuulish.executor.sandbox_launch import digest, sandbox_environment


def test_the_executors_own_ansible_variables_are_hidden() -> None:
    environ = {"ANSIBLE_VAULT_TOKEN": "s3cret", "ANSIBLE_CONFIG": "/zuulish/empty.cfg",
               "ANSIBLE_STDOUT_CALLBACK": "awx_display", "HOME": "/root"}
    hidden = {"ANSIBLE_VAULT_TOKEN": digest("s3cret"),
              # the executor had its own value: ansible-runner's replaced it, kept
              "ANSIBLE_STDOUT_CALLBACK": digest("yaml")}
    assert sandbox_environment(environ, hidden) == {
        "ANSIBLE_CONFIG": "/zuulish/empty.cfg", "ANSIBLE_STDOUT_CALLBACK": "awx_display"}
    assert "ANSIBLE_VAULT_TOKEN" in sandbox_environment(environ)


def test_limits_hit_reads_the_event_counts(tmp_path: Path) -> None:
    v2, v1 = tmp_path / "v2", tmp_path / "v1"
    v2.mkdir()
    v1.mkdir()
    (v2 / "pids.events").write_text("max 0\n")
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert NodeCgroup([v2]).limits_hit() == ["memory"]
    (v1 / "pids.events").write_text("max 12\n")
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    assert NodeCgroup([v1]).limits_hit() == ["pids"]
    assert NodeCgroup([tmp_path / "gone"]).limits_hit() == []


def test_a_failed_task_that_broke_a_rule_is_noted_once() -> None:
    seen: dict = {}
    failed = {"res": {"msg": "untrusted playbooks may not run tasks on localhost"}}
    _note_refusal("runner_on_failed", {"ignore_errors": True, **failed}, seen)
    assert seen == {}  # an ignored failure is no refusal of the build
    _note_refusal("runner_on_failed", {"res": {"msg": "Could not find x"}}, seen)
    assert seen == {}
    _note_refusal("runner_on_failed", {"res": {"reason": "untrusted playbooks may not ship "
                                               "Ansible plugins: evil/filter_plugins"}}, seen)
    _note_refusal("runner_on_failed", failed, seen)
    assert seen == {"refused": "untrusted playbooks may not ship Ansible plugins: "
                               "evil/filter_plugins"}
