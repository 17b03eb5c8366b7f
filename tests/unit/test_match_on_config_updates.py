"""Zuul's ``match-on-config-updates``: a change that alters a job's configuration runs
the job whatever its file matchers say (default true); ``false`` keeps the matchers."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.gitrepo import Repo, git
from tests.unit.test_config_loader import files, make_loader
from tests.unit.test_merger_worker import entry
from zuulish.config.freeze import freeze_job_graph
from zuulish.config.layout import Layout
from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.worker import build_state

APP = """
- job:
    name: docs
    run: docs.yaml
    files: ['^docs/']
{extra}
- job:
    name: unit
    run: unit.yaml
    irrelevant-files: ['^README']
- project:
    check:
      jobs: [docs, unit]
"""


def layout(extra: str = "", vars_: str = "") -> Layout:
    built = make_loader().build(files(app=APP.format(extra=extra) + vars_))
    assert built.errors == [], built.errors
    return built


def planned(current: Layout, previous: Layout | None, changed: list[str]) -> list[str]:
    return sorted(freeze_job_graph(current, "org/app", "main", "check", changed,
                                   previous).jobs)


def test_a_job_the_change_alters_runs_although_its_files_do_not_match() -> None:
    before = layout()
    after = layout("    vars: {format: pdf}")
    assert planned(after, before, [".zuul.yaml"]) == ["docs", "unit"]
    # without the change's own config update, the matchers decide
    assert planned(after, None, [".zuul.yaml"]) == ["unit"]
    assert planned(after, after, [".zuul.yaml"]) == ["unit"]


def test_a_job_the_change_leaves_as_it_was_keeps_its_matchers() -> None:
    before = layout()
    after = layout("    description: more words\n    timeout: 1800")
    after_other = layout(vars_="- job:\n    name: lint\n    run: lint.yaml\n")
    assert planned(after_other, before, ["README"]) == []  # an unused new job alters none
    # a timeout of the default's value freezes the same job
    assert planned(after, before, ["README"]) == []


def test_irrelevant_files_are_ignored_for_an_altered_job_too() -> None:
    before = layout()
    after = make_loader().build(files(app=APP.format(extra="").replace(
        "run: unit.yaml", "run: unit.yaml\n    timeout: 60")))
    assert planned(after, before, ["README"]) == ["unit"]
    assert planned(before, after, ["README"]) == ["unit"]  # a revert alters it too


def test_a_new_job_runs_although_its_files_do_not_match() -> None:
    before = make_loader().build(files(app=APP.format(extra="").replace(
        "jobs: [docs, unit]", "jobs: [unit]")))
    assert before.errors == []
    after = layout()
    assert planned(after, before, [".zuul.yaml"]) == ["docs", "unit"]


def test_false_keeps_the_file_matchers() -> None:
    before = layout("    match-on-config-updates: false")
    after = layout("    match-on-config-updates: false\n    vars: {format: pdf}")
    assert planned(after, before, [".zuul.yaml"]) == ["unit"]


def test_a_project_stanzas_variant_can_alter_a_job() -> None:
    before = layout()
    after = make_loader().build(files(app=APP.format(extra="").replace(
        "jobs: [docs, unit]", "jobs:\n        - docs:\n            vars: {x: 1}\n"
                              "        - unit")))
    assert after.errors == []
    assert planned(after, before, [".zuul.yaml"]) == ["docs", "unit"]


def test_project_vars_alter_every_job_of_the_project() -> None:
    before = layout()
    after = make_loader().build(files(app=APP.format(extra="").replace(
        "    check:", "    vars: {level: 2}\n    check:")))
    assert after.errors == []
    assert planned(after, before, [".zuul.yaml"]) == ["docs", "unit"]


def test_a_layout_before_that_does_not_freeze_leaves_it_to_the_matchers() -> None:
    broken = make_loader().build(files(app=APP.format(extra="    semaphores: [gone]")))
    after = layout("    vars: {format: pdf}")
    assert planned(after, broken, [".zuul.yaml"]) == ["unit"]


def test_the_merger_records_the_config_of_the_state_ahead(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "upstream", date="@1700000000 +0000")
    repo.commit({".zuul.yaml": "v1\n", "f": "x\n"}, "Files")
    base = git(repo.path, "rev-parse", "main")
    ahead = repo.commit({".zuul.yaml": "v2\n"}, "Ahead", branch="a", start=base)
    plain = repo.commit({"g": "y\n"}, "Plain", branch="b", start=ahead)
    own = repo.commit({".zuul.yaml": "v3\n"}, "Own", branch="c", start=ahead)
    git(repo.path, "checkout", "-q", "main")
    cache = RepoCache(tmp_path / "cache")

    def state(mine: str) -> dict:
        return build_state(cache, {"branch": "main", "changes": [
            entry(repo, 1, ahead, own=False), entry(repo, 2, mine, own=True)]})

    # the item's own change leaves the config as the change ahead made it
    result = state(plain)
    assert result["config_files"]["org/p"][".zuul.yaml"] == "v2\n"
    assert (result["config_updated"], result["ahead_config_files"]) == ([], {})
    # it updates it: the state ahead's config is what its jobs compare with
    result = state(own)
    assert result["config_files"]["org/p"][".zuul.yaml"] == "v3\n"
    assert result["config_updated"] == ["org/p"]
    assert result["ahead_config_files"]["org/p"][".zuul.yaml"] == "v2\n"
