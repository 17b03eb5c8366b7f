"""`zuulish validate-config`: real public Zuul configurations and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus import ZUUL_CONFIGS
from zuulish.cli import main
from zuulish.config.validate import validate

CORPUS = ZUUL_CONFIGS
CORPUS_FILES = sorted(CORPUS.glob("*.yaml")) if CORPUS.is_dir() else []


@pytest.mark.skipif(not CORPUS_FILES, reason="../shared/corpus is not beside this checkout")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_public_zuul_configuration_is_valid_standalone(path: Path) -> None:
    report = validate([path], standalone=True)
    assert report.errors == []
    assert report.files == [str(path)]


def write(tmp: Path, text: str, name: str = ".zuul.yaml") -> Path:
    (tmp / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp / name).write_text(text)
    return tmp


def test_a_repository_checkout_is_searched_for_its_config_files(tmp_path: Path) -> None:
    write(tmp_path, "- job:\n    name: a\n", "zuul.d/jobs.yaml")
    write(tmp_path, "- project:\n    check:\n      jobs: [a]\n", "zuul.d/project.yaml")
    write(tmp_path, "not: config\n", "other.yaml")
    report = validate([tmp_path], standalone=True)
    assert report.ok and len(report.files) == 2
    assert report.unresolved == [f"pipeline 'check' (used at {tmp_path}/zuul.d/project.yaml:2)"]


def test_names_defined_elsewhere_are_errors_unless_standalone(tmp_path: Path) -> None:
    write(tmp_path, "- job:\n    name: a\n    parent: lib-base\n    nodeset: big\n")
    strict = validate([tmp_path])
    hint = " (if another repository defines it, check with --standalone)"
    assert sorted(e.message for e in strict.errors) == [
        f"job 'lib-base' is not defined in these files{hint}",
        f"nodeset 'big' is not defined in these files{hint}"]
    assert all(e.line == 2 for e in strict.errors)  # the stanza starts on line 2
    assert validate([tmp_path], standalone=True).ok


@pytest.mark.parametrize("text, message", [
    ("- job:\n    name: a\n    pre_run: x.yaml\n", "unknown attribute 'pre_run' in job; did you "
                                                    "mean 'pre-run'?"),
    ("- job:\n    name: a\n    timeout: soon\n", "'timeout' must be an integer"),
    ("- job:\n    name: a\n    branches: '(['\n", "not a valid regular expression"),
    ("- job:\n    name: [\n", "YAML syntax error"),
    ("- semaphore:\n    name: s\n    max: 0\n", "'max' must be at least 1"),
    ("- queue:\n    name: q\n    per-branch: sometimes\n", "'per-branch' must be true or false"),
    ("- secret:\n    name: s\n", "needs 'data'"),
    ("- pipeline:\n    name: p\n    manager: fancy\n", "manager must be one of"),
    ("- project:\n    check:\n      jobz: [a]\n", "unknown attribute 'jobz'"),
    ("- nodeset:\n    name: n\n    nodes:\n      - name: x\n", "needs a 'name' and a 'label'"),
    ("- widget:\n    name: w\n", "unknown configuration object 'widget'"),
    ("- pipeline:\n    name: g\n    manager: dependent\n    window: soon\n",
     "'window' must be a whole number of at least 1, not 'soon'"),
    ("- pipeline:\n    name: g\n    manager: dependent\n    window: 0\n",
     "is not supported: give a large window"),
    ("- pipeline:\n    name: g\n    manager: dependent\n    window-floor: 0\n",
     "'window-floor' must be a whole number of at least 1"),
    ("- pipeline:\n    name: g\n    manager: dependent\n    window-decrease-factor: true\n",
     "'window-decrease-factor' must be a whole number of at least 1, not True"),
    ("- pipeline:\n    name: g\n    manager: dependent\n    window-increase-type: fast\n",
     "'window-increase-type' must be linear or exponential, not 'fast'"),
])
def test_bad_input_names_file_line_and_fix(tmp_path: Path, text: str, message: str) -> None:
    report = validate([write(tmp_path, text)], standalone=True)
    assert len(report.errors) == 1, report.errors
    error = report.errors[0]
    assert message in str(error)
    assert str(error).startswith(f"{tmp_path}/.zuul.yaml:")


def test_one_broken_object_does_not_hide_the_others(tmp_path: Path) -> None:
    write(tmp_path, "- job:\n    name: a\n    rnu: x\n- job:\n    name: b\n    voting: maybe\n")
    assert len(validate([tmp_path], standalone=True).errors) == 2


def test_command_prints_file_line_errors_and_exit_status(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "- job:\n    name: a\n    rnu: x\n")
    assert main(["validate-config", "--standalone", str(tmp_path)]) == 1
    assert capsys.readouterr().out.strip() == (
        f"{tmp_path}/.zuul.yaml:3: unknown attribute 'rnu' in job; did you mean 'run'?")
    write(tmp_path, "- job:\n    name: a\n    run: x.yaml\n")
    write(tmp_path, "- hosts: all\n  tasks: []\n", "x.yaml")
    assert main(["validate-config", "--standalone", str(tmp_path)]) == 0
    assert main(["validate-config", str(tmp_path / "missing")]) == 1


def test_a_timer_trigger_is_checked_as_the_scheduler_checks_it(tmp_path: Path) -> None:
    write(tmp_path, "- pipeline:\n    name: periodic\n    manager: independent\n"
                    "    trigger:\n      timer:\n        - time: '0 0 * * * * *'\n"
                    "- pipeline:\n    name: nightly\n    manager: independent\n"
                    "    trigger:\n      timer:\n        - time: '0 0 * * *'\n")
    report = validate([tmp_path], standalone=True)
    [error] = report.errors
    assert (error.file, error.line) == (f"{tmp_path}/.zuul.yaml", 6)
    assert "the jitter (7th field) must be a number of seconds, not '*'" in str(error)


def test_a_broken_job_is_reported_once_not_again_where_it_is_used(tmp_path: Path) -> None:
    write(tmp_path, "- job:\n    name: a\n    rnu: x\n- job:\n    name: b\n    parent: a\n"
                    "- project:\n    check:\n      jobs: [a, b]\n"
                    "- pipeline:\n    name: check\n    manager: independent\n")
    report = validate([tmp_path])
    assert [(e.line, e.message) for e in report.errors] == [
        (3, "unknown attribute 'rnu' in job; did you mean 'run'?")]


def test_every_error_of_a_job_is_reported_at_its_own_line(tmp_path: Path) -> None:
    write(tmp_path, "- job:\n    name: a\n    rnu: x\n    timeout: soon\n"
                    "    branches: '(['\n    voting: maybe\n    attempts: 0\n")
    report = validate([tmp_path], standalone=True)
    assert sorted((e.line, e.message) for e in report.errors) == [
        (3, "unknown attribute 'rnu' in job; did you mean 'run'?"),
        (4, "job 'a' attribute 'timeout' must be an integer, not 'soon'"),
        (5, "job 'a': branch matcher '([' is not a valid regular expression: unterminated "
            "character set at position 1"),
        (6, "job 'a' attribute 'voting' must be true or false, not 'maybe'"),
        (7, "job 'a': 'attempts' must be at least 1")]


def test_a_playbook_missing_from_the_repository_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "- job:\n    name: a\n    pre-run: playbooks/pre.yaml\n"
                    "    run: [playbooks/run.yaml, playbooks/other.yaml]\n"
                    "    post-run: playbooks/post.yaml\n    cleanup-run: playbooks/gone.yaml\n")
    for name in ("pre", "run", "post"):
        write(tmp_path, "- hosts: all\n  tasks: []\n", f"playbooks/{name}.yaml")
    report = validate([tmp_path], standalone=True)
    assert [(e.line, e.message) for e in report.errors] == [
        (4, f"job 'a': run playbook 'playbooks/other.yaml' does not exist in {tmp_path}"),
        (6, f"job 'a': cleanup-run playbook 'playbooks/gone.yaml' does not exist in "
            f"{tmp_path}")]


def test_a_single_file_is_checked_against_the_git_repository_holding_it(
        tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    config = write(tmp_path, "- job:\n    name: a\n    run: playbooks/run.yaml\n",
                   "zuul.d/jobs.yaml") / "zuul.d" / "jobs.yaml"
    [error] = validate([config], standalone=True).errors
    assert (error.file, error.line) == (str(config), 3)
    assert "'playbooks/run.yaml' does not exist" in error.message
    write(tmp_path, "- hosts: all\n  tasks: []\n", "playbooks/run.yaml")
    assert validate([config], standalone=True).ok


@pytest.mark.parametrize("setting, message", [
    ("ansible-version: 8", "job 'a': ansible-version 8 is not available; zuulish runs Ansible"),
    ("include-vars: [vars.yaml]", "job 'a': zuulish does not load variables from files"),
    ("hold-following-changes: true", "job 'a': zuulish does not hold the changes behind"),
    ("workspace-scheme: flat", "workspace-scheme 'flat' is not available; zuulish lays out "
                               "repositories in the 'golang' scheme only"),
    ("deduplicate: auto", "only 'deduplicate: false' is honoured"),
    ("failure-output: ['(']", "failure-output '(' is not a valid regular expression"),
    ("image-build-name: img", "image builds are not available"),
    ("success-message: YAY", "a report shows each job's result as it is"),
    ("ansible-split-streams: maybe", "'ansible-split-streams' must be true or false"),
])
def test_job_settings_zuulish_does_not_honour_are_refused_at_their_line(
        tmp_path: Path, setting: str, message: str) -> None:
    write(tmp_path, f"- job:\n    name: a\n    description: x\n    {setting}\n")
    [error] = validate([tmp_path], standalone=True).errors
    assert error.line == 4 and message in error.message, error


def test_the_same_settings_are_refused_in_a_project_stanzas_job_variant(
        tmp_path: Path) -> None:
    write(tmp_path, "- project:\n    check:\n      jobs:\n        - a:\n"
                    "            include-vars: [v.yaml]\n")
    [error] = validate([tmp_path], standalone=True).errors
    assert (error.line, error.message.split(":")[0]) == (5, "job 'a' variant")


def test_settings_zuulish_honours_pass(tmp_path: Path) -> None:
    from zuulish.config.parser import SHIPPED_ANSIBLE
    write(tmp_path, f"- job:\n    name: a\n    ansible-version: {SHIPPED_ANSIBLE}\n"
                    "    workspace-scheme: golang\n    deduplicate: false\n"
                    "    match-on-config-updates: false\n"
                    "- job:\n    name: b\n    match-on-config-updates: true\n"
                    "- pipeline:\n    name: gate\n    manager: dependent\n"
                    "    supercedes: [check]\n"
                    "    require:\n      forge:\n        open: true\n"
                    "        current-patchset: true\n")
    report = validate([tmp_path], standalone=True)
    assert report.ok and report.warnings == [], (report.errors, report.warnings)


def test_settings_real_configurations_use_are_warned_about_with_their_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "- job:\n    name: a\n    failure-output: ['FAILED']\n"
                    "- pipeline:\n    name: p\n    manager: independent\n"
                    "    ignore-dependencies: true\n")
    report = validate([tmp_path], standalone=True)
    assert report.ok
    assert [(w.line, w.message.split(":")[0]) for w in report.warnings] == [
        (7, "pipeline 'p'"), (3, "job 'a'")]
    assert main(["validate-config", "--standalone", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (f"{tmp_path}/.zuul.yaml:3: warning: job 'a': 'failure-output' is ignored; zuulish "
            "does not end a build early when its output matches") in out
    assert "'ignore-dependencies' is ignored" in out


@pytest.mark.parametrize("text, line, message", [
    ("- pipeline:\n    name: p\n    manager: independent\n    allow-other-connections: 1\n",
     4, "'allow-other-connections' must be true or false"),
    ("- project:\n    name: a\n    default-branch: trunk\n", 3,
     "project 'a': 'default-branch' is not available in zuulish"),
    ("- project:\n    name: a\n    debug: true\n", 3, "project 'a': 'debug' is not available"),
    ("- project:\n    name: a\n    check:\n      debug: true\n", 4,
     "project 'a' pipeline 'check': 'debug' is not available"),
])
def test_pipeline_and_project_settings_zuulish_ignores_are_refused(
        tmp_path: Path, text: str, line: int, message: str) -> None:
    write(tmp_path, text)
    [error] = validate([tmp_path], standalone=True).errors
    assert error.line == line and message in error.message, error


def test_pipeline_debug_and_ansible_split_streams_are_warned_about(tmp_path: Path) -> None:
    # both appear in real public configurations
    write(tmp_path, "- pipeline:\n    name: p\n    manager: independent\n    debug: true\n"
                    "- job:\n    name: a\n    ansible-split-streams: true\n")
    report = validate([tmp_path], standalone=True)
    assert report.ok
    assert sorted((w.line, w.message.split(":")[0]) for w in report.warnings) == [
        (4, "pipeline 'p'"), (7, "job 'a'")]


def test_supercedes_must_name_pipelines(tmp_path: Path) -> None:
    write(tmp_path, "- pipeline:\n    name: p\n    manager: independent\n"
                    "    supercedes: {check: true}\n")
    [error] = validate([tmp_path], standalone=True).errors
    assert error.line == 4 and "supercedes must name pipelines" in error.message


def test_zuul_node_objects_are_read_and_their_chain_checked(tmp_path: Path) -> None:
    """Offline, zuulish.yaml's connections are unknown: the sections' connection and
    driver attributes are not checked, the rest is (see tests/unit/node_provider_config)."""
    write(tmp_path, "- image: {name: i}\n- flavor: {name: f}\n"
                    "- label: {name: l, image: i, flavor: f}\n"
                    "- section: {name: s, connection: anywhere, images: [i], flavors: [f],"
                    " any-driver-key: 1}\n"
                    "- provider: {name: p, section: s, labels: [l]}\n"
                    "- nodeset: {name: n, nodes: [{name: a, label: not-checked-offline}]}\n")
    assert validate([tmp_path], standalone=True).ok
    write(tmp_path, "- provider:\n    name: x\n    connection: c\n    section: s\n")
    [error] = validate([tmp_path], standalone=True).errors
    assert error.line == 3
    assert "'connection' is an attribute of sections only" in error.message


def test_a_typo_in_a_node_object_is_still_named(tmp_path: Path) -> None:
    write(tmp_path, "- label:\n    name: x\n    flavour: big\n")
    [error] = validate([tmp_path], standalone=True).errors
    assert error.line == 3 and "did you mean 'flavor'?" in error.message


def test_a_job_without_a_name_also_names_its_unknown_attributes(tmp_path) -> None:
    """``nmae: x``: the job has no name, and the misspelt key is why (both reported)."""
    from zuulish.config.validate import validate

    path = tmp_path / "zuul.yaml"
    path.write_text("- job:\n    nmae: x\n")
    errors = [str(e) for e in validate([path], standalone=True).errors]
    assert errors[0] == f"{path}:2: job needs a 'name'"
    assert any(e.startswith(f"{path}:2: unknown attribute 'nmae' in job; did you mean 'name'?")
               for e in errors), errors


@pytest.mark.parametrize("folder", ["zuul.d", ".zuul.d", "zuulish.d"])
def test_a_configuration_folder_given_itself_is_validated_whole(
        tmp_path: Path, folder: str, capsys: pytest.CaptureFixture[str]) -> None:
    """As Zuul reads zuul.d/: every YAML file in it, in sub-folders too."""
    write(tmp_path, "- job:\n    name: a\n", f"{folder}/jobs.yaml")
    write(tmp_path, "- job:\n    name: b\n    parent: a\n", f"{folder}/more/jobs.yaml")
    write(tmp_path, "notes\n", f"{folder}/README.txt")
    report = validate([tmp_path / folder])
    assert report.ok, report.errors
    assert report.files == [f"{tmp_path}/{folder}/jobs.yaml",
                            f"{tmp_path}/{folder}/more/jobs.yaml"]
    assert main(["validate-config", str(tmp_path / folder)]) == 0
    assert "2 file(s) valid" in capsys.readouterr().err
    write(tmp_path, "- job:\n    name: c\n    timeout: soon\n", f"{folder}/bad.yaml")
    [error] = validate([tmp_path / folder]).errors
    assert (error.file, error.line) == (f"{tmp_path}/{folder}/bad.yaml", 3)
    # playbooks are the repository's: the folder holding the configuration folder
    write(tmp_path, "- job:\n    name: c\n    run: playbooks/c.yaml\n", f"{folder}/bad.yaml")
    [error] = validate([tmp_path / folder]).errors
    assert error.message == f"job 'c': run playbook 'playbooks/c.yaml' does not exist in " \
                            f"{tmp_path}"
    write(tmp_path, "- hosts: all\n  tasks: []\n", "playbooks/c.yaml")
    assert validate([tmp_path / folder]).ok


@pytest.mark.parametrize("folder, what", [
    ("zuul.d", "no YAML files (*.yaml) in this directory"),
    ("checkout", "no Zuul configuration files (zuul.yaml, zuul.d/, .zuul.yaml, .zuul.d/) in "
                 "this directory"),
])
def test_a_folder_without_configuration_is_an_error_naming_it(
        tmp_path: Path, folder: str, what: str, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "not: config\n", f"{folder}/notes.yml")
    (tmp_path / "empty").mkdir()
    report = validate([tmp_path / folder, tmp_path / "empty"])
    assert [str(e) for e in report.errors] == [
        f"{tmp_path / folder}: {what}",
        f"{tmp_path / 'empty'}: no Zuul configuration files (zuul.yaml, zuul.d/, .zuul.yaml, "
        ".zuul.d/) in this directory"]
    assert main(["validate-config", str(tmp_path / folder)]) == 1
    assert what in capsys.readouterr().out


@pytest.mark.parametrize("key", ["success-url", "failure-url"])
def test_success_and_failure_urls_are_accepted_with_a_deprecation_warning(
        tmp_path: Path, key: str) -> None:
    write(tmp_path, f"- job:\n    name: a\n    description: x\n    {key}: docs/index.html\n")
    report = validate([tmp_path], standalone=True)
    assert report.ok, report.errors
    [warning] = report.warnings
    assert str(warning) == (f"{tmp_path}/.zuul.yaml:4: warning: job 'a': {key!r} is "
                            "deprecated and ignored (as Zuul ignores it); a report links "
                            "each build's page")
    write(tmp_path, f"- job:\n    name: a\n    {key}: [not, a, url]\n")
    [error] = validate([tmp_path], standalone=True).errors
    assert error.line == 3 and f"attribute {key!r} must be" in error.message, error
