"""A change whose project runs no jobs in a pipeline by the running layout still
enters it when it, or a change it needs, proposes configuration: its own
speculative layout decides what it runs (a project's first ``project:`` stanza).
Other changes of such a project stay out, silently."""

from __future__ import annotations

import pytest

from zuulish.config.freeze import freeze_job_graph
from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.errors import ConfigError
from zuulish.model import Change, ChangeKey, ChangeStatus, EventFilter
from zuulish.scheduler.enqueue import plan_enqueue

PIPELINES = """
- pipeline:
    name: check
    manager: independent
    trigger: {forge: [{event: patchset-created}]}
- pipeline:
    name: gate
    manager: dependent
    trigger: {forge: [{event: comment-added}]}
"""


def _trigger(conn: str, entries: list) -> tuple[EventFilter, ...]:
    return tuple(EventFilter(conn, (e["event"],)) for e in entries)


def _layout(new_config: str = "") -> Layout:
    tenant = TenantConfig("t", [TenantProject("forge", "config", True),
                                TenantProject("forge", "org/new", False),
                                TenantProject("forge", "org/lib", False)])
    loader = ConfigLoader(tenant, {"forge": "git"}, {"git": _trigger})
    return loader.build({"config": ("main", {"zuul.yaml": PIPELINES}),
                         "org/lib": ("main", {}),
                         "org/new": ("main", {".zuul.yaml": new_config})})


class _Source:
    def __init__(self, *changes: Change):
        self.changes = {c.key.number: c for c in changes}

    def get_change(self, number: int) -> Change | None:
        return self.changes.get(number)


def _change(number: int, project: str, files: tuple[str, ...] = ("x.txt",),
            needs: tuple[int, ...] = (), status: ChangeStatus = ChangeStatus.NEW) -> Change:
    return Change(ChangeKey("forge", number), project, "main", 1, f"{number:040x}",
                  status=status, files=files, needs=tuple(ChangeKey("forge", n) for n in needs))


@pytest.mark.parametrize("pipeline", ["check", "gate"])
def test_a_change_proposing_configuration_enters_a_pipeline_its_project_has_no_jobs_in(
        pipeline: str) -> None:
    built = _layout()
    first = _change(1, "org/new", files=(".zuul.yaml",))
    plan = plan_enqueue(first, built.pipelines[pipeline], built, {"forge": _Source(first)},
                        set(), {})
    assert plan.rejection is None and plan.changes == [first]


@pytest.mark.parametrize("pipeline, where", [("check", "org/lib"), ("gate", "org/new")])
def test_a_change_needing_one_that_proposes_configuration_enters_too(pipeline: str,
                                                                     where: str) -> None:
    """A stack whose first commit adds the stanza (in the gate: projects with
    dependencies between them share a queue, so only the project's own)."""
    built = _layout()
    config = _change(1, where, files=("zuul.d/templates.yaml",))
    child = _change(3, "org/new", needs=(2,))
    middle = _change(2, "org/new", needs=(1,))
    source = _Source(config, middle, child)
    plan = plan_enqueue(child, built.pipelines[pipeline], built, {"forge": source}, set(), {})
    assert plan.rejection is None, plan.rejection


def test_other_changes_of_a_project_without_jobs_stay_out_silently() -> None:
    built = _layout()
    plain = _change(1, "org/new")
    merged_config = _change(2, "org/lib", files=(".zuul.yaml",), status=ChangeStatus.MERGED)
    needing_merged = _change(3, "org/new", needs=(2,))
    source = _Source(plain, merged_config, needing_merged)
    for candidate in (plain, needing_merged):
        plan = plan_enqueue(candidate, built.pipelines["gate"], built, {"forge": source},
                            set(), {})
        assert plan.rejection == "project 'org/new' has no jobs in pipeline 'gate'"
        assert plan.silent


def test_a_stanza_naming_an_undefined_job_is_an_error_at_its_file_and_line() -> None:
    built = _layout("- project:\n    check:\n      jobs:\n        - no-such-job\n")
    assert built.errors == []  # the name is looked up when the jobs are frozen
    with pytest.raises(ConfigError) as raised:
        freeze_job_graph(built, "org/new", "main", "check")
    assert str(raised.value) == "org/new/.zuul.yaml:4: job 'no-such-job' is not defined"
