"""The build page's task summary (from job-output.json) and its server-drawn charts."""

from __future__ import annotations

import json

from tests.functional.history_seed import task_records
from zuulish.web import charts, task_summary


def test_records_group_into_playbooks_plays_tasks_and_hosts() -> None:
    summary = task_summary.summarise(task_records())
    assert [(b.phase, b.name) for b in summary.playbooks] == [
        ("pre-run", "org/jobs/playbooks/pre.yaml"), ("run", "org/app/playbooks/run.yaml"),
        ("post-run", "org/jobs/playbooks/post.yaml")]
    run = summary.playbooks[1]
    assert [p.name for p in run.plays] == ["nodes"]
    assert [(t.name, [h.host for h in t.hosts]) for t in run.tasks] == [
        ("install <deps>", ["node", "helper"]), ("run the tests", ["node", "helper"])]
    assert summary.hosts == ["node", "helper"]
    assert [t.index for t in summary.tasks] == [1, 2, 3, 4, 5]


def test_the_worst_host_result_speaks_for_the_task() -> None:
    summary = task_summary.summarise(task_records())
    [failed] = summary.failed_tasks
    assert failed.name == "run the tests" and failed.result == "failed" and failed.failed
    assert failed.duration == 80.0  # the earliest start to the latest end of its hosts
    assert summary.playbooks[0].tasks[1].result == "changed"
    assert not summary.playbooks[0].failed and summary.playbooks[1].failed
    ignored = task_records()
    ignored[4]["result"] = "failed (ignored)"
    assert task_summary.summarise(ignored).failed_tasks == []


def test_phases_span_their_tasks() -> None:
    phases = task_summary.summarise(task_records()).phases()
    assert [p["phase"] for p in phases] == ["pre-run", "run", "post-run"]
    pre, run, post = phases
    assert run["end"] - run["start"] == 95.0 and pre["end"] <= run["start"] <= post["start"]


def test_whatever_a_job_wrote_is_typed_and_cut_to_size() -> None:
    records = [{"task": {"not": "a string"}, "host": None, "stdout": "x" * 10_000,
                "start": "never", "rc": True, "result": 5}, "not a record", 7]
    summary = task_summary.summarise(records)
    [task] = summary.tasks
    assert task.name == '{"not": "a string"}' and task.start is None
    host = task.hosts[0]
    assert host.rc is None and len(host.stdout) < 4100 and host.stdout.endswith("more]")
    assert task_summary.summarise({"a": 1}).error == \
        "job-output.json is not a list of task results"
    assert task_summary.parse(b"[{").error.startswith("job-output.json is not JSON")
    assert task_summary.parse(json.dumps(task_records()).encode()).error is None


def test_the_failure_rate_looks_back_over_a_window() -> None:
    results = ["SUCCESS", "FAILURE", "SUCCESS", "SUCCESS"]
    assert charts.failure_rates(results, window=2) == [0.0, 0.5, 0.5, 0.0]


def test_the_trend_chart_has_a_bar_per_build_and_escapes_the_job() -> None:
    points = [{"duration": 60.0, "result": "SUCCESS", "finished_at": 1.0},
              {"duration": 120.0, "result": "FAILURE", "finished_at": 2.0},
              {"duration": None, "result": "NODE_FAILURE", "finished_at": 3.0}]
    svg = str(charts.job_trend_svg('<script>"x"', points))
    assert svg.count('<rect class="mark success"') == 1
    assert svg.count('<rect class="mark failure"') == 2
    assert "<script>" not in svg and "&lt;script&gt;&quot;x&quot;" in svg
    assert "the last 3 builds, oldest first; 2 did not succeed; the longest ran 2m 00s" in svg
    assert str(charts.job_trend_svg("unit", [])) == ""


def test_the_timeline_links_each_task_bar_to_its_task() -> None:
    summary = task_summary.summarise(task_records())
    svg = str(charts.timeline_svg(summary.phases(), summary.tasks))
    assert svg.count('class="mark phase"') == 3
    assert all(f'href="#task-{t.index}"' in svg for t in summary.tasks)
    assert 'class="mark failure"' in svg and "install &lt;deps&gt;" in svg
    assert str(charts.timeline_svg([], [])) == ""
