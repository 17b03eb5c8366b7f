"""A tenant's catalog from its layout: projects, jobs and their variants, frozen jobs.

Plain functions from a :class:`Layout` to JSON-able dicts, for the API and the
pages alike (no aiohttp here). What a user names and the layout does not have
raises :class:`NotFound`, whose message names it and, where the list is short,
what exists.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from zuulish.config.freeze import freeze_job_graph
from zuulish.config.layout import Layout, ProjectSource
from zuulish.config.yaml_loader import EncryptedValue
from zuulish.errors import ConfigError
from zuulish.model import Job, NodeSet, PlaybookRef, ProjectConfig

T = TypeVar("T")

#: a list of names this long or shorter is named in full in a "not found" answer
SHORT_LIST = 12
#: the longest name a "not found" answer repeats (and looks for close names of)
MAX_SHOWN = 200


class NotFound(LookupError):
    """Something the request names that the tenant does not have; ``str()`` says so."""


class Unfreezable(ValueError):
    """A job that exists but cannot be frozen for the project (its configuration's
    error says why, with the file and line where it has them)."""


def page(items: Sequence[T], limit: int, skip: int) -> list[T]:
    """``limit`` items after the first ``skip``."""
    return list(items[skip:skip + limit])


def missing(what: str, name: str, known: Iterable[str], where: str = "") -> NotFound:
    """The answer for an unknown ``name``: what exists when that is short, else the
    closest names."""
    names = sorted(set(known))
    place = f" in {where}" if where else ""
    if len(name) > MAX_SHOWN:  # neither repeated at length nor compared
        return NotFound(f"no {what} {name[:MAX_SHOWN]!r}...{place}")
    if not names:
        return NotFound(f"no {what} {name!r}{place}; there are none")
    if len(names) <= SHORT_LIST:
        return NotFound(f"no {what} {name!r}{place}; there are: {', '.join(names)}")
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return NotFound(f"no {what} {name!r}{place} ({len(names)} exist){hint}")


def _matches(name: str, wanted: str | None) -> bool:
    """Whether ``name`` contains ``wanted`` (any case); no filter matches everything."""
    return wanted is None or wanted.casefold() in name.casefold()


def plain(value: Any) -> Any:
    """A configuration value as JSON: encrypted values stay opaque, other objects
    become their text."""
    if isinstance(value, EncryptedValue):
        return "<encrypted>"
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# ------------------------------------------------------------------ projects


def _sources(layout: Layout) -> dict[str, ProjectSource]:
    """The tenant's projects; for a layout made without a tenant file, the projects
    its stanzas name."""
    if layout.tenant_projects:
        return layout.tenant_projects
    return {name: ProjectSource(name, "", False) for name in layout.projects
            if not name.startswith("^")}


def project_names(layout: Layout) -> list[str]:
    """The names of the tenant's projects."""
    return list(_sources(layout))


def _project_pipelines(layout: Layout, project: str) -> list[str]:
    """The pipelines in which the project runs jobs on some branch, in layout order."""
    named = {p for stanza in layout.stanzas(project) for p, ppj in stanza.pipelines.items()
             if ppj.jobs}
    return [p for p in layout.pipelines if p in named]


def list_projects(layout: Layout, name: str | None = None, type_: str | None = None
                  ) -> list[dict[str, Any]]:
    """The tenant's projects, config projects first, each with the pipelines it runs
    jobs in. ``name``: part of the name; ``type_``: ``config`` or ``untrusted``."""
    out = []
    for source in _sources(layout).values():
        kind = "config" if source.trusted else "untrusted"
        if not _matches(source.name, name) or (type_ is not None and kind != type_):
            continue
        out.append({"name": source.name, "connection": source.connection, "type": kind,
                    "branches": list(source.branches),
                    "pipelines": _project_pipelines(layout, source.name)})
    out.sort(key=lambda p: (p["type"] != "config", p["name"]))
    return out


def _source_branch(stanza: ProjectConfig | Job, sources: dict[str, ProjectSource]
                   ) -> str | None:
    """The branch whose file defined ``stanza``: the loader names it in the file
    (``project@branch/path``) for any branch but the project's first (default) one."""
    file, project = stanza.source_file or "", stanza.source_project
    source = sources.get(project)
    known = source.branches if source is not None else ()
    named = [b for b in known if file.startswith(f"{project}@{b}/")]
    if named:
        return max(named, key=len)  # "stable/1" rather than "stable" for stable/1's files
    if file.startswith(f"{project}@"):
        return None  # a branch the layout no longer lists
    return known[0] if known else None


def _stanza(stanza: ProjectConfig, template: bool, sources: dict[str, ProjectSource]
            ) -> dict[str, Any]:
    return {"name": stanza.name, "template": template,
            "source_project": stanza.source_project, "trusted": stanza.trusted,
            "source_branch": _source_branch(stanza, sources),
            "file": stanza.source_file, "line": stanza.source_line,
            "branches": list(stanza.branches), "templates": list(stanza.templates),
            "queue": stanza.queue, "merge_mode": stanza.merge_mode,
            "pipelines": {name: [ref.name for ref in ppj.jobs]
                          for name, ppj in stanza.pipelines.items()}}


def project_info(layout: Layout, project: str) -> dict[str, Any]:
    """One project: its stanzas and the templates they apply (where each was
    defined), and for each branch, each pipeline's jobs and where they are named."""
    sources = _sources(layout)
    source = sources.get(project)
    if source is None:
        raise missing("project", project, sources, f"tenant {layout.tenant}")
    templates = {id(t) for ts in layout.project_templates.values() for t in ts}
    stanzas = layout.stanzas(project)
    branches = list(source.branches) or [None]
    per_branch = []
    for branch in branches:
        pipelines = []
        for pipeline in layout.pipelines:
            jobs = [{"name": ref.name, "stanza": stanza.name,
                     "template": id(stanza) in templates,
                     "file": stanza.source_file, "line": ref.line or stanza.source_line}
                    for stanza in layout.stanzas(project, branch)
                    for ref in (stanza.pipelines[pipeline].jobs
                                if pipeline in stanza.pipelines else ())]
            if jobs:
                pipelines.append({"name": pipeline, "jobs": jobs})
        per_branch.append({"branch": branch, "pipelines": pipelines})
    return {"name": project, "connection": source.connection,
            "type": "config" if source.trusted else "untrusted",
            "branches": list(source.branches),
            "stanzas": [_stanza(s, id(s) in templates, sources) for s in stanzas],
            "branch_pipelines": per_branch}


# ---------------------------------------------------------------------- jobs


def list_jobs(layout: Layout, name: str | None = None) -> list[dict[str, Any]]:
    """Every job, by name: its first variant's description and how many variants."""
    return [{"name": job, "description": next((v.description for v in variants
                                               if v.description), ""),
             "variants": len(variants),
             "tags": sorted({t for v in variants for t in v.tags})}
            for job, variants in sorted(layout.jobs.items()) if _matches(job, name)]


def _nodeset(nodeset: NodeSet | str | None) -> Any:
    if nodeset is None or isinstance(nodeset, str):
        return nodeset
    return nodeset.to_dict()


def _playbooks(books: tuple[PlaybookRef, ...]) -> list[dict[str, Any]]:
    return [{"project": b.project, "path": b.path, "trusted": b.trusted,
             "branch": b.branch} for b in books]


def _variant(job: Job, sources: dict[str, ProjectSource]) -> dict[str, Any]:
    return {"name": job.name, "parent": job.parent,
            "default_parent": job.parent is None and job.inherit_default_parent,
            "description": job.description,
            "source_project": job.source_project, "trusted": job.source_trusted,
            "source_branch": _source_branch(job, sources),
            "file": job.source_file, "line": job.source_line,
            "branches": list(job.branches), "nodeset": _nodeset(job.nodeset),
            "timeout": job.timeout, "voting": job.voting, "abstract": job.abstract,
            "final": job.final, "protected": job.protected,
            "intermediate": job.intermediate, "attempts": job.attempts,
            "pre_run": _playbooks(job.pre_run), "run": _playbooks(job.run),
            "post_run": _playbooks(job.post_run),
            "cleanup_run": _playbooks(job.cleanup_run),
            "vars": plain(job.vars), "extra_vars": plain(job.extra_vars),
            "host_vars": plain(job.host_vars), "group_vars": plain(job.group_vars),
            "required_projects": list(job.required_projects),
            "dependencies": list(job.dependencies), "semaphores": list(job.semaphores),
            "secrets": [{"name": var, "secret": secret} for var, secret in job.secret_vars],
            "tags": list(job.tags), "files": plain(job.files),
            "irrelevant_files": plain(job.irrelevant_files),
            "allowed_projects": plain(job.allowed_projects),
            "post_review": job.post_review}


def job_info(layout: Layout, name: str) -> dict[str, Any]:
    """A job: every variant, in the order they apply, with where each is defined;
    and the projects that run it (for the frozen-job picker)."""
    variants = layout.jobs.get(name)
    if not variants:
        raise missing("job", name, layout.jobs, f"tenant {layout.tenant}")
    sources = _sources(layout)
    return {"name": name, "variants": [_variant(v, sources) for v in variants],
            "used_by": _users(layout, name, sources)}


def _users(layout: Layout, job: str, sources: dict[str, ProjectSource]
           ) -> list[dict[str, Any]]:
    """Each project that names ``job`` in a pipeline: its branches and the pipelines,
    in all and branch by branch."""
    out = []
    for project, source in sources.items():
        by_branch = {branch: [p for p in layout.pipelines
                              if any(ref.name == job for ref in
                                     layout.project_pipeline_jobs(project, p, branch))]
                     for branch in source.branches}
        pipelines = [p for p in layout.pipelines
                     if any(ref.name == job for ref in
                            layout.project_pipeline_jobs(project, p))]
        if pipelines:
            out.append({"project": project, "branches": list(source.branches),
                        "pipelines": pipelines,
                        "by_branch": {b: ps for b, ps in by_branch.items() if ps}})
    return out


def frozen_job(layout: Layout, project: str, branch: str, pipeline: str,
               job: str) -> dict[str, Any]:
    """The job as ``project`` runs it in ``pipeline`` on ``branch``: inheritance,
    variants and the project's overrides and variables applied (file matchers not).
    Secrets are named, never given."""
    sources = _sources(layout)
    if project not in sources:
        raise missing("project", project, sources, f"tenant {layout.tenant}")
    if pipeline not in layout.pipelines:
        raise missing("pipeline", pipeline, layout.pipelines, f"tenant {layout.tenant}")
    if job not in layout.jobs:
        raise missing("job", job, layout.jobs, f"tenant {layout.tenant}")
    branches = sources[project].branches
    if branches and branch not in branches:  # (a layout made by hand knows none)
        raise missing("branch", branch, branches, f"{project}'s configuration")
    named = [ref.name for ref in layout.project_pipeline_jobs(project, pipeline, branch)]
    if job not in named:
        raise missing("job", job, named,
                      f"what {project} runs in {pipeline} on branch {branch}")
    try:
        graph = freeze_job_graph(layout, project, branch, pipeline)
    except ConfigError as exc:
        raise Unfreezable(f"job {job!r} cannot be frozen for {project} in {pipeline} on "
                          f"{branch}: {exc}") from None
    frozen = graph.jobs.get(job)
    if frozen is None:  # a job without a variant for this branch does not run on it
        raise NotFound(f"job {job!r} has no variant for branch {branch!r}, so {project} "
                       f"does not run it in {pipeline} there")
    data = frozen.to_dict()
    data["secrets"] = {var: {"secret": s.get("secret"), "project": s.get("project")}
                       for var, s in frozen.secrets.items()}
    for key in ("vars", "extra_vars", "host_vars", "group_vars"):
        data[key] = plain(data[key])
    return {"project": project, "branch": branch, "pipeline": pipeline, "job": data}

