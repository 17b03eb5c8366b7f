"""Merging through GitHub's API: what branch protection refuses, and what each merge
method leaves on the base branch of the real repository behind the fake."""

from __future__ import annotations

import pytest

from tests.fakes.github import fixtures
from tests.fakes.github.fixtures import app_client
from zuulish.drivers.github.errors import GitHubApiError
from zuulish.errors import ConfigError

# the fake GitHub (tests/fakes/github), checked against GitHub's OpenAPI description
fake_github = fixtures.fake_github
github_openapi = fixtures.github_openapi


@pytest.fixture
def world(fake_github):
    repo = fake_github.add_repo("acme/widget", files={"README": "widget\n", "b.txt": "b\n"})
    pull = fake_github.add_pull("acme/widget", {"a.txt": "a\n"}, title="Add a",
                                body="Because.", user="alice")
    return fake_github, repo, pull, app_client(fake_github).client


def git(repo, *args):
    return repo.bare.git(*args)


def test_merge_commit_joins_the_tested_head_to_the_branch(world):
    fake, repo, pull, client = world
    base = repo.bare.rev("refs/heads/main")
    result = client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha, method="merge")
    assert repo.bare.rev("refs/heads/main") == result.sha
    assert git(repo, "rev-list", "--parents", "-n1", result.sha).split()[1:] == [
        base, pull.head_sha]
    assert git(repo, "log", "-1", "--format=%s|%b|%cn", result.sha).replace("\n", "") == (
        f"Merge pull request #{pull.number} from acme/{pull.head_branch}|Add a|GitHub")
    data = client.get_pull("acme", "widget", pull.number)
    assert (data["state"], data["merged"], data["merge_commit_sha"]) == (
        "closed", True, result.sha)


def test_squash_leaves_one_commit_with_the_heads_tree(world):
    fake, repo, _, client = world
    pull = fake.add_pull("acme/widget", {"c.txt": "c\n"}, title="Add c", commits=3)
    base = repo.bare.rev("refs/heads/main")
    result = client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha,
                               method="squash")
    assert git(repo, "rev-list", "--parents", "-n1", result.sha).split()[1:] == [base]
    assert repo.bare.git("rev-parse", f"{result.sha}^{{tree}}") == repo.bare.git(
        "rev-parse", f"{pull.head_sha}^{{tree}}")
    assert git(repo, "log", "-1", "--format=%s", result.sha) == f"Add c (#{pull.number})"


def test_rebase_replays_each_commit_on_the_moved_branch(world):
    fake, repo, _, client = world
    pull = fake.add_pull("acme/widget", {"c.txt": "c\n"}, title="Add c", user="carol",
                         commits=2)
    moved = fake.push("acme/widget", "main", {"b.txt": "b2\n"}, "Someone else's change")
    result = client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha,
                               method="rebase")
    commits = git(repo, "rev-list", f"{moved}..{result.sha}").split()
    assert len(commits) == 2
    assert pull.head_sha not in commits  # new commits, as GitHub makes them
    assert git(repo, "log", "-1", "--format=%an %cn", result.sha) == "carol GitHub"
    assert git(repo, "show", f"{result.sha}:b.txt") == "b2"
    assert git(repo, "show", f"{result.sha}:c.txt") == "c"


def test_merge_refused_until_the_required_check_passes(world):
    fake, repo, pull, client = world
    fake.protect_branch("acme/widget", "main", contexts=["zuul/gate"])
    base = repo.bare.rev("refs/heads/main")
    with pytest.raises(GitHubApiError) as err:
        client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha)
    assert err.value.status == 405
    assert err.value.reason == 'Required status check "zuul/gate" is expected.'
    assert str(err.value).startswith(f"PUT /repos/acme/widget/pulls/{pull.number}/merge: 405")
    assert repo.bare.rev("refs/heads/main") == base
    assert client.get_pull("acme", "widget", pull.number)["mergeable_state"] == "blocked"
    client.create_status("acme", "widget", pull.head_sha, state="success", context="zuul/gate")
    assert client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha).sha == \
        repo.bare.rev("refs/heads/main")


def test_a_completed_check_run_satisfies_a_required_check(world):
    fake, _, pull, client = world
    fake.protect_branch("acme/widget", "main", contexts=["zuul/gate", "lint"])
    run = client.create_check_run("acme", "widget", name="zuul/gate", head_sha=pull.head_sha,
                                  status="in_progress")
    with pytest.raises(GitHubApiError, match="2 of 2 required status checks are expected"):
        client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha)
    client.update_check_run("acme", "widget", run["id"], conclusion="success")
    client.create_status("acme", "widget", pull.head_sha, state="failure", context="lint")
    with pytest.raises(GitHubApiError, match='Required status check "lint" is expected'):
        client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha)
    client.create_status("acme", "widget", pull.head_sha, state="success", context="lint")
    assert client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha).sha


def test_merge_refused_without_the_required_approval(world):
    fake, repo, pull, client = world
    fake.protect_branch("acme/widget", "main", required_approvals=1)
    fake.add_review(repo, pull, "passer-by", "APPROVED")  # no write access: does not count
    with pytest.raises(GitHubApiError) as err:
        client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha)
    assert err.value.reason == ("At least 1 approving review is required by reviewers with "
                                "write access.")
    fake.add_collaborator("acme/widget", "maintainer", "write")
    fake.add_review(repo, pull, "maintainer", "APPROVED")
    assert client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha).sha


def test_merge_of_a_head_that_moved_since_testing_is_refused(world):
    fake, repo, pull, client = world
    tested = pull.head_sha
    fake.push_to_pull("acme/widget", pull, {"a.txt": "a, improved\n"})
    base = repo.bare.rev("refs/heads/main")
    with pytest.raises(GitHubApiError) as err:
        client.merge_pull("acme", "widget", pull.number, sha=tested)
    assert (err.value.status, err.value.reason) == (
        409, "Head branch was modified. Review and try the merge again.")
    assert repo.bare.rev("refs/heads/main") == base


def test_merge_of_a_branch_behind_a_strict_protection_is_refused(world):
    fake, _, pull, client = world
    fake.protect_branch("acme/widget", "main", strict=True)
    fake.push("acme/widget", "main", {"other": "x\n"})
    with pytest.raises(GitHubApiError, match="not up to date with the base branch"):
        client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha)


def test_conflicting_pull_request_is_not_mergeable(world):
    fake, repo, _, client = world
    pull = fake.add_pull("acme/widget", {"b.txt": "theirs\n"})
    fake.push("acme/widget", "main", {"b.txt": "ours\n"})
    assert client.get_pull("acme", "widget", pull.number)["mergeable"] is False
    with pytest.raises(GitHubApiError) as err:
        client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha)
    assert (err.value.status, err.value.reason) == (405, "Pull Request is not mergeable")


def test_merged_pull_request_cannot_merge_again(world):
    _, _, pull, client = world
    client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha)
    with pytest.raises(GitHubApiError, match="405 Pull Request is not mergeable"):
        client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha)


def test_merge_method_the_repository_disallows_is_refused(world):
    _, repo, pull, client = world
    repo.allow_squash_merge = False
    with pytest.raises(GitHubApiError) as err:
        client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha, method="squash")
    assert err.value.reason == "Squash merges are not allowed on this repository."


def test_unknown_merge_method_is_a_config_error_before_any_call(world):
    fake, _, pull, client = world
    calls = len(fake.calls)
    with pytest.raises(ConfigError, match="merge method must be one of merge, squash, rebase"):
        client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha, method="cherry-pick")
    assert len(fake.calls) == calls


def test_installation_without_contents_write_cannot_merge(fake_github):
    fake = fake_github
    fake.add_repo("acme/widget")
    pull = fake.add_pull("acme/widget", {"a.txt": "a\n"})
    client = app_client(fake, permissions={"pull_requests": "write", "metadata": "read"}).client
    with pytest.raises(GitHubApiError) as err:
        client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha)
    assert (err.value.status, err.value.reason) == (403, "Resource not accessible by integration")
