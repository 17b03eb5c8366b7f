"""What zuul_return data does to a build set, on pure model objects: data and
artifacts handed to children, and Zuul's ``zuul.child_jobs`` skipping the rest."""

from __future__ import annotations

from zuulish.model import Build, BuildSet, BuildState, FrozenJob, JobGraph, MergeState
from zuulish.model.returned_data import (
    ParentBuild,
    artifacts,
    child_jobs,
    inherited,
    merge_data,
)
from zuulish.scheduler.actions import SkipJobs, StartJobs
from zuulish.scheduler.job_planning import plan_jobs

WEB = "http://zuul.example"


def graph(deps: dict[str, tuple[str, ...]], soft: dict[str, tuple[str, ...]] | None = None,
          ) -> JobGraph:
    g = JobGraph()
    for name, on in deps.items():
        g.add(FrozenJob(name=name, dependencies=on, soft_dependencies=(soft or {}).get(name, ())))
    return g


def buildset(g: JobGraph, results: dict[str, str | None],
             returned: dict[str, tuple[str, ...] | None] | None = None) -> BuildSet:
    bs = BuildSet(id=10, item_id=1, ahead=(), merge_state=MergeState.MERGED, job_graph=g)
    for name, result in results.items():
        bs.builds[name] = Build(f"b-{name}", bs.id, name,
                                BuildState.COMPLETED if result else BuildState.RUNNING,
                                result=result, child_jobs=(returned or {}).get(name))
    return bs


def test_returned_mappings_merge_and_other_values_replace() -> None:
    old = {"a": {"x": 1, "l": [1]}, "b": 1}
    assert merge_data(old, {"a": {"l": [2], "y": 2}, "b": {"n": 1}}) == {
        "a": {"x": 1, "l": [2], "y": 2}, "b": {"n": 1}}
    assert old == {"a": {"x": 1, "l": [1]}, "b": 1}  # not changed in place


def test_children_get_ancestors_data_with_the_nearest_winning_and_no_zuul_key() -> None:
    g = graph({"build": (), "image": ("build",), "deploy": ("image",)})
    assert g.ancestors("deploy") == ["build", "image"]
    variables, _ = inherited([
        ParentBuild("build", "b1", {"version": "1", "where": {"a": 1}, "zuul": {"pause": True}}),
        ParentBuild("image", "b2", {"version": "2", "where": {"b": 2}})], WEB)
    assert variables == {"version": "2", "where": {"a": 1, "b": 2}}


def test_artifacts_resolve_relative_urls_against_the_parents_log_dir() -> None:
    _, found = inherited([ParentBuild("build", "b1", {"zuul": {"artifacts": [
        {"name": "wheel", "url": "artifacts/x.whl", "metadata": {"type": "python_wheel"}},
        {"name": "docs", "url": "https://docs.example/x/"}]}})], WEB)
    assert found == [
        {"name": "wheel", "url": f"{WEB}/logs/b1/artifacts/x.whl",
         "metadata": {"type": "python_wheel"}, "job": "build"},
        {"name": "docs", "url": "https://docs.example/x/", "metadata": {}, "job": "build"}]


def test_malformed_artifacts_are_left_out_with_a_reason() -> None:
    found, problems = artifacts({"zuul": {"artifacts": [
        {"name": "a"}, {"url": "u"}, "x", {"name": "", "url": ""}, {"name": "ok", "url": "ok"},
        {"name": "js", "url": "javascript:alert(1)"}]}}, WEB + "/logs/b1/")
    assert [(a.name, a.url) for a in found] == [("ok", f"{WEB}/logs/b1/ok")]
    assert problems == ["artifact #1 has no url; ignored", "artifact #2 has no name; ignored",
                        "artifact #3 is not a mapping; ignored",
                        "artifact #4 has no name and no url; ignored",
                        "artifact #6 (js) has a url that is neither http(s) nor relative; "
                        "ignored"]
    assert artifacts({"zuul": {"artifacts": "x"}})[1] == [
        "zuul.artifacts must be a list, not str; ignored"]


def test_child_jobs_reads_a_list_a_single_name_or_nothing() -> None:
    assert child_jobs({"zuul": {"child_jobs": ["a", "b"]}}) == ["a", "b"]
    assert child_jobs({"zuul": {"child_jobs": "a"}}) == ["a"]
    assert child_jobs({"zuul": {"child_jobs": []}}) == []
    assert child_jobs({"zuul": {"child_jobs": 3}}) is None
    assert child_jobs({"other": 1}) is None and child_jobs(None) is None


def test_children_a_parent_did_not_list_are_skipped_saying_why() -> None:
    g = graph({"build": (), "docs": ("build",), "deploy": ("build",), "after": ("deploy",)})
    assert g.children("build") == ["docs", "deploy"]
    actions = plan_jobs(1, buildset(g, {"build": "SUCCESS"}, {"build": ("docs",)}))
    assert actions == [
        SkipJobs(1, 10, ("deploy",), "skipped by build's zuul_return: not in its "
                                     "zuul.child_jobs"),
        SkipJobs(1, 10, ("after",)),  # depends on a skipped job, as usual
        StartJobs(1, 10, ("docs",))]


def test_an_empty_child_jobs_list_skips_every_child() -> None:
    g = graph({"build": (), "docs": ("build",), "deploy": ("build",)})
    [skip] = plan_jobs(1, buildset(g, {"build": "SUCCESS"}, {"build": ()}))
    assert isinstance(skip, SkipJobs) and skip.jobs == ("docs", "deploy")
    assert "build's zuul_return" in skip.message


def test_child_jobs_naming_a_job_that_is_no_child_changes_nothing_else() -> None:
    g = graph({"build": (), "docs": ("build",), "lint": ()})
    actions = plan_jobs(1, buildset(g, {"build": "SUCCESS", "lint": "SUCCESS"},
                                    {"build": ("docs", "lint", "nope")}))
    assert actions == [StartJobs(1, 10, ("docs",))]


def test_without_child_jobs_every_child_runs() -> None:
    g = graph({"build": (), "docs": ("build",), "deploy": ("build",)})
    assert plan_jobs(1, buildset(g, {"build": "SUCCESS"})) == [
        StartJobs(1, 10, ("docs", "deploy"))]


def test_a_soft_child_left_out_is_skipped_and_its_soft_dependants_still_run() -> None:
    g = graph({"build": (), "docs": ("build",), "publish": ("docs",)},
              soft={"docs": ("build",), "publish": ("docs",)})
    actions = plan_jobs(1, buildset(g, {"build": "SUCCESS"}, {"build": ()}))
    assert actions == [SkipJobs(1, 10, ("docs",), "skipped by build's zuul_return: not in "
                                                  "its zuul.child_jobs"),
                       StartJobs(1, 10, ("publish",))]


def test_a_paused_build_lets_its_children_start_and_keeps_the_item_open() -> None:
    g = graph({"registry": (), "image": ("registry",), "deploy": ("image",), "other": ()})
    assert g.descendants("registry") == ["image", "deploy"]
    bs = buildset(g, {"registry": None, "other": "SUCCESS"})
    bs.builds["registry"].paused = True
    assert plan_jobs(1, bs) == [StartJobs(1, 10, ("image",))]
    assert not bs.complete and not bs.failing


def test_a_paused_builds_child_jobs_apply_while_it_waits() -> None:
    g = graph({"registry": (), "image": ("registry",), "docs": ("registry",)})
    bs = buildset(g, {"registry": None}, {"registry": ("image",)})
    bs.builds["registry"].paused = True
    assert plan_jobs(1, bs) == [
        SkipJobs(1, 10, ("docs",), "skipped by registry's zuul_return: not in its "
                                   "zuul.child_jobs"),
        StartJobs(1, 10, ("image",))]
