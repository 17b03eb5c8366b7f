"""Untrusted values as trusted playbooks get them: rendered once in the sandbox
and marked unsafe, or kept as written when they cannot be rendered safely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from zuulish.executor.unsafe import Unsafe, write_extra_vars
from zuulish.executor.untrusted_vars import Freezer, trusted_view
from zuulish.model import FrozenJob

ZUUL = {"project": {"src_dir": "src/h/org/app", "name": "org/app"},
        "projects": {"h/org/app": {"src_dir": "src/h/org/app"}},
        "branch": "{{ lookup('pipe', 'id') }}"}


def freeze(value: Any, **scope: Any) -> tuple[Any, str | None]:
    return Freezer({"zuul": ZUUL, **scope}).freeze(value)


def test_a_legitimate_template_is_rendered_and_marked_unsafe() -> None:
    value, problem = freeze("{{ zuul.projects['h/org/app'].src_dir }}/sub")
    assert (value, problem) == ("src/h/org/app/sub", None)
    assert isinstance(value, Unsafe)


def test_one_expression_keeps_its_type_and_filters_work() -> None:
    assert freeze("{{ items }}", items=[1, "a"])[0] == [1, "a"]
    assert freeze("{{ path | basename }}-{{ path | dirname }}", path="/a/b")[0] == "b-/a"
    assert freeze("{{ missing | default('d') }}")[0] == "d"
    assert freeze("{{ 'yes' | bool }}")[0] is True
    assert freeze("{{ name | quote }}", name="a b")[0] == "'a b'"


def test_a_variable_that_is_itself_a_template_is_rendered_first() -> None:
    value, problem = freeze("{{ base }}/x", base="{{ zuul.project.src_dir }}")
    assert (value, problem) == ("src/h/org/app/x", None)


@pytest.mark.parametrize("text,why", [
    ("{{ lookup('pipe', 'id') }}", "undefined"),
    ("{{ query('file', '/etc/passwd') }}", "undefined"),
    ("{{ nothing }}", "undefined"),
    ("{% for x in [1] %}{{ x }}{% endfor %}", "statements"),
    ("{{ 'x' * 10000000 }}", "too large"),
    ("{{ '%0999999999d' % 1 }}", "formatting"),
    ("{{ ''.__class__ }}", ""),
    ("{{ zuul.branch.upper() }}", ""),
    ("{{ loop_a }}", "refers to itself"),
])
def test_an_unsafe_template_stays_as_written(text: str, why: str) -> None:
    value, problem = freeze(text, loop_a="{{ loop_b }}", loop_b="{{ loop_a }}")
    assert value == text and isinstance(value, Unsafe)
    assert problem is not None and why in problem, problem


def test_change_metadata_is_data_not_a_template() -> None:
    # zuul.branch holds a template: referring to it gives the text, never its value
    assert freeze("{{ zuul.branch }}")[0] == "{{ lookup('pipe', 'id') }}"


def test_nested_values_keys_included_are_marked() -> None:
    value, _ = freeze({"{{ 'k' }}": ["{{ 1 + 1 }}", 3]})
    assert value == {"k": [2, 3]}
    assert all(isinstance(k, Unsafe) for k in value)


def _inventory(variables: dict[str, Any], host_vars: dict[str, Any]) -> dict[str, Any]:
    return {"all": {"vars": {**variables, "zuul": ZUUL},
                    "hosts": {"node": {"ansible_connection": "zuulish_local", **host_vars}},
                    "children": {"g": {"hosts": {"node": None},
                                       "vars": {"gv": "{{ lookup('env', 'HOME') }}"}}}}}


def test_the_trusted_view_freezes_only_untrusted_values() -> None:
    job = FrozenJob(name="j", vars={"mine": "{{ lookup('pipe', 'id') }}",
                                    "theirs": "{{ zuul.project.src_dir }}",
                                    "trusted": "{{ lookup('env', 'HOME') }}"},
                    host_vars={"node": {"hv": "{{ nope }}"}},
                    group_vars={"g": {"gv": "{{ lookup('env', 'HOME') }}"}},
                    extra_vars={"ev": "{{ 1 + 2 }}"},
                    var_sources={"vars": {"mine": {"org/app": False},
                                          "theirs": {"config": True, "org/app": False},
                                          "trusted": {"config": True}},
                                 "extra_vars": {"ev": {"org/app": False}},
                                 "host_vars": {"node": {"hv": {"org/app": False}}},
                                 "group_vars": {"g": {"gv": {"config": True}}}})
    notes: list[str] = []
    variables = {**job.vars, "returned": "{{ lookup('pipe', 'id') }}"}
    inv, extra = trusted_view(job, _inventory(variables, job.host_vars["node"]),
                              job.extra_vars, {"returned"}, notes.append)
    got = inv["all"]["vars"]
    assert isinstance(got["mine"], Unsafe) and got["mine"] == job.vars["mine"]
    assert isinstance(got["theirs"], Unsafe) and got["theirs"] == "src/h/org/app"
    assert not isinstance(got["trusted"], Unsafe)  # a config project's: Ansible's to render
    assert isinstance(got["returned"], Unsafe)
    assert all(isinstance(v, Unsafe) for v in got["zuul"]["project"].values())
    assert got["unsafe_vars"]["theirs"] == "{{ zuul.project.src_dir }}"
    assert isinstance(got["unsafe_vars"]["theirs"], Unsafe)
    assert extra == {"ev": 3}
    host = inv["all"]["hosts"]["node"]
    assert isinstance(host["hv"], Unsafe) and host["ansible_connection"] == "zuulish_local"
    assert not isinstance(host["ansible_connection"], Unsafe)
    assert not isinstance(inv["all"]["children"]["g"]["vars"]["gv"], Unsafe)
    assert any("variable 'mine' (untrusted) is not a template" in n for n in notes), notes
    assert any("variable 'hv' (untrusted)" in n for n in notes), notes


def test_a_job_without_recorded_sources_is_all_untrusted() -> None:
    job = FrozenJob(name="j", vars={"a": "{{ lookup('pipe', 'id') }}"})
    inv, _ = trusted_view(job, _inventory(job.vars, {}), {}, set(), lambda _: None)
    assert isinstance(inv["all"]["vars"]["a"], Unsafe)


def test_extra_vars_are_written_with_their_unsafe_tags(tmp_path: Path) -> None:
    write_extra_vars(tmp_path, {"a": Unsafe("{{ x }}"), "b": "plain"})
    text = (tmp_path / "env" / "extravars").read_text()
    assert "a: !unsafe '{{ x }}'" in text and "b: plain" in text
    assert (tmp_path / "env" / "extravars").stat().st_mode & 0o777 == 0o600
    assert yaml.load(text.replace("!unsafe", ""), Loader=yaml.SafeLoader)["a"] == "{{ x }}"
    write_extra_vars(tmp_path, {})
    assert not (tmp_path / "env" / "extravars").exists()


def test_a_job_variable_is_rendered_per_host_as_ansible_would() -> None:
    command = ("{{ inventory_hostname }} {{ duty }} {{ group_names | join(',') }} "
               "{{ groups['peers'] | map('extract', hostvars, ['nodepool', 'ip']) "
               "| join(',') }}")
    job = FrozenJob(name="j", vars={"command": command, "duty": "none"},
                    group_vars={"followers": {"duty": "follow"}},
                    var_sources={"vars": {"command": {"org/app": False},
                                          "duty": {"org/app": False}}})
    inventory = {"all": {
        "vars": {**job.vars, "zuul": ZUUL},
        "hosts": {"a": {"nodepool": {"ip": "10.0.0.1"}}, "b": {"nodepool": {"ip": "10.0.0.2"}}},
        "children": {"followers": {"hosts": {"b": None}, "vars": {"duty": "follow"}},
                     "peers": {"hosts": {"a": None, "b": None}}}}}
    notes: list[str] = []
    inv, _ = trusted_view(job, inventory, {}, set(), notes.append)
    hosts = inv["all"]["hosts"]
    assert hosts["a"]["command"] == "a none peers 10.0.0.1,10.0.0.2"
    assert hosts["b"]["command"] == "b follow followers,peers 10.0.0.1,10.0.0.2"
    assert "duty" not in hosts["b"]  # its group sets it: the group's value stands
    assert isinstance(hosts["a"]["command"], Unsafe)
    assert notes == []


def test_a_generator_becomes_a_list() -> None:
    assert freeze("{{ names | map('upper') }}", names=["a", "b"])[0] == ["A", "B"]


def test_a_pure_template_of_the_nodes_facts_is_left_to_ansible() -> None:
    # Zuul jobs often write zuul_work_dir: "{{ ansible_user_dir }}/{{ ... }}"; facts
    # exist only on the node, and such a template can only read variables
    text = "{{ ansible_user_dir }}/{{ zuul.projects['h/org/app'].src_dir | default('x') }}"
    value, problem = freeze(text)
    assert (value, problem) == (text, None)
    assert type(value) is str  # not unsafe: Ansible renders it


@pytest.mark.parametrize("text", [
    "{{ lookup('pipe', 'id') }}{{ ansible_user_dir }}",
    "{{ ansible_user_dir.__class__ }}",
    "{{ ansible_user_dir | map('lookup') | list }}",
    "{{ ansible_user_dir | regex_replace('x', 'y') }}",
    "{{ ansible_user_dir * 1000 }}",
    "{{ ansible_user_dir.split('/') }}",
])
def test_a_template_of_facts_that_does_more_than_read_stays_unsafe(text: str) -> None:
    value, problem = freeze(text)
    assert value == text and isinstance(value, Unsafe) and problem is not None


@pytest.mark.parametrize("text", [
    # a secret, a play var or hostvars of the trusted playbook: Ansible would give them
    "{{ ansible_user_dir }}{{ creds.token | join('-') }}",
    "{{ ansible_user_dir }}{{ hostvars['node'].creds }}",
    "{{ ansible_user_dir }}{{ vars }}",
    "{{ ansible_env }}",
    "{{ ansible_user_dir }}{{ base }}",
])
def test_a_template_of_facts_and_other_names_is_not_left_to_ansible(text: str) -> None:
    value, problem = freeze(text, base="b")
    assert value == text and isinstance(value, Unsafe) and problem is not None
