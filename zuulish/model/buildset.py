"""A build set: one speculative state of an item and the builds run on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from zuulish.model.build import Build, BuildResult
from zuulish.model.job_graph import JobGraph


class MergeState(StrEnum):
    PENDING = "pending"
    MERGED = "merged"
    CONFLICT = "conflict"
    ERROR = "error"            # the merger could not build the state (bad ref, ...)
    CONFIG_ERROR = "config-error"
    NO_JOBS = "no-jobs"


@dataclass
class BuildSet:
    id: int
    item_id: int
    ahead: tuple[int, ...]
    merge_state: MergeState = MergeState.PENDING
    message: str | None = None
    repo_state: dict[str, Any] = field(default_factory=dict)
    job_graph: JobGraph | None = None
    builds: dict[str, Build] = field(default_factory=dict)  # each job's latest build
    # job -> how many earlier builds of it this build set ran (and retried)
    retried: dict[str, int] = field(default_factory=dict)
    # jobs whose failed build is left out, to be run again (retry-failed-jobs)
    reruns: tuple[str, ...] = ()

    @property
    def started(self) -> bool:
        """Whether any of its jobs has run or runs (a failure to be re-run counts)."""
        return bool(self.builds) or bool(self.reruns)

    def results(self) -> dict[str, str | None]:
        return {name: b.result for name, b in self.builds.items()}

    def retryable_failures(self, retries: int) -> list[str]:
        """Voting jobs whose latest build ended in FAILURE and that have been run
        fewer than ``retries`` extra times (a queue's ``retry-failed-jobs``)."""
        return [name for name, b in self.builds.items()
                if b.voting and b.result == BuildResult.FAILURE
                and self.retried.get(name, 0) < retries]

    @property
    def merge_failed(self) -> bool:
        return self.merge_state in (MergeState.CONFLICT, MergeState.ERROR, MergeState.CONFIG_ERROR)

    def failed_voting_jobs(self) -> list[str]:
        """Voting jobs that ended in anything but SUCCESS or SKIPPED. As in Zuul, a
        skipped job does not fail the item: a job is skipped either because one it
        depends on failed (which fails the item itself) or because that job's
        ``zuul.child_jobs`` left it out (which is a success)."""
        return [
            name
            for name, b in self.builds.items()
            if b.voting and b.result is not None
            and b.result not in (BuildResult.SUCCESS, BuildResult.SKIPPED)
        ]

    @property
    def failing(self) -> bool:
        """True once it is known this state cannot be reported as a success."""
        return self.merge_failed or bool(self.failed_voting_jobs())

    @property
    def complete(self) -> bool:
        """All jobs of the graph have a final result."""
        if self.merge_failed or self.merge_state == MergeState.NO_JOBS:
            return True
        if self.job_graph is None or self.merge_state != MergeState.MERGED:
            return False
        return all(
            name in self.builds and self.builds[name].result is not None
            for name in self.job_graph.jobs
        )

    @property
    def succeeded(self) -> bool:
        return self.complete and not self.failing and self.merge_state == MergeState.MERGED
