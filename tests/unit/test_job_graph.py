"""Which jobs of a graph may start, and which are skipped (Zuul's dependency rules)."""

from __future__ import annotations

from zuulish.model import FrozenJob, JobGraph


def graph(deps: dict[str, tuple[str, ...]], soft: dict[str, tuple[str, ...]] | None = None,
          ) -> JobGraph:
    g = JobGraph()
    for name, on in deps.items():
        g.add(FrozenJob(name=name, dependencies=on, soft_dependencies=(soft or {}).get(name, ())))
    return g


def test_a_job_waits_for_its_dependencies_to_succeed() -> None:
    g = graph({"build": (), "test": ("build",)})
    assert g.ready_to_start({}) == ["build"]
    assert g.ready_to_start({"build": None}) == []
    assert g.ready_to_start({"build": "SUCCESS"}) == ["test"]


def test_a_failed_hard_dependency_skips_the_dependants_transitively() -> None:
    g = graph({"build": (), "test": ("build",), "deploy": ("test",)})
    assert g.to_skip({"build": "FAILURE"}) == ["test", "deploy"]
    assert g.ready_to_start({"build": "FAILURE"}) == []


def test_a_skipped_hard_dependency_skips_the_dependant() -> None:
    g = graph({"lint": (), "test": ("lint",)})
    assert g.to_skip({"lint": "SKIPPED"}) == ["test"]


def test_a_skipped_soft_dependency_lets_the_dependant_run() -> None:
    g = graph({"build": (), "docs": ("build",), "publish": ("docs",)},
              soft={"publish": ("docs",)})
    results = {"build": "FAILURE"}
    assert g.to_skip(results) == ["docs"]  # publish is not skipped along with docs
    assert g.ready_to_start({"build": "FAILURE", "docs": "SKIPPED"}) == ["publish"]


def test_a_soft_dependency_that_runs_is_waited_for_and_its_failure_skips() -> None:
    g = graph({"docs": (), "publish": ("docs",)}, soft={"publish": ("docs",)})
    assert g.ready_to_start({"docs": None}) == []
    assert g.to_skip({"docs": "FAILURE"}) == ["publish"]
    assert g.ready_to_start({"docs": "SUCCESS"}) == ["publish"]


def test_a_soft_dependency_absent_from_the_graph_does_not_block() -> None:
    g = graph({"publish": ("docs",)}, soft={"publish": ("docs",)})
    assert g.ready_to_start({}) == ["publish"]
    assert g.to_skip({}) == []


def test_the_graph_keeps_fail_fast_and_reads_the_older_stored_form() -> None:
    g = graph({"unit": ()})
    g.fail_fast = True
    again = JobGraph.from_dict(g.to_dict())
    assert again.fail_fast is True and list(again.jobs) == ["unit"]
    older = JobGraph.from_dict({"unit": FrozenJob(name="unit").to_dict()})
    assert older.fail_fast is False and list(older.jobs) == ["unit"]


def test_stored_jobs_reads_both_stored_forms() -> None:
    from zuulish.model.job_graph import stored_jobs

    unit = {"name": "unit"}
    assert stored_jobs({"jobs": {"unit": unit}, "fail_fast": True}) == {"unit": unit}
    assert stored_jobs({"unit": unit}) == {"unit": unit}  # stored before fail-fast
    assert stored_jobs(None) == {}
