"""A Gerrit change through the whole system: zuulish all-in-one with a Gerrit connection
to the fake Gerrit (SSH stream-events, REST, git over HTTP, real repositories)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.fakes.forges import gerrit_connection, gerrit_site, running_zuulish, wait_until
from tests.fakes.gerrit.ssh import FakeGerritSSH
from tests.fakes.gerrit.world import GitBackedGerrit
from tests.fakes.tenant import git
from zuulish.app import AllInOne
from zuulish.store import BuildRow

pytestmark = [pytest.mark.slow]

PROJECT = "org/app"
LIB = "org/lib"


def project_config(job: str) -> str:
    """A job that fails when ``value.txt`` says bad, in check and gate; the project
    shares the queue ``integrated``."""
    return f"""
- job:
    name: {job}
    parent: run-shell
    vars:
      command: test "$(cat value.txt)" != bad
- project:
    queue: integrated
    check:
      jobs: [{job}]
    gate:
      jobs: [{job}]
"""


APP_CONFIG = project_config("app-test")
LIB_CONFIG = project_config("lib-test")
PIPELINES = """
- queue:
    name: integrated
    allow-circular-dependencies: true
    dependencies-by-topic: true

- pipeline:
    name: check
    manager: independent
    trigger:
      review:
        - event: patchset-created
        - event: comment-added
          comment: (?i)^(Patch Set [0-9]+:\\n\\n)?\\s*recheck\\s*$
    start:
      review:
        comment: false
        checks-api: {checker: "zuul:check", state: RUNNING}
    success:
      review:
        Verified: 1
        checks-api: {checker: "zuul:check", state: SUCCESSFUL}
    failure:
      review:
        Verified: -1
        checks-api: {checker: "zuul:check", state: FAILED, message: Change failed}

- pipeline:
    name: gate
    manager: dependent
    precedence: high
    require:
      review:
        approval:
          - Workflow: 1
    trigger:
      review:
        - event: comment-added
          approval:
            - Workflow: 1
    success:
      review:
        Verified: 2
        submit: true
    failure:
      review:
        Verified: -2
"""


@dataclass
class World:
    gerrit: GitBackedGerrit
    ssh: FakeGerritSSH
    aio: AllInOne

    def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = 120) -> Any:
        return wait_until(what, predicate, timeout)

    def votes(self, number: int, label: str = "Verified") -> list[int]:
        return [v["value"] for v in self.gerrit.changes[number]["labels"][label]["all"]
                if v.get("username") == "zuul"]

    def wait_vote(self, number: int, value: int) -> None:
        self.wait_for(lambda: self.votes(number) == [value],
                      f"Verified{value:+d} on change {number}")

    def tested_tree(self, number: int) -> str:
        """The tree of the state the gate tested change ``number`` in (the merger's)."""
        commit = self.gerrit.changes[number]["current_revision"]
        with self.aio.store.read() as s:
            states = [b.params["repo_state"][PROJECT] for b in s.scalars(
                select(BuildRow).where(BuildRow.job == "app-test"))
                if commit in b.params["repo_state"][PROJECT]["changes"]]
        tested = states[-1]["commit"]
        return git(self.aio.merger.cache.path(PROJECT), "rev-parse", f"{tested}^{{tree}}"
                   ).strip()

    def approve(self, number: int, announce: bool = True) -> None:
        self.gerrit.vote(number, {"Code-Review": 2, "Workflow": 1}, announce=announce)


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    projects = {PROJECT: ({".zuul.yaml": APP_CONFIG, "value.txt": "good\n"}, "master"),
                LIB: ({".zuul.yaml": LIB_CONFIG, "value.txt": "good\n"}, "master")}
    with gerrit_site(tmp_path, projects) as site, \
            running_zuulish(tmp_path, PIPELINES, {"review": [PROJECT, LIB]},
                            {"review": gerrit_connection(site)}, web=False,
                            database_url=database_url, web_url="http://zuulish.test") as aio:
        site.ssh.wait_for_sessions(1)
        yield World(site.gerrit, site.ssh, aio)


def test_check_gate_and_merge_through_gerrit(world: World) -> None:
    gerrit = world.gerrit
    good = gerrit.upload(PROJECT, {"new.txt": "new\n"}, "Good change")["_number"]
    bad = gerrit.upload(PROJECT, {"value.txt": "bad\n"}, "Bad change")["_number"]
    world.wait_vote(good, 1)
    world.wait_vote(bad, -1)
    assert "app-test" in gerrit.changes[good]["messages"][-1]["message"]
    # the check pipeline's checks-api reports: RUNNING, then its result
    # (the vote and the check are separate reports: either may be posted first)
    for number, state in ((bad, "FAILED"), (good, "SUCCESSFUL")):
        world.wait_for(lambda number=number, state=state: gerrit.checks.get(
            (number, 1), {}).get("zuul:check", {}).get("state") == state,
            f"change {number}'s check {state}")
    check = gerrit.checks[(good, 1)]["zuul:check"]
    assert check["state"] == "SUCCESSFUL" and check["started"] <= check["finished"]
    assert check["url"] == "http://zuulish.test/t/t/status"
    assert gerrit.checks[(bad, 1)]["zuul:check"]["message"] == "Change failed"
    assert [c.body["state"] for c in gerrit.calls if c.path.endswith(f"~{good}/revisions/1/"
                                                                      "checks/")] == \
        ["RUNNING", "SUCCESSFUL"]

    world.approve(good)
    world.wait_for(lambda: gerrit.changes[good]["status"] == "MERGED", "the good change merged")
    tip = gerrit.tip(PROJECT)
    assert tip is not None
    assert gerrit.read(PROJECT, tip, "new.txt") == "new"
    assert gerrit.read(PROJECT, tip, "value.txt") == "good"
    assert gerrit.tree(PROJECT, tip) == world.tested_tree(good)
    world.wait_vote(good, 2)

    world.approve(bad)
    world.wait_vote(bad, -2)
    assert gerrit.changes[bad]["status"] == "NEW"
    assert gerrit.tip(PROJECT) == tip
    assert not any(c.path.endswith(f"~{bad}/submit") for c in gerrit.calls)

    # The stream drops; the approval of a third change is made while it is down and
    # reaches the gate through the catch-up after the reconnection.
    third = gerrit.upload(PROJECT, {"third.txt": "3\n"}, "Third change")["_number"]
    world.wait_vote(third, 1)
    started = world.ssh.sessions_started
    world.ssh.refuse = 1
    world.ssh.drop()
    world.approve(third, announce=False)
    world.ssh.wait_for_sessions(started + 1)
    world.wait_for(lambda: gerrit.changes[third]["status"] == "MERGED",
                   "the third change merged after the catch-up")
    tip = gerrit.tip(PROJECT)
    assert tip is not None and gerrit.read(PROJECT, tip, "third.txt") == "3"


def test_a_topic_across_two_projects_is_gated_and_merged_together(world: World) -> None:
    """dependencies-by-topic: two changes in two projects with one topic are enqueued
    together, tested on one state and merged together; a failing one fails both."""
    gerrit = world.gerrit
    app = gerrit.upload(PROJECT, {"app.txt": "app\n"}, "App part", topic="feature")["_number"]
    lib = gerrit.upload(LIB, {"lib.txt": "lib\n"}, "Lib part", topic="feature")["_number"]
    world.wait_vote(app, 1)
    world.wait_vote(lib, 1)
    world.approve(lib)  # its topic's other change is not approved yet: not enqueued
    world.wait_for(lambda: any("change 1 (of topic 'feature') does not meet" in m["message"]
                               for m in gerrit.changes[lib]["messages"]),
                   "the rejection naming the unapproved change of the topic")
    world.approve(app)
    world.wait_for(lambda: all(gerrit.changes[n]["status"] == "MERGED" for n in (app, lib)),
                   "both changes of the topic merged")
    assert world.votes(app) == [2] and world.votes(lib) == [2]
    app_tip, lib_tip = gerrit.tip(PROJECT), gerrit.tip(LIB)
    assert app_tip is not None and lib_tip is not None
    assert gerrit.read(PROJECT, app_tip, "app.txt") == "app"
    assert gerrit.read(LIB, lib_tip, "lib.txt") == "lib"
    # one state for both: each change's gate build saw the other change too, and both
    # saw the same commits (check tested each change alone)
    commits = {n: gerrit.changes[n]["current_revision"] for n in (app, lib)}
    with world.aio.store.read() as s:
        builds = [(b.job, b.params["repo_state"]) for b in s.scalars(
            select(BuildRow).where(BuildRow.job.in_(("app-test", "lib-test"))))]

    def holds(state: dict, project: str, commit: str) -> bool:
        entry = state.get(project) or {}
        return commit in [*entry.get("ahead_changes", ()), *entry.get("changes", ())]

    gate = {job: (state[PROJECT]["commit"], state[LIB]["commit"]) for job, state in builds
            if holds(state, PROJECT, commits[app]) and holds(state, LIB, commits[lib])}
    assert set(gate) == {"app-test", "lib-test"}
    assert gate["app-test"] == gate["lib-test"]

    # A topic with a failing change: neither merges, both are told.
    good = gerrit.upload(PROJECT, {"more.txt": "more\n"}, "Good part",
                         topic="broken")["_number"]
    bad = gerrit.upload(LIB, {"value.txt": "bad\n"}, "Bad part", topic="broken")["_number"]
    world.wait_vote(bad, -1)
    world.wait_vote(good, 1)  # check's votes are in before the gate's replace them
    world.approve(good, announce=False)
    world.approve(bad)
    world.wait_vote(bad, -2)
    world.wait_vote(good, -2)
    assert gerrit.changes[good]["status"] == gerrit.changes[bad]["status"] == "NEW"
    assert (gerrit.tip(PROJECT), gerrit.tip(LIB)) == (app_tip, lib_tip)
    assert "the cycle merges together or not at all" in gerrit.changes[good]["messages"][-1][
        "message"]
