"""The GitHub client's calls against the fake GitHub: reads, paging and reports."""

from __future__ import annotations

import pytest

from tests.fakes.github import fixtures
from tests.fakes.github.fixtures import app_client
from zuulish.drivers.github.client import RequiredChecks, branch_required_checks
from zuulish.drivers.github.errors import GitHubApiError

FILES = "GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files"

# the fake GitHub (tests/fakes/github), checked against GitHub's OpenAPI description
fake_github = fixtures.fake_github
github_openapi = fixtures.github_openapi


@pytest.fixture
def world(fake_github):
    repo = fake_github.add_repo("acme/widget")
    pull = fake_github.add_pull("acme/widget", {"a.txt": "a\n", "README": None},
                                title="Add a", user="alice")
    return fake_github, repo, pull, app_client(fake_github).client


def test_pull_request_shows_its_head_base_and_mergeability(world):
    fake, repo, pull, client = world
    data = client.get_pull("acme", "widget", pull.number)
    assert (data["number"], data["title"], data["user"]["login"]) == (pull.number, "Add a",
                                                                      "alice")
    assert data["head"]["sha"] == pull.head_sha
    assert data["base"]["ref"] == "main"
    assert data["base"]["sha"] == repo.bare.rev("refs/heads/main")
    assert (data["mergeable"], data["mergeable_state"], data["state"]) == (True, "clean", "open")


def test_missing_pull_request_is_a_404_naming_the_call(world):
    _, _, _, client = world
    with pytest.raises(GitHubApiError) as err:
        client.get_pull("acme", "widget", 99)
    assert str(err.value) == "GET /repos/acme/widget/pulls/99: 404 Not Found"


def test_files_are_read_page_after_page(world):
    fake, _, _, client = world
    big = fake.add_pull("acme/widget", {f"f{i:03}.txt": f"{i}\n" for i in range(250)})
    files = client.list_pull_files("acme", "widget", big.number)
    assert sorted(f["filename"] for f in files) == [f"f{i:03}.txt" for i in range(250)]
    assert {f["status"] for f in files} == {"added"}
    pages = fake.calls_to(*FILES)
    assert [c.query.get("page", ["1"])[0] for c in pages] == ["1", "2", "3"]


def test_changed_files_say_added_and_removed(world):
    _, _, pull, client = world
    files = {f["filename"]: f["status"] for f in client.list_pull_files("acme", "widget",
                                                                          pull.number)}
    assert files == {"a.txt": "added", "README": "removed"}


def test_reviews_are_read_in_full(world):
    fake, repo, pull, client = world
    for i in range(120):
        fake.add_review(repo, pull, f"user{i}", "COMMENTED", "hm")
    fake.add_review(repo, pull, "bob", "APPROVED")
    reviews = client.list_pull_reviews("acme", "widget", pull.number)
    assert len(reviews) == 121
    assert reviews[-1]["state"] == "APPROVED" and reviews[-1]["user"]["login"] == "bob"


def test_open_pulls_by_base_branch(world):
    fake, repo, pull, client = world
    fake.push("acme/widget", "stable", {"s": "s\n"})
    other = fake.add_pull("acme/widget", {"b": "b\n"}, base="stable")
    assert [p["number"] for p in client.list_open_pulls("acme", "widget")] == [
        other.number, pull.number]
    assert [p["number"] for p in client.list_open_pulls("acme", "widget", base="stable")] == [
        other.number]


def test_statuses_are_combined_per_context(world):
    _, _, pull, client = world
    client.create_status("acme", "widget", pull.head_sha, state="pending", context="zuul/check",
                         description="Running", target_url="http://zuul.example/b/1")
    client.create_status("acme", "widget", pull.head_sha, state="success", context="zuul/check")
    client.create_status("acme", "widget", pull.head_sha, state="failure", context="other")
    combined = client.combined_status("acme", "widget", pull.head_sha)
    assert combined["state"] == "failure"
    assert {s["context"]: s["state"] for s in combined["statuses"]} == {
        "zuul/check": "success", "other": "failure"}


def test_status_description_is_cut_to_githubs_limit(world):
    fake, repo, pull, client = world
    client.create_status("acme", "widget", pull.head_sha, state="success", context="zuul",
                         description="x" * 500)
    assert len(repo.statuses[pull.head_sha][-1]["description"]) == 140


def test_status_for_an_unknown_commit_is_githubs_422(world):
    _, _, _, client = world
    with pytest.raises(GitHubApiError) as err:
        client.create_status("acme", "widget", "0" * 40, state="success", context="zuul")
    assert (err.value.status, err.value.reason) == (422, f"No commit found for SHA: {'0' * 40}")


def test_check_run_created_then_completed_with_a_summary(world):
    fake, repo, pull, client = world
    run = client.create_check_run("acme", "widget", name="zuul/check", head_sha=pull.head_sha,
                                  status="in_progress", details_url="http://zuul.example/b/1",
                                  external_id="item-1")
    done = client.update_check_run(
        "acme", "widget", run["id"], conclusion="success",
        output={"title": "Build succeeded", "summary": "- tox-py311 SUCCESS",
                "annotations": [{"path": "a.txt", "start_line": 1, "end_line": 1,
                                 "annotation_level": "warning", "message": "trailing"}]})
    assert (done["status"], done["conclusion"]) == ("completed", "success")
    runs = client.list_check_runs("acme", "widget", pull.head_sha)
    assert [(r["name"], r["conclusion"], r["output"]["annotations_count"]) for r in runs] == [
        ("zuul/check", "success", 1)]
    assert repo.check_runs[0]["annotations"][0]["message"] == "trailing"


def test_check_run_of_another_app_cannot_be_changed(world):
    fake, repo, pull, client = world
    run = client.create_check_run("acme", "widget", name="zuul", head_sha=pull.head_sha)
    other = app_client(fake, "acme").client
    with pytest.raises(GitHubApiError) as err:
        other.update_check_run("acme", "widget", run["id"], status="completed",
                               conclusion="failure")
    assert err.value.status == 403


def test_collaborator_permissions(world):
    fake, _, _, client = world
    fake.add_collaborator("acme/widget", "writer", "write")
    fake.add_collaborator("acme/widget", "boss", "admin")
    assert client.collaborator_permission("acme", "widget", "writer") == "write"
    assert client.collaborator_permission("acme", "widget", "boss") == "admin"
    assert client.collaborator_permission("acme", "widget", "passer-by") == "read"


def test_repository_and_branch(world):
    fake, repo, _, client = world
    data = client.get_repository("acme", "widget")
    assert (data["default_branch"], data["clone_url"]) == ("main", str(repo.bare.path))
    fake.protect_branch("acme/widget", "main", contexts=["zuul/gate"])
    branch = client.get_branch("acme", "widget", "main")
    assert (branch["commit"]["sha"], branch["protected"]) == (repo.bare.rev("refs/heads/main"),
                                                              True)


def test_branch_with_a_slash_in_its_name(world):
    fake, repo, _, client = world
    sha = fake.push("acme/widget", "release/1.0", {"r": "r\n"})
    assert client.get_branch("acme", "widget", "release/1.0")["commit"]["sha"] == sha
    assert not client.get_branch("acme", "widget", "release/1.0")["protected"]


def test_required_checks_of_protected_and_unprotected_branches(world):
    fake, _, _, client = world
    assert client.required_status_checks("acme", "widget", "main") == RequiredChecks()
    fake.protect_branch("acme/widget", "main", contexts=["zuul/gate", "lint"], strict=True)
    assert client.required_status_checks("acme", "widget", "main") == RequiredChecks(
        ("zuul/gate", "lint"), strict=True)


def test_required_checks_read_from_the_branch_without_administration_rights(fake_github):
    fake_github.add_repo("acme/widget")
    fake_github.protect_branch("acme/widget", "main", contexts=["zuul/gate"])
    client = app_client(fake_github, permissions={"contents": "read",
                                                  "metadata": "read"}).client
    with pytest.raises(GitHubApiError) as err:
        client.required_status_checks("acme", "widget", "main")
    assert err.value.status == 403
    branch = client.get_branch("acme", "widget", "main")
    assert branch_required_checks(branch) == RequiredChecks(("zuul/gate",))
    fake_github.repo("acme/widget").protections.clear()
    assert branch_required_checks(client.get_branch("acme", "widget", "main")) == \
        RequiredChecks()


def test_comments_labels_and_reviews_land_on_the_pull_request(world):
    _, _, pull, client = world
    client.create_comment("acme", "widget", pull.number, "Build succeeded (gate pipeline).")
    client.add_labels("acme", "widget", pull.number, ["gated", "tested"])
    assert client.remove_label("acme", "widget", pull.number, "tested") is True
    assert client.remove_label("acme", "widget", pull.number, "never-there") is False
    client.create_review("acme", "widget", pull.number, event="APPROVE", commit_id=pull.head_sha)
    assert [c["body"] for c in pull.comments] == ["Build succeeded (gate pipeline)."]
    assert pull.labels == ["gated"]
    assert [(r["state"], r["user"]["login"]) for r in pull.reviews] == [
        ("APPROVED", "zuulish[bot]")]


def test_review_asking_for_changes_needs_a_body(world):
    _, _, pull, client = world
    with pytest.raises(GitHubApiError) as err:
        client.create_review("acme", "widget", pull.number, event="REQUEST_CHANGES")
    assert err.value.status == 422
    assert "without a body" in str(err.value)
