"""Zuul's rules for untrusted playbooks on localhost (the executor), through the real
runner in the bubblewrap sandbox: file operations inside the work directory,
zuul_return and Ansible's own actions pass; commands, modules a job ships, other
connections and paths outside the work directory are refused with the rule named
(``ansible_plugins/untrusted/callback/zuulish_untrusted.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.test_sandbox import PLANTED, Build, needs_bwrap, task
from zuulish.executor.ansible_plugins.untrusted.callback.zuulish_untrusted import (
    CONNECTION_RULE,
    LOCALHOST_RULE,
    PATH_RULE,
)
from zuulish.executor.returned import result_file

pytestmark = needs_bwrap

WRITE_RULE = PATH_RULE.format(verb="write", also="")
READ_RULE = PATH_RULE.format(verb="read", also=", its playbook's repository or its roles")


@pytest.fixture
def build(tmp_path: Path) -> Build:
    return Build(tmp_path)


def _untrusted(build: Build, tasks: str, hosts: str = "localhost") -> tuple[str, str, str]:
    """The build's result and message, and the messages of its tasks' results."""
    zuul = {"executor": {"result_data_file": str(result_file(build.work))}}
    result, message = build.run(build.book("local", tasks, trusted=False, hosts=hosts,
                                            extra_vars={"zuul": zuul}))
    build.text()
    return result, message, "\n".join(str(t["msg"]) for t in build.log.tasks)


def test_file_operations_inside_the_work_dir_are_allowed_on_localhost(build: Build) -> None:
    work = build.work
    template = build.state / "builds" / "b1" / "untrusted" / "project" / "playbooks" / \
        "templates" / "info.j2"
    template.parent.mkdir(parents=True)
    template.write_text("job={{ answer }}\n")
    tasks = "".join([
        task(f"file:\n  path: {work}/logs/zuul-info\n  state: directory\n  mode: '0755'"),
        task(f"copy:\n  content: \"copied\\n\"\n  dest: {work}/logs/zuul-info/copied.txt"),
        task("set_fact:\n  answer: 42"),
        task(f"template:\n  src: info.j2\n  dest: {work}/logs/zuul-info/info.txt"),
        task(f"stat:\n  path: {work}/logs/zuul-info/info.txt\nregister: st"),
        task("assert:\n  that: st.stat.exists"),
        task(f"find:\n  paths: {work}/logs\n  recurse: true\nregister: found"),
        task("assert:\n  that: found.matched == 2"),
        task(f"lineinfile:\n  path: {work}/logs/zuul-info/copied.txt\n  line: added"),
        task(f"ini_file:\n  path: {work}/logs/settings.ini\n  section: tox\n"
             "  option: envlist\n  value: py3"),
        task(f"archive:\n  path: {work}/logs/zuul-info\n  dest: {work}/logs/info.tar.gz\n"
             "  format: gz"),
        task("zuul_return:\n  data:\n    answer: 42"),
    ])
    result, message, text = _untrusted(build, tasks)
    assert result == "SUCCESS", (message, text)
    assert (work / "logs" / "zuul-info" / "info.txt").read_text() == "job=42\n"
    assert (work / "logs" / "zuul-info" / "copied.txt").read_text() == "copied\nadded\n"
    assert "envlist = py3" in (work / "logs" / "settings.ini").read_text()
    assert (work / "logs" / "info.tar.gz").stat().st_size > 0


FORBIDDEN_TASKS = {
    "command": "command: echo ran-on-localhost",
    "shell": "shell: echo ran-on-localhost",
    "raw": "raw: echo ran-on-localhost",
    "script": "script: /bin/true",
    "other module": "ping:",
    "fqcn command": "ansible.builtin.command: echo ran-on-localhost",
}


@pytest.mark.parametrize("form", sorted(FORBIDDEN_TASKS))
def test_commands_and_other_modules_are_refused_on_localhost(build: Build, form: str) -> None:
    result, message, text = _untrusted(build, task(FORBIDDEN_TASKS[form]))
    assert result == "FAILURE", (message, text)
    assert LOCALHOST_RULE in text, text
    assert "ran-on-localhost" not in text.replace("echo ran-on-localhost", "")


def test_zuul_return_on_localhost_returns_its_data(build: Build) -> None:
    result, message, _ = _untrusted(build, task("zuul_return:\n  data:\n    answer: 42"))
    assert result == "SUCCESS", message
    assert json.loads(result_file(build.work).read_text())["data"]["answer"] == 42


def _outside(build: Build) -> dict[str, str]:
    planted = build.planted  # the state dir's database: never reachable
    return {
        "copy to the state dir": f"copy:\n  content: x\n  dest: {build.state}/written.txt",
        "copy to the sandbox's /tmp": "copy:\n  content: x\n  dest: /tmp/written.txt",
        "file in the data dir": f"file:\n  path: {build.private}/planted\n  state: touch",
        "relative path": "file:\n  path: written.txt\n  state: touch",
        "link out of the work dir": (f"file:\n  path: {build.work}/link\n  src: /etc\n"
                                     "  state: link"),
        "lineinfile": f"lineinfile:\n  path: {planted}\n  line: x",
        "stat outside": "stat:\n  path: /etc/passwd",
        "copy source outside": f"copy:\n  src: /etc/passwd\n  dest: {build.work}/passwd",
        "find outside": "find:\n  paths: /etc",
        "slurp outside": f"slurp:\n  src: {planted}",
    }


OUTSIDE = ("copy to the state dir", "copy to the sandbox's /tmp", "file in the data dir",
           "relative path", "link out of the work dir", "lineinfile", "stat outside",
           "copy source outside", "find outside", "slurp outside")


@pytest.mark.parametrize("form", OUTSIDE)
def test_files_outside_the_work_dir_are_refused_on_localhost(build: Build, form: str) -> None:
    result, message, msgs = _untrusted(build, task(_outside(build)[form]))
    assert result == "FAILURE", (message, msgs)
    assert "inside the work directory" in msgs, msgs
    assert not (build.state / "written.txt").exists()
    assert not (build.private / "planted").exists()
    assert not (build.work / "link").exists()
    assert PLANTED not in msgs


def test_fetch_from_a_node_may_write_only_into_the_work_dir(build: Build) -> None:
    (build.work / "report.txt").write_text("node file\n")
    tasks = (task(f"fetch:\n  src: {build.work}/report.txt\n  dest: {build.work}/fetched/\n"
                  "  flat: true")
             + task(f"fetch:\n  src: {build.work}/report.txt\n  dest: {build.state}/\n"
                    "  flat: true"))
    result, message, msgs = _untrusted(build, tasks, hosts="all")
    assert result == "FAILURE", (message, msgs)
    assert (build.work / "fetched" / "report.txt").read_text() == "node file\n"
    assert WRITE_RULE in msgs, msgs
    assert not (build.state / "report.txt").exists()


def test_the_builtin_local_connection_by_its_full_name_is_refused(build: Build) -> None:
    tasks = task("command: echo ran-on-localhost\nconnection: ansible.builtin.local\n"
                 "vars: {ansible_connection: ansible.builtin.local}")
    result, message, msgs = _untrusted(build, tasks)
    assert result == "FAILURE", (message, msgs)
    assert CONNECTION_RULE.format(name="ansible.builtin.local") in msgs, msgs


def test_a_module_shipped_beside_the_playbook_does_not_run_on_localhost(build: Build) -> None:
    library = build.state / "builds" / "b1" / "untrusted" / "project" / "playbooks" / "library"
    library.mkdir(parents=True)
    (library / "stat.py").write_text(
        "import json\nprint(json.dumps({'changed': False, 'msg': 'shipped-module-ran'}))\n")
    result, message, msgs = _untrusted(build, task(f"stat:\n  path: {build.work}"))
    assert result == "FAILURE", (message, msgs)
    assert "may not run a module of their own on localhost" in msgs, msgs
    assert "shipped-module-ran" not in msgs


def test_trusted_playbooks_keep_localhost_without_these_rules(build: Build) -> None:
    tasks = (task(f"copy:\n  content: x\n  dest: {build.logs}/trusted.txt")
             + task("command: echo ran-on-localhost"))
    result, message = build.run(build.book("local", tasks, trusted=True, hosts="localhost"))
    assert result == "SUCCESS", message
    assert (build.logs / "trusted.txt").read_text() == "x"


def test_include_vars_reads_the_roles_vars_but_not_outside(build: Build) -> None:
    playbooks = build.state / "builds" / "b1" / "untrusted" / "project" / "playbooks"
    (playbooks / "vars").mkdir(parents=True)
    (playbooks / "vars" / "settings.yaml").write_text("answer: 42\n")
    tasks = (task("include_vars: settings.yaml") + task("assert:\n  that: answer == 42")
             + task(f"include_vars:\n  file: {build.planted}"))
    result, message, msgs = _untrusted(build, tasks)
    assert result == "FAILURE", (message, msgs)
    assert "All assertions passed" in msgs
    assert READ_RULE in msgs, msgs
    assert PLANTED not in msgs


def test_facts_of_localhost_may_be_gathered(build: Build) -> None:
    tasks = task("setup:\n  gather_subset: [min]") + task(
        "assert:\n  that: ansible_facts.python.executable is defined")
    result, message, msgs = _untrusted(build, tasks)
    assert result == "SUCCESS", (message, msgs)


def test_uri_on_localhost_may_not_read_local_urls(build: Build) -> None:
    result, message, msgs = _untrusted(build, task(
        f"uri:\n  url: file://{build.planted}\n  return_content: true"))
    assert result == "FAILURE", (message, msgs)
    assert f"{LOCALHOST_RULE}: ansible.builtin.uri to a file URL" in msgs, msgs
    assert PLANTED not in msgs
