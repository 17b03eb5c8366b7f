"""Variable names a job may not set (Zuul's rules): refused in configuration at
the variable's file and line, dropped from returned data; and which project set
each variable of a frozen job."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_config_loader import JOBS, PIPELINES, _trigger
from zuulish.config.freeze import freeze_job_graph
from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.config.validate import validate
from zuulish.executor.ansible_run import JobLog
from zuulish.executor.returned import read_returned, result_file
from zuulish.model.returned_data import child_vars
from zuulish.model.varnames import forbidden


def load(app: str, central: str = "") -> Layout:
    tenant = TenantConfig("t", [TenantProject("forge", "config", True),
                                TenantProject("forge", "org/app", False)])
    loader = ConfigLoader(tenant, {"forge": "git"}, {"git": _trigger})
    return loader.build({
        "config": ("main", {"zuul.d/pipelines.yaml": PIPELINES,
                            "zuul.d/jobs.yaml": JOBS + central}),
        "org/app": ("main", {".zuul.yaml": app})})


@pytest.mark.parametrize("name", [
    "ansible_connection", "ansible_host", "ansible_port", "ansible_user",
    "ansible_ssh_common_args", "ansible_ssh_executable", "ansible_python_interpreter",
    "ansible_shell_executable", "ansible_shell_type", "ansible_become",
    "ansible_become_user", "ansible_become_exe", "ansible_perl_interpreter",
    "ansible_private_key_file", "ansible_password"])
def test_connection_variables_are_refused(name: str) -> None:
    why = forbidden(name)
    assert why is not None and "connection variables" in why
    assert forbidden(name, returned=True) is not None


@pytest.mark.parametrize("name", ["zuul", "nodepool", "unsafe_vars", "zuul_success",
                                  "zuul_will_retry", "zuulish_work_dir", "zuulish_x"])
def test_reserved_names_are_refused(name: str) -> None:
    why = forbidden(name)
    assert why is not None and "is reserved" in why


@pytest.mark.parametrize("name", ["zuul_work_dir", "tox_envlist", "ansible_user_dir_x",
                                  "ansible_check_mode_x", "command", "A1_b"])
def test_ordinary_names_are_allowed(name: str) -> None:
    assert forbidden(name) is None


def test_a_name_with_other_characters_is_refused() -> None:
    assert "letters, numbers and underscores" in (forbidden("my-var") or "")
    assert forbidden("zuul", returned=True) is None  # returned data's control key


@pytest.mark.parametrize("where,line", [
    ("vars", 6), ("extra-vars", 6), ("host-vars", 7), ("group-vars", 7)])
def test_a_connection_variable_in_a_job_is_an_error_at_its_line(where: str,
                                                                line: int) -> None:
    body = {"vars": "      ok: 1\n      ansible_python_interpreter: ./evil.sh\n",
            "extra-vars": "      ok: 1\n      ansible_python_interpreter: ./evil.sh\n",
            "host-vars": "      node:\n        ok: 1\n        ansible_python_interpreter: x\n",
            "group-vars": "      all:\n        ok: 1\n        ansible_python_interpreter: x\n",
            }[where]
    app = f"- job:\n    name: evil\n    run: r.yaml\n    {where}:\n{body}"
    layout = load(app)
    assert len(layout.errors) == 1, layout.errors
    error = layout.errors[0]
    assert (error.file, error.line) == ("org/app/.zuul.yaml", line), str(error)
    assert "variable name 'ansible_python_interpreter' is not allowed: connection " \
           "variables" in error.message


def test_config_projects_may_not_set_connection_variables_either() -> None:
    layout = load("", central="- job:\n    name: c\n    vars:\n      ansible_user: root\n")
    assert [e.message for e in layout.errors] == [
        "job 'c' vars: variable name 'ansible_user' is not allowed: connection variables "
        "(how, where and as whom Ansible runs a task) may not be set by jobs or returned "
        "data"]


def test_reserved_names_in_extra_vars_and_project_vars_are_errors() -> None:
    layout = load("- job:\n    name: j\n    extra-vars:\n      zuul: {project: x}\n"
                  "- project:\n    vars:\n      unsafe_vars: 1\n")
    messages = sorted(e.message for e in layout.errors)
    assert messages == [
        "job 'j' extra-vars: variable name 'zuul' is reserved: zuul, nodepool, unsafe_vars, "
        "zuul_success, zuul_will_retry and zuulish_* are set by zuulish itself",
        "project 'org/app' vars: variable name 'unsafe_vars' is reserved: zuul, nodepool, "
        "unsafe_vars, zuul_success, zuul_will_retry and zuulish_* are set by zuulish itself",
    ]


def test_a_project_pipeline_variant_may_not_set_them() -> None:
    layout = load("- project:\n    check:\n      jobs:\n        - base:\n            vars:\n"
                  "              ansible_shell_executable: /tmp/x\n")
    assert [(e.line, "ansible_shell_executable" in e.message) for e in layout.errors] \
        == [(6, True)]


def test_validate_config_reports_the_variable(tmp_path: Path) -> None:
    (tmp_path / ".zuul.yaml").write_text(
        "- job:\n    name: evil\n    parent: base\n    host-vars:\n      node:\n"
        "        ansible_connection: local\n")
    report = validate([tmp_path], standalone=True)
    assert [(e.line, "ansible_connection" in e.message) for e in report.errors] == [(6, True)]


def test_returned_connection_variables_are_dropped_with_the_rule(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result_file(work).write_text(
        '{"data": {"ansible_python_interpreter": "/bin/sh", "nodepool": {}, "ok": 1, '
        '"zuul": {"warnings": ["w"]}}}')
    log = JobLog(tmp_path / "logs")
    data = read_returned(work, log, [])
    log.close()
    assert data == {"ok": 1, "zuul": {"warnings": ["w"]}}
    text = (tmp_path / "logs" / "job-output.txt").read_text()
    assert "zuul_return: variable name 'ansible_python_interpreter' is not allowed: " \
           "connection variables" in text
    assert "variable name 'nodepool' is reserved" in text


def test_data_stored_before_the_rule_never_reaches_a_child() -> None:
    assert child_vars([{"ansible_host": "evil", "zuulish_work_dir": "/", "a": 1}]) == {"a": 1}


def test_frozen_jobs_know_which_project_set_each_variable() -> None:
    central = ("- job:\n    name: lib\n    run: r.yaml\n    vars:\n      work: {a: 1}\n"
               "      keep: trusted\n    host-vars:\n      node: {h: 1}\n")
    app = ("- job:\n    name: app\n    parent: lib\n    vars:\n      work: {b: 2}\n"
           "      mine: x\n    host-vars:\n      node: {h: 2}\n"
           "- project:\n    vars:\n      proj: 1\n    check:\n      jobs: [app]\n")
    layout = load(app, central)
    assert layout.errors == []
    job = freeze_job_graph(layout, "org/app", "main", "check").jobs["app"]
    sources = job.var_sources
    assert sources["vars"]["work"] == {"config": True, "org/app": False}
    assert sources["vars"]["keep"] == {"config": True}
    assert sources["vars"]["mine"] == {"org/app": False}
    assert sources["vars"]["proj"] == {"org/app": False}
    assert sources["host_vars"]["node"]["h"] == {"org/app": False}
    # it travels with the frozen job to the executor
    from zuulish.model import FrozenJob
    assert FrozenJob.from_dict(job.to_dict()).var_sources == sources
