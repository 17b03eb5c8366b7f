"""The live status's answers: the basic status shapes (``schemas``) with what the
dashboard adds: times and estimates, the chain, the speculative state and the queue
options' roles."""

from __future__ import annotations

from pydantic import Field

from zuulish.web import schemas as s

Seconds = float | None


class StatusJob(s.Job):
    estimated_time: Seconds = Field(None, description=(
        "seconds the job is expected to take: the median of the last successful builds "
        "of this job for this project (any project's when it has none); null: no history"))
    elapsed_time: Seconds = Field(None, description=(
        "seconds it has run (as of the status's generated_at), or ran; null until it "
        "starts"))
    remaining_time: Seconds = Field(None, description=(
        "seconds left by the estimate; 0 once finished or past the estimate; null when "
        "unknown"))
    progress: int | None = Field(None, ge=0, le=100, description=(
        "percent done by the estimate (at most 99 while it runs); null when unknown"))


class HeldChange(s.Model):
    id: int = Field(description="the queue item")
    label: str
    display: str
    own: bool = Field(description="the item's own change (else one ahead of it)")


class HeldRepo(s.Model):
    project: str
    branch: str | None
    commit: str | None = Field(description="the speculative commit its jobs check out")
    changes: list[HeldChange] = Field(description=(
        "the queue's changes of this repository in that commit, in queue order"))


class StatusItem(s.Item):
    jobs: list[StatusJob]  # type: ignore[assignment]
    time_in_queue: float = Field(description="seconds since it was enqueued")
    remaining_time: Seconds = Field(None, description=(
        "estimated seconds until it can be reported (merged): its longest remaining job, "
        "or the item ahead's remaining time if later; null when failing or unknown"))
    remaining_shrinks: bool = Field(False, description=(
        "whether remaining_time counts down as time passes: it is a running job's, or the "
        "item ahead's, which does; false while it waits on a job that has not started"))
    verified_at: s.Epoch = Field(None, description=(
        "verify-first queues: when the change passed on its own"))
    item_ahead: int | None = Field(None, description=(
        "the item it is tested on top of: the nearest item ahead its state holds (the "
        "nearest non-failing one while it has no build set); null at the head"))
    items_behind: list[int] = Field(default_factory=list, description=(
        "the items tested on top of it"))
    in_chain: bool = Field(True, description="false for a failing item: out of the chain")
    column: int = Field(0, description="where it is drawn: 0 in the chain, 1 knocked out")
    line_through: bool = Field(False, description=(
        "the chain's line passes it by (an item behind is drawn on one ahead of it)"))
    holds: list[HeldRepo] = Field(default_factory=list, description=(
        "its speculative state per repository: the changes ahead it holds, and its own"))
    independent_of: list[int] | None = Field(None, description=(
        "independent sub-queues: the items ahead its state leaves out; null when off"))
    probe: bool | None = Field(None, description=(
        "batching: whether its own jobs run (for the run of items ahead it holds); null "
        "when off"))
    batch: int | None = Field(None, description=(
        "batching: the item whose jobs test this one (itself when a probe)"))
    verified: bool | None = Field(None, description=(
        "verify-first: whether it passed on its own and joined the chain; null when off"))
    group: int | None = Field(None, description=(
        "verify-first: the first member of the group it is being verified with"))


class QueueOptions(s.Model):
    independent_subqueues: bool
    batch_size: int
    verify_first: bool
    speculate_failures: bool
    retry_failed_jobs: int


class StatusQueue(s.Queue):
    options: QueueOptions | None = Field(None, description=(
        "the zuulish queue options in effect; null in independent pipelines"))
    items: list[StatusItem]  # type: ignore[assignment]


class StatusPipeline(s.Pipeline):
    queues: list[StatusQueue]  # type: ignore[assignment]


class Status(s.Status):
    generated_at: float = Field(description=(
        "when this status was read (the times in it are as of then)"))
    pipelines: list[StatusPipeline]  # type: ignore[assignment]


class ChangeStatusItem(StatusItem):
    pipeline: str
    queue: str
