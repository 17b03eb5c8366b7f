"""One run of one job for one build set."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BuildState(StrEnum):
    WAITING = "waiting"        # nodes requested, not yet assigned
    QUEUED = "queued"          # nodes assigned, waiting for an executor
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELED = "canceled"


class BuildResult(StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    ERROR = "ERROR"
    NODE_FAILURE = "NODE_FAILURE"
    TIMED_OUT = "TIMED_OUT"
    SKIPPED = "SKIPPED"
    CANCELED = "CANCELED"
    POST_FAILURE = "POST_FAILURE"
    RETRY_LIMIT = "RETRY_LIMIT"
    DISK_FULL = "DISK_FULL"  # the build's work directory went past disk_limit_per_job


@dataclass
class Build:
    id: str
    buildset_id: int
    job: str
    state: BuildState
    voting: bool = True
    result: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    message: str | None = None
    # zuul.child_jobs it returned: the dependent jobs to run (None: all of them)
    child_jobs: tuple[str, ...] | None = None
    # zuul.pause: past its run phase (which succeeded), waiting for its dependants
    paused: bool = False

    @property
    def done(self) -> bool:
        return self.state in (BuildState.COMPLETED, BuildState.CANCELED)

    @property
    def succeeded(self) -> bool:
        return self.result == BuildResult.SUCCESS
