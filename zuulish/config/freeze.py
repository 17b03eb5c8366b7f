"""Freeze jobs: resolve inheritance and variants into what an executor runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from zuulish.config.layout import Layout
from zuulish.config.yaml_loader import EncryptedValue
from zuulish.errors import ConfigError
from zuulish.model import FrozenJob, Job, JobGraph, NodeSet, PlaybookRef, RoleRef
from zuulish.model.mappings import deep_merge
from zuulish.model.project import JobReference
from zuulish.model.vars_provenance import below, merged_sources

DEFAULT_PARENT = "base"
DEFAULT_TIMEOUT = 1800


def _matching_variants(layout: Layout, name: str, branch: str) -> list[Job]:
    variants = layout.jobs.get(name)
    if not variants:
        raise ConfigError(f"job {name!r} is not defined")
    return [v for v in variants
            if not v.branches or any(re.fullmatch(b, branch) for b in v.branches)]


def _check_may_inherit(layout: Layout, child: Job, parents: list[Job]) -> None:
    """Zuul's ``final``, ``protected`` and ``intermediate`` rules for inheriting."""
    name = parents[0].name
    if any(p.final for p in parents):
        raise ConfigError(f"job {child.name!r} cannot inherit from {name!r}: it is final",
                          file=child.source_file, line=child.source_line)
    if any(p.protected for p in parents) and any(
            p.source_project != child.source_project for p in parents if p.protected):
        owner = next(p.source_project for p in parents if p.protected)
        raise ConfigError(f"job {child.name!r} cannot inherit from {name!r}: it is protected "
                          f"and may only be inherited by jobs of {owner!r}",
                          file=child.source_file, line=child.source_line)
    if any(p.intermediate for p in parents) and not child.abstract:
        raise ConfigError(f"job {child.name!r} inherits from the intermediate job {name!r}, so "
                          "it must be abstract itself", file=child.source_file,
                          line=child.source_line)


def _check_variant(guard: Job | None, variant: Job) -> None:
    """Zuul's rules for a variant of a job already marked ``final`` (no variant may
    change it) or ``protected`` (only variants of its own project may)."""
    if guard is None:
        return
    if guard.final:
        raise ConfigError(f"job {variant.name!r} is final (at {guard.source_file}:"
                          f"{guard.source_line}) and cannot be changed by a variant",
                          file=variant.source_file, line=variant.source_line)
    if guard.protected and variant.source_project != guard.source_project:
        raise ConfigError(f"job {variant.name!r} is protected and may only be changed by "
                          f"variants of {guard.source_project!r}, not of "
                          f"{variant.source_project!r}",
                          file=variant.source_file, line=variant.source_line)


def _inheritance_chain(layout: Layout, name: str, branch: str) -> list[Job]:
    """Variants from the root ancestor down to ``name`` (each level's variants in order)."""
    levels: list[list[Job]] = []
    seen: list[str] = []
    current: str | None = name
    while current is not None:
        if current in seen:
            cycle = " -> ".join([*seen, current])
            raise ConfigError(f"job inheritance cycle: {cycle}")
        seen.append(current)
        variants = _matching_variants(layout, current, branch)
        levels.append(variants)
        reference = variants[0] if variants else layout.jobs[current][0]
        if reference.parent is not None:
            if reference.parent not in layout.jobs:
                raise ConfigError(f"job {current!r} has unknown parent {reference.parent!r}",
                                  file=reference.source_file, line=reference.source_line)
            _check_may_inherit(layout, reference, layout.jobs[reference.parent])
            current = reference.parent
        elif reference.inherit_default_parent and current != layout.default_parent \
                and layout.default_parent in layout.jobs:
            current = layout.default_parent
        else:
            current = None
    chain: list[Job] = []
    for variants in reversed(levels):
        chain.extend(variants)
    return chain


def _secret(layout: Layout, job: Job, name: str) -> dict[str, Any]:
    """The secret a job variant names, as the executor will need it (still encrypted)."""
    obj = layout.objects.get("secret", {}).get(name)
    if obj is None:
        raise ConfigError(f"job {job.name!r} uses secret {name!r}, which is not defined",
                          file=job.source_file, line=job.source_line)
    if obj.source_project != job.source_project:
        raise ConfigError(f"job {job.name!r} (in {job.source_project!r}) cannot use secret "
                          f"{name!r}: secrets may only be used by jobs of the project that "
                          f"defines them ({obj.source_project!r})",
                          file=job.source_file, line=job.source_line)
    return {"secret": name, "project": obj.source_project,
            "data": _serialisable(obj.attributes.get("data"))}


def _serialisable(value: Any) -> Any:
    if isinstance(value, EncryptedValue):
        return {"pkcs1-oaep": list(value.ciphertext)}
    if isinstance(value, dict):
        return {str(k): _serialisable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_serialisable(v) for v in value]
    return value


def _named_nodeset(layout: Layout, name: str, job: Job) -> NodeSet:
    nodeset = layout.nodesets.get(name)
    if nodeset is None:
        raise ConfigError(f"job {job.name!r} uses unknown nodeset {name!r}",
                          file=job.source_file, line=job.source_line)
    return nodeset


def _resolve_nodeset(layout: Layout, nodeset: NodeSet | str, job: Job) -> NodeSet:
    """The node set to request; with alternatives, the first (the others kept, in order)."""
    if isinstance(nodeset, str):
        nodeset = _named_nodeset(layout, nodeset, job)
    if not nodeset.alternatives:
        return nodeset
    resolved = []
    for alt in nodeset.alternatives:
        option = _named_nodeset(layout, alt, job) if isinstance(alt, str) else alt
        if option.alternatives:
            raise ConfigError(f"job {job.name!r}: nodeset {option.name!r} is itself a list of "
                              "alternatives, which do not nest",
                              file=job.source_file, line=job.source_line)
        resolved.append(option)
    first = resolved[0]
    return NodeSet(nodeset.name, first.nodes, first.groups, tuple(resolved))


def _union(first: tuple, second: tuple) -> tuple:
    """``first`` then what ``second`` adds, without repeats."""
    return tuple(dict.fromkeys(first + second))


def _note_sources(frozen: FrozenJob, job: Job) -> None:
    """Record which project set each variable ``job`` merges into ``frozen``
    (``model/vars_provenance.py``); call before merging."""
    if not (job.vars or job.extra_vars or job.host_vars or job.group_vars):
        return
    sources = frozen.var_sources
    project, trusted = job.source_project, job.source_trusted
    for kind, given, before in (("vars", job.vars, frozen.vars),
                                ("extra_vars", job.extra_vars, frozen.extra_vars)):
        if given:
            sources[kind] = merged_sources(before, given, sources.get(kind, {}), project,
                                           trusted)
    for kind, per, before_per in (("host_vars", job.host_vars, frozen.host_vars),
                                  ("group_vars", job.group_vars, frozen.group_vars)):
        for target, given in per.items():
            if isinstance(given, dict) and given:
                known = sources.setdefault(kind, {})
                before = before_per.get(target)
                known[target] = merged_sources(before if isinstance(before, dict) else {},
                                               given, known.get(target, {}), project,
                                               trusted)


def _variant_roles(job: Job, implicit: bool) -> tuple[RoleRef, ...]:
    """The roles one variant adds: as in Zuul, its own project first (implicitly, under
    its short name, unless the variant lists it), then its ``roles`` entries."""
    if not implicit or any(r.project == job.source_project for r in job.roles):
        return job.roles
    own = RoleRef(job.source_project, job.source_project.rsplit("/", 1)[-1], implicit=True)
    return (own, *job.roles)


def _add_roles(before: tuple[RoleRef, ...], added: tuple[RoleRef, ...]
               ) -> tuple[RoleRef, ...]:
    """Zuul's accumulation of roles along the inheritance path: the roles a variant
    adds come before those it inherits (one entry per project); an inherited
    implicit entry that the variant lists explicitly is replaced where it stands."""
    listed = {r.project: r for r in added}
    kept = tuple(listed[r.project] if r.implicit and r.project in listed
                 and not listed[r.project].implicit else r for r in before)
    present = {r.project for r in kept}
    return (*(r for r in added if r.project not in present), *kept)


def _apply(frozen: FrozenJob, job: Job, layout: Layout, implicit_role: bool = True) -> None:
    """Apply one variant on top of what its ancestors set (Zuul's combining rules).

    Roles: a variant's playbooks get the roles accumulated down to it (its own,
    then its ancestors'); the playbooks it inherits keep theirs, so a child's roles
    never change how its parent's playbooks run (Zuul's ``job.roles``).
    ``implicit_role``: the variant's project is a role source of its own (not for a
    project stanza's variant).
    """
    frozen.roles = _add_roles(frozen.roles, _variant_roles(job, implicit_role))
    if job.nodeset is not None:
        frozen.nodeset = _resolve_nodeset(layout, job.nodeset, job)
    if job.timeout is not None:
        frozen.timeout = job.timeout
    if job.voting is not None:
        frozen.voting = job.voting
    names = tuple(var for var, _secret in job.secret_vars)
    for var, secret_name in job.secret_vars:
        frozen.secrets[var] = _secret(layout, job, secret_name)

    def with_secrets(books: tuple[PlaybookRef, ...]) -> tuple[PlaybookRef, ...]:
        """The variant's own playbooks, with its secrets and the roles so far."""
        return tuple(replace(b, secrets=names or b.secrets, roles=frozen.roles)
                     for b in books)

    def passed(books: tuple[PlaybookRef, ...]) -> tuple[PlaybookRef, ...]:
        """The ancestors' playbooks, given the secrets passed to the parent."""
        return tuple(replace(b, secrets=_union(b.secrets, job.parent_secrets))
                     for b in books)

    if job.parent_secrets:  # Zuul's pass-to-parent: the ancestors' playbooks get them too
        frozen.pre_run, frozen.run = passed(frozen.pre_run), passed(frozen.run)
        frozen.post_run, frozen.cleanup_run = passed(frozen.post_run), \
            passed(frozen.cleanup_run)
    frozen.pre_run = frozen.pre_run + with_secrets(job.pre_run)
    frozen.post_run = with_secrets(job.post_run) + frozen.post_run
    frozen.cleanup_run = with_secrets(job.cleanup_run) + frozen.cleanup_run
    if job.run:
        frozen.run = with_secrets(job.run)
    _note_sources(frozen, job)
    frozen.vars = deep_merge(frozen.vars, job.vars)
    frozen.extra_vars = deep_merge(frozen.extra_vars, job.extra_vars)
    frozen.host_vars = deep_merge(frozen.host_vars, job.host_vars)
    frozen.group_vars = deep_merge(frozen.group_vars, job.group_vars)
    if job.files is not None:
        frozen.files = job.files
    if job.irrelevant_files is not None:
        frozen.irrelevant_files = job.irrelevant_files
    if job.attempts is not None:
        frozen.attempts = job.attempts
    if job.post_timeout is not None:
        frozen.post_timeout = job.post_timeout
    frozen.required_projects = tuple(dict.fromkeys(frozen.required_projects
                                                   + job.required_projects))
    if job.dependencies:
        frozen.dependencies = job.dependencies
        frozen.soft_dependencies = job.soft_dependencies
    for name in job.semaphores:
        if name not in layout.objects.get("semaphore", {}):
            raise ConfigError(f"job {job.name!r} uses semaphore {name!r}, which is not "
                              "defined (add a 'semaphore' with that name and a 'max')",
                              file=job.source_file, line=job.source_line)
    frozen.semaphores = _union(frozen.semaphores, job.semaphores)
    frozen.tags = _union(frozen.tags, job.tags)
    frozen.provides = _union(frozen.provides, job.provides)
    frozen.requires = _union(frozen.requires, job.requires)
    if job.allowed_projects is not None:  # the most restrictive along the chain
        frozen.allowed_projects = job.allowed_projects if frozen.allowed_projects is None \
            else tuple(p for p in frozen.allowed_projects if p in job.allowed_projects)
    frozen.post_review = frozen.post_review or bool(job.post_review)  # never unset
    frozen.project_checkouts = {**frozen.project_checkouts, **dict(job.project_checkouts)}
    for attr in ("override_checkout", "match_on_config_updates", "deduplicate",
                 "workspace_scheme"):
        if getattr(job, attr) is not None:
            setattr(frozen, attr, getattr(job, attr))
    if job.name not in frozen.inheritance_path:
        frozen.inheritance_path = (*frozen.inheritance_path, job.name)


def freeze_job(layout: Layout, ref: JobReference, project: str, branch: str) -> FrozenJob:
    chain = _inheritance_chain(layout, ref.name, branch)
    if not any(v.name == ref.name for v in chain):
        raise ConfigError(f"job {ref.name!r} has no variant for branch {branch!r}")
    frozen = FrozenJob(name=ref.name, timeout=DEFAULT_TIMEOUT)
    guarded: dict[str, Job] = {}  # job name -> its first final or protected variant
    for variant in chain:
        _check_variant(guarded.get(variant.name), variant)
        _apply(frozen, variant, layout)
        if variant.final or variant.protected:
            guarded.setdefault(variant.name, variant)
    if any(v.abstract for v in chain if v.name == ref.name):
        raise ConfigError(f"job {ref.name!r} is abstract and cannot run directly; "
                          "define a job that inherits from it")
    if ref.overrides:
        finals = [v for v in chain if v.name == ref.name and v.final]
        if finals:
            raise ConfigError(f"job {ref.name!r} is final and cannot be changed by "
                              f"project {project!r}")
        owners = {v.source_project for v in chain if v.name == ref.name and v.protected}
        if not ref.trusted and owners and owners != {project}:
            raise ConfigError(f"job {ref.name!r} is protected (defined in "
                              f"{', '.join(sorted(owners))}) and cannot be changed by project "
                              f"{project!r}", line=ref.line)
        from zuulish.config.parser import SourceContext, parse_job
        ctx = SourceContext(project, branch, f"{project} (project stanza)", False)
        variant = parse_job({"name": ref.name, "parent": None, **ref.overrides}, ctx)
        # a config project's stanza may name jobs for any project: its overrides
        # are trusted; an untrusted project's stanza names its own
        variant = replace(variant, source_trusted=ref.trusted,
                          source_project=project if not ref.trusted
                          else f"a config project's stanza for {project}")
        _apply(frozen, variant, layout, implicit_role=False)
    if not frozen.run:
        raise ConfigError(f"job {ref.name!r} has no 'run' playbook")
    if frozen.timeout > layout.max_job_timeout:
        raise ConfigError(f"job {ref.name!r} has a timeout of {frozen.timeout}s, more than "
                          f"the tenant's max-job-timeout of {layout.max_job_timeout}s")
    if len(frozen.nodeset.nodes) > layout.max_nodes_per_job:
        raise ConfigError(f"job {ref.name!r} asks for {len(frozen.nodeset.nodes)} nodes, more "
                          f"than the tenant's max-nodes-per-job of {layout.max_nodes_per_job}")
    return frozen


def freeze_job_graph(layout: Layout, project: str, branch: str, pipeline: str,
                     changed_files: list[str] | tuple[str, ...] | None = None,
                     previous: Layout | None = None) -> JobGraph:
    """The frozen jobs ``project`` runs in ``pipeline`` on ``branch`` for a change that
    modifies ``changed_files`` (``files``/``irrelevant-files`` matchers apply).

    ``previous``: the layout before the change's own configuration updates (that of
    the state ahead of it), when it has some. As Zuul's ``match-on-config-updates``
    (default true), a job whose frozen definition differs from the one ``previous``
    gives, or which ``previous`` does not run, runs whatever its file matchers say.
    """
    graph = JobGraph(fail_fast=layout.fail_fast(project, pipeline, branch))
    before = _JobsBefore(previous if previous is not layout else None,
                         project, branch, pipeline)
    for job in _frozen_jobs(layout, project, branch, pipeline):
        if job.runs_for(changed_files) or (job.match_on_config_updates
                                           and before.updated(job)):
            graph.add(job)
    for name, job in graph.jobs.items():
        soft = set(job.soft_dependencies)
        job.dependencies = tuple(d for d in job.dependencies
                                 if d in graph.jobs or d not in soft)
        for dep in job.dependencies:
            if dep not in graph.jobs:
                raise ConfigError(f"job {name!r} depends on {dep!r}, which does not run for "
                                  f"{project} in {pipeline} (mark the dependency "
                                  "'soft: true' if it may be skipped)")
    _check_cycles(graph)
    return graph


def _frozen_jobs(layout: Layout, project: str, branch: str,
                 pipeline: str) -> Iterator[FrozenJob]:
    """Each job ``project`` names for ``pipeline`` on ``branch``, frozen, with the
    project's variables; file matchers not applied."""
    project_vars: dict[str, Any] = {}
    project_sources: dict[str, dict[str, bool]] = {}
    for stanza in layout.stanzas(project, branch):  # templates, then the project's own
        if stanza.vars:
            project_sources = merged_sources(project_vars, stanza.vars, project_sources,
                                             stanza.source_project or project,
                                             stanza.trusted)
        project_vars = deep_merge(project_vars, stanza.vars)
    for stanza in layout.stanzas(project, branch):
        ppj = stanza.pipelines.get(pipeline)
        for ref in ppj.jobs if ppj else ():
            with _located(stanza.source_file, ref.line or stanza.source_line):
                job = _frozen_reference(layout, ref, project, branch, pipeline)
            if job is not None:
                yield _with_project_vars(job, project_vars, project_sources)


@contextmanager
def _located(file: str | None, line: int | None) -> Iterator[None]:
    """A ConfigError that names no file is given ``file`` and ``line``: where the
    project stanza names the job it is about."""
    try:
        yield
    except ConfigError as exc:
        if exc.file is None and file is not None:
            exc.file, exc.line = file, line
        raise


def _frozen_reference(layout: Layout, ref: JobReference, project: str, branch: str,
                      pipeline: str) -> FrozenJob | None:
    """The job ``ref`` names, frozen; None when it has no variant for ``branch``."""
    variants = layout.jobs.get(ref.name)
    if variants and not _matching_variants(layout, ref.name, branch):
        return None  # no variant for this branch: the job does not run here
    job = freeze_job(layout, ref, project, branch)
    _check_use(layout, job, ref, project, pipeline)
    return job


def _with_project_vars(job: FrozenJob, project_vars: dict[str, Any],
                       project_sources: dict[str, dict[str, bool]]) -> FrozenJob:
    """``job`` with the project's variables: for every job of the project; a job's
    own win."""
    if project_vars:
        job.var_sources = {**job.var_sources, "vars": below(
            project_vars, project_sources, job.vars, job.var_sources.get("vars", {}))}
    job.vars = deep_merge(project_vars, job.vars)
    return job


class _JobsBefore:
    """The jobs frozen in the layout before a change's configuration updates, file
    matchers aside (built once, when a job's matchers first leave it out)."""

    def __init__(self, layout: Layout | None, project: str, branch: str, pipeline: str):
        self.layout, self.project, self.branch, self.pipeline = \
            layout, project, branch, pipeline
        self._jobs: dict[str, dict[str, Any]] | None = None

    def updated(self, job: FrozenJob) -> bool:
        """Whether the change updates ``job``'s configuration (a new job, or one frozen
        differently). False without a layout before, or when that one does not freeze:
        with no idea what changed, the file matchers decide (as in Zuul)."""
        if self.layout is None:
            return False
        if self._jobs is None:
            try:
                self._jobs = {old.name: old.to_dict() for old in _frozen_jobs(
                    self.layout, self.project, self.branch, self.pipeline)}
            except ConfigError:
                self.layout = None
                return False
        old = self._jobs.get(job.name)
        return old is None or old != job.to_dict()


def _check_use(layout: Layout, job: FrozenJob, ref: JobReference, project: str,
               pipeline: str) -> None:
    """Zuul's ``allowed-projects`` and ``post-review`` rules for running a job here."""
    allowed = job.allowed_projects
    if allowed is not None and project not in allowed and not ref.trusted:
        raise ConfigError(f"job {job.name!r} may not be used by project {project!r} "
                          f"(allowed-projects: {', '.join(allowed) or 'none'})", line=ref.line)
    spec = layout.pipelines.get(pipeline)
    if job.post_review and spec is not None and not spec.post_review:
        raise ConfigError(f"job {job.name!r} is post-review (it uses a secret of an untrusted "
                          f"project, or says so) and may not run in the pre-review pipeline "
                          f"{pipeline!r}; run it in a pipeline with post-review: true",
                          line=ref.line)


def _check_cycles(graph: JobGraph) -> None:
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ConfigError("job dependency cycle: " + " -> ".join([*path, name]))
        state[name] = 1
        for dep in graph.jobs[name].dependencies:
            visit(dep, [*path, name])
        state[name] = 2

    for name in graph.jobs:
        visit(name, [])
