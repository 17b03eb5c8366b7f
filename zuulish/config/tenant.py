"""The tenant file (Zuul's format): which projects a tenant loads, and how."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zuulish.config.auth_rules import RULE_ENTRIES, AuthRule, TenantAuthRules, parse_rule
from zuulish.config.yaml_loader import key_line, load_yaml, where
from zuulish.errors import ConfigError

CONFIG_OBJECTS = ("pipeline", "job", "semaphore", "project", "project-template", "nodeset",
                  "secret", "queue", "pragma", "provider", "section", "label", "flavor",
                  "image")
TENANT_KEYS = {"name", "source", "max-nodes-per-job", "max-job-timeout", "default-parent",
               "allowed-reporters", "allowed-labels", "disallowed-labels",
               "exclude-unprotected-branches", "exclude-locked-branches", "report-build-page",
               "web-root", "allowed-triggers", "default-ansible-version", "authorization-rules",
               "admin-rules", "access-rules", "semaphores", "include-branches",
               "exclude-branches", "always-dynamic-branches", "image-build-pipeline"}
PROJECT_KEYS = {"include", "exclude", "shadow", "load-branch", "include-branches",
                "exclude-branches", "always-dynamic-branches", "exclude-unprotected-branches",
                "exclude-locked-branches", "extra-config-paths", "implied-branch-matchers",
                "configure-projects", "projects"}
SOURCE_KEYS = {"config-projects", "untrusted-projects"}
# Zuul's tenant and project options zuulish does not honour, with why; the value
# named after the reason is accepted (it is what zuulish does anyway).
UNHONOURED_TENANT_KEYS: dict[str, tuple[str, Any]] = {
    "exclude-unprotected-branches": ("the built-in forge has no protected branches", False),
    "exclude-locked-branches": ("the built-in forge has no locked branches", False),
    "report-build-page": ("each job in a report links to its build page", True),
    "web-root": ("the dashboard's address is 'web.url' in zuulish.yaml", None),
    "allowed-triggers": ("every configured connection may trigger", None),
    "semaphores": ("global semaphores are not available", None),
    "include-branches": ("set include-branches on each project", None),
    "exclude-branches": ("set exclude-branches on each project", None),
    "always-dynamic-branches": ("every branch's configuration is loaded", None),
    "image-build-pipeline": ("image builds are not available", None),
}
UNHONOURED_PROJECT_KEYS: dict[str, tuple[str, Any]] = {
    "shadow": ("a project's jobs cannot shadow another's", None),
    "always-dynamic-branches": ("every branch's configuration is loaded", None),
    "exclude-unprotected-branches": ("the built-in forge has no protected branches", False),
    "exclude-locked-branches": ("the built-in forge has no locked branches", False),
    "extra-config-paths": ("configuration is read from zuul.yaml, zuul.d/, .zuul.yaml and "
                           ".zuul.d/ only", None),
    "configure-projects": ("a config project configures every project already", None),
}
# Entries of the tenant file beside ``tenant``, none of them available.
UNHONOURED_ENTRIES = {"global-semaphore": "global semaphores are not available",
                      "api-root": "the dashboard's address is 'web.url' in zuulish.yaml"}


@dataclass(frozen=True)
class TenantProject:
    connection: str
    name: str
    trusted: bool
    include: frozenset[str] | None = None  # object types loaded (None: Zuul's default)
    exclude: frozenset[str] = frozenset()
    load_branch: str | None = None
    implied_branch_matchers: bool | None = None  # None: Zuul's heuristic
    include_branches: tuple[str, ...] = ()  # regexes; empty: every branch
    exclude_branches: tuple[str, ...] = ()
    # where the tenant file lists it (for errors about the project itself)
    file: str | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    def loads(self, kind: str) -> bool:
        """Whether objects of ``kind`` from this project's config are loaded."""
        if kind in self.exclude:
            return False
        return self.include is None or kind in self.include

    def config_branches(self, branches: list[str], default: str) -> list[str]:
        """The branches configuration is read from, the default branch first.

        A config project's configuration comes from its default branch (it
        applies to every branch); an untrusted project's from each of its
        branches that ``include-branches``/``exclude-branches`` admit.
        ``load-branch`` names the single branch to read instead.
        """
        if self.load_branch:
            return [self.load_branch] if self.load_branch in branches else []
        if self.trusted:
            return [default] if default in branches else []
        chosen = [b for b in branches
                  if (not self.include_branches
                      or any(re.fullmatch(p, b) for p in self.include_branches))
                  and not any(re.fullmatch(p, b) for p in self.exclude_branches)]
        return sorted(chosen, key=lambda b: (b != default, b))


@dataclass
class TenantConfig:
    name: str
    projects: list[TenantProject] = field(default_factory=list)
    max_nodes_per_job: int = 5
    max_job_timeout: int = 10800
    default_parent: str = "base"
    allowed_reporters: tuple[str, ...] | None = None
    allowed_labels: tuple[str, ...] | None = None  # regexes
    disallowed_labels: tuple[str, ...] = ()  # regexes
    exclude_unprotected_branches: bool = False
    auth_rules: TenantAuthRules = field(default_factory=TenantAuthRules)

    def forbidden_label(self, label: str) -> str | None:
        """Why a nodeset of this tenant may not use ``label`` (None: it may)."""
        if self.allowed_labels is not None and not any(
                re.fullmatch(p, label) for p in self.allowed_labels):
            return f"label {label!r} is not allowed in tenant {self.name!r} " \
                   f"(allowed-labels: {', '.join(self.allowed_labels)})"
        if any(re.fullmatch(p, label) for p in self.disallowed_labels):
            return f"label {label!r} is disallowed in tenant {self.name!r}"
        return None

    def forbidden_reporter(self, connection: str) -> str | None:
        """Why this tenant's pipelines may not report to ``connection``."""
        if self.allowed_reporters is not None and connection not in self.allowed_reporters:
            return f"tenant {self.name!r} may not report to connection {connection!r} " \
                   f"(allowed-reporters: {', '.join(self.allowed_reporters) or 'none'})"
        return None

    def project(self, name: str) -> TenantProject | None:
        for p in self.projects:
            if p.name == name:
                return p
        return None


def _check_keys(body: dict, allowed: set[str], what: str, file: str) -> None:
    for key in body:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            f, line = where(body, file)
            raise ConfigError(f"unknown attribute {key!r} in {what}{hint}", file=f,
                              line=line or None)


def _refuse_unhonoured(body: dict, unhonoured: dict[str, tuple[str, Any]], what: str,
                       file: str) -> None:
    """Refuse, at its line, an option zuulish would read and then ignore."""
    for key, (why, accepted) in unhonoured.items():
        if key in body and (accepted is None or body[key] != accepted):
            f, _ = where(body, file)
            suffix = f" (only {str(accepted).lower()} is honoured)" if accepted is not None \
                else ""
            raise ConfigError(f"{what}: {key!r} is not available in zuulish: {why}{suffix}",
                              file=f, line=key_line(body, key) or None)


def _ansible_version(body: dict, what: str, file: str) -> None:
    """``default-ansible-version``: only the Ansible zuulish runs."""
    from zuulish.config.parser import SHIPPED_ANSIBLE

    value = body.get("default-ansible-version")
    if value is not None and (isinstance(value, bool) or str(value) != SHIPPED_ANSIBLE):
        f, _ = where(body, file)
        raise ConfigError(f"{what}: default-ansible-version {value!r} is not available; "
                          f"zuulish runs Ansible {SHIPPED_ANSIBLE} only", file=f,
                          line=key_line(body, "default-ansible-version") or None)


def _types(value: Any, file: str, line: int, what: str) -> frozenset[str]:
    kinds = value if isinstance(value, list) else [value]
    for kind in kinds:
        if kind not in CONFIG_OBJECTS:
            close = difflib.get_close_matches(str(kind), CONFIG_OBJECTS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{what}: {kind!r} is not a configuration object type{hint}",
                              file=file, line=line)
    return frozenset(str(k) for k in kinds)


def _projects(connection: str, entries: Any, trusted: bool, file: str, line: int,
              inherited: dict[str, Any] | None = None) -> list[TenantProject]:
    if not isinstance(entries, list):
        raise ConfigError("a project list must be a list", file=file, line=line)
    out = []
    item_lines = getattr(entries, "item_lines", None) or []
    for i, entry in enumerate(entries):
        f, ln = where(entry, file, item_lines[i] if i < len(item_lines) else line)
        options: dict[str, Any] = dict(inherited or {})
        if isinstance(entry, str):
            names = [entry]
        elif isinstance(entry, dict) and "projects" in entry:  # a project group
            _check_keys(entry, PROJECT_KEYS, "project group", file)
            _refuse_unhonoured(entry, UNHONOURED_PROJECT_KEYS, "project group", file)
            group = {k: v for k, v in entry.items() if k != "projects"}
            out.extend(_projects(connection, entry["projects"], trusted, f, ln,
                                 {**options, **group}))
            continue
        elif isinstance(entry, dict) and len(entry) == 1:
            name, opts = next(iter(entry.items()))
            opts = opts or {}
            if not isinstance(opts, dict):
                raise ConfigError(f"options of project {name!r} must be a mapping",
                                  file=f, line=ln)
            _check_keys(opts, PROJECT_KEYS - {"projects"}, f"project {name!r}", file)
            _refuse_unhonoured(opts, UNHONOURED_PROJECT_KEYS, f"project {name!r}", file)
            options.update(opts)
            names = [str(name)]
        else:
            raise ConfigError(f"cannot read project entry {entry!r}", file=f, line=ln)
        include = options.get("include")
        if include is not None and not include:
            include = []  # `include: []` loads nothing from the project
        for name in names:
            out.append(TenantProject(
                connection, name, trusted,
                include=(_types(include, f, ln, f"project {name!r} include")
                         if include is not None else None),
                exclude=(_types(options["exclude"], f, ln, f"project {name!r} exclude")
                         if options.get("exclude") else frozenset()),
                load_branch=options.get("load-branch"),
                implied_branch_matchers=_bool_option(options, "implied-branch-matchers", f, ln),
                include_branches=_patterns(options, "include-branches", f, ln),
                exclude_branches=_patterns(options, "exclude-branches", f, ln),
                file=f, line=ln or None))
    return out


def _bool_option(options: dict, key: str, file: str, line: int) -> bool | None:
    value = options.get(key)
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"project option {key!r} must be true or false, not {value!r}",
                          file=file, line=line)
    return value


def _patterns(options: dict, key: str, file: str, line: int) -> tuple[str, ...]:
    value = options.get(key) or []
    patterns = tuple(str(v) for v in (value if isinstance(value, list) else [value]))
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"project option {key!r}: {pattern!r} is not a valid regular "
                              f"expression: {exc}", file=file, line=line) from None
    return patterns


def _int(body: dict, key: str, default: int, file: str, line: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"tenant attribute {key!r} must be a positive integer, not "
                          f"{value!r}", file=file, line=line)
    return value


def _names(body: dict, key: str) -> tuple[str, ...] | None:
    value = body.get(key)
    if value is None:
        return None
    return tuple(str(v) for v in (value if isinstance(value, list) else [value]))


def load_tenants(path: Path, connections: set[str]) -> list[TenantConfig]:
    """Read the tenant file; connections must name configured connections."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read tenant file: {exc.strerror}", file=str(path)) from exc
    data = load_yaml(text, str(path))
    if not isinstance(data, list):
        raise ConfigError("tenant file must be a list of '- tenant:' entries", file=str(path))
    rules = _rules(data, str(path))
    tenants: list[TenantConfig] = []
    for entry in data:
        f, line = where(entry, str(path))
        if isinstance(entry, dict) and len(entry) == 1 and next(iter(entry)) in RULE_ENTRIES:
            continue
        if isinstance(entry, dict) and len(entry) == 1 and next(iter(entry)) in \
                UNHONOURED_ENTRIES:
            kind = next(iter(entry))
            raise ConfigError(f"'{kind}' is not available in zuulish: "
                              f"{UNHONOURED_ENTRIES[kind]}", file=f, line=line)
        if not isinstance(entry, dict) or "tenant" not in entry:
            raise ConfigError("expected '- tenant:'", file=f, line=line)
        body = entry["tenant"]
        if not isinstance(body, dict) or "name" not in body:
            raise ConfigError("tenant needs a 'name'", file=f, line=line)
        _check_keys(body, TENANT_KEYS, f"tenant {body['name']!r}", str(path))
        _refuse_unhonoured(body, UNHONOURED_TENANT_KEYS, f"tenant {body['name']!r}", str(path))
        _ansible_version(body, f"tenant {body['name']!r}", str(path))
        if any(t.name == body["name"] for t in tenants):
            raise ConfigError(f"tenant {body['name']!r} is defined twice", file=f, line=line)
        tenant = TenantConfig(
            str(body["name"]),
            max_nodes_per_job=_int(body, "max-nodes-per-job", 5, f, line),
            max_job_timeout=_int(body, "max-job-timeout", 10800, f, line),
            default_parent=str(body.get("default-parent", "base")),
            allowed_reporters=_names(body, "allowed-reporters"),
            allowed_labels=_names(body, "allowed-labels"),
            disallowed_labels=_names(body, "disallowed-labels") or (),
            exclude_unprotected_branches=bool(body.get("exclude-unprotected-branches", False)),
            auth_rules=TenantAuthRules(
                admin=(*_rule_names(body, "admin-rules", rules, str(path)),
                       *_rule_names(body, "authorization-rules", rules, str(path))),
                access=_rule_names(body, "access-rules", rules, str(path))))
        for conn, src in (body.get("source") or {}).items():
            sf, sl = where(src, f, line)
            if conn not in connections:
                raise ConfigError(
                    f"tenant {tenant.name!r} uses unknown connection {conn!r}; "
                    f"configured: {', '.join(sorted(connections)) or 'none'}", file=sf, line=sl)
            if not isinstance(src, dict):
                raise ConfigError(f"source {conn!r} must be a mapping with config-projects "
                                  "and untrusted-projects", file=sf, line=sl)
            _check_keys(src, SOURCE_KEYS, f"source {conn!r}", str(path))
            for key, trusted in (("config-projects", True), ("untrusted-projects", False)):
                tenant.projects.extend(_projects(conn, src.get(key) or [], trusted, sf, sl))
        tenants.append(tenant)
    return tenants


def _rules(data: list, file: str) -> dict[str, AuthRule]:
    """The file's ``authorization-rule`` / ``admin-rule`` entries by name."""
    rules: dict[str, AuthRule] = {}
    for entry in data:
        if not (isinstance(entry, dict) and len(entry) == 1
                and next(iter(entry)) in RULE_ENTRIES):
            continue
        f, line = where(entry, file)
        rule = parse_rule(next(iter(entry.values())), f, line)
        if rule.name in rules:
            raise ConfigError(f"authorization rule {rule.name!r} is defined twice", file=f,
                              line=line)
        rules[rule.name] = rule
    return rules


def _rule_names(body: dict, key: str, rules: dict[str, AuthRule],
                file: str) -> tuple[AuthRule, ...]:
    """A tenant's ``admin-rules`` / ``access-rules``: names of rules in the file."""
    value = body.get(key)
    if value is None:
        return ()
    f, _ = where(body, file)
    line = key_line(body, key) or None
    names = value if isinstance(value, list) else [value]
    found = []
    for name in names:
        if not isinstance(name, str) or name not in rules:
            known = ", ".join(sorted(rules)) or "none"
            raise ConfigError(f"tenant {body['name']!r} {key}: no authorization rule named "
                              f"{name!r} (defined: {known})", file=f, line=line)
        found.append(rules[name])
    return tuple(found)
