"""Parse Zuul configuration objects (pipeline, job, project, nodeset) into the model.

Each parser receives a mapping from :mod:`zuulish.config.yaml_loader` (which
knows its file and line) and raises :class:`ConfigError` pointing at it.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from zuulish.config.requirements import APPROVAL_PARTS
from zuulish.config.requirements import READERS as REQUIREMENT_READERS
from zuulish.config.requirements import Reader as RequirementReader
from zuulish.config.warnings import warn
from zuulish.config.yaml_loader import key_line, where
from zuulish.errors import ConfigError, ConfigErrors
from zuulish.merger.speculative import MODES
from zuulish.model import (
    ChangeStateFilter,
    Job,
    NodeSet,
    NodeSpec,
    Pipeline,
    PipelineManager,
    PlaybookRef,
    ProjectConfig,
    ProjectPipelineJobs,
    ReporterSpec,
    RoleRef,
    Window,
)
from zuulish.model.pipeline import TriggerFilter
from zuulish.model.project import JobReference
from zuulish.model.requirements import Requirements
from zuulish.model.varnames import forbidden_names
from zuulish.server_config import kind_name

TriggerParser = Callable[[str, list], tuple[TriggerFilter, ...]]


@dataclass(frozen=True)
class SourceContext:
    """Where a configuration object came from."""

    project: str
    branch: str
    path: str
    trusted: bool
    # Branch matchers given to jobs, templates and project stanzas written here
    # without ``branches`` of their own (Zuul's implied branch matchers).
    implied_branches: tuple[str, ...] = ()


PIPELINE_KEYS = {
    "name", "description", "manager", "trigger", "require", "reject", "start", "success",
    "failure", "merge-conflict", "merge-failure", "config-error", "no-jobs", "enqueue",
    "dequeue", "precedence", "post-review", "supercedes", "dequeue-on-new-patchset",
    "ignore-dependencies", "window", "window-floor", "window-ceiling",
    "window-increase-type", "window-increase-factor", "window-decrease-type",
    "window-decrease-factor", "success-message", "failure-message",
    "merge-conflict-message", "start-message", "enqueue-message", "dequeue-message",
    "no-jobs-message", "footer-message", "allow-other-connections", "debug",
}
JOB_KEYS = {
    "name", "parent", "abstract", "final", "protected", "intermediate", "description",
    "tags", "branches", "files", "irrelevant-files", "match-on-config-updates", "nodeset",
    "timeout", "post-timeout", "attempts", "voting", "dependencies", "provides", "requires",
    "vars", "extra-vars", "host-vars", "group-vars", "secrets", "semaphore", "semaphores",
    "required-projects", "override-checkout", "override-branch", "roles", "pre-run", "run",
    "post-run", "cleanup-run", "allowed-projects", "post-review", "deduplicate",
    "workspace-scheme", "ansible-version", "ansible-split-streams", "include-vars",
    "image-build-name", "failure-output", "success-message", "failure-message",
    "hold-following-changes", "success-url", "failure-url", "zuul",
}
PROJECT_KEYS = {"name", "templates", "queue", "merge-mode", "default-branch", "vars",
                "description", "debug", "fail-fast", "branches"}
PROJECT_PIPELINE_KEYS = {"jobs", "queue", "debug", "fail-fast"}
NODESET_KEYS = {"name", "nodes", "groups", "alternatives"}


def _err(obj: Any, ctx: SourceContext, message: str) -> ConfigError:
    file, line = where(obj, ctx.path)
    return ConfigError(message, file=file, line=line or None)


def _err_at(body: Any, key: str, ctx: SourceContext, message: str) -> ConfigError:
    """An error at the line of ``key`` in ``body``."""
    file, _ = where(body, ctx.path)
    return ConfigError(message, file=file, line=key_line(body, key) or None)


def unknown_keys(body: dict, allowed: set[str], kind: str, ctx: SourceContext
                 ) -> list[ConfigError]:
    """An error for each attribute of ``body`` that ``allowed`` lacks, at its line."""
    errors = []
    for key in body:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            errors.append(_err_at(body, key, ctx, f"unknown attribute {key!r} in {kind}{hint}"))
    return errors


def raise_all(errors: list[ConfigError]) -> None:
    """Raise the errors found, if any: one as itself, several as ConfigErrors."""
    flat = [e for error in errors for e in getattr(error, "errors", [error])]
    if len(flat) == 1:
        raise flat[0]
    if flat:
        raise ConfigErrors(flat)


def check_keys(body: dict, allowed: set[str], kind: str, ctx: SourceContext) -> None:
    raise_all(unknown_keys(body, allowed, kind, ctx))


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _expect(body: dict, key: str, kind: type | tuple, ctx: SourceContext, what: str) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        raise _err_at(body, key, ctx, f"{what} attribute {key!r} must be {kind_name(kind)}, "
                                      f"not {value!r}")
    return value


def _name(body: Any, ctx: SourceContext, kind: str, allowed: set[str] | None = None) -> str:
    if not isinstance(body, dict):
        raise _err(body, ctx, f"{kind} must be a mapping")
    if allowed is not None:
        check_keys(body, allowed, kind, ctx)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise _err(body, ctx, f"{kind} needs a 'name'")
    return name


def _reporters(value: Any, ctx: SourceContext, connections: dict[str, str]) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise _err(value, ctx, "a reporter must be a mapping of connection name to options")
    specs = []
    for conn, opts in value.items():
        if conn not in connections:
            raise _err(value, ctx, f"reporter names unknown connection {conn!r}")
        opts = opts or {}
        if not isinstance(opts, dict):
            raise _err(value, ctx, f"options for reporter {conn!r} must be a mapping")
        parse = reporter_parser(connections.get(conn, ""))
        if parse is not None:
            try:
                specs.append(parse(conn, opts))
            except ValueError as exc:
                at, key = getattr(exc, "mapping", None), getattr(exc, "key", None)
                if isinstance(at, dict) and key_line(at, key):
                    raise _err_at(at, key, ctx, f"reporter {conn!r}: {exc}") from None
                raise _err(value, ctx, f"reporter {conn!r}: {exc}") from None
            continue
        votes = tuple((str(k), int(v)) for k, v in opts.items()
                      if k not in ("submit", "comment") and isinstance(v, int))
        specs.append(ReporterSpec(conn, votes, bool(opts.get("submit", False)),
                                  bool(opts.get("comment", True))))
    return tuple(specs)


#: drivers whose reporters take options of their own: "module:function" parsing
#: ``(connection, options) -> ReporterSpec`` (ValueError for what it refuses)
REPORTER_PARSERS = {
    "github": "zuulish.drivers.github.reporter_options:parse_reporter_options",
    "gerrit": "zuulish.drivers.gerrit.reporter_options:parse_reporter_options",
}


def reporter_parser(driver: str) -> Callable[[str, dict], ReporterSpec] | None:
    """The reporter parser of ``driver``; None: votes, ``submit`` and ``comment``."""
    spec = REPORTER_PARSERS.get(driver)
    if spec is None:
        return None
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


# A pipeline's ``require``/``reject`` per connection. Gerrit and GitHub connections
# are read as Zuul documents them for that forge (zuulish.config.requirements). For the
# built-in forge (and a connection of unknown driver, as ``validate-config`` sees it):
# what zuulish checks, what it reads and ignores (real configurations use them:
# refusing would reject them), the rest is refused. ``status`` is the change's status.
STATE_KEYS = {"open", "current-patchset", "merged", "status"}
IGNORED_FILTER_KEYS = {"review": "GitHub reviews", "label": "GitHub labels"}
CHANGE_STATUSES = ("NEW", "MERGED", "ABANDONED")
APPROVAL_IGNORED = {"username": "the forge does not record who voted"}
APPROVAL_REFUSED = {"email": "the forge does not record who voted",
                    "newer-than": "the forge does not record when a vote was cast",
                    "older-than": "the forge does not record when a vote was cast"}


def _approvals(req: dict, key: str, ctx: SourceContext, name: str
               ) -> tuple[tuple[str, Any], ...]:
    approvals = []
    for approval in _as_list(req.get("approval")):
        if not isinstance(approval, dict):
            raise _err_at(req, "approval", ctx, f"{key} approval entries must be mappings")
        for label, value in approval.items():
            if label in APPROVAL_REFUSED:
                raise _err_at(approval, label, ctx, f"pipeline {name!r}: {key} approval "
                                                    f"{label!r} is not available: "
                                                    f"{APPROVAL_REFUSED[label]}")
            if label in APPROVAL_IGNORED:
                warn(approval, label, ctx.path, f"pipeline {name!r}: {key} approval {label!r} "
                                                f"is ignored: {APPROVAL_IGNORED[label]}")
                continue
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, int) for v in values):
                raise _err_at(approval, label, ctx, f"pipeline {name!r}: {key} approval "
                                                    f"{label!r} must be a number or a list of "
                                                    f"numbers, not {value!r}")
            approvals.append((str(label), values[0] if len(values) == 1 else tuple(values)))
    return tuple(approvals)


def _state_filter(req: dict, key: str, ctx: SourceContext, name: str, driver: str
                  ) -> ChangeStateFilter | None:
    what = f"pipeline {name!r} {key}"
    flags = {}
    for flag in ("open", "current-patchset", "merged"):
        flags[flag] = _expect(req, flag, bool, ctx, what)
    status: tuple[str, ...] = ()
    if "status" in req:
        given = tuple(str(s) for s in _as_list(req["status"]))
        if given and all(s in CHANGE_STATUSES for s in given):
            status = given
        elif driver == "git":
            raise _err_at(req, "status", ctx, f"{what} status must be a change status "
                                              f"({', '.join(CHANGE_STATUSES)}), not "
                                              f"{req['status']!r}")
        else:
            # a connection whose driver is not known here (validate-config): perhaps
            # GitHub's commit status, which this reading cannot check
            warn(req, "status", ctx.path, f"{what} 'status' (a commit status) is ignored: "
                                          "zuulish does not read commit statuses")
    if not any(v is not None for v in flags.values()) and not status:
        return None
    return ChangeStateFilter(flags["open"], flags["current-patchset"], flags["merged"], status)


def _requirement_reader(driver: str, req: dict) -> RequirementReader | None:
    """The reader of a Gerrit or GitHub connection's ``require``/``reject`` (None: the
    built-in forge's reading). A connection of unknown driver (``validate-config``
    without a server configuration) is read as the forge whose attributes it uses."""
    if driver in REQUIREMENT_READERS or driver == "git":
        return REQUIREMENT_READERS.get(driver)
    if set(req) & {"review", "label", "draft"}:
        return REQUIREMENT_READERS["github"]
    votes = [a for a in _as_list(req.get("approval")) if isinstance(a, dict)]
    if set(req) & {"wip", "hashtags"} or any(set(a) & set(APPROVAL_PARTS) for a in votes):
        return REQUIREMENT_READERS["gerrit"]
    return None


@dataclass
class ChangeFilters:
    """One of a pipeline's ``require``/``reject``, per connection."""

    #: the built-in forge's approvals: (label, value or values)
    approvals: dict[str, tuple[tuple[str, Any], ...]]
    #: the built-in forge's state conditions
    states: dict[str, ChangeStateFilter]
    #: a Gerrit or GitHub connection's conditions, as Zuul reads them for that forge
    requirements: dict[str, Requirements]


def _change_filters(body: dict, key: str, ctx: SourceContext, name: str,
                    connections: dict[str, str]) -> ChangeFilters:
    """``require``/``reject`` per connection: for Gerrit and GitHub, the forge's
    conditions; for the built-in forge, approvals (label, value or values) and the
    change's state."""
    approvals: dict[str, tuple[tuple[str, Any], ...]] = {}
    states: dict[str, ChangeStateFilter] = {}
    requirements: dict[str, Requirements] = {}
    for conn, req in (_expect(body, key, dict, ctx, "pipeline") or {}).items():
        if conn not in connections:
            raise _err_at(body, key, ctx, f"pipeline {name!r}: {key} names unknown "
                                          f"connection {conn!r}")
        req = req if req is not None else {}
        if not isinstance(req, dict):
            raise _err_at(body[key], conn, ctx, f"pipeline {name!r}: {key} for {conn!r} "
                                                f"must be a mapping, not {req!r}")
        read = _requirement_reader(connections.get(conn, ""), req)
        if read is not None:
            requirements[conn] = read(req, ctx.path, f"pipeline {name!r} {key} {conn!r}")
            continue
        allowed = {"approval", *STATE_KEYS, *IGNORED_FILTER_KEYS}
        raise_all(unknown_keys(req, allowed, f"pipeline {name!r} {key} {conn!r}", ctx))
        for ignored, what in IGNORED_FILTER_KEYS.items():
            if ignored in req:
                warn(req, ignored, ctx.path, f"pipeline {name!r} {key} {ignored!r} is "
                                             f"ignored: zuulish does not read {what}")
        approvals[conn] = _approvals(req, key, ctx, name)
        state = _state_filter(req, key, ctx, name, connections.get(conn, ""))
        if state is not None:
            states[conn] = state
    return ChangeFilters(approvals, states, requirements)


WINDOW_KEYS = {"window": "size", "window-floor": "floor", "window-ceiling": "ceiling",
               "window-increase-factor": "increase_factor",
               "window-decrease-factor": "decrease_factor"}
WINDOW_TYPES = ("linear", "exponential")


def _window(body: dict, ctx: SourceContext, name: str) -> Window:
    """The pipeline's active window: whole numbers of at least 1 and Zuul's two kinds
    of growth and shrinking, or an error at the setting's line."""
    kwargs: dict[str, Any] = {}
    for key, attr in WINDOW_KEYS.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            hint = " (Zuul's 0, no window at all, is not supported: give a large window)" \
                if key == "window" and value == 0 and not isinstance(value, bool) else ""
            raise _err_at(body, key, ctx, f"pipeline {name!r}: {key!r} must be a whole "
                                          f"number of at least 1, not {value!r}{hint}")
        kwargs[attr] = value
    for kind in ("increase", "decrease"):
        key = f"window-{kind}-type"
        value = body.get(key)
        if value is None:
            continue
        if value not in WINDOW_TYPES:
            raise _err_at(body, key, ctx, f"pipeline {name!r}: {key!r} must be "
                                          f"{' or '.join(WINDOW_TYPES)}, not {value!r}")
        kwargs[f"{kind}_type"] = value
    return Window(**kwargs)


def parse_pipeline(body: Any, ctx: SourceContext, connections: dict[str, str],
                   trigger_parsers: dict[str, TriggerParser]) -> Pipeline:
    name = _name(body, ctx, "pipeline", PIPELINE_KEYS)
    if not ctx.trusted:
        raise _err(body, ctx, f"pipeline {name!r} is defined in untrusted project "
                              f"{ctx.project!r}; pipelines may only be defined in "
                              "config projects")
    manager = body.get("manager")
    try:
        manager = PipelineManager(manager)
    except ValueError:
        allowed = ", ".join(m.value for m in PipelineManager)
        raise _err(body, ctx, f"pipeline {name!r}: manager must be one of {allowed}, "
                              f"not {manager!r}") from None
    triggers: list[TriggerFilter] = []
    for conn, entries in (_expect(body, "trigger", dict, ctx, "pipeline") or {}).items():
        driver = connections.get(conn)
        if driver is None:
            raise _err(body, ctx, f"pipeline {name!r}: trigger names unknown connection "
                                  f"{conn!r}")
        parse = trigger_parsers.get(driver)
        if parse is None:
            raise _err(body, ctx, f"connection {conn!r} (driver {driver}) cannot trigger "
                                  "pipelines yet")
        try:
            triggers.extend(parse(conn, _as_list(entries)))
        except ValueError as exc:
            raise _err(entries, ctx, f"pipeline {name!r} trigger: {exc}") from None
    require = _change_filters(body, "require", ctx, name, connections)
    reject = _change_filters(body, "reject", ctx, name, connections)
    messages = {action: str(body[f"{action}-message"])
                for action in ("success", "failure", "merge-conflict", "start", "enqueue",
                               "dequeue", "no-jobs", "footer")
                if body.get(f"{action}-message") is not None}
    if _expect(body, "debug", bool, ctx, f"pipeline {name!r}"):
        warn(body, "debug", ctx.path, f"pipeline {name!r}: 'debug' is ignored; reports carry "
                                      "no debugging information")
    allow_other = _expect(body, "allow-other-connections", bool, ctx, f"pipeline {name!r}")
    window = _window(body, ctx, name)
    merge_conflict = body.get("merge-conflict", body.get("merge-failure"))
    supercedes = _as_list(body.get("supercedes"))
    if not all(isinstance(p, str) for p in supercedes):
        raise _err_at(body, "supercedes", ctx, f"pipeline {name!r}: supercedes must name "
                                               f"pipelines, not {body['supercedes']!r}")
    if _expect(body, "ignore-dependencies", bool, ctx, f"pipeline {name!r}"):
        warn(body, "ignore-dependencies", ctx.path,
             f"pipeline {name!r}: 'ignore-dependencies' is ignored; the changes an item "
             "depends on are part of the state it is tested on")
    file, line = where(body, ctx.path)
    return Pipeline(
        name=name,
        manager=manager,
        description=str(body.get("description", "")),
        triggers=tuple(triggers),
        require_approvals=require.approvals,
        reject_approvals=reject.approvals,
        require_state=require.states,
        reject_state=reject.states,
        require=require.requirements,
        reject=reject.requirements,
        messages=messages,
        dequeue_on_new_patchset=bool(body.get("dequeue-on-new-patchset", True)),
        post_review=bool(body.get("post-review", False)),
        start=_reporters(body.get("start"), ctx, connections),
        enqueue=_reporters(body.get("enqueue"), ctx, connections),
        dequeue=_reporters(body.get("dequeue"), ctx, connections),
        no_jobs=_reporters(body.get("no-jobs"), ctx, connections),
        success=_reporters(body.get("success"), ctx, connections),
        failure=_reporters(body.get("failure"), ctx, connections),
        merge_conflict=(_reporters(merge_conflict, ctx, connections)
                        if merge_conflict is not None else None),
        config_error=(_reporters(body["config-error"], ctx, connections)
                      if "config-error" in body else None),
        window=window,
        precedence=str(body.get("precedence", "normal")),
        supercedes=tuple(supercedes),
        allow_other_connections=True if allow_other is None else allow_other,
        source_file=file,
        source_line=line,
    )


def _playbooks(body: dict, ctx: SourceContext, key: str) -> tuple[PlaybookRef, ...]:
    books = []
    line = key_line(body, key) or None
    for entry in _as_list(body.get(key)):
        path = entry.get("name") if isinstance(entry, dict) else entry
        if not isinstance(path, str):
            raise _err_at(body, key, ctx, f"job attribute {key!r} must list playbook paths")
        books.append(PlaybookRef(ctx.project, path, ctx.trusted, ctx.branch, line=line))
    return tuple(books)


def _nodeset_body(body: Any, ctx: SourceContext, name: str | None) -> NodeSet:
    if not isinstance(body, dict):
        raise _err(body, ctx, "a nodeset must be a mapping with 'nodes'")
    check_keys(body, NODESET_KEYS, "nodeset", ctx)
    if "alternatives" in body:
        if body.get("nodes") or body.get("groups"):
            raise _err(body, ctx, "a nodeset has either 'alternatives' or 'nodes' and "
                                  "'groups', not both")
        alternatives: list[NodeSet | str] = []
        for alt in _as_list(body["alternatives"]):
            if isinstance(alt, str):
                alternatives.append(alt)
            elif isinstance(alt, dict) and "alternatives" not in alt:
                alternatives.append(_nodeset_body(alt, ctx, None))
            else:
                raise _err(body, ctx, "each alternative must be a nodeset name or a nodeset "
                                      "with 'nodes' (alternatives do not nest)")
        if not alternatives:
            raise _err(body, ctx, "'alternatives' must list at least one nodeset")
        return NodeSet(name, (), {}, tuple(alternatives))
    nodes = []
    for node in _as_list(body.get("nodes")):
        if not isinstance(node, dict) or "name" not in node \
                or "label" not in node and "gpus" not in node:
            raise _err(body, ctx, "each node needs a 'name' and a 'label' (or, in zuulish, "
                                  "'gpus')")
        label, gpus, model = _node_wants(node, ctx)
        for node_name in _as_list(node["name"]):
            nodes.append(NodeSpec(str(node_name), label, gpus, model))
    groups = {}
    for group in _as_list(body.get("groups")):
        if not isinstance(group, dict) or "name" not in group:
            raise _err(body, ctx, "each group needs a 'name' and 'nodes'")
        groups[str(group["name"])] = tuple(str(n) for n in _as_list(group.get("nodes")))
    return NodeSet(name, tuple(nodes), groups)


NODE_KEYS = {"name", "label", "gpus", "gpu-model"}


def _node_wants(node: dict, ctx: SourceContext) -> tuple[str | None, int, str | None]:
    """A node's label, GPU count and GPU model. ``gpus`` and ``gpu-model`` are
    zuulish's: a node of any label (or of its ``label``) with that many GPUs."""
    check_keys(node, NODE_KEYS, "node", ctx)
    label = node.get("label")
    if isinstance(label, dict | list):
        raise _err_at(node, "label", ctx, f"node {node['name']!r}: 'label' must be a "
                                          f"label's name, not {label!r}")
    label = None if label is None else str(label)
    gpus = node.get("gpus", 0)
    if "gpus" in node and (isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1):
        raise _err_at(node, "gpus", ctx, f"node {node['name']!r}: 'gpus' must be a positive "
                                         f"whole number, not {gpus!r}")
    model = node.get("gpu-model")
    if model is not None and (not isinstance(model, str) or not model):
        raise _err_at(node, "gpu-model", ctx, f"node {node['name']!r}: 'gpu-model' must be "
                                              f"a GPU model's name, not {model!r}")
    if model is not None and not gpus:
        raise _err_at(node, "gpu-model", ctx, f"node {node['name']!r}: 'gpu-model' needs "
                                              "'gpus' (how many GPUs of that model)")
    return label, gpus, model


def parse_nodeset(body: Any, ctx: SourceContext) -> NodeSet:
    return _nodeset_body(body, ctx, _name(body, ctx, "nodeset", NODESET_KEYS))


def _string_list(body: dict, key: str, ctx: SourceContext) -> tuple[str, ...]:
    items = []
    for entry in _as_list(body.get(key)):
        if isinstance(entry, dict) and "name" in entry:
            items.append(str(entry["name"]))
        elif isinstance(entry, str):
            items.append(entry)
        else:
            raise _err(body, ctx, f"job attribute {key!r} must be a list of names")
    return tuple(items)


# Patterns known to compile: tenants repeat the same matchers across thousands
# of jobs, more than ``re``'s own cache holds.
_VALID_PATTERNS: set[str] = set()


def _regexes(body: dict, key: str, ctx: SourceContext, job: str) -> tuple[str, ...]:
    """A job matcher (``branches``, ``files``, ``irrelevant-files``): regexes that compile."""
    patterns = tuple(str(p) for p in _as_list(body.get(key)))
    for pattern in patterns:
        if pattern in _VALID_PATTERNS:
            continue
        try:
            re.compile(pattern)
            if len(_VALID_PATTERNS) < 100_000:
                _VALID_PATTERNS.add(pattern)
        except re.error as exc:
            what = "branch matcher" if key == "branches" else f"{key} matcher"
            raise _err_at(body, key, ctx, f"job {job!r}: {what} {pattern!r} is not a valid "
                                          f"regular expression: {exc}") from None
    return patterns


def _secret_vars(body: dict, ctx: SourceContext
                 ) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """(variable name, secret object) for each of a job's ``secrets`` entries:
    ``name`` or ``{name, secret, pass-to-parent}``; and the variables passed to
    the parent's playbooks (``pass-to-parent``)."""
    pairs, to_parent = [], []
    for entry in _as_list(body.get("secrets")):
        if isinstance(entry, str):
            pairs.append((entry, entry))
        elif isinstance(entry, dict) and "name" in entry:
            check_keys(entry, {"name", "secret", "pass-to-parent"}, "job secret", ctx)
            pairs.append((str(entry["name"]), str(entry.get("secret", entry["name"]))))
            passed = _expect(entry, "pass-to-parent", bool, ctx, "job secret")
            if passed:
                to_parent.append(str(entry["name"]))
        else:
            raise _err_at(body, "secrets", ctx, f"job secrets must be names or mappings "
                                                f"with 'name', not {entry!r}")
    return tuple(pairs), tuple(to_parent)


WORKSPACE_SCHEMES = ("golang", "flat", "unicode-escaped")


def _project_checkouts(body: dict, ctx: SourceContext) -> tuple[tuple[str, str], ...]:
    """(project, branch or tag) for each required project with ``override-checkout``."""
    out = []
    for entry in _as_list(body.get("required-projects")):
        if not isinstance(entry, dict):
            continue
        check_keys(entry, {"name", "override-checkout", "override-branch"},
                   "required project", ctx)
        checkout = entry.get("override-checkout") or entry.get("override-branch")
        if checkout is not None:
            if not isinstance(checkout, str):
                raise _err(entry, ctx, f"required project {entry.get('name')!r}: "
                                       "override-checkout must be a branch or tag name")
            out.append((str(entry["name"]), checkout))
    return tuple(out)


# A role's installation name is a directory name on the roles path.
ROLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _roles(body: dict, ctx: SourceContext) -> tuple[RoleRef, ...]:
    """Each ``roles`` entry, ``{zuul: project, name: ...}``, in order; ``name`` (default:
    the project's last path component) is what a repository that is itself a role
    is installed as."""
    out = []
    for entry in _as_list(body.get("roles")):
        if isinstance(entry, dict) and "galaxy" in entry and "zuul" not in entry:
            raise _err(entry, ctx, f"job {body.get('name')!r}: Galaxy roles are not "
                                   "supported (nor implemented by Zuul); name a project of "
                                   "the tenant with {zuul: org/project}")
        if not isinstance(entry, dict) or not isinstance(entry.get("zuul"), str) \
                or not entry["zuul"]:
            raise _err(entry if isinstance(entry, dict) else body, ctx,
                       f"job {body.get('name')!r}: each role must be a mapping such as "
                       f"{{zuul: org/project}}, not {entry!r}")
        check_keys(entry, {"zuul", "name"}, "job role", ctx)
        project = entry["zuul"]
        name = entry.get("name", project.rstrip("/").rsplit("/", 1)[-1])
        if not isinstance(name, str) or not ROLE_NAME.fullmatch(name):
            raise _err_at(entry, "name" if "name" in entry else "zuul", ctx,
                          f"job {body.get('name')!r}: role name {name!r} of {project!r} is "
                          "not a valid role name (letters, digits, '_', '.' and '-', not "
                          "starting with '.' or '-')")
        out.append(RoleRef(project, name))
    return tuple(out)


def _check_names(variables: Any, ctx: SourceContext, what: str) -> None:
    """Refuse a variable a job may not set (``model/varnames.py``), at its line."""
    if not isinstance(variables, dict):
        return
    for name, why in forbidden_names(variables):
        file, _ = where(variables, ctx.path)
        raise ConfigError(f"{what}: {why}", file=file, line=key_line(variables, name) or None)


def check_variables(body: dict, ctx: SourceContext, what: str) -> None:
    """Zuul's variable name rules for a job's (or a project's) ``vars``,
    ``extra-vars``, and each host's ``host-vars`` and group's ``group-vars``."""
    for key in ("vars", "extra-vars"):
        _check_names(body.get(key), ctx, f"{what} {key}")
    for key in ("host-vars", "group-vars"):
        per = body.get(key)
        if not isinstance(per, dict):
            continue
        for target, variables in per.items():
            if variables is not None and not isinstance(variables, dict):
                raise _err(per, ctx, f"{what} {key} of {target!r} must be a mapping of "
                                     "variables")
            _check_names(variables, ctx, f"{what} {key} of {target!r}")


def _shipped_ansible() -> str:
    """The Ansible release (Zuul's ``ansible-version``) the installed ansible-core is."""
    try:
        core = version("ansible-core")
    except PackageNotFoundError:
        return "11"
    minor = core.split(".")[:2]
    # ansible-core 2.15 is Ansible 8, 2.16 is 9, ... (one release per core minor)
    return str(int(minor[1]) - 7) if len(minor) == 2 and minor[1].isdigit() else "11"


SHIPPED_ANSIBLE = _shipped_ansible()


def ansible_version_error(body: dict, key: str, ctx: SourceContext, what: str
                          ) -> ConfigError | None:
    """An error unless ``key`` names the Ansible release zuulish ships (or is absent)."""
    value = body.get(key)
    if value is None or (not isinstance(value, bool) and str(value) == SHIPPED_ANSIBLE):
        return None
    return _err_at(body, key, ctx, f"{what}: {key} {value!r} is not available; zuulish runs "
                                   f"Ansible {SHIPPED_ANSIBLE} (ansible-core "
                                   f"{_core_version()}) only")


def _core_version() -> str:
    try:
        return version("ansible-core")
    except PackageNotFoundError:
        return "unknown"


def job_setting_errors(body: dict, ctx: SourceContext, what: str) -> list[ConfigError]:
    """Errors for the job settings zuulish does not honour (``failure-output`` warns:
    real configurations use it); ``what`` names the job in messages."""
    errors = []
    error = ansible_version_error(body, "ansible-version", ctx, what)
    if error:
        errors.append(error)
    refused = {
        "include-vars": "zuulish does not load variables from files ('include-vars'); "
                        "set them in 'vars'",
        "hold-following-changes": "zuulish does not hold the changes behind an item for "
                                  "a job ('hold-following-changes')",
        "image-build-name": "image builds are not available ('image-build-name')",
        "success-message": "a report shows each job's result as it is ('success-message')",
        "failure-message": "a report shows each job's result as it is ('failure-message')",
    }
    for key, why in refused.items():
        if key in body:
            errors.append(_err_at(body, key, ctx, f"{what}: {why}"))
    scheme = body.get("workspace-scheme")
    if scheme not in (None, "golang"):
        if scheme in WORKSPACE_SCHEMES:
            message = (f"{what}: workspace-scheme {scheme!r} is not available; zuulish lays "
                       "out repositories in the 'golang' scheme only")
        else:
            message = (f"{what}: workspace-scheme must be one of "
                       f"{', '.join(WORKSPACE_SCHEMES)}, not {scheme!r}")
        errors.append(_err_at(body, "workspace-scheme", ctx, message))
    dedup = body.get("deduplicate")
    if dedup is not None and dedup is not False:
        if isinstance(dedup, str) and dedup != "auto" or not isinstance(dedup, bool | str):
            message = f"{what}: deduplicate must be true, false or 'auto', not {dedup!r}"
        else:
            message = (f"{what}: zuulish runs a job for each change of a dependency cycle "
                       "and does not deduplicate them; only 'deduplicate: false' is honoured")
        errors.append(_err_at(body, "deduplicate", ctx, message))
    if "ansible-split-streams" in body:
        _expect(body, "ansible-split-streams", bool, ctx, what)
        warn(body, "ansible-split-streams", ctx.path,
             f"{what}: 'ansible-split-streams' is ignored; a task's stdout and stderr are "
             "logged as Ansible returns them")
    for key in ("success-url", "failure-url"):
        if key in body:
            try:
                _expect(body, key, str, ctx, what)
            except ConfigError as exc:
                errors.append(exc)
                continue
            warn(body, key, ctx.path,
                 f"{what}: {key!r} is deprecated and ignored (as Zuul ignores it); a "
                 "report links each build's page")
    if "failure-output" in body:
        patterns = body["failure-output"]
        for pattern in _as_list(patterns):
            try:
                re.compile(str(pattern))
            except re.error as exc:
                errors.append(_err_at(body, "failure-output", ctx,
                                      f"{what}: failure-output {pattern!r} is not a valid "
                                      f"regular expression: {exc}"))
        warn(body, "failure-output", ctx.path,
             f"{what}: 'failure-output' is ignored; zuulish does not end a build early "
             "when its output matches")
    return errors


JOB_TYPES: tuple[tuple[str, type | tuple], ...] = (
    ("vars", dict), ("timeout", int), ("voting", bool), ("abstract", bool), ("final", bool),
    ("description", str), ("extra-vars", dict), ("host-vars", dict), ("group-vars", dict),
    ("attempts", int), ("post-timeout", int), ("protected", bool), ("intermediate", bool),
    ("post-review", bool), ("match-on-config-updates", bool), ("override-checkout", str),
    ("override-branch", str), ("workspace-scheme", str), ("deduplicate", (bool, str)))


def parse_job(body: Any, ctx: SourceContext) -> Job:
    """A ``job`` stanza; every error it has is raised (ConfigErrors when several)."""
    if isinstance(body, dict) and not (isinstance(body.get("name"), str) and body["name"]):
        # a misspelt 'name' is the likeliest reason: say so too
        raise_all([_err(body, ctx, "job needs a 'name'"),
                   *unknown_keys(body, JOB_KEYS, "job", ctx)])
    name = _name(body, ctx, "job")
    errors: list[ConfigError] = unknown_keys(body, JOB_KEYS, "job", ctx)

    def attempt(check: Callable[..., Any], *args: Any) -> Any:
        try:
            return check(*args)
        except ConfigError as exc:
            errors.append(exc)
            return None

    for key, kind in JOB_TYPES:
        attempt(_expect, body, key, kind, ctx, f"job {name!r}")
    attempt(check_variables, body, ctx, f"job {name!r}")
    errors.extend(job_setting_errors(body, ctx, f"job {name!r}"))
    branches = attempt(_regexes, body, "branches", ctx, name) or ctx.implied_branches
    if isinstance(body.get("attempts"), int) and body["attempts"] < 1:
        errors.append(_err_at(body, "attempts", ctx,
                              f"job {name!r}: 'attempts' must be at least 1"))
    nodeset: NodeSet | str | None = None
    if "nodeset" in body:
        raw = body["nodeset"]
        nodeset = raw if isinstance(raw, str) else attempt(_nodeset_body, raw, ctx, None)
    secret_vars, parent_secrets = attempt(_secret_vars, body, ctx) or ((), ())
    allowed = (attempt(_string_list, body, "allowed-projects", ctx)
               if body.get("allowed-projects") is not None else None)
    books = {key: attempt(_playbooks, body, ctx, key) or ()
             for key in ("pre-run", "run", "post-run", "cleanup-run")}
    lists = {key: attempt(_string_list, body, key, ctx) or ()
             for key in ("required-projects", "dependencies", "tags", "provides", "requires")}
    files = attempt(_regexes, body, "files", ctx, name) if "files" in body else None
    irrelevant = (attempt(_regexes, body, "irrelevant-files", ctx, name)
                  if "irrelevant-files" in body else None)
    checkouts = attempt(_project_checkouts, body, ctx) or ()
    roles = attempt(_roles, body, ctx) or ()
    raise_all(errors)
    post_review = body.get("post-review")
    if secret_vars and not ctx.trusted:
        # Zuul: a job with secrets from an untrusted project runs only for that
        # project, and only on reviewed code.
        allowed, post_review = (ctx.project,), True
    file, line = where(body, ctx.path)
    return Job(
        name=name,
        parent=body.get("parent"),
        inherit_default_parent="parent" not in body,
        abstract=bool(body.get("abstract", False)),
        final=bool(body.get("final", False)),
        protected=bool(body.get("protected", False)),
        intermediate=bool(body.get("intermediate", False)),
        description=str(body.get("description", "")),
        branches=branches,
        nodeset=nodeset,
        timeout=body.get("timeout"),
        voting=body.get("voting"),
        pre_run=books["pre-run"],
        run=books["run"],
        post_run=books["post-run"],
        cleanup_run=books["cleanup-run"],
        vars=dict(body.get("vars") or {}),
        required_projects=lists["required-projects"],
        dependencies=lists["dependencies"],
        soft_dependencies=tuple(str(d["name"]) for d in _as_list(body.get("dependencies"))
                                if isinstance(d, dict) and d.get("soft")),
        files=files,
        irrelevant_files=irrelevant,
        attempts=body.get("attempts"),
        post_timeout=body.get("post-timeout"),
        extra_vars=dict(body.get("extra-vars") or {}),
        host_vars=dict(body.get("host-vars") or {}),
        group_vars=dict(body.get("group-vars") or {}),
        secrets=tuple(secret for _var, secret in secret_vars),
        secret_vars=secret_vars,
        parent_secrets=parent_secrets,
        semaphores=tuple(str(x) for x in _as_list(body.get("semaphores"))
                         + _as_list(body.get("semaphore"))),
        tags=lists["tags"],
        provides=lists["provides"],
        requires=lists["requires"],
        allowed_projects=allowed,
        post_review=post_review,
        override_checkout=body.get("override-checkout") or body.get("override-branch"),
        project_checkouts=checkouts,
        roles=roles,
        match_on_config_updates=body.get("match-on-config-updates"),
        deduplicate=body.get("deduplicate"),
        workspace_scheme=body.get("workspace-scheme"),
        source_project=ctx.project,
        source_trusted=ctx.trusted,
        source_file=file,
        source_line=line,
    )


MERGE_MODES = (*MODES, "default")  # "default": the connection's own way


def _merge_mode(body: dict, ctx: SourceContext, name: str) -> str:
    mode = body["merge-mode"]
    if mode not in MERGE_MODES:
        close = difflib.get_close_matches(str(mode), MERGE_MODES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _err(body, ctx, f"project {name!r}: unknown merge-mode {mode!r} (one of "
                              f"{', '.join(MERGE_MODES)}){hint}")
    return str(mode)


def parse_project(body: Any, ctx: SourceContext, pipelines: set[str] | None,
                  kind: str = "project", attributes: set[str] = PROJECT_KEYS) -> ProjectConfig:
    """A ``project`` (or ``project-template``) stanza; ``pipelines`` None accepts any."""
    if not isinstance(body, dict):
        raise _err(body, ctx, f"{kind} must be a mapping")
    name = body.get("name") or ctx.project
    if kind == "project" and str(name).startswith("^"):
        if not ctx.trusted:
            raise _err(body, ctx, f"project {name!r}: a regular expression may name projects "
                                  "only in config projects")
        try:
            re.compile(str(name))
        except re.error as exc:
            raise _err(body, ctx, f"project name {name!r} is not a valid regular "
                                  f"expression: {exc}") from None
    _expect(body, "vars", dict, ctx, f"{kind} {name!r}")
    _check_names(body.get("vars"), ctx, f"{kind} {name!r} vars")
    project = ProjectConfig(name=str(name), queue=body.get("queue"),
                            vars=dict(body.get("vars") or {}),
                            source_project=ctx.project, trusted=ctx.trusted,
                            branches=_regexes(body, "branches", ctx, str(name))
                            or ctx.implied_branches)
    project.templates = tuple(str(t) for t in _as_list(body.get("templates")))
    for key, why in (("debug", "reports carry no debugging information"),
                     ("default-branch", "the default branch is the repository's own (its "
                                        "HEAD on the forge)")):
        if key in body and key in attributes:
            raise _err_at(body, key, ctx, f"{kind} {name!r}: {key!r} is not available in "
                                          f"zuulish: {why}")
    project.fail_fast = _expect(body, "fail-fast", bool, ctx, f"{kind} {name!r}")
    if "merge-mode" in body and "merge-mode" in attributes:
        project.merge_mode = _merge_mode(body, ctx, str(name))
    project.source_file, project.source_line = where(body, ctx.path)
    for key, value in body.items():
        if key in attributes:
            continue
        if pipelines is not None and key not in pipelines:
            close = difflib.get_close_matches(str(key), sorted(pipelines | attributes), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise _err(body, ctx, f"{kind} {name!r}: {key!r} is neither a {kind} attribute "
                                  f"nor a pipeline{hint}")
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise _err(body, ctx, f"{kind} {name!r}: pipeline {key!r} must be a mapping "
                                  "with 'jobs'")
        check_keys(value, PROJECT_PIPELINE_KEYS, f"{kind} {name!r} pipeline {key!r}", ctx)
        if "debug" in value:
            raise _err_at(value, "debug", ctx, f"{kind} {name!r} pipeline {key!r}: 'debug' is "
                                               "not available in zuulish: reports carry no "
                                               "debugging information")
        fail_fast = _expect(value, "fail-fast", bool, ctx, f"{kind} {name!r} pipeline {key!r}")
        if "queue" in value and not project.queue:
            project.queue = value["queue"]
        refs = []
        jobs_line = where(value.get("jobs"), ctx.path)[1] or where(value, ctx.path)[1]
        for job in _as_list(value.get("jobs")):
            if isinstance(job, str):
                refs.append(JobReference(job, line=jobs_line, trusted=ctx.trusted))
            elif isinstance(job, dict) and len(job) == 1:
                job_name, given = next(iter(job.items()))
                overrides = dict(given or {})
                given = given if isinstance(given, dict) else overrides  # it knows its lines
                check_keys(given, JOB_KEYS, f"job {job_name!r} variant", ctx)
                check_variables(given, ctx, f"job {job_name!r} variant")
                raise_all(job_setting_errors(given, ctx, f"job {job_name!r} variant"))
                refs.append(JobReference(str(job_name), overrides,
                                         line=where(job, ctx.path)[1] or jobs_line,
                                         trusted=ctx.trusted))
            else:
                raise _err(value, ctx, f"project {name!r}: cannot read job entry {job!r}")
        project.pipelines[key] = ProjectPipelineJobs(key, tuple(refs), fail_fast)
    return project
