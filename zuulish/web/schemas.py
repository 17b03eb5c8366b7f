"""The REST API's shapes as pydantic models: what validates requests and what the OpenAPI
document describes (``zuulish/web/endpoints.py`` generates it from these).

``Query`` and ``Body`` models validate what clients send (unknown fields refused);
``Model`` ones describe answers. Handlers return plain dicts shaped like them, so the
answers are not validated on the way out (the schemathesis test checks they conform).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Epoch = float | None
"""Seconds since the epoch; null when it has not happened."""
#: The largest whole number a database column holds (PostgreSQL's ``integer``): ids and
#: counts beyond it are refused as malformed rather than failing in the store.
MAX_INT = 2**31 - 1
#: The largest byte offset (a signed 64-bit file position).
MAX_OFFSET = 2**63 - 1


class Query(BaseModel):
    """A query string's parameters; a parameter not declared is refused."""

    model_config = ConfigDict(extra="forbid")


class Paged(Query):
    """A list's window: ``skip`` entries, then at most ``limit``; the answer's
    ``X-Total-Count`` header says how many there are in all."""

    limit: int = Field(100, ge=1, le=1000, description="at most this many")
    skip: int = Field(0, ge=0, description="leave out this many first")


class Body(BaseModel):
    """A JSON request body; a field not declared is refused."""

    model_config = ConfigDict(extra="forbid")


class Model(BaseModel):
    """An answer's shape."""

    model_config = ConfigDict(extra="allow")


class Error(Model):
    error: str = Field(description="what was wrong, for people")


# ------------------------------------------------------------------ queue items


class Job(Model):
    name: str
    uuid: str | None = Field(description="the build's id; null until the job starts")
    state: str = Field(description=(
        "waiting (not started: merge or dependencies pending), queued-for-nodes, queued "
        "(nodes assigned), running, paused (zuul.pause: run phase done, waiting for the "
        "jobs that depend on it), completed, canceled"))
    result: str | None = Field(description=(
        "SUCCESS, FAILURE, ERROR, NODE_FAILURE, TIMED_OUT, SKIPPED, CANCELED, "
        "POST_FAILURE, RETRY_LIMIT, DISK_FULL"))
    voting: bool
    started_at: Epoch = None
    finished_at: Epoch = None
    url: str | None = Field(None, description="the build page")
    log_url: str | None = Field(None, description="the build's job-output.txt")


class About(Model):
    """What an item or build is about: a change, or a ref (a ref update, a periodic tip)."""

    label: str = Field(description="'3,1' for a change, 'refs/heads/main@<sha>' for a ref")
    display: str = Field(description=(
        "how people know the change: 'org/repo#12' for a GitHub pull request (GitHub "
        "numbers them per repository; 'change' is the connection's number), else as "
        "'label'"))
    ref: str | None = Field(None, description="a ref item's ref")
    oldrev: str | None = None
    newrev: str | None = Field(None, description="a ref item's commit")


class Change(About):
    number: int | None = Field(description="null for a ref item (post, periodic)")
    patchset: int | None
    project: str
    branch: str
    subject: str
    url: str | None = Field(description=(
        "the change's page: the pull request on GitHub, the built-in forge's page"))


class Item(Model):
    id: int
    change: Change
    live: bool
    enqueued_at: Epoch = None
    active: bool = Field(description="the item has a current build set")
    failing: bool = Field(description="the item can no longer succeed")
    merge_state: str | None = Field(None, description=(
        "pending, merged, conflict, error, config-error, no-jobs; null when inactive"))
    message: str | None = Field(None, description="why the item failed to merge or was "
                                                  "rejected")
    jobs: list[Job]


class Queue(Model):
    name: str
    window: int | None = Field(description="active window; null in independent pipelines")
    items: list[Item]


class Pipeline(Model):
    name: str
    manager: Literal["independent", "dependent", "serial", "supercedent"]
    description: str = ""
    queues: list[Queue]


class Status(Model):
    tenant: str
    pipelines: list[Pipeline]


# ------------------------------------------------------------------ builds


class FileCommentRange(Model):
    start_line: int
    start_character: int
    end_line: int
    end_character: int


class FileComment(Model):
    line: int
    message: str
    level: Literal["info", "warning", "error"] = "warning"
    range: FileCommentRange | None = None


class Artifact(Model):
    name: str
    url: str
    metadata: dict[str, Any]


class TestedRepo(Model):
    branch: str | None
    commit: str | None


class Build(Job, About):
    tenant: str
    pipeline: str
    project: str
    branch: str = ""
    change: int | None
    patchset: int | None
    subject: str = ""
    message: str | None = None
    attempt: int = 1
    buildset: str = ""
    current: bool = True
    item_id: int = 0
    created_at: Epoch = None
    change_url: str | None = None
    artifacts: list[Artifact] = Field(default_factory=list, description=(
        "what the build returned in zuul.artifacts (zuul_return); relative URLs resolved "
        "against its returned_log_url, else its log directory"))
    returned_log_url: str | None = Field(None, description=(
        "where the job uploaded its logs: the http(s) URL it returned in zuul.log_url "
        "(zuul_return); null when none"))
    warnings: list[str] = Field(default_factory=list, description=(
        "what the build returned in zuul.warnings (zuul_return); reported on the change"))
    file_comments: dict[str, list[FileComment]] = Field(default_factory=dict, description=(
        "what the build returned in zuul.file_comments (zuul_return), by file path, on "
        "files of its change; reported on the change"))
    repos: dict[str, TestedRepo] = Field(default_factory=dict, description=(
        "by project: the branch and the commit the build tested (its speculative state: "
        "the branch with the changes ahead and its own merged in); empty for a build made "
        "before it was recorded"))


# ------------------------------------------------------------------ tenants, changes


class Tenant(Model):
    name: str
    pipelines: int = Field(description="how many")
    config_errors: int = Field(0, description=(
        "how many configuration errors (see /api/tenant/{tenant}/config-errors)"))


class ConfigError(Model):
    error: str = Field(description="FILE:LINE: MESSAGE, as reported on changes and in the "
                                   "log")
    message: str
    file: str | None = Field(description=(
        "'project/path' (or 'project@branch/path' for another branch than the default) of "
        "in-repo configuration; the tenant file's path for errors in it"))
    line: int | None
    source: Literal["layout", "refused", "tenant-file"] = Field(description=(
        "layout: an error of the running layout (the object it is in was not loaded); "
        "refused: an error of configuration that was read (a push to a branch, a "
        "reconfiguration) but not applied because of it: the tenant keeps running on its "
        "last good layout until a load without new errors; tenant-file: the tenant file "
        "could not be loaded at the last reconfiguration, and every tenant runs as before"))
    applied: bool = Field(description="false when the configuration with this error is not "
                                      "the one running")
    severity: Literal["error", "warning"] = Field(description=(
        "error: the object it is in was not loaded (or the load was refused); warning: a "
        "setting zuulish reads and ignores (see the README's Zuul configuration "
        "compatibility table); warnings come after the errors"))


class LastResult(Model):
    pipeline: str
    result: str | None


class ListedChange(Model):
    connection: str = "forge"
    number: int
    project: str
    branch: str = ""
    patchset: int = 1
    status: str
    subject: str
    owner: str | None = None
    approvals: dict[str, int] = Field(default_factory=dict)
    updated_at: Epoch = None
    last_result: LastResult | None = None
    url: str


class StoredEvent(Model):
    id: int
    type: str
    connection: str | None = None
    processed: bool
    outcome: str | None


class Health(Model):
    status: Literal["ok"]


# ------------------------------------------------------------------ management


class Accepted(Model):
    event: int = Field(description="the stored event's id")
    url: str = Field(description="where the scheduler's outcome will be")


class EnqueueBody(Body):
    pipeline: str
    change: str | None = Field(None, pattern=r"^\d+(,\d+)?$",
                               description="NUMBER or NUMBER,PATCHSET")
    ref: str | None = Field(None, description="instead of a change: a ref such as "
                                              "refs/heads/main")
    newrev: str | None = Field(None, description="the ref's commit to test (default: the "
                                                 "branch tip)")


class DequeueBody(Body):
    pipeline: str
    change: str | None = Field(None, pattern=r"^\d+(,\d+)?$",
                               description="NUMBER or NUMBER,PATCHSET")


class PromoteBody(Body):
    pipeline: str
    changes: list[str] = Field(description="NUMBER or NUMBER,PATCHSET, in the order "
                                           "wanted at the head of their queues")


class HeldNode(Model):
    id: int
    label: str
    provider: str
    hostname: str
    hold_until: Epoch = Field(description=("when the node is released (seconds since the "
                                           "epoch); null: when the request is deleted"))
    login: str = Field(description=("how to log in: 'ssh USER@HOST -p PORT', or why there is "
                                    "nothing to log in to (a local node)"))


class HeldBuild(Model):
    build: str
    nodes: list[int]
    held_at: Epoch


class Autohold(Model):
    id: int
    tenant: str
    project: str
    job: str
    ref_filter: str = Field(description="regular expression matched at the start of the "
                                        "build's ref (zuul.ref)")
    reason: str
    count: int = Field(description="how many failed builds to hold")
    current_count: int = Field(description="how many have been held")
    node_hold_expiration: int | None = Field(description=(
        "seconds a build's nodes are held; null: until the request is deleted"))
    created_at: Epoch
    account: str | None = None
    held_builds: list[HeldBuild]
    nodes: list[HeldNode]


class AutoholdBody(Body):
    """Zuul's autohold fields; unknown ones are refused by ``holds.hold_request``."""

    model_config = ConfigDict(extra="allow")
    job: str
    reason: str
    change: int | None = Field(None, ge=1, le=MAX_INT, description=(
        "hold only builds of this change (every patch set); not with ref"))
    ref: str | None = Field(None, description=(
        "hold only builds whose ref matches this regular expression (default: .*); not "
        "with change"))
    count: int = Field(1, ge=1, le=MAX_INT)
    node_hold_expiration: int | None = Field(None, ge=0, le=MAX_INT, description=(
        "seconds to hold each build's nodes (0 or absent: until the request is deleted)"))


class ConfigErrorsQuery(Paged):
    severity: Literal["error", "warning"] | None = Field(
        None, description="only errors, or only warnings")


class ChangesQuery(Paged):
    project: str | None = Field(None, description="only this project's changes")
    status: Literal["NEW", "MERGED", "ABANDONED"] | None = Field(
        None, description="only changes in this state")


class AutoholdPath(Query):
    id: int = Field(ge=1, le=MAX_INT, description="the autohold request's id")


class Released(Model):
    id: int
    released_nodes: list[int]


class EventPath(Query):
    id: int = Field(ge=1, le=MAX_INT, description="the stored event's id")


TICKET_DESCRIPTION = ("a stream ticket (POST this path + '/ticket'), in place of a bearer "
                      "token: browsers cannot send one on a websocket or an EventSource")


class StreamQuery(Query):
    ticket: str | None = Field(None, min_length=1, max_length=1024,
                               description=TICKET_DESCRIPTION)


class ConsoleQuery(StreamQuery):
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="start at this byte of the log")


class StreamTicket(Model):
    ticket: str = Field(description="opens the stream once, as ?ticket=...")
    expires_in: int = Field(description="seconds the ticket may be used to open the stream")
