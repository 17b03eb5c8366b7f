"""ansible.posix's synchronize through the real runner: on a local-provider node
(``zuulish_local``) it is one rsync on the controller, the node's side in its work
directory; untrusted playbooks keep the controller's side in the work directory and
give rsync no option that runs a program (``action/synchronize.py``, the guard)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.test_sandbox import Build, needs_bwrap, task
from tests.unit.test_untrusted_localhost import WRITE_RULE

NODE_FILES = {"logs/job.log": "log line\n", "logs/sub/more.txt": "more\n",
              "artifacts/wheel.txt": "wheel\n"}


@pytest.fixture
def build(tmp_path: Path) -> Build:
    return Build(tmp_path)


def _on_node(build: Build) -> str:
    """Tasks that write the node's zuul-output (in its work dir) as a job would."""
    for name in NODE_FILES:
        (build.work / "zuul-output" / name).parent.mkdir(parents=True, exist_ok=True)
    return "".join(task(f"copy:\n  content: {json.dumps(content)}\n  dest: "
                        f"{build.work}/zuul-output/{name}")
                   for name, content in NODE_FILES.items())


def _run(build: Build, tasks: str, trusted: bool) -> tuple[str, str, str]:
    result, message = build.run(build.book("sync", tasks, trusted=trusted))
    build.text()
    return result, message, "\n".join(str(t["msg"]) for t in build.log.tasks)


@needs_bwrap
@pytest.mark.parametrize("trusted", [False, True], ids=["untrusted", "trusted"])
@pytest.mark.parametrize("action", ["synchronize", "ansible.posix.synchronize"])
def test_fetch_output_pulls_the_nodes_output_into_the_work_dir(build: Build, trusted: bool,
                                                               action: str) -> None:
    tasks = _on_node(build) + task(  # as fetch-output: the local dir first, on localhost
        f"file:\n  path: {build.work}/collected/logs\n  state: directory\n"
        "delegate_to: localhost") + task(
        f"{action}:\n  mode: pull\n  src: zuul-output/logs/\n"
        f"  dest: {build.work}/collected/logs/\n  owner: false\n  group: false\n"
        "  rsync_opts: ['--exclude=*.tmp']")
    result, message, msgs = _run(build, tasks, trusted)
    assert result == "SUCCESS", (message, msgs)
    assert (build.work / "collected" / "logs" / "job.log").read_text() == "log line\n"
    assert (build.work / "collected" / "logs" / "sub" / "more.txt").read_text() == "more\n"
    assert not (build.work / "collected" / "logs" / "wheel.txt").exists()


@needs_bwrap
def test_push_to_the_node_lands_in_its_work_dir(build: Build) -> None:
    (build.work / "src").mkdir()
    (build.work / "src" / "a.txt").write_text("source\n")
    tasks = task(f"synchronize:\n  src: {build.work}/src/\n  dest: workspace/\n"
                 "  delete: true")
    result, message, msgs = _run(build, tasks, trusted=False)
    assert result == "SUCCESS", (message, msgs)
    assert (build.work / "workspace" / "a.txt").read_text() == "source\n"


@needs_bwrap
def test_a_node_path_outside_its_work_dir_is_an_error_that_says_so(build: Build) -> None:
    tasks = task(f"synchronize:\n  mode: pull\n  src: /etc/\n  dest: {build.work}/etc/")
    result, message, msgs = _run(build, tasks, trusted=True)
    assert result == "FAILURE", (message, msgs)
    assert "outside the node's work directory" in msgs, msgs
    assert not (build.work / "etc").exists()


REFUSED = {
    "pull into the state dir": ("mode: pull\n  src: zuul-output/logs/\n  dest: {state}/",
                                WRITE_RULE),
    "rsync runs a program": ("mode: pull\n  src: zuul-output/logs/\n  dest: {work}/c/\n"
                             "  rsync_opts: ['--rsh=sh -c id']", "may not give rsync"),
    "local rsync program": ("mode: pull\n  src: zuul-output/logs/\n  dest: {work}/c/\n"
                            "  _local_rsync_path: /bin/sh", "may not give synchronize"),
    "another host": ("mode: pull\n  src: zuul-output/logs/\n  dest: 'otherhost:/x'",
                     "may not name a host"),
}


@needs_bwrap
@pytest.mark.parametrize("form", sorted(REFUSED))
def test_untrusted_synchronize_is_held_to_the_work_dir(build: Build, form: str) -> None:
    args, rule = REFUSED[form]
    tasks = _on_node(build) + task(
        "synchronize:\n  " + args.format(state=build.state, work=build.work))
    result, message, msgs = _run(build, tasks, trusted=False)
    assert result == "FAILURE", (message, msgs)
    assert rule in msgs, msgs
    assert not (build.state / "job.log").exists()
    assert not (build.work / "c").exists()


@needs_bwrap
def test_prepare_workspace_push_of_src_onto_the_local_nodes_home_keeps_it(build: Build) -> None:
    """prepare-workspace pushes ``src_root`` into the node's home with ``delete``: on a
    local node that home is the work dir, so the repositories stay as they are."""
    repo = build.work / "src" / "localhost" / "org" / "app"
    repo.mkdir(parents=True)
    (repo / "README").write_text("tested state\n")
    tasks = task(f"synchronize:\n  src: {build.work}/src\n  dest: '~'\n  delete: true\n"
                 "  recursive: true\n  owner: false\n  group: false")
    result, message, msgs = _run(build, tasks, trusted=False)
    assert result == "SUCCESS", (message, msgs)
    assert (repo / "README").read_text() == "tested state\n"
    assert not (build.work / "src" / "src").exists()
