"""The catalog's query strings and answers, as the OpenAPI document describes them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from zuulish.web import schemas
from zuulish.web.schemas import Model, Query

NodeStateName = Literal["requested", "building", "ready", "in-use", "used", "deleting",
                        "deleted", "failed", "held"]
NAME = Field(None, max_length=255, description="Only those whose name contains this "
                                              "(any case)")


class Paged(schemas.Paged):
    """``limit`` and ``skip`` (the answer's ``X-Total-Count`` says how many there are in
    all); an empty field of a page's filter form means "not given"."""

    limit: int = Field(100, ge=1, le=500, description="How many to answer")
    skip: int = Field(0, ge=0, le=100_000, description="How many to leave out first")

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class ProjectsQuery(Paged):
    name: str | None = NAME
    type: Literal["config", "untrusted"] | None = Field(
        None, description="Config projects (trusted) or untrusted ones")


class JobsQuery(Paged):
    name: str | None = NAME


class NodesQuery(Paged):
    label: str | None = Field(None, max_length=255, description="Nodes of this label")
    state: NodeStateName | None = Field(
        None, description="Nodes in this state (default: any but deleted)")
    provider: str | None = Field(None, max_length=255, description="Nodes of this provider")


class LabelsQuery(Paged):
    name: str | None = NAME


class SemaphoresQuery(Paged):
    name: str | None = NAME


class NodePath(Query):
    id: int = Field(..., ge=1, le=2**62, description="The node's id")


class BadgeQuery(Query):
    project: str = Field(..., max_length=255, description="The project")
    pipeline: str = Field(..., max_length=255, description="The pipeline")
    branch: str | None = Field(None, max_length=255,
                               description="Only items of this branch (default: any)")


class JobPageQuery(Query):
    """The job page's frozen-job picker."""

    project: str | None = Field(None, max_length=255)
    branch: str | None = Field(None, max_length=255)
    pipeline: str | None = Field(None, max_length=255)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class ProjectSummary(Model):
    name: str
    connection: str = Field(description="The connection the project is on")
    type: Literal["config", "untrusted"]
    branches: list[str] = Field(description="Branches its configuration is read from")
    pipelines: list[str] = Field(description="Pipelines it runs jobs in (any branch)")


class StanzaInfo(Model):
    name: str = Field(description="The project (or regular expression) or template name")
    template: bool = Field(description="A project-template the project's stanzas apply")
    source_project: str = Field(description="The project whose file defines it")
    trusted: bool = Field(description="Defined in a config project")
    source_branch: str | None = Field(description="The branch of that file")
    file: str | None
    line: int | None
    branches: list[str] = Field(description="Its branch matchers (empty: every branch)")
    templates: list[str]
    queue: str | None
    merge_mode: str | None
    pipelines: dict[str, list[str]] = Field(description="Pipeline -> job names")


class PipelineJob(Model):
    name: str
    stanza: str = Field(description="The project stanza or template naming it")
    template: bool
    file: str | None
    line: int | None


class PipelineJobs(Model):
    name: str
    jobs: list[PipelineJob]


class BranchPipelines(Model):
    branch: str | None
    pipelines: list[PipelineJobs]


class ProjectDetail(Model):
    name: str
    connection: str
    type: Literal["config", "untrusted"]
    branches: list[str]
    stanzas: list[StanzaInfo] = Field(description="Its stanzas and templates, in order")
    branch_pipelines: list[BranchPipelines] = Field(
        description="Per branch, the jobs of each pipeline and where they are named")


class JobSummary(Model):
    name: str
    description: str
    variants: int = Field(description="How many variants define it")
    tags: list[str]


class Playbook(Model):
    project: str
    path: str
    trusted: bool
    branch: str | None


class JobVariant(Model):
    name: str
    parent: str | None
    default_parent: bool = Field(description="No parent given: the tenant's default "
                                             "parent (null parent: a root job)")
    description: str
    source_project: str
    trusted: bool
    source_branch: str | None
    file: str | None = Field(description="The file that defines this variant")
    line: int | None = Field(description="Its line there")
    branches: list[str]
    nodeset: Any = Field(description="A nodeset's name, or its nodes")
    timeout: int | None
    voting: bool | None
    abstract: bool
    final: bool
    protected: bool
    intermediate: bool
    attempts: int | None
    pre_run: list[Playbook]
    run: list[Playbook]
    post_run: list[Playbook]
    cleanup_run: list[Playbook]
    vars: dict[str, Any]
    extra_vars: dict[str, Any]
    host_vars: dict[str, Any]
    group_vars: dict[str, Any]
    required_projects: list[str]
    dependencies: list[str]
    semaphores: list[str]
    secrets: list[dict[str, str]] = Field(description="Variable and secret names only")
    tags: list[str]
    files: list[str] | None
    irrelevant_files: list[str] | None
    allowed_projects: list[str] | None
    post_review: bool | None


class JobUser(Model):
    project: str
    branches: list[str] = Field(description="The project's branches")
    pipelines: list[str] = Field(description="Pipelines it runs the job in, on any branch")
    by_branch: dict[str, list[str]] = Field(
        description="Branch -> the pipelines it runs the job in there")


class JobDetail(Model):
    name: str
    variants: list[JobVariant]
    used_by: list[JobUser] = Field(description="Projects that run it, and where")


class FrozenJobAnswer(Model):
    project: str
    branch: str
    pipeline: str
    job: dict[str, Any] = Field(description="The frozen job (secrets named, not given)")


class NodeInfo(Model):
    id: int
    label: str
    provider: str
    state: str
    zone: str | None
    tenant: str | None
    external_id: str | None = Field(description="The cloud's id of it")
    created_at: float
    state_at: float | None
    build: str | None = Field(description="The build it is for")
    job: str | None
    hold: int | None = Field(description="The autohold request keeping it")
    hold_until: float | None


class LabelInfo(Model):
    name: str
    description: str
    providers: list[str] = Field(description="Providers that offer it")
    nodesets: list[str] = Field(description="Nodesets that use it")
    nodes: dict[str, int] = Field(description="The tenant's nodes of it, by state")


class SemaphoreHolder(Model):
    build: str
    job: str
    state: str
    pipeline: str
    project: str
    branch: str
    change: int | None
    patchset: int | None
    url: str


class SemaphoreInfo(Model):
    name: str
    max: int
    source_project: str
    file: str | None
    line: int | None
    holders: list[SemaphoreHolder] = Field(description="The builds holding it now")
