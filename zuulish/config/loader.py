"""Build a tenant's Layout from the configuration files of its projects.

Files are parsed once per content (cached by a hash of the text), so a
reconfiguration after one file changed re-parses only that file. Errors are
collected per object: a broken stanza is reported with file:line and the rest
of the tenant still loads.
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import hashlib
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from zuulish.config.layout import Layout, ProjectSource
from zuulish.config.node_providers import NodeContext, Resolved, resolve
from zuulish.config.objects import (
    parse_node_object,
    parse_pragma,
    parse_project_template,
    parse_queue,
    parse_secret,
    parse_semaphore,
)
from zuulish.config.parser import (
    SourceContext,
    TriggerParser,
    parse_job,
    parse_nodeset,
    parse_pipeline,
    parse_project,
)
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.config.warnings import collecting
from zuulish.config.yaml_loader import key_line, load_yaml, where
from zuulish.errors import ConfigError
from zuulish.model import Job, RoleRef

log = logging.getLogger(__name__)

# The order objects are added in: what others refer to comes first.
# The node objects come before nodesets, whose labels some provider must offer.
OBJECT_TYPES = ("pipeline", "secret", "semaphore", "queue", "pragma", "flavor", "image",
                "label", "section", "provider", "nodeset", "job", "project-template",
                "project")
IGNORED_TYPES: tuple[str, ...] = ()
# A pipeline's reporter lists (Pipeline attributes), for allowed-reporters.
REPORTER_ACTIONS = ("start", "enqueue", "dequeue", "no_jobs", "success", "failure",
                    "merge_conflict", "config_error")
# Kinds of which a tenant holds many definitions under one name (variants).
MULTI_DEFINED = frozenset({"job", "project", "project-template", "pragma"})
SIMPLE_PARSERS = {"secret": parse_secret, "semaphore": parse_semaphore, "queue": parse_queue,
                  "pragma": parse_pragma}


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a layout is built.

    A build allocates hundreds of thousands of long-lived objects and no
    cycles worth collecting; the collector's passes over them were a quarter
    of a large tenant's load time. Reference counting still frees garbage.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def config_file_order(paths: list[str]) -> list[str]:
    """Zuul's order: zuul.yaml, zuul.d/, .zuul.yaml, .zuul.d/, then ours."""
    def rank(path: str) -> tuple[int, str]:
        for i, prefix in enumerate(("zuul.yaml", "zuul.d/", ".zuul.yaml", ".zuul.d/",
                                    ".zuulish.yaml", "zuulish.d/")):
            if path == prefix or path.startswith(prefix) and prefix.endswith("/"):
                return i, path
        return 99, path
    return sorted(paths, key=rank)


@dataclass
class ParsedFile:
    """The top-level objects of one file, or the error that stopped it."""

    objects: list[tuple[str, Any]] = field(default_factory=list)
    error: ConfigError | None = None


class ConfigLoader:
    def __init__(self, tenant: TenantConfig, connections: Mapping[str, str],
                 trigger_parsers: dict[str, TriggerParser], open_pipelines: bool = False,
                 keep_paths: bool = False, nodes: NodeContext | None = None):
        """``nodes``: what zuulish.yaml says about nodes (its cloud connections and
        its own providers' labels); None (an offline check) skips what needs it:
        the providers' connections and driver attributes, and whether some provider
        offers each label a nodeset uses."""
        self.tenant = tenant
        self.nodes = nodes
        # labels some provider offers (None: not checked), for the build under way
        self._offered: set[str] | None = None
        self.keep_paths = keep_paths
        self.open_pipelines = open_pipelines
        self.connections = connections
        self.trigger_parsers = trigger_parsers
        self._cache: dict[tuple[str, str], ParsedFile] = {}
        self._models: dict[tuple, Any] = {}

    def _pipelines(self, layout: Layout) -> set[str] | None:
        """Pipelines a project stanza may name (None: any, when validating standalone)."""
        if self.open_pipelines:
            return None
        # a broken pipeline is reported once, not again by each project that uses it
        return set(layout.pipelines) | {name for kind, name in layout.broken
                                         if kind == "pipeline"}

    @staticmethod
    def _key(path: str, text: str) -> tuple[str, str]:
        return path, hashlib.sha1(text.encode()).hexdigest()

    def parse_file(self, path: str, text: str) -> ParsedFile:
        key = self._key(path, text)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        parsed = ParsedFile()
        try:
            data = load_yaml(text, path)
            if data is None:
                data = []
            if not isinstance(data, list):
                raise ConfigError("configuration must be a list of objects such as "
                                  "'- job:'", file=path, line=where(data, path)[1] or 1)
            for entry in data:
                if not isinstance(entry, dict) or len(entry) != 1:
                    f, line = where(entry, path)
                    raise ConfigError("each item must be one object such as '- job:'",
                                      file=f, line=line or None)
                kind, body = next(iter(entry.items()))
                if kind not in OBJECT_TYPES and kind not in IGNORED_TYPES:
                    f, line = where(entry, path)
                    raise ConfigError(f"unknown configuration object {kind!r}; expected one "
                                      f"of {', '.join(OBJECT_TYPES + IGNORED_TYPES)}",
                                      file=f, line=line or None)
                parsed.objects.append((kind, body))
        except ConfigError as exc:
            parsed.error = exc
        self._cache[key] = parsed
        return parsed

    def build(self, files: Mapping[str, tuple[str, dict[str, str]]]) -> Layout:
        """``files`` maps project name to (branch, {path: text}): one branch each."""
        return self.build_branches({project: {branch: project_files}
                                    for project, (branch, project_files) in files.items()})

    def build_branches(self, files: Mapping[str, Mapping[str, dict[str, str]]]) -> Layout:
        """``files`` maps project name to {branch: {path: text}}, default branch first.

        Unchanged files cost next to nothing: their YAML and the objects made
        from it are reused from the last build (keyed by content and context).
        """
        with paused_gc():
            return self._build(files)

    def _implied(self, tp: TenantProject, branch: str, multi_branch: bool,
                 parsed: ParsedFile) -> tuple[str, ...]:
        """Zuul's implied branch matchers for what one file defines.

        Untrusted projects with more than one branch get a matcher for the branch
        the file was read from; config projects and single-branch projects get
        none. The tenant's ``implied-branch-matchers`` for the project, then a
        ``pragma`` in the file, override that; a pragma's ``implied-branches``
        gives the matchers to use instead.
        """
        enabled = not tp.trusted and multi_branch
        if tp.implied_branch_matchers is not None:
            enabled = tp.implied_branch_matchers
        explicit: tuple[str, ...] = ()
        for kind, body in parsed.objects:
            if kind != "pragma" or not isinstance(body, dict):
                continue
            if isinstance(body.get("implied-branch-matchers"), bool):
                enabled = body["implied-branch-matchers"]
            given = body.get("implied-branches")
            if given is not None:
                explicit = tuple(str(b) for b in (given if isinstance(given, list)
                                                  else [given]))
                if "implied-branch-matchers" not in body:
                    enabled = True  # naming the branches turns the matchers on
        if not enabled:
            return ()
        return explicit or (re.escape(branch),)

    def _build(self, files: Mapping[str, Mapping[str, dict[str, str]]]) -> Layout:
        layout = Layout(self.tenant.name, default_parent=self.tenant.default_parent,
                        max_job_timeout=self.tenant.max_job_timeout,
                        max_nodes_per_job=self.tenant.max_nodes_per_job,
                        auth_rules=self.tenant.auth_rules)
        layout.tenant_projects = {
            tp.name: ProjectSource(tp.name, tp.connection, tp.trusted,
                                   tuple(files.get(tp.name, {})))
            for tp in self.tenant.projects}
        order = sorted(self.tenant.projects, key=lambda p: not p.trusted)
        items: dict[str, list[tuple[Any, SourceContext]]] = {kind: [] for kind in OBJECT_TYPES}
        used: set[tuple[str, str]] = set()
        for tp in order:
            if tp.name not in files:
                continue
            branches = files[tp.name]
            first = True
            for branch, project_files in branches.items():
                for path in config_file_order(list(project_files)):
                    display = path if self.keep_paths else f"{tp.name}/{path}"
                    if not first:  # errors on other branches say which branch
                        display = f"{tp.name}@{branch}/{path}"
                    parsed = self.parse_file(display, project_files[path])
                    used.add(self._key(display, project_files[path]))
                    if parsed.error:
                        layout.errors.append(parsed.error)
                    ctx = SourceContext(tp.name, branch, display, tp.trusted,
                                        self._implied(tp, branch, len(branches) > 1, parsed))
                    for kind, body in parsed.objects:
                        if kind in items and tp.loads(kind):
                            items[kind].append((body, ctx))
                first = False
        memo: dict[tuple, Any] = {}
        # Named objects defined once per tenant, and the (project, branch) that did:
        # the same object on another branch of that project is its copy, not a clash.
        owners: dict[tuple[str, str], tuple[str, str]] = {}
        for kind in OBJECT_TYPES:
            if kind == "nodeset":
                self._resolve_providers(layout)
            pipelines = self._pipelines(layout) if kind in ("project", "project-template") \
                else None
            pipeline_key = frozenset(pipelines) if pipelines is not None else None
            for body, ctx in items[kind]:
                key = (id(body), kind, ctx, pipeline_key)
                parsed = self._models.get(key)
                if parsed is None:
                    with collecting() as warned:
                        result = self._parse(kind, body, ctx, pipelines)
                    parsed = (result, tuple(warned))
                memo[key] = parsed
                result, warned = parsed
                layout.warnings.extend(warned)
                if isinstance(result, ConfigError):
                    layout.errors.extend(getattr(result, "errors", [result]))
                    name = body.get("name") if isinstance(body, dict) else None
                    if kind in ("project", "project-template") and not name:
                        name = ctx.project
                    if isinstance(name, str):
                        layout.broken.add((kind, name))
                    continue
                try:
                    if kind not in MULTI_DEFINED:
                        owner = owners.setdefault((kind, str(result.name)),
                                                  (ctx.project, ctx.branch))
                        if owner[0] == ctx.project and owner[1] != ctx.branch:
                            continue  # the first branch read (the default) wins
                    self._register(layout, kind, result, body, ctx)
                except ConfigError as exc:
                    layout.errors.extend(getattr(exc, "errors", [exc]))
        # Keep only what this build used, so edits over time do not pile up.
        self._cache = {k: v for k, v in self._cache.items() if k in used}
        self._models = memo
        return layout

    def _resolve_providers(self, layout: Layout) -> None:
        """The tenant's providers from its node objects (``config.node_providers``),
        and the labels that nodesets may use from then on."""
        try:
            resolved = resolve(layout.objects, self.nodes, layout.broken)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            # a shape the resolver did not foresee: an error, not a failed load
            log.exception("unexpected error resolving node providers")
            resolved = Resolved(errors=[ConfigError(f"cannot resolve this tenant's node "
                                                    f"providers: {exc!r}")])
        layout.errors.extend(resolved.errors)
        layout.broken |= resolved.broken
        layout.node_providers = resolved.providers
        self._offered = None if self.nodes is None else \
            set(self.nodes.static_labels) | resolved.listed_labels

    def _unoffered_label(self, label: str | None) -> str | None:
        """Why ``label`` cannot be had (None: some provider offers it, or unknown)."""
        if self._offered is None or label is None or label in self._offered:
            return None
        close = difflib.get_close_matches(label, sorted(self._offered), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        offered = ", ".join(sorted(self._offered)) or "none"
        return (f"no provider offers label {label!r} (neither the nodepool providers of "
                f"zuulish.yaml nor this tenant's 'provider' objects; offered: {offered})"
                f"{hint}")

    def _parse(self, kind: str, body: Any, ctx: SourceContext,
               pipelines: set[str] | None) -> Any:
        """The model object for one stanza, or the ConfigError it raises."""
        try:
            if kind == "pipeline":
                return parse_pipeline(body, ctx, self.connections, self.trigger_parsers)
            if kind == "nodeset":
                return parse_nodeset(body, ctx)
            if kind == "job":
                return parse_job(body, ctx)
            if kind in SIMPLE_PARSERS:
                return SIMPLE_PARSERS[kind](body, ctx)
            if kind == "project-template":
                return parse_project_template(body, ctx, pipelines)
            if kind == "project":
                return parse_project(body, ctx, pipelines)
            return parse_node_object(kind, body, ctx)
        except ConfigError as exc:
            return exc
        except (TypeError, ValueError, AttributeError) as exc:
            # A shape the parser did not foresee: report it on the object and keep
            # loading the rest (and log the bug).
            log.exception("unexpected error reading a %s", kind)
            file, line = where(body, ctx.path)
            return ConfigError(f"cannot read this {kind}: {exc}", file=file, line=line or None)

    def _check_tenant_limits(self, kind: str, obj: Any, body: Any, ctx: SourceContext) -> None:
        """The tenant's allowed-reporters, allowed-labels and disallowed-labels."""
        problem = None
        if kind == "pipeline":
            for action in REPORTER_ACTIONS:
                for spec in getattr(obj, action) or ():
                    problem = problem or self.tenant.forbidden_reporter(spec.connection)
        elif kind in ("nodeset", "job"):
            nodeset = obj if kind == "nodeset" else obj.nodeset
            options = [nodeset, *getattr(nodeset, "alternatives", ())]
            for option in options:
                for node in getattr(option, "nodes", ()):
                    if node.label is not None:
                        problem = problem or self.tenant.forbidden_label(node.label) \
                            or self._unoffered_label(node.label)
        if problem:
            f, line = where(body, ctx.path)
            raise ConfigError(f"{kind} {obj.name!r}: {problem}", file=f, line=line or None)

    def _register(self, layout: Layout, kind: str, obj: Any, body: Any,
                  ctx: SourceContext) -> None:
        self._check_tenant_limits(kind, obj, body, ctx)
        if kind == "pipeline":
            if obj.name in layout.pipelines:
                raise ConfigError(f"pipeline {obj.name!r} is already defined",
                                  file=obj.source_file, line=obj.source_line)
            layout.pipelines[obj.name] = obj
        elif kind == "nodeset":
            if obj.name in layout.nodesets:
                f, line = where(body, ctx.path)
                raise ConfigError(f"nodeset {obj.name!r} is already defined",
                                  file=f, line=line)
            layout.nodesets[obj.name or ""] = obj
        elif kind == "job":
            job = self._resolve_projects(obj, body, ctx)
            if job.roles and not self.open_pipelines:
                job = replace(job, roles=self._role_projects(job, body, ctx))
            layout.jobs.setdefault(job.name, []).append(job)
        elif kind == "project-template":
            layout.project_templates.setdefault(obj.name, []).append(obj)
        elif kind == "project":
            if not ctx.trusted and obj.name != ctx.project:
                raise ConfigError(f"untrusted project {ctx.project!r} may only configure "
                                  f"itself, not {obj.name!r}",
                                  file=obj.source_file, line=obj.source_line)
            layout.projects.setdefault(obj.name, []).append(obj)
        else:
            known = layout.objects.setdefault(kind, {})
            if kind != "pragma" and obj.name in known:
                raise ConfigError(f"{kind} {obj.name!r} is already defined (first at "
                                  f"{known[obj.name].source_file}:"
                                  f"{known[obj.name].source_line})",
                                  file=obj.source_file, line=obj.source_line)
            known[obj.name] = obj


    def _role_projects(self, job: Job, body: Any, ctx: SourceContext) -> tuple[RoleRef, ...]:
        """``job``'s roles with each project named as the tenant knows it (Zuul accepts a
        project's short name where it is unambiguous); a project the tenant does not
        have is an error at its ``roles`` entry. (A standalone validation knows no
        tenant: it checks no project.)"""
        raw = body.get("roles")
        entries = raw if isinstance(raw, list) else [raw]
        out = []
        for role, entry in zip(job.roles, entries, strict=False):
            tp = self.tenant.project(role.project)
            if tp is None:
                short = [p for p in self.tenant.projects
                         if p.name.rsplit("/", 1)[-1] == role.project]
                tp = short[0] if len(short) == 1 else None
            if tp is None:
                f, line = where(entry, ctx.path)
                raise ConfigError(f"job {job.name!r}: the roles entry names project "
                                  f"{role.project!r}, which is not in tenant "
                                  f"{self.tenant.name!r}", file=f, line=line or None)
            out.append(replace(role, project=tp.name))
        return tuple(out)

    def _resolve_projects(self, job: Any, body: Any, ctx: SourceContext) -> Any:
        """``job`` with its ``required-projects`` named as the tenant names them: Zuul
        also takes a project's canonical name (``<hostname>/<name>``); a name that is
        no project of the tenant is an error at the attribute's line. Not checked when
        validating files on their own (``open_pipelines``: the tenant is unknown)."""
        if self.open_pipelines or not job.required_projects:
            return job
        names = {tp.name for tp in self.tenant.projects}
        resolved: dict[str, str] = {}
        for name in job.required_projects:
            real = resolve_project_name(name, names)
            if real is None:
                file, _ = where(body, ctx.path)
                raise ConfigError(f"job {job.name!r}: required project {name!r} is not a "
                                  f"project of tenant {self.tenant.name!r}", file=file,
                                  line=key_line(body, "required-projects") or job.source_line)
            resolved[name] = real
        return replace(job, required_projects=tuple(resolved[n] for n in job.required_projects),
                       project_checkouts=tuple((resolved.get(p, p), ref)
                                               for p, ref in job.project_checkouts))


def resolve_project_name(name: str, names: set[str]) -> str | None:
    """The tenant project ``name`` means: itself, or for a canonical name
    (``<hostname>/<name>``, the hostname holding a dot or being ``localhost``) the
    project it names; None when it names none."""
    if name in names:
        return name
    host, _, rest = name.partition("/")
    if rest in names and ("." in host or host == "localhost"):
        return rest
    return None


def tenant_project(tenant: TenantConfig, name: str) -> TenantProject | None:
    return tenant.project(name)
