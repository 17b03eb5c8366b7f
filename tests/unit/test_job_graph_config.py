"""Job graphs from configuration to decisions: fail-fast, attempts, semaphores."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.unit.test_config_loader import files, make_loader
from zuulish.config.freeze import freeze_job_graph
from zuulish.errors import ConfigError
from zuulish.model import Build, BuildSet, BuildState, FrozenJob, JobGraph, MergeState
from zuulish.scheduler.actions import CancelJobs, SkipJobs, StartJobs
from zuulish.scheduler.job_planning import plan_jobs
from zuulish.scheduler.semaphores import admit, count_holders

PROJECT = """
- job:
    name: unit
    run: unit.yaml
- project:
    check:
      jobs: [unit]
    gate:
      fail-fast: true
      jobs: [unit]
"""


def test_fail_fast_of_the_project_pipeline_reaches_the_frozen_graph() -> None:
    layout = make_loader().build(files(app=PROJECT))
    assert layout.errors == []
    assert freeze_job_graph(layout, "org/app", "main", "gate").fail_fast is True
    assert freeze_job_graph(layout, "org/app", "main", "check").fail_fast is False


def test_fail_fast_must_be_a_boolean_and_says_where() -> None:
    layout = make_loader().build(files(app=PROJECT.replace("fail-fast: true",
                                                           "fail-fast: sometimes")))
    [err] = layout.errors
    assert "'fail-fast' must be" in str(err) and "sometimes" in str(err)
    assert err.file == "org/app/.zuul.yaml" and err.line is not None
    assert "unit" in layout.jobs  # the rest of the file still loads


def test_attempts_below_one_is_an_error_that_says_where() -> None:
    layout = make_loader().build(files(app=PROJECT.replace("run: unit.yaml",
                                                           "run: unit.yaml\n    attempts: 0")))
    [err] = layout.errors
    assert "'attempts' must be at least 1" in str(err)
    assert err.file == "org/app/.zuul.yaml" and err.line == 5  # the attribute's line
    assert "gate" in layout.pipelines


def buildset(graph: JobGraph, results: dict[str, str | None]) -> BuildSet:
    bs = BuildSet(id=10, item_id=1, ahead=(), merge_state=MergeState.MERGED, job_graph=graph)
    for name, result in results.items():
        bs.builds[name] = Build(f"b-{name}", 10, name,
                                BuildState.COMPLETED if result else BuildState.RUNNING,
                                result=result)
    return bs


def three_jobs(fail_fast: bool) -> JobGraph:
    graph = JobGraph(fail_fast=fail_fast)
    for name in ("quick", "slow", "later"):
        graph.add(FrozenJob(name=name, dependencies=("slow",) if name == "later" else ()))
    return graph


def test_with_fail_fast_a_failed_voting_job_cancels_what_runs_and_skips_the_rest() -> None:
    actions = plan_jobs(1, buildset(three_jobs(True), {"quick": "FAILURE", "slow": None}))
    assert actions == [CancelJobs(1, 10, ("slow",), "canceled by fail-fast: quick failed"),
                       SkipJobs(1, 10, ("later",), "skipped by fail-fast: quick failed")]


def test_without_fail_fast_the_other_jobs_carry_on() -> None:
    assert plan_jobs(1, buildset(three_jobs(False), {"quick": "FAILURE", "slow": None})) == []


def test_fail_fast_ignores_a_failed_non_voting_job() -> None:
    graph = three_jobs(True)
    graph.jobs["quick"].voting = False
    bs = buildset(graph, {"quick": "FAILURE", "slow": None})
    bs.builds["quick"].voting = False
    assert plan_jobs(1, bs) == []


def test_a_job_using_an_undefined_semaphore_fails_to_freeze_with_its_location() -> None:
    app = PROJECT.replace("run: unit.yaml", "run: unit.yaml\n    semaphores: [nope]")
    layout = make_loader().build(files(app=app))
    assert layout.errors == []  # defined elsewhere, perhaps: known when the job freezes
    with pytest.raises(ConfigError, match="semaphore 'nope', which is not defined") as exc:
        freeze_job_graph(layout, "org/app", "main", "gate")
    assert exc.value.file == "org/app/.zuul.yaml" and exc.value.line == 3


def test_a_semaphore_max_must_be_at_least_one() -> None:
    layout = make_loader().build(files(app=PROJECT + "- semaphore:\n    name: s\n    max: 0\n"))
    [err] = layout.errors
    assert "'max' must be at least 1" in str(err) and err.line is not None
    assert layout.semaphore_limits() == {}


def sem_graph(**jobs: tuple[str, ...]) -> JobGraph:
    graph = JobGraph()
    for name, semaphores in jobs.items():
        graph.add(FrozenJob(name=name, semaphores=semaphores))
    return graph


def test_admit_starts_only_as_many_holders_as_the_semaphore_allows() -> None:
    graphs = {10: sem_graph(a=("db",), b=("db",), c=()), 20: sem_graph(a=("db",))}
    held: Counter[str] = Counter()
    actions = [StartJobs(1, 10, ("a", "b", "c")), StartJobs(2, 20, ("a",))]
    assert admit(actions, graphs, held, {"db": 1}) == [StartJobs(1, 10, ("a", "c"))]
    assert held == Counter({"db": 1})


def test_admit_counts_holders_already_active_and_every_semaphore_of_a_job() -> None:
    graphs = {10: sem_graph(a=("db", "lab"), b=("lab",))}
    held = count_holders([(10, "b")], graphs)  # b already runs and holds lab
    assert held == Counter({"lab": 1})
    actions = [StartJobs(1, 10, ("a",))]
    assert admit(actions, graphs, held, {"db": 5, "lab": 1}) == []
    assert admit(actions, graphs, held, {"db": 5, "lab": 2}) == actions


@pytest.mark.parametrize("value", ["-1", "two", "true", "1.5"])
def test_retry_failed_jobs_must_be_a_whole_number_and_says_where(value: str) -> None:
    app = PROJECT + f"- queue:\n    name: shared\n    retry-failed-jobs: {value}\n"
    layout = make_loader().build(files(app=app))
    [err] = layout.errors
    assert "'retry-failed-jobs' must be a whole number" in str(err)
    assert err.file == "org/app/.zuul.yaml" and err.line == PROJECT.count("\n") + 2
    assert "unit" in layout.jobs and layout.queue_options("shared").retry_failed_jobs == 0


def test_retry_failed_jobs_reaches_the_queue_options() -> None:
    app = PROJECT + "- queue:\n    name: shared\n    retry-failed-jobs: 2\n"
    layout = make_loader().build(files(app=app))
    assert layout.errors == []
    assert layout.queue_options("shared").retry_failed_jobs == 2
    assert layout.queue_options("other").retry_failed_jobs == 0  # off by default
