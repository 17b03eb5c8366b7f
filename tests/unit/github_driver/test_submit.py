"""The gate's merge through GitHub's API: what was tested is what merges, or nothing
does and the user is told why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.github.state import Pull
from tests.unit.github_driver.conftest import REPO, World
from tests.unit.github_driver.repo_state import state_as_tested
from zuulish.errors import UserError

# the driver's logic is the subject; the outbox and pull requests it keeps have
# store tests of their own (tests/conftest.py)
pytestmark = pytest.mark.not_store

MERGE = "/repos/{owner}/{repo}/pulls/{pull_number}/merge"


def tip_tree(world: World) -> str:
    return world.repo.bare.git("rev-parse", "refs/heads/main^{tree}")


@pytest.fixture
def gated(world: World, tmp_path: Path) -> tuple[World, Pull, int, Path]:
    pull = world.fake.add_pull(REPO, {"a.txt": "a\n"}, title="Add a", body="Because.",
                               commits=2)
    return world, pull, world.known(pull), tmp_path


@pytest.mark.parametrize(("mode", "method"), [("merge", "merge"),
                                              ("squash-merge", "squash"),
                                              ("rebase", "rebase")])
def test_merges_the_tested_tree_with_each_merge_mode(gated, mode: str, method: str):
    world, pull, number, work = gated
    state = state_as_tested(world, pull, mode, work)
    sha = world.reporter.submit(number, state)
    assert sha == world.repo.bare.rev("refs/heads/main")
    assert tip_tree(world) == state[REPO]["tree"]
    [call] = world.fake.calls_to("PUT", MERGE)
    assert call.body["merge_method"] == method and call.body["sha"] == pull.head_sha
    assert pull.merged


def test_a_head_that_moved_since_the_test_is_not_merged(gated):
    world, pull, number, work = gated
    state = state_as_tested(world, pull, "merge", work)
    before = world.repo.bare.rev("refs/heads/main")
    world.fake.push_to_pull(REPO, pull, {"a.txt": "untested\n"})
    with pytest.raises(UserError, match="has new commits .* not tested"):
        world.reporter.submit(number, state)
    assert world.repo.bare.rev("refs/heads/main") == before
    assert world.fake.calls_to("PUT", MERGE) == []


def test_a_base_branch_moved_to_another_tree_is_not_merged_into(gated):
    world, pull, number, work = gated
    state = state_as_tested(world, pull, "merge", work)
    moved = world.fake.push(REPO, "main", {"b.txt": "b2\n"}, "Someone else's change")
    with pytest.raises(UserError, match=f"main of {REPO} moved since {REPO}#"
                                        f"{pull.number} was tested .*{moved[:12]}"):
        world.reporter.submit(number, state)
    assert world.repo.bare.rev("refs/heads/main") == moved
    assert not pull.merged


def test_a_base_branch_moved_to_the_same_tree_still_merges(gated):
    world, pull, number, work = gated
    state = state_as_tested(world, pull, "squash-merge", work)
    world.fake.push(REPO, "main", {}, "An empty commit")
    world.reporter.submit(number, state)
    assert tip_tree(world) == state[REPO]["tree"]


def github_test_merge(world: World, pull: Pull, tree: str) -> str:
    """A test merge commit as GitHub keeps one for an open pull request, with ``tree``."""
    bare = world.repo.bare
    tip = bare.rev("refs/heads/main")
    sha = bare.git("commit-tree", tree, "-p", tip, "-p", pull.head_sha, "-m", "Merge")
    bare.set_ref(f"refs/pull/{pull.number}/merge", sha)
    pull.merge_commit_sha = sha
    return sha


def test_github_test_merge_with_another_tree_is_not_merged(gated):
    world, pull, number, work = gated
    state = state_as_tested(world, pull, "merge", work)
    github_test_merge(world, pull, tip_tree(world))  # as if the change were not there
    with pytest.raises(UserError, match="GitHub's merge of .* would not be the tested state"):
        world.reporter.submit(number, state)
    assert world.fake.calls_to("PUT", MERGE) == []


def test_github_test_merge_with_the_tested_tree_merges(gated):
    world, pull, number, work = gated
    state = state_as_tested(world, pull, "merge", work)
    github_test_merge(world, pull, state[REPO]["tree"])
    world.reporter.submit(number, state)
    assert tip_tree(world) == state[REPO]["tree"]


def test_branch_protection_refusal_carries_githubs_reason(gated):
    world, pull, number, work = gated
    state = state_as_tested(world, pull, "merge", work)
    world.fake.protect_branch(REPO, "main", contexts=["ci/required"])
    with pytest.raises(UserError) as raised:
        world.reporter.submit(number, state)
    assert str(raised.value) == ('GitHub refused the merge: Required status check '
                                 '"ci/required" is expected.')
    assert not pull.merged


def test_a_closed_pull_request_is_not_merged(gated):
    world, pull, number, work = gated
    state = state_as_tested(world, pull, "merge", work)
    pull.state = "closed"
    with pytest.raises(UserError, match=f"{REPO}#{pull.number} is closed"):
        world.reporter.submit(number, state)


def test_an_already_merged_pull_request_gives_its_merge(gated):
    """The merge was made before a restart: submitting again answers the merge made."""
    world, pull, number, work = gated
    state = state_as_tested(world, pull, "merge", work)
    first = world.reporter.submit(number, state)
    assert world.reporter.submit(number, state) == first
    assert len(world.fake.calls_to("PUT", MERGE)) == 1


def test_cherry_pick_is_refused_with_a_clear_message(gated):
    world, pull, number, work = gated
    state = state_as_tested(world, pull, "cherry-pick", work)
    with pytest.raises(UserError, match="GitHub cannot merge with merge-mode 'cherry-pick'; "
                                        "use merge, squash-merge or rebase"):
        world.reporter.submit(number, state, tenant="acme", pipeline="gate",
                              options={"status": "success"})
    assert world.fake.calls_to("PUT", MERGE) == []
    # nothing was said to GitHub about a merge that is not made
    assert world.repo.statuses.get(pull.head_sha) is None


@pytest.mark.parametrize("option", ["status", "check"])
def test_the_pipelines_own_required_status_lets_a_protected_branch_merge(gated, option: str):
    world, pull, number, work = gated
    state = state_as_tested(world, pull, "merge", work)
    world.fake.protect_branch(REPO, "main", contexts=["acme/gate"])
    sha = world.reporter.submit(number, state, tenant="acme", pipeline="gate",
                                options={option: "success"})
    assert sha == world.repo.bare.rev("refs/heads/main")
    assert tip_tree(world) == state[REPO]["tree"]
    if option == "status":
        assert [s["context"] for s in world.repo.statuses[pull.head_sha]] == ["acme/gate"]
    else:
        assert [(r["name"], r["conclusion"]) for r in world.repo.check_runs] == [
            ("acme/gate", "success")]
