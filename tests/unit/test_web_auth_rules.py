"""Zuul's authorization rules: read from the tenant file (errors at their line) and
matched against a token's claims."""

from __future__ import annotations

from pathlib import Path

import pytest

from zuulish.config.auth_rules import AuthRule, parse_rule
from zuulish.config.tenant import load_tenants
from zuulish.config.yaml_loader import load_yaml
from zuulish.errors import ConfigError


def rule(text: str) -> AuthRule:
    [entry] = load_yaml(text, "main.yaml")
    return parse_rule(next(iter(entry.values())), "main.yaml", 1)


def test_a_condition_matches_when_every_claim_of_it_matches() -> None:
    r = rule("- authorization-rule:\n    name: r\n    conditions:\n"
             "      - sub: alice\n        iss: corp\n")
    assert r.matches({"sub": "alice", "iss": "corp"}, "t")
    assert not r.matches({"sub": "alice", "iss": "other"}, "t")
    assert not r.matches({"sub": "alice"}, "t")


def test_any_one_condition_of_the_list_is_enough() -> None:
    r = rule("- admin-rule:\n    name: r\n    conditions:\n      - sub: alice\n"
             "      - sub: bob\n")
    assert r.matches({"sub": "bob"}, "t") and not r.matches({"sub": "carol"}, "t")


def test_a_list_claim_matches_when_it_holds_the_value() -> None:
    r = rule("- authorization-rule:\n    name: r\n    conditions:\n      - groups: ci-admins\n")
    assert r.matches({"groups": ["dev", "ci-admins"]}, "t")
    assert not r.matches({"groups": ["dev"]}, "t")
    assert not r.matches({"groups": "ci-admins-not"}, "t")


def test_nested_claims_by_dotted_path_or_nested_mapping() -> None:
    dotted = rule("- authorization-rule:\n    name: r\n    conditions:\n"
                  "      - resources_access.account.roles: admin\n")
    nested = rule("- authorization-rule:\n    name: r\n    conditions:\n"
                  "      - resources_access:\n          account:\n            roles: admin\n")
    claims = {"resources_access": {"account": {"roles": ["view", "admin"]}}}
    for r in (dotted, nested):
        assert r.matches(claims, "t")
        assert not r.matches({"resources_access": {"account": {"roles": ["view"]}}}, "t")
        assert not r.matches({"resources_access": "admin"}, "t")


def test_a_claim_named_with_dots_is_found_by_its_whole_name() -> None:
    r = rule("- authorization-rule:\n    name: r\n    conditions:\n"
             "      - https://example.com/groups: ops\n")
    assert r.matches({"https://example.com/groups": ["ops"]}, "t")


def test_tenant_name_is_substituted_for_the_tenant_asked_about() -> None:
    r = rule("- authorization-rule:\n    name: r\n    conditions:\n"
             "      - groups: '{tenant.name}-admins'\n")
    assert r.matches({"groups": ["a-admins"]}, "a")
    assert not r.matches({"groups": ["a-admins"]}, "b")


def test_values_are_compared_with_their_type() -> None:
    r = rule("- authorization-rule:\n    name: r\n    conditions:\n      - staff: true\n")
    assert r.matches({"staff": True}, "t")
    assert not r.matches({"staff": 1}, "t") and not r.matches({"staff": "true"}, "t")


TENANTS = """\
- authorization-rule:
    name: admins
    conditions:
      - groups: admins
- admin-rule:
    name: readers
    conditions: {groups: readers}
- tenant:
    name: private
    admin-rules: [admins]
    access-rules: readers
- tenant:
    name: open
    authorization-rules: [admins]
"""


def test_tenants_name_the_rules_of_the_file(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_text(TENANTS)
    private, open_ = load_tenants(tmp_path / "main.yaml", set())
    assert [r.name for r in private.auth_rules.admin] == ["admins"]
    assert [r.name for r in private.auth_rules.access] == ["readers"]
    assert [r.name for r in open_.auth_rules.admin] == ["admins"]
    assert open_.auth_rules.access == ()


@pytest.mark.parametrize("text, line, message", [
    ("- tenant:\n    name: t\n    access-rules: [nobody]\n", 3,
     "access-rules: no authorization rule named 'nobody' (defined: none)"),
    ("- authorization-rule:\n    name: r\n    conditions: [sub]\n", 3,
     "each condition must be a mapping of claim to value"),
    ("- authorization-rule:\n    name: r\n    conditions:\n      - sub: [a, b]\n", 4,
     "condition 'sub': the value must be a string, number or true/false"),
    ("- authorization-rule:\n    name: r\n    conditions:\n      - {}\n", 4,
     "must name at least one claim"),
    ("- authorization-rule:\n    name: r\n    conditions:\n      - a..b: x\n", 4,
     "a condition's claim must be a name"),
    ("- authorization-rule:\n    name: r\n    condition:\n      - sub: x\n", 3,
     "unknown attribute 'condition' in an authorization rule"),
    ("- authorization-rule:\n    conditions:\n      - sub: x\n", 2,
     "an authorization rule needs a 'name'"),
    ("- authorization-rule:\n    name: r\n    conditions: [{sub: x}]\n"
     "- admin-rule:\n    name: r\n    conditions: [{sub: y}]\n", 4,
     "authorization rule 'r' is defined twice"),
])
def test_bad_rules_are_refused_at_their_line(tmp_path: Path, text: str, line: int,
                                              message: str) -> None:
    (tmp_path / "main.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_tenants(tmp_path / "main.yaml", set())
    assert info.value.line == line and message in info.value.message, info.value
    assert info.value.file == str(tmp_path / "main.yaml")
