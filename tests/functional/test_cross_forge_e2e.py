"""A GitHub pull request and a Gerrit change in one shared gate queue of one zuulish:
each depends on the other across forges (Depends-On by URL), both are tested together,
each merges on its own forge, and a merge refused on one is seen on both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.fakes.forges import (
    MAINTAINER,
    deliver_webhooks,
    gerrit_connection,
    gerrit_site,
    github_connection,
    github_repo,
    running_zuulish,
    wait_until,
)
from tests.fakes.gerrit.world import GitBackedGerrit
from tests.fakes.github import fixtures
from tests.fakes.github.server import FakeGitHub
from tests.fakes.github.state import Pull, Repo
from tests.fakes.github.webhooks import pull_request_payload, review_payload
from zuulish.app import AllInOne
from zuulish.store import BuildRow, BuildSetRow, QueueItemRow

pytestmark = [pytest.mark.slow]

github_openapi = fixtures.github_openapi
fake_github = fixtures.fake_github

APP = "acme/app"  # on GitHub
LIB = "example/lib"  # on Gerrit
BRANCH = "main"  # on GitHub
LIB_BRANCH = "master"  # on Gerrit: a shared queue that is not per-branch holds both


def _project_config(job: str) -> str:
    return f"""
- job:
    name: {job}
    parent: run-shell
    vars:
      command: test "$(cat value.txt)" != bad
- project:
    queue: shared
    gate:
      jobs: [{job}]
"""


PIPELINES = """
- pipeline:
    name: gate
    manager: dependent
    precedence: high
    require:
      github:
        review:
          - type: approved
            permission: write
      gerrit:
        approval:
          - Workflow: 1
    trigger:
      github:
        - event: pull_request_review
          action: submitted
          state: approved
      gerrit:
        - event: comment-added
          approval:
            - Workflow: 1
    start:
      github:
        check: in_progress
        comment: false
    success:
      github:
        check: success
        merge: true
      gerrit:
        Verified: 2
        submit: true
    failure:
      github:
        check: failure
      gerrit:
        Verified: -2
"""


@dataclass
class World:
    github: FakeGitHub
    app: Repo
    gerrit: GitBackedGerrit
    aio: AllInOne

    # ------------------------------------------------------------ GitHub
    def open_pull(self, files: dict[str, str | None], title: str, body: str = "",
                  announce: bool = True) -> Pull:
        pull = self.github.add_pull(APP, files, title=title, body=body)
        if not announce:
            return pull
        self.github.emit("pull_request", pull_request_payload(self.github, self.app, pull,
                                                              "opened"))
        return pull

    def approve_pull(self, pull: Pull, announce: bool = True) -> None:
        review = self.github.add_review(self.app, pull, MAINTAINER, "APPROVED")
        if not announce:
            return
        self.github.emit("pull_request_review", review_payload(self.github, self.app, pull,
                                                               review))

    def pull_url(self, pull: Pull) -> str:
        """The URL people see (and write in Depends-On): GitHub's web address."""
        return f"https://github.com/{APP}/pull/{pull.number}"

    def gate_run(self, pull: Pull) -> dict[str, Any] | None:
        runs = [r for r in self.app.check_runs
                if r["head_sha"] == pull.head_sha and r["name"] == "t/gate"]
        return runs[-1] if runs else None

    def gate_conclusion(self, pull: Pull) -> str:
        run = self.wait(f"the gate check run of #{pull.number} to complete",
                        lambda: (r := self.gate_run(pull)) is not None
                        and r["status"] == "completed" and r)
        return str(run["conclusion"])

    # ------------------------------------------------------------ Gerrit
    def upload_approved(self, files: dict[str, str], subject: str, footers: str = "") -> int:
        """A Gerrit change uploaded and approved (Code-Review +2, Workflow +1) without
        zuulish hearing of it: it reaches the gate only as the dependency of a pull
        request, so both are enqueued by one event."""
        emit, self.gerrit.emit = self.gerrit.emit, None
        try:
            number = int(self.gerrit.upload(LIB, files, subject, branch=LIB_BRANCH,
                                            footers=footers)["_number"])
            self.approve_change(number, announce=False)
        finally:
            self.gerrit.emit = emit
        return number

    def upload(self, files: dict[str, str], subject: str, footers: str = "") -> int:
        return int(self.gerrit.upload(LIB, files, subject, branch=LIB_BRANCH,
                                      footers=footers)["_number"])

    def approve_change(self, number: int, announce: bool = True) -> None:
        self.gerrit.vote(number, {"Code-Review": 2, "Workflow": 1}, announce=announce)

    def change_url(self, number: int) -> str:
        return f"{self.gerrit.url}/c/{LIB}/+/{number}"

    def votes(self, number: int) -> list[int]:
        return [v["value"] for v in self.gerrit.changes[number]["labels"]["Verified"]["all"]
                if v.get("username") == "zuul"]

    def messages(self, number: int) -> list[str]:
        return [m["message"] for m in self.gerrit.changes[number]["messages"]
                if m["author"].get("username") == "zuul"]

    # ------------------------------------------------------------ zuulish
    def wait(self, what: str, predicate: Callable[[], Any], timeout: float = 120) -> Any:
        return wait_until(what, predicate, timeout,
                          lambda: "gate items:\n" + "\n".join(map(str, self.gate_items())))

    def gate_items(self) -> list[tuple[str, int | None, str, str | None, str | None]]:
        """(connection, change, state, result, message) of each gate item, in order."""
        with self.aio.store.read() as s:
            return [(r.connection, r.change_number, r.state, r.result, r.message)
                    for r in s.scalars(select(QueueItemRow)
                                       .where(QueueItemRow.pipeline == "gate")
                                       .order_by(QueueItemRow.id))]

    def gate_results(self) -> dict[str, str | None]:
        """{job: result} of the gate's builds so far (the latest of each job)."""
        with self.aio.store.read() as s:
            return {b.job: b.result for b in s.scalars(select(BuildRow).order_by(
                BuildRow.created_at))}

    def tested_states(self) -> list[dict[str, Any]]:
        """The repository states of the build sets of every merged gate item."""
        with self.aio.store.read() as s:
            return [row.repo_state for row in s.scalars(
                select(BuildSetRow).join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                .where(QueueItemRow.pipeline == "gate", QueueItemRow.state == "merged"))
                if row.repo_state]


CYCLES = """
- queue:
    name: shared
    allow-circular-dependencies: true
"""


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path,
          fake_github: FakeGitHub) -> Iterator[World]:
    """One zuulish, a fake GitHub and a fake Gerrit; ``{"cycles": True}`` as the
    indirect parameter lets the shared queue hold dependency cycles."""
    options = getattr(request, "param", {})
    app, github_app = github_repo(fake_github, tmp_path, APP,
                                  {".zuul.yaml": _project_config("app-test"),
                                   "value.txt": "good\n"}, branch=BRANCH)
    projects = {LIB: ({".zuul.yaml": _project_config("lib-test"), "value.txt": "good\n"},
                      LIB_BRANCH)}
    pipelines = PIPELINES + (CYCLES if options.get("cycles") else "")
    with gerrit_site(tmp_path, projects) as site, \
            running_zuulish(tmp_path, pipelines, {"github": [APP], "gerrit": [LIB]},
                            {"github": github_connection(fake_github, github_app),
                             "gerrit": gerrit_connection(site)}) as aio:
        deliver_webhooks(fake_github, aio, "github")
        site.ssh.wait_for_sessions(1)
        yield World(fake_github, app, site.gerrit, aio)


def test_a_pull_request_depending_on_a_gerrit_change_merges_after_it(world: World) -> None:
    lib = world.upload_approved({"lib.txt": "lib v2\n"}, "Library change")
    pull = world.open_pull({"app.txt": "uses lib v2\n"}, "Use the new library",
                           body=f"Needs the library.\n\nDepends-On: {world.change_url(lib)}\n")
    world.approve_pull(pull)

    world.wait("both in the gate", lambda: len(world.gate_items()) >= 2)
    # one event enqueued both, the Gerrit change ahead of the pull request needing it
    assert [c for c, *_ in world.gate_items()] == ["gerrit", "github"]
    assert world.gate_items()[0][1] == lib
    assert world.gate_conclusion(pull) == "success"
    world.wait("the pull request merged", lambda: pull.merged)
    world.wait("both gate items done", lambda: [i[2:4] for i in world.gate_items()]
               == [("merged", "SUCCESS")] * 2)
    assert world.gerrit.changes[lib]["status"] == "MERGED"
    assert world.votes(lib) == [2]

    app_tip = world.app.bare.rev(f"refs/heads/{BRANCH}")
    lib_tip = world.gerrit.tip(LIB, LIB_BRANCH)
    assert world.app.bare.git("show", f"{app_tip}:app.txt") == "uses lib v2"
    assert lib_tip is not None and world.gerrit.read(LIB, lib_tip, "lib.txt") == "lib v2"
    # the pull request's build set tested both branches as they now are
    both = [st for st in world.tested_states() if APP in st and LIB in st]
    assert (world.app.bare.git("rev-parse", f"{app_tip}^{{tree}}"),
            world.gerrit.tree(LIB, lib_tip)) in {(st[APP]["tree"], st[LIB]["tree"])
                                                for st in both}


def test_a_gerrit_change_depending_on_a_pull_request_merges_after_it(world: World) -> None:
    # approved on GitHub before zuulish heard of it: it reaches the gate as the need of
    # the Gerrit change, read from GitHub when the Depends-On names it
    pull = world.open_pull({"app.txt": "app v2\n"}, "New application API", announce=False)
    world.approve_pull(pull, announce=False)
    lib = world.upload({"lib.txt": "follows app v2\n"}, "Follow the application",
                       footers=f"Depends-On: {world.pull_url(pull)}")
    world.approve_change(lib)

    world.wait("both in the gate", lambda: len(world.gate_items()) >= 2)
    assert [c for c, *_ in world.gate_items()] == ["github", "gerrit"]
    assert world.gate_items()[1][1] == lib
    assert world.gate_conclusion(pull) == "success"
    world.wait("both gate items done", lambda: [i[2:4] for i in world.gate_items()]
               == [("merged", "SUCCESS")] * 2)
    assert pull.merged and world.gerrit.changes[lib]["status"] == "MERGED"
    assert world.votes(lib) == [2]

    app_tip = world.app.bare.rev(f"refs/heads/{BRANCH}")
    lib_tip = world.gerrit.tip(LIB, LIB_BRANCH)
    assert lib_tip is not None
    assert world.gerrit.read(LIB, lib_tip, "lib.txt") == "follows app v2"
    both = [st for st in world.tested_states() if APP in st and LIB in st]
    assert (world.app.bare.git("rev-parse", f"{app_tip}^{{tree}}"),
            world.gerrit.tree(LIB, lib_tip)) in {(st[APP]["tree"], st[LIB]["tree"])
                                                for st in both}


def test_a_merge_github_refuses_is_reported_on_both_forges(world: World) -> None:
    # the branch also requires a check nobody sets: GitHub refuses the gate's merge
    world.github.protect_branch(APP, BRANCH, contexts=["t/gate", "ci/other"])
    tips = (world.app.bare.rev(f"refs/heads/{BRANCH}"), world.gerrit.tip(LIB, LIB_BRANCH))
    pull = world.open_pull({"app.txt": "app v2\n"}, "New application API", announce=False)
    world.approve_pull(pull, announce=False)
    lib = world.upload({"lib.txt": "follows app v2\n"}, "Follow the application",
                       footers=f"Depends-On: {world.pull_url(pull)}")
    world.approve_change(lib)

    world.wait("both gate items done", lambda: len(world.gate_items()) == 2 and all(
        i[2] not in ("queued", "active") for i in world.gate_items()))
    github_item, gerrit_item = world.gate_items()
    refusal = 'GitHub refused the merge: Required status check "ci/other" is expected.'
    assert github_item[2:4] == ("failed", "FAILURE") and refusal in str(github_item[4])
    assert gerrit_item[2:4] == ("failed", "FAILURE")
    # on GitHub: the gate's check (success just before the merge, as the protection
    # requires it) turns to failure, and says why; a comment says so too
    run = world.wait("the gate check's failure", lambda: (r := world.gate_run(pull))
                     is not None and r.get("conclusion") == "failure" and r)
    assert refusal in run["output"]["summary"]
    world.wait("the failure comment", lambda: any(refusal in c["body"] for c in pull.comments))
    # on Gerrit: the change that needed it is rejected (Verified -2), and told why
    world.wait("Verified -2 on the Gerrit change", lambda: world.votes(lib) == [-2])
    assert "which is no longer ahead of it in the queue" in world.messages(lib)[-1]
    # nothing merged on either forge
    assert not pull.merged and world.gerrit.changes[lib]["status"] == "NEW"
    assert (world.app.bare.rev(f"refs/heads/{BRANCH}"), world.gerrit.tip(LIB, LIB_BRANCH)) == tips
    assert not any(c.path.endswith(f"~{lib}/submit") for c in world.gerrit.calls)


def test_a_submit_gerrit_refuses_is_reported_on_both_forges(world: World) -> None:
    # the site also requires a QA vote nobody casts: Gerrit refuses the gate's submit
    world.gerrit.submit_requires = {"Verified": 2, "QA": 1}
    tips = (world.app.bare.rev(f"refs/heads/{BRANCH}"), world.gerrit.tip(LIB, LIB_BRANCH))
    lib = world.upload_approved({"lib.txt": "lib v2\n"}, "Library change")
    pull = world.open_pull({"app.txt": "uses lib v2\n"}, "Use the new library",
                           body=f"Depends-On: {world.change_url(lib)}")
    world.approve_pull(pull)

    world.wait("both gate items done", lambda: len(world.gate_items()) == 2 and all(
        i[2] not in ("queued", "active") for i in world.gate_items()))
    gerrit_item, github_item = world.gate_items()
    refusal = "submit requirement 'QA' is unsatisfied"
    assert gerrit_item[:4] == ("gerrit", lib, "failed", "FAILURE")
    assert refusal in str(gerrit_item[4])
    assert github_item[2:4] == ("failed", "FAILURE")
    # on Gerrit: Verified -2 and Gerrit's reason
    world.wait("Verified -2 on the Gerrit change", lambda: world.votes(lib) == [-2])
    assert refusal in world.messages(lib)[-1]
    # on GitHub: the pull request that needed it fails its gate check, and says why
    assert world.gate_conclusion(pull) == "failure"
    run = world.gate_run(pull)
    assert run is not None and "no longer ahead of it in the queue" in run["output"]["summary"]
    assert not pull.merged and world.gerrit.changes[lib]["status"] == "NEW"
    assert (world.app.bare.rev(f"refs/heads/{BRANCH}"), world.gerrit.tip(LIB, LIB_BRANCH)) == tips
    assert not world.github.calls_to("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge")


@pytest.mark.parametrize("world", [{"cycles": True}], indirect=True)
def test_a_cross_forge_cycle_is_tested_together_and_merges_on_both(world: World) -> None:
    # the pull request and the Gerrit change each say Depends-On the other
    lib_number = world.gerrit.next_number
    pull = world.open_pull({"app.txt": "app v2\n"}, "New application API",
                           body=f"Depends-On: {world.change_url(lib_number)}", announce=False)
    world.approve_pull(pull, announce=False)
    lib = world.upload({"lib.txt": "follows app v2\n"}, "Follow the application",
                       footers=f"Depends-On: {world.pull_url(pull)}")
    assert lib == lib_number
    # what the gate's builds had found when Gerrit was asked to submit
    seen_at_submit: list[dict[str, str | None]] = []
    submit = world.gerrit._submit

    def watched_submit(h: Any, change: dict[str, Any]) -> None:
        seen_at_submit.append(world.gate_results())
        submit(h, change)

    world.gerrit._submit = watched_submit  # type: ignore[method-assign]
    world.approve_change(lib)

    world.wait("both gate items done", lambda: len(world.gate_items()) == 2 and all(
        i[2] not in ("queued", "active") for i in world.gate_items()))
    assert [i[2:4] for i in world.gate_items()] == [("merged", "SUCCESS")] * 2
    # one bundle: the Gerrit change was submitted only once both had passed
    assert seen_at_submit == [{"app-test": "SUCCESS", "lib-test": "SUCCESS"}]
    assert pull.merged and world.gerrit.changes[lib]["status"] == "MERGED"
    app_tip = world.app.bare.rev(f"refs/heads/{BRANCH}")
    lib_tip = world.gerrit.tip(LIB, LIB_BRANCH)
    assert lib_tip is not None
    tested = {(st[APP]["tree"], st[LIB]["tree"]) for st in world.tested_states()
              if APP in st and LIB in st}
    assert (world.app.bare.git("rev-parse", f"{app_tip}^{{tree}}"),
            world.gerrit.tree(LIB, lib_tip)) in tested
