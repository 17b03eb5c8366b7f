"""Zuul's ``authorization-rule`` (alias ``admin-rule``) objects of the tenant file,
and how a token's claims match one.

A rule has a ``name`` and ``conditions``: a list of conditions, any of which may
match (a single mapping is one condition). A condition maps claims to values,
and every claim of it must match. A claim is named by its key in the token or by
a dotted path into nested claims (``resources_access.account.roles``); a nested
mapping in the condition is the same as the dotted path. A claim whose value in
the token is a list matches when the list holds the value. ``{tenant.name}`` in
a value is the tenant being asked about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zuulish.config.yaml_loader import key_line, where
from zuulish.errors import ConfigError

RULE_ENTRIES = ("authorization-rule", "admin-rule")
RULE_KEYS = {"name", "conditions"}
TENANT_PLACEHOLDER = "{tenant.name}"

Scalar = str | int | float | bool
# one condition: (claim path, expected value) pairs, all of which must match
Condition = tuple[tuple[tuple[str, ...], Scalar], ...]


@dataclass(frozen=True)
class AuthRule:
    """A named rule: the token matches when any one condition matches."""

    name: str
    conditions: tuple[Condition, ...]

    def matches(self, claims: Mapping[str, Any], tenant: str) -> bool:
        return any(all(_claim_matches(claims, path, value, tenant) for path, value in cond)
                   for cond in self.conditions)


@dataclass(frozen=True)
class TenantAuthRules:
    """A tenant's ``admin-rules`` (who may enqueue, dequeue, promote, autohold) and
    ``access-rules`` (who may read it at all; none: anyone)."""

    admin: tuple[AuthRule, ...] = ()
    access: tuple[AuthRule, ...] = ()


def _lookup(claims: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    """The claim at ``path`` (found, value): a literal key with dots first, as some
    providers name claims by URL, then the nested path."""
    literal = ".".join(path)
    if literal in claims:
        return True, claims[literal]
    value: Any = claims
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _same(found: Any, expected: Scalar, tenant: str) -> bool:
    if isinstance(expected, str):
        expected = expected.replace(TENANT_PLACEHOLDER, tenant)
    if isinstance(found, bool) or isinstance(expected, bool):
        return type(found) is type(expected) and found == expected
    return found == expected


def _claim_matches(claims: Mapping[str, Any], path: tuple[str, ...], expected: Scalar,
                   tenant: str) -> bool:
    found, value = _lookup(claims, path)
    if not found:
        return False
    if isinstance(value, list):
        return any(_same(v, expected, tenant) for v in value)
    return _same(value, expected, tenant)


def _flatten(mapping: Mapping[Any, Any], prefix: tuple[str, ...], file: str,
             line: int) -> list[tuple[tuple[str, ...], Scalar]]:
    pairs: list[tuple[tuple[str, ...], Scalar]] = []
    if not mapping:
        raise ConfigError("a rule's condition must name at least one claim", file=file,
                          line=line)
    for key, value in mapping.items():
        if not isinstance(key, str) or not key or any(not p for p in key.split(".")):
            raise ConfigError(f"a condition's claim must be a name such as 'groups' or "
                              f"'realm_access.roles', not {key!r}", file=file,
                              line=key_line(mapping, key) or line)
        path = (*prefix, *key.split("."))
        if isinstance(value, Mapping):
            pairs.extend(_flatten(value, path, file, key_line(mapping, key) or line))
        elif isinstance(value, str | int | float | bool):
            pairs.append((path, value))
        else:
            raise ConfigError(f"condition {'.'.join(path)!r}: the value must be a string, "
                              f"number or true/false (a list claim in the token matches "
                              f"when it holds the value), not {value!r}", file=file,
                              line=key_line(mapping, key) or line)
    return pairs


def parse_rule(body: Any, file: str, line: int) -> AuthRule:
    """An ``authorization-rule``/``admin-rule`` body; errors at their file:line."""
    if not isinstance(body, Mapping):
        raise ConfigError("an authorization rule must be a mapping with 'name' and "
                          "'conditions'", file=file, line=line)
    f, ln = where(body, file, line)
    for key in body:
        if key not in RULE_KEYS:
            raise ConfigError(f"unknown attribute {key!r} in an authorization rule; allowed: "
                              "conditions, name", file=f, line=key_line(body, key) or ln)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("an authorization rule needs a 'name' (a string)", file=f, line=ln)
    raw = body.get("conditions")
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"authorization rule {name!r}: 'conditions' must be a list of "
                          "mappings of claim to value", file=f,
                          line=key_line(body, "conditions") or ln)
    conditions = []
    item_lines = getattr(raw, "item_lines", None) or []
    for i, cond in enumerate(raw):
        cline = item_lines[i] if i < len(item_lines) else ln
        if not isinstance(cond, Mapping):
            raise ConfigError(f"authorization rule {name!r}: each condition must be a "
                              f"mapping of claim to value, not {cond!r}", file=f, line=cline)
        conditions.append(tuple(_flatten(cond, (), f, cline)))
    return AuthRule(name, tuple(conditions))
