"""Jobs as configured (``Job``) and as run for one item (``FrozenJob``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from zuulish.model.nodeset import NodeSet


@dataclass(frozen=True)
class RoleRef:
    """A project whose roles a playbook gets (Zuul's ``job.roles`` entry): its
    ``roles/`` directory, or the repository itself as the role ``name``.
    ``implicit``: the job's own project, added without being listed (skipped
    when it holds no roles)."""

    project: str
    name: str
    implicit: bool = False

    def to_dict(self) -> dict:
        return {"project": self.project, "name": self.name, "implicit": self.implicit}

    @classmethod
    def from_dict(cls, data: dict | list) -> RoleRef:
        if isinstance(data, list):  # (project, name): a job frozen before RoleRef
            return cls(str(data[0]), str(data[1]))
        return cls(data["project"], data["name"], bool(data.get("implicit", False)))


@dataclass(frozen=True)
class PlaybookRef:
    """A playbook path inside the project (and branch) that defined it."""

    project: str
    path: str
    trusted: bool = False
    branch: str | None = None
    secrets: tuple[str, ...] = ()  # the job's secrets this playbook receives
    line: int | None = field(default=None, compare=False)  # where the job names it
    # the roles on its roles path, in order: those of its job's level of
    # inheritance and of the levels above it (set when the job is frozen)
    roles: tuple[RoleRef, ...] = ()

    def to_dict(self) -> dict:
        return {"project": self.project, "path": self.path, "trusted": self.trusted,
                "branch": self.branch, "secrets": list(self.secrets),
                "roles": [r.to_dict() for r in self.roles]}

    @classmethod
    def from_dict(cls, data: dict) -> PlaybookRef:
        return cls(data["project"], data["path"], data.get("trusted", False), data.get("branch"),
                   tuple(data.get("secrets", ())),
                   roles=tuple(RoleRef.from_dict(r) for r in data.get("roles", ())))


@dataclass
class Job:
    """One ``job`` stanza (a variant); inheritance is resolved when freezing."""

    name: str
    parent: str | None = None
    inherit_default_parent: bool = True
    abstract: bool = False
    final: bool = False
    protected: bool = False
    intermediate: bool = False
    description: str = ""
    branches: tuple[str, ...] = ()
    nodeset: NodeSet | str | None = None
    timeout: int | None = None
    voting: bool | None = None
    pre_run: tuple[PlaybookRef, ...] = ()
    run: tuple[PlaybookRef, ...] = ()
    post_run: tuple[PlaybookRef, ...] = ()
    cleanup_run: tuple[PlaybookRef, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict)
    extra_vars: dict[str, Any] = field(default_factory=dict)
    host_vars: dict[str, Any] = field(default_factory=dict)
    group_vars: dict[str, Any] = field(default_factory=dict)
    required_projects: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    soft_dependencies: tuple[str, ...] = ()  # the subset of dependencies marked soft
    files: tuple[str, ...] | None = None
    irrelevant_files: tuple[str, ...] | None = None
    attempts: int | None = None
    post_timeout: int | None = None
    secrets: tuple[str, ...] = ()      # names of secret objects the job uses
    secret_vars: tuple[tuple[str, str], ...] = ()  # (variable name, secret object name)
    parent_secrets: tuple[str, ...] = ()  # variables of secrets with ``pass-to-parent``
    semaphores: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    allowed_projects: tuple[str, ...] | None = None
    post_review: bool | None = None
    override_checkout: str | None = None
    project_checkouts: tuple[tuple[str, str], ...] = ()  # required-projects overrides
    roles: tuple[RoleRef, ...] = ()  # its ``roles`` entries, in order
    match_on_config_updates: bool | None = None
    deduplicate: bool | str | None = None  # "auto", true or false
    workspace_scheme: str | None = None
    source_project: str = ""
    source_trusted: bool = False  # defined in a config project
    source_file: str | None = None
    source_line: int | None = None


@dataclass
class FrozenJob:
    """Everything an executor needs to run a job for one queue item."""

    name: str
    nodeset: NodeSet = field(default_factory=NodeSet)
    timeout: int = 1800
    voting: bool = True
    pre_run: tuple[PlaybookRef, ...] = ()
    run: tuple[PlaybookRef, ...] = ()
    post_run: tuple[PlaybookRef, ...] = ()
    cleanup_run: tuple[PlaybookRef, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict)
    extra_vars: dict[str, Any] = field(default_factory=dict)
    host_vars: dict[str, Any] = field(default_factory=dict)
    group_vars: dict[str, Any] = field(default_factory=dict)
    required_projects: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    soft_dependencies: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    irrelevant_files: tuple[str, ...] = ()
    attempts: int = 3
    post_timeout: int | None = None
    # variable name -> {"secret", "project", "data"} (encrypted values as
    # {"pkcs1-oaep": [chunks]}); decrypted only by the executor, for the playbooks
    # of the job that declared them.
    secrets: dict[str, Any] = field(default_factory=dict)
    inheritance_path: tuple[str, ...] = ()
    semaphores: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    allowed_projects: tuple[str, ...] | None = None  # None: any project
    post_review: bool = False
    override_checkout: str | None = None
    project_checkouts: dict[str, str] = field(default_factory=dict)
    # the roles of the whole job, as its last level's playbooks get them
    roles: tuple[RoleRef, ...] = ()
    match_on_config_updates: bool = True
    deduplicate: bool | str = "auto"
    workspace_scheme: str = "golang"
    # Who set each variable (``vars_provenance.py``): for "vars" and "extra_vars",
    # name -> {project: trusted}; for "host_vars" and "group_vars", host or group ->
    # name -> {project: trusted}. A value with an untrusted project in it is untrusted.
    var_sources: dict[str, Any] = field(default_factory=dict)

    @property
    def playbooks(self) -> tuple[PlaybookRef, ...]:
        """Every playbook of the job, in the order of its phases."""
        return (*self.pre_run, *self.run, *self.post_run, *self.cleanup_run)

    def content_projects(self) -> tuple[str, ...]:
        """The projects its playbooks and their roles come from (in order, once each):
        Zuul checks them out for the job whether or not it requires them."""
        found: dict[str, None] = {}
        for book in self.playbooks:
            found.setdefault(book.project)
            for role in book.roles:
                found.setdefault(role.project)
        return tuple(found)

    def runs_for(self, changed_files: list[str] | tuple[str, ...] | None) -> bool:
        """Zuul's file matchers: ``files`` (some changed file matches one) and
        ``irrelevant-files`` (not every changed file matches one). Unknown
        changed files (a branch push, a periodic run) run the job."""
        if not changed_files:
            return True
        if self.files and not any(re.search(p, f) for p in self.files for f in changed_files):
            return False
        return not (self.irrelevant_files and all(
            any(re.search(p, f) for p in self.irrelevant_files) for f in changed_files))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "nodeset": self.nodeset.to_dict(),
            "timeout": self.timeout,
            "voting": self.voting,
            "pre_run": [p.to_dict() for p in self.pre_run],
            "run": [p.to_dict() for p in self.run],
            "post_run": [p.to_dict() for p in self.post_run],
            "cleanup_run": [p.to_dict() for p in self.cleanup_run],
            "vars": self.vars,
            "extra_vars": self.extra_vars,
            "host_vars": self.host_vars,
            "group_vars": self.group_vars,
            "required_projects": list(self.required_projects),
            "dependencies": list(self.dependencies),
            "soft_dependencies": list(self.soft_dependencies),
            "files": list(self.files),
            "irrelevant_files": list(self.irrelevant_files),
            "attempts": self.attempts,
            "post_timeout": self.post_timeout,
            "secrets": self.secrets,
            "inheritance_path": list(self.inheritance_path),
            "semaphores": list(self.semaphores),
            "tags": list(self.tags),
            "provides": list(self.provides),
            "requires": list(self.requires),
            "allowed_projects": (list(self.allowed_projects)
                                 if self.allowed_projects is not None else None),
            "post_review": self.post_review,
            "override_checkout": self.override_checkout,
            "project_checkouts": self.project_checkouts,
            "roles": [r.to_dict() for r in self.roles],
            "match_on_config_updates": self.match_on_config_updates,
            "deduplicate": self.deduplicate,
            "workspace_scheme": self.workspace_scheme,
            "var_sources": self.var_sources,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FrozenJob:
        def books(key: str) -> tuple[PlaybookRef, ...]:
            return tuple(PlaybookRef.from_dict(p) for p in data.get(key, []))

        return cls(
            name=data["name"],
            nodeset=NodeSet.from_dict(data.get("nodeset") or {}),
            timeout=data.get("timeout", 1800),
            voting=data.get("voting", True),
            pre_run=books("pre_run"),
            run=books("run"),
            post_run=books("post_run"),
            cleanup_run=books("cleanup_run"),
            vars=data.get("vars", {}),
            extra_vars=data.get("extra_vars", {}),
            host_vars=data.get("host_vars", {}),
            group_vars=data.get("group_vars", {}),
            required_projects=tuple(data.get("required_projects", [])),
            dependencies=tuple(data.get("dependencies", [])),
            soft_dependencies=tuple(data.get("soft_dependencies", [])),
            files=tuple(data.get("files", [])),
            irrelevant_files=tuple(data.get("irrelevant_files", [])),
            attempts=data.get("attempts", 3),
            post_timeout=data.get("post_timeout"),
            secrets=data.get("secrets", {}),
            inheritance_path=tuple(data.get("inheritance_path", [])),
            semaphores=tuple(data.get("semaphores", [])),
            tags=tuple(data.get("tags", [])),
            provides=tuple(data.get("provides", [])),
            requires=tuple(data.get("requires", [])),
            allowed_projects=(tuple(data["allowed_projects"])
                              if data.get("allowed_projects") is not None else None),
            post_review=data.get("post_review", False),
            override_checkout=data.get("override_checkout"),
            project_checkouts=dict(data.get("project_checkouts", {})),
            roles=tuple(RoleRef.from_dict(r) for r in data.get("roles", [])),
            match_on_config_updates=data.get("match_on_config_updates", True),
            deduplicate=data.get("deduplicate", "auto"),
            workspace_scheme=data.get("workspace_scheme", "golang"),
            var_sources=dict(data.get("var_sources") or {}),
        )
