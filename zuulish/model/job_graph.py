"""The jobs of one build set and the dependencies between them."""

from __future__ import annotations

from dataclasses import dataclass, field

from zuulish.model.job import FrozenJob


@dataclass
class JobGraph:
    jobs: dict[str, FrozenJob] = field(default_factory=dict)

    def add(self, job: FrozenJob) -> None:
        self.jobs[job.name] = job

    def names(self) -> list[str]:
        return list(self.jobs)

    def ready_to_start(self, results: dict[str, str | None]) -> list[str]:
        """Jobs not yet started whose dependencies all succeeded.

        ``results`` maps each started job to its result (``None`` while running).
        """
        ready = []
        for name, job in self.jobs.items():
            if name in results:
                continue
            if all(results.get(dep) == "SUCCESS" for dep in job.dependencies):
                ready.append(name)
        return ready

    def to_skip(self, results: dict[str, str | None]) -> list[str]:
        """Jobs that can never start because a dependency did not succeed."""
        skip: list[str] = []
        changed = True
        known = dict(results)
        while changed:
            changed = False
            for name, job in self.jobs.items():
                if name in known:
                    continue
                for dep in job.dependencies:
                    res = known.get(dep)
                    if res is not None and res != "SUCCESS":
                        known[name] = "SKIPPED"
                        skip.append(name)
                        changed = True
                        break
        return skip

    def to_dict(self) -> dict:
        return {name: job.to_dict() for name, job in self.jobs.items()}

    @classmethod
    def from_dict(cls, data: dict) -> JobGraph:
        return cls({name: FrozenJob.from_dict(job) for name, job in data.items()})
