"""Loading Zuul configuration: objects, file:line errors, freezing."""

from __future__ import annotations

import pytest

from zuulish.config.freeze import freeze_job_graph
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.errors import ConfigError
from zuulish.model import EventFilter, PipelineManager


def _trigger(conn: str, entries: list) -> tuple[EventFilter, ...]:
    return tuple(EventFilter(conn, (e["event"],)) for e in entries)


PIPELINES = """
- pipeline:
    name: check
    manager: independent
    trigger:
      forge:
        - event: patchset-created
    success:
      forge:
        Verified: 1
    failure:
      forge:
        Verified: -1
- pipeline:
    name: gate
    manager: dependent
    window: 5
    require:
      forge:
        approval:
          - Workflow: 1
    trigger:
      forge:
        - event: comment-added
    success:
      forge:
        submit: true
"""

JOBS = """
- nodeset:
    name: local
    nodes:
      - name: node
        label: local
- job:
    name: base
    parent: null
    nodeset: local
    pre-run: playbooks/pre.yaml
    post-run: playbooks/post.yaml
    vars:
      common: {a: 1, b: 2}
"""

APP = """
- job:
    name: unit
    run: playbooks/unit.yaml
    post-run: playbooks/unit-post.yaml
    vars:
      common: {b: 3}
- job:
    name: lint
    run: playbooks/lint.yaml
    dependencies: [unit]
- project:
    queue: shared
    check:
      jobs:
        - unit
        - lint:
            voting: false
    gate:
      jobs: [unit]
"""


def make_loader() -> ConfigLoader:
    tenant = TenantConfig("t", [TenantProject("forge", "config", True),
                                TenantProject("forge", "org/app", False)])
    return ConfigLoader(tenant, {"forge": "git"}, {"git": _trigger})


def files(app: str = APP, extra: dict[str, str] | None = None) -> dict:
    return {
        "config": ("main", {"zuul.d/pipelines.yaml": PIPELINES, "zuul.d/jobs.yaml": JOBS}),
        "org/app": ("main", {".zuul.yaml": app, **(extra or {})}),
    }


def test_layout_has_pipelines_jobs_and_projects() -> None:
    layout = make_loader().build(files())
    assert layout.errors == []
    assert layout.pipelines["check"].manager == PipelineManager.INDEPENDENT
    assert layout.pipelines["gate"].window.size == 5
    assert layout.pipelines["gate"].require_approvals == {"forge": (("Workflow", 1),)}
    assert layout.queue_name("org/app") == "shared"
    assert [r.name for r in layout.project_pipeline_jobs("org/app", "check")] == \
        ["unit", "lint"]


def test_frozen_job_inherits_playbooks_vars_and_nodeset_from_base() -> None:
    layout = make_loader().build(files())
    graph = freeze_job_graph(layout, "org/app", "main", "check")
    unit = graph.jobs["unit"]
    assert [p.path for p in unit.pre_run] == ["playbooks/pre.yaml"]
    assert [p.path for p in unit.post_run] == ["playbooks/unit-post.yaml", "playbooks/post.yaml"]
    assert unit.vars == {"common": {"a": 1, "b": 3}}
    assert [n.label for n in unit.nodeset.nodes] == ["local"]
    assert unit.pre_run[0].trusted and not unit.run[0].trusted
    assert unit.inheritance_path == ("base", "unit")
    assert graph.jobs["lint"].voting is False
    assert graph.jobs["lint"].dependencies == ("unit",)


def test_malformed_yaml_reports_file_and_line_and_rest_loads() -> None:
    layout = make_loader().build(files(app="- job:\n    name: x\n  run: [\n"))
    assert len(layout.errors) == 1
    err = layout.errors[0]
    assert err.file == "org/app/.zuul.yaml" and err.line is not None
    assert "YAML syntax error" in str(err)
    assert "check" in layout.pipelines  # the config project still loaded


def test_unknown_attribute_names_the_nearest_valid_one() -> None:
    layout = make_loader().build(files(app="- job:\n    name: x\n    rnu: a.yaml\n"))
    [err] = layout.errors
    assert "unknown attribute 'rnu'" in str(err) and "did you mean 'run'" in str(err)
    assert str(err).startswith("org/app/.zuul.yaml:3:")  # the attribute's line


def test_merge_mode_is_read_and_checked() -> None:
    layout = make_loader().build(files(app="- project:\n    merge-mode: squash-merge\n"))
    assert not layout.errors and layout.merge_mode("org/app", "main") == "squash-merge"
    assert layout.merge_mode("org/other") == "default"
    layout = make_loader().build(files(app="- project:\n    merge-mode: squash\n"))
    [err] = layout.errors
    assert "unknown merge-mode 'squash'" in str(err) and "did you mean 'squash-merge'" in str(err)
    assert str(err).startswith("org/app/.zuul.yaml:")


def test_untrusted_project_cannot_define_a_pipeline() -> None:
    app = "- pipeline:\n    name: sneaky\n    manager: independent\n"
    layout = make_loader().build(files(app=app))
    [err] = layout.errors
    assert "config projects" in str(err) and "sneaky" not in layout.pipelines


def test_unknown_job_in_project_fails_when_frozen() -> None:
    app = "- project:\n    check:\n      jobs: [nope]\n"
    layout = make_loader().build(files(app=app))
    with pytest.raises(ConfigError, match="job 'nope' is not defined"):
        freeze_job_graph(layout, "org/app", "main", "check")


def test_inheritance_cycle_is_an_error() -> None:
    app = ("- job:\n    name: a\n    parent: b\n    run: x.yaml\n"
           "- job:\n    name: b\n    parent: a\n"
           "- project:\n    check:\n      jobs: [a]\n")
    layout = make_loader().build(files(app=app))
    with pytest.raises(ConfigError, match="inheritance cycle"):
        freeze_job_graph(layout, "org/app", "main", "check")


def test_job_dependency_cycle_is_an_error() -> None:
    app = ("- job:\n    name: a\n    run: x.yaml\n    dependencies: [b]\n"
           "- job:\n    name: b\n    run: x.yaml\n    dependencies: [a]\n"
           "- project:\n    check:\n      jobs: [a, b]\n")
    layout = make_loader().build(files(app=app))
    with pytest.raises(ConfigError, match="dependency cycle"):
        freeze_job_graph(layout, "org/app", "main", "check")


def test_branch_variant_applies_only_on_its_branch() -> None:
    app = APP + ("- job:\n    name: unit\n    branches: stable/.*\n"
                 "    vars: {only_stable: true}\n")
    layout = make_loader().build(files(app=app))
    assert "only_stable" not in freeze_job_graph(layout, "org/app", "main",
                                                 "gate").jobs["unit"].vars
    assert freeze_job_graph(layout, "org/app", "stable/1", "gate").jobs["unit"].vars[
        "only_stable"] is True


def test_bad_branch_regex_is_reported() -> None:
    layout = make_loader().build(files(app="- job:\n    name: x\n    branches: '(['\n"))
    [err] = layout.errors
    assert "not a valid regular expression" in str(err)


def test_unchanged_files_are_parsed_once() -> None:
    loader = make_loader()
    loader.build(files())
    cached = dict(loader._cache)
    loader.build(files(extra={"zuul.d/more.yaml": "- job:\n    name: extra\n"}))
    assert set(cached) <= set(loader._cache)
    assert all(loader._cache[k] is v for k, v in cached.items())


def test_project_templates_add_their_jobs_and_queue() -> None:
    app = ("- project-template:\n    name: common\n    queue: integrated\n"
           "    check:\n      jobs: [lint]\n"
           "- job:\n    name: lint\n    run: lint.yaml\n"
           "- project:\n    templates: [common]\n    check:\n      jobs: [unit]\n"
           "- job:\n    name: unit\n    run: unit.yaml\n")
    layout = make_loader().build(files(app=app))
    assert layout.errors == []
    assert [r.name for r in layout.project_pipeline_jobs("org/app", "check")] == \
        ["lint", "unit"]
    assert layout.queue_name("org/app") == "integrated"


def test_secrets_semaphores_and_queues_are_validated_and_kept() -> None:
    app = ("- secret:\n    name: creds\n    data:\n      token: !encrypted/pkcs1-oaep\n"
           "        - c2VjcmV0\n"
           "- semaphore:\n    name: one-at-a-time\n    max: 1\n"
           "- job:\n    name: deploy\n    run: d.yaml\n    secrets: [creds]\n"
           "    semaphores: [one-at-a-time]\n")
    layout = make_loader().build(files(app=app))
    assert layout.errors == []
    assert set(layout.objects["secret"]) == {"creds"}
    assert layout.jobs["deploy"][0].secrets == ("creds",)
    assert layout.jobs["deploy"][0].semaphores == ("one-at-a-time",)
    dup = make_loader().build(files(app=app + "- semaphore:\n    name: one-at-a-time\n"))
    assert any("already defined" in str(e) for e in dup.errors)


MATCHERS = """
- job:
    name: docs
    run: docs.yaml
    files: ['^doc/', '\\\\.rst$']
- job:
    name: unit
    run: unit.yaml
    irrelevant-files: ['^doc/']
    attempts: 5
    post-timeout: 60
    extra-vars: {level: extra}
    host-vars: {node: {port: 22}}
    group-vars: {web: {tier: front}}
- job:
    name: report
    run: report.yaml
    irrelevant-files: ['^doc/']
    dependencies:
      - name: docs
        soft: true
      - unit
- project:
    check:
      jobs: [docs, unit, report]
"""


def test_file_matchers_choose_the_jobs_a_change_runs() -> None:
    layout = make_loader().build(files(app=MATCHERS))
    assert layout.errors == []
    docs_only = freeze_job_graph(layout, "org/app", "main", "check", ["doc/index.rst"])
    assert set(docs_only.jobs) == {"docs"}
    code_only = freeze_job_graph(layout, "org/app", "main", "check", ["src/app.py"])
    assert set(code_only.jobs) == {"unit", "report"}
    assert code_only.jobs["report"].dependencies == ("unit",)  # the soft one is dropped
    both = freeze_job_graph(layout, "org/app", "main", "check", ["doc/a.rst", "src/b.py"])
    assert set(both.jobs) == {"docs", "unit", "report"}
    assert both.jobs["report"].dependencies == ("docs", "unit")
    assert set(freeze_job_graph(layout, "org/app", "main", "check", None).jobs) == \
        {"docs", "unit", "report"}


def test_hard_dependency_on_a_job_that_does_not_run_is_an_error() -> None:
    app = MATCHERS.replace("      - name: docs\n        soft: true\n", "      - docs\n")
    layout = make_loader().build(files(app=app))
    with pytest.raises(ConfigError, match="depends on 'docs', which does not run"):
        freeze_job_graph(layout, "org/app", "main", "check", ["src/app.py"])


def test_frozen_job_carries_attempts_timeouts_and_every_kind_of_vars() -> None:
    layout = make_loader().build(files(app=MATCHERS))
    unit = freeze_job_graph(layout, "org/app", "main", "check", None).jobs["unit"]
    assert (unit.attempts, unit.post_timeout) == (5, 60)
    assert unit.extra_vars == {"level": "extra"}
    assert unit.host_vars == {"node": {"port": 22}}
    assert unit.group_vars == {"web": {"tier": "front"}}
    from zuulish.model import FrozenJob
    assert FrozenJob.from_dict(unit.to_dict()) == unit


def test_bad_file_matcher_regex_is_reported() -> None:
    layout = make_loader().build(files(app="- job:\n    name: x\n    files: '(['\n"))
    [err] = layout.errors
    assert "files matcher '([' is not a valid regular expression" in str(err)


def test_pipeline_reject_messages_and_patchset_policy() -> None:
    from zuulish.model import Change, ChangeKey
    from zuulish.scheduler.enqueue import plan_enqueue
    from zuulish.scheduler.reporting import report_message

    config = PIPELINES.replace("    manager: dependent\n", """    manager: dependent
    dequeue-on-new-patchset: false
    success-message: Merged by the gate.
    reject:
      forge:
        approval:
          - Code-Review: [-2, -1]
""")
    loader = make_loader()
    layout = loader.build({"config": ("main", {"zuul.d/pipelines.yaml": config,
                                               "zuul.d/jobs.yaml": JOBS}),
                           "org/app": ("main", {".zuul.yaml": APP})})
    assert layout.errors == []
    gate = layout.pipelines["gate"]
    assert gate.dequeue_on_new_patchset is False
    assert layout.pipelines["check"].dequeue_on_new_patchset is True
    vetoed = Change(ChangeKey("forge", 1), "org/app", "main", 1, "a" * 40,
                    approvals={"Workflow": 1, "Code-Review": -1})
    plan = plan_enqueue(vetoed, gate, layout, {}, set(), {})
    assert plan.silent and "kept out of gate by Code-Review: -1" in plan.rejection
    welcome = Change(ChangeKey("forge", 2), "org/app", "main", 1, "b" * 40,
                     approvals={"Workflow": 1, "Code-Review": 2})
    assert plan_enqueue(welcome, gate, layout, {}, set(), {}).changes == [welcome]
    assert report_message("success", "gate", None, "http://x", "",
                          gate.messages).startswith("Merged by the gate.")


def test_project_named_by_regex_applies_to_every_matching_project() -> None:
    jobs = JOBS + ("- job:\n    name: org-wide\n    run: o.yaml\n"
                   "- project:\n    name: ^org/.*$\n    check:\n      jobs: [org-wide]\n")
    loader = make_loader()
    layout = loader.build({"config": ("main", {"zuul.d/pipelines.yaml": PIPELINES,
                                               "zuul.d/jobs.yaml": jobs}),
                           "org/app": ("main", {".zuul.yaml": APP})})
    assert layout.errors == []
    assert [r.name for r in layout.project_pipeline_jobs("org/app", "check")] == \
        ["org-wide", "unit", "lint"]
    assert [r.name for r in layout.project_pipeline_jobs("org/other", "check")] == ["org-wide"]
    assert layout.project_pipeline_jobs("elsewhere/x", "check") == []
    untrusted = make_loader().build(files(app="- project:\n    name: ^org/.*$\n"))
    assert any("only in config projects" in str(e) for e in untrusted.errors)


def test_queue_options_are_read_and_per_branch_queues_split_by_branch() -> None:
    app = ("- queue:\n    name: integrated\n    per-branch: true\n"
           "    independent-subqueues: true\n"
           "- project:\n    queue: integrated\n    gate:\n      jobs: [unit]\n"
           "- job:\n    name: unit\n    run: unit.yaml\n")
    layout = make_loader().build(files(app=app))
    assert layout.errors == []
    assert layout.queue_name("org/app", "stable") == "integrated@stable"
    options = layout.queue_options(layout.queue_name("org/app", "main"))
    assert options.per_branch and options.independent_subqueues
    assert not layout.queue_options("org/app").independent_subqueues  # no such object


def test_a_queue_option_of_the_wrong_type_is_an_error_with_its_line() -> None:
    app = "- queue:\n    name: integrated\n    independent-subqueues: sometimes\n"
    layout = make_loader().build(files(app=app))
    assert len(layout.errors) == 1
    err = layout.errors[0]
    assert "independent-subqueues" in str(err) and "true or false" in str(err)
    assert err.file == "org/app/.zuul.yaml" and err.line == 3  # the attribute's line


def test_batch_size_must_be_a_positive_number_and_not_combined_with_subqueues() -> None:
    for body, expected in (("batch-size: 0", "at least 1"), ("batch-size: true", "at least 1"),
                           ("batch-size: many", "must be"),
                           ("batch-size: 4\n    independent-subqueues: true",
                            "cannot be combined")):
        layout = make_loader().build(files(app=f"- queue:\n    name: q\n    {body}\n"))
        assert len(layout.errors) == 1 and expected in str(layout.errors[0]), body
    good = make_loader().build(files(app="- queue:\n    name: q\n    batch-size: 4\n"))
    assert good.errors == [] and good.queue_options("q").batch_size == 4


def test_circular_dependencies_cannot_be_combined_with_batching_yet() -> None:
    for option in ("batch-size: 3", "verify-first: true"):
        app = f"- queue:\n    name: q\n    allow-circular-dependencies: true\n    {option}\n"
        layout = make_loader().build(files(app=app))
        assert len(layout.errors) == 1, option
        err = layout.errors[0]
        assert "allow-circular-dependencies" in str(err) and err.line == 2, option
    good = make_loader().build(files(
        app="- queue:\n    name: q\n    allow-circular-dependencies: true\n"))
    assert good.errors == [] and good.queue_options("q").allow_circular_dependencies


def test_dependencies_by_topic_needs_circular_dependencies_allowed() -> None:
    # Zuul documents the setting as requiring allow-circular-dependencies: refused
    # without it, at the attribute's line, naming what is missing
    layout = make_loader().build(files(
        app="- queue:\n    name: q\n    per-branch: false\n    dependencies-by-topic: true\n"))
    assert len(layout.errors) == 1
    err = layout.errors[0]
    assert err.file == "org/app/.zuul.yaml" and err.line == 4
    assert "'dependencies-by-topic'" in str(err) \
        and "allow-circular-dependencies: true" in str(err)
    assert layout.warnings == []
    good = make_loader().build(files(
        app="- queue:\n    name: q\n    allow-circular-dependencies: true\n"
            "    dependencies-by-topic: true\n"))
    assert good.errors == [] and good.warnings == []
    options = good.queue_options("q")
    assert options.dependencies_by_topic and options.allow_circular_dependencies
    assert not make_loader().build(files(
        app="- queue:\n    name: q\n    allow-circular-dependencies: true\n"
    )).queue_options("q").dependencies_by_topic  # off by default


def test_spare_speculation_and_trusting_later_passes_are_plain_queue_options() -> None:
    body = "speculate-failures: true\n    trust-later-passes: true"
    good = make_loader().build(files(app=f"- queue:\n    name: q\n    {body}\n"))
    assert good.errors == []
    options = good.queue_options("q")
    assert options.speculate_failures and options.trust_later_passes
    assert not make_loader().build(files(app="- queue:\n    name: q\n")) \
        .queue_options("q").speculate_failures


def test_spare_speculation_and_trusting_later_passes_refuse_bad_values_and_partners() -> None:
    for key in ("speculate-failures", "trust-later-passes"):
        for body, expected in ((f"{key}: sometimes", "true or false"),
                               (f"{key}: 1", "true or false"),
                               (f"{key}: true\n    batch-size: 4", "'batch-size'"),
                               (f"{key}: true\n    verify-first: true", "'verify-first'"),
                               (f"{key}: true\n    independent-subqueues: true",
                                "'independent-subqueues'")):
            layout = make_loader().build(files(app=f"- queue:\n    name: q\n    {body}\n"))
            assert len(layout.errors) == 1, body
            err = layout.errors[0]
            assert expected in str(err) and key in str(err), (body, str(err))
            # a wrong type is reported at the attribute, a wrong combination at the queue
            line = 3 if expected == "true or false" else 2
            assert err.file == "org/app/.zuul.yaml" and err.line == line, body


def test_a_pipelines_footer_message_ends_every_report() -> None:
    from zuulish.scheduler.reporting import report_message

    config = PIPELINES.replace("    manager: dependent\n", "    manager: dependent\n"
                               "    footer-message: See https://docs.example/gate\n")
    layout = make_loader().build({"config": ("main", {"zuul.d/pipelines.yaml": config,
                                                      "zuul.d/jobs.yaml": JOBS}),
                                  "org/app": ("main", {".zuul.yaml": APP})})
    assert layout.errors == []
    for action in ("success", "failure"):
        text = report_message(action, "gate", None, "http://x", "a detail",
                              layout.pipelines["gate"].messages, warnings=["careful"])
        assert text.endswith("Warning: careful\n\nSee https://docs.example/gate\n")
    assert "docs.example" not in report_message("success", "check", None, "http://x", "",
                                                layout.pipelines["check"].messages)


def test_success_and_failure_urls_of_an_untrusted_job_warn_and_keep_the_job() -> None:
    """zuul-jobs' releases before 2023 set ``success-url`` on four jobs: they load, each
    with a deprecation warning at its line, as Zuul ignores the setting."""
    tenant = TenantConfig("t", [TenantProject("forge", "config", True),
                                TenantProject("forge", "org/jobs", False)])
    loader = ConfigLoader(tenant, {"forge": "git"}, {"git": _trigger})
    layout = loader.build({
        "config": ("main", {"zuul.yaml": PIPELINES}),
        "org/jobs": ("main", {"zuul.d/jobs.yaml": (
            "- job:\n    name: docs\n    run: r.yaml\n    success-url: html/\n"
            "- job:\n    name: lint\n    run: r.yaml\n    failure-url: lint.html\n")})})
    assert layout.errors == []
    assert {"docs", "lint"} <= set(layout.jobs)
    assert [(w.file, w.line, w.message.split(":")[0]) for w in layout.warnings] == [
        ("org/jobs/zuul.d/jobs.yaml", 4, "job 'docs'"),
        ("org/jobs/zuul.d/jobs.yaml", 8, "job 'lint'")]


def _tenant_layout(jobs: str):
    tenant = TenantConfig("t", [TenantProject("forge", "config", True),
                                TenantProject("forge", "org/app", False),
                                TenantProject("forge", "org/lib", False)])
    loader = ConfigLoader(tenant, {"forge": "git"}, {"git": _trigger})
    return loader.build({"config": ("main", {"zuul.yaml": PIPELINES}),
                         "org/lib": ("main", {}),
                         "org/app": ("main", {".zuul.yaml": jobs})})


def test_required_projects_may_be_named_by_canonical_name() -> None:
    layout = _tenant_layout(
        "- job:\n    name: j\n    run: r.yaml\n    required-projects:\n"
        "      - localhost/org/lib\n      - name: review.example.org/org/app\n"
        "        override-checkout: stable\n")
    assert layout.errors == []
    [job] = layout.jobs["j"]
    assert job.required_projects == ("org/lib", "org/app")
    assert job.project_checkouts == (("org/app", "stable"),)


def test_a_required_project_the_tenant_does_not_have_is_an_error_at_its_line() -> None:
    layout = _tenant_layout("- job:\n    name: j\n    run: r.yaml\n    description: d\n"
                            "    required-projects: [org/lib, org/nope]\n")
    assert [str(e) for e in layout.errors] == [
        "org/app/.zuul.yaml:5: job 'j': required project 'org/nope' is not a project of "
        "tenant 't'"]
    assert "j" not in layout.jobs
