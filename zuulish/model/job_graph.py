"""The jobs of one build set and the dependencies between them.

Zuul's rules: a job starts once each of its dependencies succeeded; when one
did not, the job is skipped. A *soft* dependency binds only if its job runs: a
soft dependency that is not in the graph, or that was itself skipped, neither
holds the job back nor skips it (one that ran and failed still skips it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zuulish.model.job import FrozenJob

SUCCESS = "SUCCESS"
SKIPPED = "SKIPPED"


@dataclass
class JobGraph:
    jobs: dict[str, FrozenJob] = field(default_factory=dict)
    # The project-pipeline's ``fail-fast``: the first failing voting job ends the
    # build set (what still runs is canceled, what has not started is skipped).
    fail_fast: bool = False

    def add(self, job: FrozenJob) -> None:
        self.jobs[job.name] = job

    def names(self) -> list[str]:
        return list(self.jobs)

    def _binding(self, job: FrozenJob, results: dict[str, str | None]) -> list[str]:
        """The dependencies of ``job`` that count: a soft one only if it is in the
        graph and was not skipped."""
        soft = set(job.soft_dependencies)
        return [dep for dep in job.dependencies
                if dep not in soft or (dep in self.jobs and results.get(dep) != SKIPPED)]

    def ancestors(self, name: str) -> list[str]:
        """Every job ``name`` depends on, directly or not, that is in the graph;
        farthest first (a job comes after everything it depends on)."""
        order: list[str] = []

        def visit(job: str, path: tuple[str, ...]) -> None:
            for dep in self.jobs[job].dependencies:
                if dep in self.jobs and dep not in order and dep not in path:
                    visit(dep, (*path, dep))
                    order.append(dep)

        visit(name, (name,))
        return order

    def descendants(self, name: str) -> list[str]:
        """Every job that depends on ``name``, directly or not, in graph order."""
        found = {name}
        changed = True
        while changed:
            changed = False
            for job, frozen in self.jobs.items():
                if job not in found and found & set(frozen.dependencies):
                    found.add(job)
                    changed = True
        return [job for job in self.jobs if job in found and job != name]

    def children(self, name: str) -> list[str]:
        """The jobs that depend directly on ``name`` (hard or soft), in graph order."""
        return [job for job, frozen in self.jobs.items() if name in frozen.dependencies]

    def unwanted(self, results: dict[str, str | None],
                 child_jobs: dict[str, tuple[str, ...] | None]) -> dict[str, str]:
        """Jobs not yet started that a succeeded dependency's ``zuul.child_jobs``
        (``child_jobs``: job -> what its build returned) leaves out, each with the
        first such dependency: Zuul skips them."""
        out: dict[str, str] = {}
        for name, job in self.jobs.items():
            if name in results:
                continue
            for dep in self._binding(job, results):
                wanted = child_jobs.get(dep)
                if results.get(dep) == SUCCESS and wanted is not None and name not in wanted:
                    out[name] = dep
                    break
        return out

    def ready_to_start(self, results: dict[str, str | None]) -> list[str]:
        """Jobs not yet started whose dependencies all succeeded.

        ``results`` maps each started job to its result (``None`` while running).
        """
        ready = []
        for name, job in self.jobs.items():
            if name in results:
                continue
            if all(results.get(dep) == SUCCESS for dep in self._binding(job, results)):
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
                for dep in self._binding(job, known):
                    res = known.get(dep)
                    if res is not None and res != SUCCESS:
                        known[name] = SKIPPED
                        skip.append(name)
                        changed = True
                        break
        return skip

    def to_dict(self) -> dict:
        return {"jobs": {name: job.to_dict() for name, job in self.jobs.items()},
                "fail_fast": self.fail_fast}

    @classmethod
    def from_dict(cls, data: dict) -> JobGraph:
        fail_fast = data.get("fail_fast") is True
        return cls({name: FrozenJob.from_dict(job) for name, job in stored_jobs(data).items()},
                   fail_fast)


def stored_jobs(data: dict | None) -> dict[str, dict]:
    """The frozen jobs by name of a stored job graph (``JobGraph.to_dict``), also of
    one stored before fail-fast was kept (then the jobs by name themselves)."""
    if not data:
        return {}
    if isinstance(data.get("fail_fast"), bool):
        return dict(data.get("jobs") or {})
    return dict(data)
