"""Untrusted values reach trusted playbooks frozen and marked unsafe (as Zuul).

Ansible templates every string variable it reads. A value an untrusted project
wrote (a job's ``vars`` in its ``.zuul.yaml``, the data its build returned, a
branch name or a commit message in ``zuul``) would otherwise be evaluated by a
trusted playbook on the executor: ``zuul_work_dir: "{{ lookup('pipe', 'id') }}"``
on a job inheriting the library's ``tox`` ran ``id`` there.

So for trusted playbooks such a value is *frozen*: a template in it is rendered
once, here, in a sandbox (Jinja2's ``SandboxedEnvironment`` with the job's own
variables as context: no Ansible lookups, no methods, a few pure filters, bounded
sizes), and the result is marked ``!unsafe`` so Ansible takes it literally.
``zuul_work_dir: "{{ zuul.projects['host/org/app'].src_dir }}"`` still works. A
template that refers to the node's facts (``{{ ansible_user_dir }}``) and only
reads variables is left for Ansible (``Deferred``). A template that cannot be
rendered so (a lookup, an undefined variable, a
statement, an error) stays its raw text, marked unsafe, with a line in the job
log. Change metadata (the whole ``zuul`` variable) is data, not templates: each
of its strings is marked unsafe as it is.

The original values of the job's variables (all of them, marked unsafe) are
under ``unsafe_vars``, as in Zuul, for a trusted playbook that needs the text as
written. Untrusted playbooks see the values as before: they run in the sandbox.

The sandbox runs in the executor's process, so it is bounded: templates of at
most MAX_TEMPLATE characters, values of at most MAX_VALUE, no statements
(``{% for %}`` loops), no ``*``/``**``/``%`` that could build a huge value, no
filter that pads (``center``, ``indent``, ``format``) and no ``regex_replace``
(a pattern of the attacker's choosing can take exponential time in ``re``).
"""

from __future__ import annotations

import inspect
import json
import os
import shlex
from collections.abc import Callable
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from zuulish.executor.unsafe import Unsafe
from zuulish.model import FrozenJob
from zuulish.model.vars_provenance import untrusted, untrusted_projects

MAX_TEMPLATE = 4 * 1024  # characters of one template that is rendered
MAX_VALUE = 64 * 1024  # characters of a rendered value (and of one used as context)
MAX_REPEAT = 100_000  # items of a string or list made by '*'
MARKERS = ("{{", "{%", "{#")
# Variables that are data, never templates: the change metadata and, per host,
# Ansible's magic variables (as this module builds them).
DATA = ("zuul", "hostvars", "groups", "group_names", "inventory_hostname",
        "inventory_hostname_short")


def _bool(value: Any) -> bool:
    """Ansible's ``bool`` filter."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "on", "1", "true", "y", "t")


def _basename(value: Any) -> str:
    return os.path.basename(str(value))


def _dirname(value: Any) -> str:
    return os.path.dirname(str(value))


def _to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _quote(value: Any) -> str:
    return shlex.quote(str(value))


def _extract(item: Any, container: Any, morekeys: Any = None) -> Any:
    """Ansible's ``extract`` filter: ``container[item]``, then each of ``morekeys``."""
    value = container[item]
    keys = [] if morekeys is None else morekeys if isinstance(morekeys, list) else [morekeys]
    for key in keys:
        value = value[key]
    return value


class _Sandbox(SandboxedEnvironment):
    """Jinja2's sandbox, further bounded: no globals, no methods of any object, an
    allow-list of pure filters, and no operator that can make a huge value."""

    intercepted_binops = frozenset({"*", "**", "%", "//"})

    def __init__(self) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, autoescape=False)
        builtin = self.filters
        self.filters = {name: builtin[name] for name in (
            "default", "d", "lower", "upper", "trim", "string", "int", "length", "join",
            "first", "last", "map", "select", "reject", "list", "unique", "sort")}
        self.filters.update(basename=_basename, dirname=_dirname, to_json=_to_json,
                            bool=_bool, quote=_quote, extract=_extract)
        self.globals = {}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return not callable(value) and super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        sized = (str, list, tuple)
        if operator == "*":
            count = right if isinstance(left, sized) else left
            item = left if isinstance(left, sized) else right
            if isinstance(item, sized) and isinstance(count, int) \
                    and len(item) * count > MAX_REPEAT:
                raise jinja2.exceptions.SecurityError("'*' would make too large a value")
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise jinja2.exceptions.SecurityError("'**' with too large an exponent")
        if operator == "%" and isinstance(left, str):
            raise jinja2.exceptions.SecurityError("string formatting with '%'")
        return super().call_binop(context, operator, left, right)


_ENV = _Sandbox()


def mark_unsafe(value: Any) -> Any:
    """``value`` with every string in it (mapping keys too) an ``Unsafe`` string."""
    if isinstance(value, Deferred):
        return str(value)  # Ansible's to render (see Deferred)
    if isinstance(value, str):
        return value if isinstance(value, Unsafe) else Unsafe(value)
    if isinstance(value, dict):
        return {mark_unsafe(k): mark_unsafe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mark_unsafe(v) for v in value]
    return value


def _holds_deferred(value: Any) -> bool:
    if isinstance(value, Deferred):
        return True
    if isinstance(value, dict):
        return any(_holds_deferred(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_deferred(v) for v in value)
    return False


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return any(m in value for m in MARKERS)
    if isinstance(value, dict):
        return any(_has_template(k) or _has_template(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_template(v) for v in value)
    return False


# Facts a frozen value may refer to: what the node is and where its user works.
# Not ``ansible_env`` (a local node's is the executor's environment).
FACTS = frozenset({
    "ansible_user_dir", "ansible_user_id", "ansible_user_uid", "ansible_user_gid",
    "ansible_hostname", "ansible_fqdn", "ansible_nodename", "ansible_domain",
    "ansible_architecture", "ansible_machine", "ansible_system", "ansible_kernel",
    "ansible_os_family", "ansible_distribution", "ansible_distribution_version",
    "ansible_distribution_major_version", "ansible_distribution_release",
    "ansible_processor_vcpus", "ansible_processor_nproc", "ansible_memtotal_mb",
    "ansible_default_ipv4", "ansible_default_ipv6", "ansible_all_ipv4_addresses",
    "ansible_all_ipv6_addresses",
})


class Deferred(str):
    """A template left for Ansible to render: it refers to facts of the node
    (``FACTS``: ``ansible_user_dir``, ...), which exist only once the playbook
    gathered them, to nothing else but ``zuul`` (any other name could be a play
    var or a secret of the trusted playbook, which Ansible would give it), and
    it is *pure* (``_pure``): names, constants, ``[]`` and ``.`` (no ``_``
    names), the sandbox's filters, Jinja's tests and plain operators; no call,
    so no lookup, and no ``*``. ``zuul`` is unsafe, so never templated again."""


_PURE_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const,
               nodes.Getattr, nodes.Getitem, nodes.Slice, nodes.Filter, nodes.Test,
               nodes.Concat, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And,
               nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Add, nodes.Sub, nodes.List,
               nodes.Tuple, nodes.Dict, nodes.Pair, nodes.Keyword)
_BY_NAME = ("map", "select", "reject")  # filters whose first argument names a filter or test


def _pure(node: nodes.Node) -> bool:
    """Whether a parsed template only reads variables (see ``Deferred``)."""
    if not isinstance(node, _PURE_NODES):
        return False
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return False
    if isinstance(node, nodes.Filter):
        if node.name not in _ENV.filters or node.dyn_args or node.dyn_kwargs:
            return False
        if node.name in _BY_NAME and node.args:
            named = node.args[0]
            if not (isinstance(named, nodes.Const) and isinstance(named.value, str)
                    and (named.value in _ENV.filters or named.value in _ENV.tests)):
                return False
    if isinstance(node, nodes.Test) and (node.name not in _ENV.tests
                                         or node.dyn_args or node.dyn_kwargs):
        return False
    return all(_pure(child) for child in node.iter_child_nodes())


def _plain(value: Any) -> Any:
    """An expression's value as YAML can hold it: a generator (``map``, ``select``)
    becomes a list, anything else that is not plain data its text."""
    if value is None or isinstance(value, str | int | float | bool | dict | list):
        return value
    if isinstance(value, tuple) or inspect.isgenerator(value):
        return list(value)
    return str(value)


class _RenderError(Exception):
    """A template that cannot be rendered safely (the message says why)."""


def _size(value: Any) -> int:
    try:
        return len(json.dumps(value, default=str))
    except (TypeError, ValueError, RecursionError):
        return MAX_VALUE + 1


class Freezer:
    """Renders the templates of values in one scope of variables, once each.

    ``scope`` is the variables a value may refer to (the job's, as the host that
    reads it sees them); a variable that is itself a template is rendered first
    (a cycle, or one that cannot be rendered, makes the referring value fail too).
    The variables named in ``data`` are text: referring to them gives their text.
    """

    def __init__(self, scope: dict[str, Any], data: tuple[str, ...] = DATA) -> None:
        # ``data`` (the change metadata in ``zuul``, Ansible's magic variables) is
        # never rendered itself, and not bounded by MAX_VALUE (nothing can grow it)
        self.data = {name for name in data if name in scope}
        self.scope = {**scope, **{name: mark_unsafe(scope[name]) for name in self.data}}
        self._done: dict[str, tuple[bool, Any]] = {}
        self._busy: set[str] = set()

    def _variable(self, name: str) -> Any:
        """The value of ``name`` to render with (raises _RenderError)."""
        if name not in self._done:
            if name in self._busy:
                raise _RenderError(f"{name!r} refers to itself")
            self._busy.add(name)
            try:
                self._done[name] = (True, self._render_value(self.scope[name]))
            except _RenderError as exc:
                self._done[name] = (False, str(exc))
            finally:
                self._busy.discard(name)
        ok, value = self._done[name]
        if not ok:
            raise _RenderError(f"{name!r} cannot be rendered: {value}")
        if _holds_deferred(value):
            raise _RenderError(f"{name!r} refers to the node's facts")
        if name not in self.data and _size(value) > MAX_VALUE:
            self._done[name] = (False, "too large to use in a template")
            raise _RenderError(f"{name!r} is too large to use in a template")
        return value

    def _render_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._render(value)
        if isinstance(value, dict):
            return {self._render_value(k) if isinstance(k, str) else k:
                    self._render_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._render_value(v) for v in value]
        return value

    def _render(self, text: str) -> Any:
        if isinstance(text, Unsafe) or not any(m in text for m in MARKERS):
            return text
        if len(text) > MAX_TEMPLATE:
            raise _RenderError(f"the template is longer than {MAX_TEMPLATE} characters")
        if "{%" in text or "{#" in text:
            raise _RenderError("statements and comments ({% %}, {# #}) are not rendered")
        try:
            parsed = _ENV.parse(text)
            names = meta.find_undeclared_variables(parsed)
            if names & FACTS and names <= FACTS | {"zuul"} and _pure(parsed):
                return Deferred(text)
            # an unknown name is left to Jinja (StrictUndefined: an error, unless a
            # ``default`` filter catches it)
            context = {name: self._variable(name) for name in names if name in self.scope}
            inner = text.strip()
            if inner.startswith("{{") and inner.endswith("}}") and inner.count("{{") == 1:
                # one expression: its value, not its text (as Ansible gives it)
                result = _ENV.compile_expression(inner[2:-2],
                                                 undefined_to_none=False)(**context)
                if isinstance(result, jinja2.Undefined):
                    str(result)  # raises the undefined error
                result = _plain(result)
            else:
                result = _ENV.from_string(parsed).render(context)
        except _RenderError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of untrusted text: kept raw
            raise _RenderError(f"{type(exc).__name__}: {exc}") from None
        if _size(result) > MAX_VALUE:
            raise _RenderError(f"the rendered value is larger than {MAX_VALUE} characters")
        return result

    def freeze(self, value: Any) -> tuple[Any, str | None]:
        """``value`` rendered and marked unsafe, and why it could not be rendered
        (None: it was, or it holds no template). Unrenderable: the raw value."""
        if not _has_template(value):
            return mark_unsafe(value), None
        try:
            return mark_unsafe(self._render_value(value)), None
        except _RenderError as exc:
            return mark_unsafe(value), str(exc)


def _freeze(values: dict[str, Any], names: set[str], freezer: Freezer,
            problems: dict[str, str]) -> dict[str, Any]:
    """``values`` with each of ``names`` frozen; why one could not be rendered goes
    into ``problems`` (by name, the first kept)."""
    out = dict(values)
    for name in values:
        if name in names:
            out[name], problem = freezer.freeze(values[name])
            if problem is not None:
                problems.setdefault(name, problem)
    return out


def _untrusted_names(values: dict[str, Any], sources: dict[str, dict[str, bool]] | None,
                     only: Any = None) -> set[str]:
    """The names of ``values`` (those in ``only``, if given) whose sources include an
    untrusted project (no sources recorded: all)."""
    return {name for name in values if (only is None or name in only)
            and untrusted(sources.get(name) if sources is not None else None)}


def _sources(job: FrozenJob, kind: str, target: str | None = None
             ) -> dict[str, dict[str, bool]] | None:
    """The recorded sources of one kind of variable (None: none recorded)."""
    if not job.var_sources:
        return None
    known = job.var_sources.get(kind) or {}
    return known.get(target) if target is not None else known


def _groups(all_group: dict[str, Any]) -> dict[str, list[str]]:
    """Ansible's ``groups``: each group's hosts (``all`` and ``ungrouped`` too)."""
    hosts = list(all_group.get("hosts") or {})
    children = all_group.get("children") or {}
    groups = {name: list((body or {}).get("hosts") or {}) for name, body in children.items()}
    grouped = {h for members in groups.values() for h in members}
    return {"all": hosts, "ungrouped": [h for h in hosts if h not in grouped], **groups}


def trusted_view(job: FrozenJob, inventory: dict[str, Any], extra_vars: dict[str, Any],
                 returned: set[str], note: Callable[[str], None]
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The inventory and extra vars trusted playbooks get: every untrusted value
    frozen and unsafe, ``zuul`` all unsafe, the originals under ``unsafe_vars``.

    ``inventory`` and ``extra_vars`` are what untrusted playbooks get (built by
    ``job_vars.inventory``); ``returned`` names the variables that came from the
    data of the builds this one depends on (always untrusted).

    Ansible templates a variable per host, so an untrusted job variable is
    rendered for each host too (with that host's vars, groups, ``inventory_hostname``
    and ``hostvars`` as context) and the result put in the host's vars, unless the
    host or one of its groups sets that name itself; all.vars keeps the value
    rendered without a host (what ``localhost`` sees).
    """
    all_group = inventory.get("all", {})
    variables = dict(all_group.get("vars") or {})
    zuul = variables.pop("zuul", None)
    children: dict[str, Any] = dict(all_group.get("children") or {})
    hosts_in = dict(all_group.get("hosts") or {})
    groups = _groups(all_group)
    group_vars = {g: dict(b.get("vars") or {}) for g, b in children.items()
                  if isinstance(b, dict)}
    hostvars = {}
    for host, host_vars in hosts_in.items():
        mine: dict[str, Any] = dict(variables)
        for group in sorted(g for g, members in groups.items() if host in members):
            mine.update(group_vars.get(group, {}))
        hostvars[host] = {**mine, **(host_vars or {})}
    problems: dict[str, str] = {}
    scope = {**variables, "zuul": zuul, "groups": groups, "hostvars": hostvars,
             **extra_vars}
    untrusted_vars = _untrusted_names(variables, _sources(job, "vars"), job.vars) \
        | (returned & set(variables))
    generic: dict[str, str] = {}
    frozen_vars = _freeze(variables, untrusted_vars, Freezer(scope), generic)
    frozen_extra = _freeze(extra_vars, _untrusted_names(
        extra_vars, _sources(job, "extra_vars")), Freezer(scope), problems)
    frozen_vars["zuul"] = mark_unsafe(zuul)
    frozen_vars["unsafe_vars"] = mark_unsafe({**variables, **extra_vars})

    hosts: dict[str, Any] = {}
    for host, host_vars in hosts_in.items():
        host_vars = dict(host_vars or {})
        member_of = sorted(g for g, members in groups.items()
                           if host in members and g not in ("all", "ungrouped"))
        shadowed = set(host_vars).union(*(group_vars.get(g, {}) for g in member_of))
        host_scope = {**scope, **hostvars[host], "inventory_hostname": host,
                      "inventory_hostname_short": host.split(".")[0],
                      "group_names": member_of, **extra_vars}
        freezer = Freezer(host_scope)
        given = job.host_vars.get(host) or {}
        frozen = _freeze(host_vars, _untrusted_names(
            host_vars, _sources(job, "host_vars", host), given), freezer, problems)
        for name in untrusted_vars - shadowed:
            frozen[name], problem = freezer.freeze(variables[name])
            if problem is not None:
                problems.setdefault(name, problem)
        if given:
            frozen["unsafe_vars"] = mark_unsafe({**variables, **given, **extra_vars})
        hosts[host] = frozen
    if not hosts_in:
        problems = {**generic, **problems}
    frozen_children = {}
    for group, body in children.items():
        own = group_vars.get(group)
        if not own:
            frozen_children[group] = body
            continue
        group_scope = {**scope, **own, "group_names": [group]}
        frozen_children[group] = {**body, "vars": _freeze(own, _untrusted_names(
            own, _sources(job, "group_vars", group)), Freezer(group_scope), problems)}
    for name, problem in problems.items():
        note(f"variable {name!r} (untrusted) is not a template trusted playbooks "
             f"evaluate: {problem}; they get its text as written")
    frozen_all = {**all_group, "vars": frozen_vars, "hosts": hosts}
    if children:
        frozen_all["children"] = frozen_children
    return {**inventory, "all": frozen_all}, frozen_extra


def untrusted_summary(job: FrozenJob, returned: set[str]) -> str | None:
    """One job-log line naming the untrusted variables and their projects (None:
    there are none)."""
    parts = []
    for name, sources in sorted((job.var_sources or {}).get("vars", {}).items()):
        if untrusted(sources):
            parts.append(f"{name} ({', '.join(untrusted_projects(sources))})")
    parts.extend(f"{name} (returned data)" for name in sorted(returned))
    if not parts:
        return None
    return ("Variables trusted playbooks get frozen and unsafe: " + ", ".join(parts))
