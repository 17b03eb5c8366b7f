"""A tenant's layout: every pipeline, job, nodeset and project stanza it loaded."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from zuulish.config.auth_rules import TenantAuthRules
from zuulish.errors import ConfigError
from zuulish.model import Job, NodeSet, Pipeline, ProjectConfig, QueueOptions
from zuulish.nodepool.cloud import ProviderSpec


@dataclass(frozen=True)
class ProjectSource:
    """A project the tenant file lists: its connection, whether it is a config
    project, and the branches its configuration was read from (default first)."""

    name: str
    connection: str
    trusted: bool
    branches: tuple[str, ...] = ()


@dataclass
class Layout:
    tenant: str
    default_parent: str = "base"
    max_job_timeout: int = 10800
    max_nodes_per_job: int = 5
    # the tenant's admin-rules and access-rules (the tenant file's)
    auth_rules: TenantAuthRules = field(default_factory=TenantAuthRules)
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    jobs: dict[str, list[Job]] = field(default_factory=dict)
    nodesets: dict[str, NodeSet] = field(default_factory=dict)
    projects: dict[str, list[ProjectConfig]] = field(default_factory=dict)
    project_templates: dict[str, list[ProjectConfig]] = field(default_factory=dict)
    # secret, semaphore, queue, pragma, provider, section, label, flavor, image
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)
    # settings read and ignored (ConfigWarning: file, line, message)
    warnings: list[ConfigError] = field(default_factory=list)
    # (kind, name) of the objects that errors kept out: defined, though broken
    broken: set[tuple[str, str]] = field(default_factory=set)
    # the tenant's providers resolved from its node objects (config.node_providers;
    # none when loaded without zuulish.yaml's connections)
    node_providers: list[ProviderSpec] = field(default_factory=list)
    # the projects of the tenant file, in its order (empty for a layout made by hand)
    tenant_projects: dict[str, ProjectSource] = field(default_factory=dict)

    def stanzas(self, project: str, branch: str | None = None) -> list[ProjectConfig]:
        """The project's stanzas for a change on ``branch`` (None: any), each preceded
        by the templates it names. Stanzas whose name is a regular expression
        (``^...``, config projects only) apply to every project they match, before
        the project's own. A stanza, or a template, with branch matchers applies
        only to the branches they match."""
        out: list[ProjectConfig] = []
        matching = [s for name, stanzas in self.projects.items() if name.startswith("^")
                    and re.fullmatch(name, project) for s in stanzas]
        for stanza in matching + self.projects.get(project, []):
            if not stanza.applies_to(branch):
                continue
            for template in stanza.templates:
                out.extend(t for t in self.project_templates.get(template, [])
                           if t.applies_to(branch))
            out.append(stanza)
        return out

    def project_pipeline_jobs(self, project: str, pipeline: str,
                              branch: str | None = None) -> list:
        """Job references for ``project`` in ``pipeline`` on ``branch`` (None: any
        branch) across its stanzas and templates."""
        refs = []
        for stanza in self.stanzas(project, branch):
            ppj = stanza.pipelines.get(pipeline)
            if ppj:
                refs.extend(ppj.jobs)
        return refs

    def semaphore_limits(self) -> dict[str, int]:
        """Each ``semaphore``'s ``max`` (Zuul's default: 1)."""
        return {name: int(obj.attributes.get("max", 1))
                for name, obj in self.objects.get("semaphore", {}).items()}

    def fail_fast(self, project: str, pipeline: str, branch: str | None = None) -> bool:
        """Zuul's ``fail-fast`` for ``project`` in ``pipeline``: the last of its stanzas
        (templates first) that sets it, for that pipeline or (zuulish) for the whole
        stanza; off by default."""
        value = False
        for stanza in self.stanzas(project, branch):
            ppj = stanza.pipelines.get(pipeline)
            if ppj is not None and ppj.fail_fast is not None:
                value = ppj.fail_fast
            elif stanza.fail_fast is not None:
                value = stanza.fail_fast
        return value

    def queue_name(self, project: str, branch: str | None = None) -> str:
        """The shared queue a project's changes enter: the ``queue`` its stanzas name
        (else one of its own), split by branch when that queue is ``per-branch``."""
        name = project
        for stanza in reversed(self.stanzas(project, branch)):
            if stanza.queue:
                name = stanza.queue
                break
        if branch is not None and self.queue_options(name).per_branch:
            return f"{name}@{branch}"
        return name

    def queue_options(self, name: str) -> QueueOptions:
        """The options of the ``queue`` object called ``name`` (a per-branch queue's
        name carries ``@branch``); defaults when none is defined."""
        obj = self.objects.get("queue", {}).get(name.split("@", 1)[0])
        if obj is None:
            return QueueOptions(name=name)
        attrs = obj.attributes
        return QueueOptions(
            name=name, per_branch=bool(attrs.get("per-branch", False)),
            allow_circular_dependencies=bool(attrs.get("allow-circular-dependencies", False)),
            dependencies_by_topic=bool(attrs.get("dependencies-by-topic", False)),
            independent_subqueues=bool(attrs.get("independent-subqueues", False)),
            batch_size=int(attrs.get("batch-size", 1)),
            verify_first=bool(attrs.get("verify-first", False)),
            retry_failed_jobs=int(attrs.get("retry-failed-jobs", 0)),
            speculate_failures=bool(attrs.get("speculate-failures", False)),
            trust_later_passes=bool(attrs.get("trust-later-passes", False)))

    def merge_mode(self, project: str, branch: str | None = None) -> str:
        """How the project's changes merge: the last stanza that says, else ``default``."""
        for stanza in reversed(self.stanzas(project, branch)):
            if stanza.merge_mode:
                return stanza.merge_mode
        return "default"

    def errors_for(self, files: set[str]) -> list[ConfigError]:
        return [e for e in self.errors if e.file in files]
