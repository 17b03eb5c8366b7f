"""The fake GitHub's OpenAPI check rejects what GitHub's description does not allow, so a
driver bug cannot pass against a fake that accepts anything."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.github import fixtures
from tests.fakes.github.fixtures import app_client
from tests.fakes.github.openapi import REQUIRED_ENV, VERSION, OpenAPIUnavailable

# the fake GitHub (tests/fakes/github), checked against GitHub's OpenAPI description
fake_github = fixtures.fake_github
github_openapi = fixtures.github_openapi


@pytest.fixture
def world(fake_github):
    fake_github.add_repo("acme/widget")
    pull = fake_github.add_pull("acme/widget", {"a.txt": "a\n"})
    token = fake_github.add_user_token("acme")  # the owner: admin
    http = httpx.Client(base_url=fake_github.url, headers={"Authorization": f"token {token}"})
    yield fake_github, pull, http
    http.close()


def refused(fake, response):
    assert response.status_code == 500
    assert f"GitHub's OpenAPI description {VERSION}" in response.json()["message"]
    return fake.take_violations()


def test_unknown_path_is_a_violation(world):
    fake, _, http = world
    violations = refused(fake, http.get("/repos/acme/widget/pulls/1/approvals"))
    assert violations == ["GET /repos/acme/widget/pulls/1/approvals: no such path in "
                          "GitHub's API"]


def test_wrong_method_is_a_violation(world):
    fake, pull, http = world
    violations = refused(fake, http.post(f"/repos/acme/widget/pulls/{pull.number}/merge",
                                         json={"sha": pull.head_sha}))
    assert violations == [f"POST /repos/acme/widget/pulls/{pull.number}/merge: GitHub's API has "
                          "no POST on /repos/{owner}/{repo}/pulls/{pull_number}/merge "
                          "(it has GET, PUT)"]
    assert not pull.merged


def test_missing_required_body_field_is_a_violation(world):
    fake, pull, http = world
    violations = refused(fake, http.post("/repos/acme/widget/check-runs",
                                         json={"name": "zuul"}))
    assert violations == ["POST /repos/{owner}/{repo}/check-runs: body: 'head_sha' is a "
                          "required property"]


def test_missing_required_body_is_a_violation(world):
    fake, pull, http = world
    violations = refused(fake, http.post(f"/repos/acme/widget/issues/{pull.number}/comments"))
    assert violations == ["POST /repos/{owner}/{repo}/issues/{issue_number}/comments: a JSON "
                          "request body is required"]


@pytest.mark.parametrize("path, body, problem", [
    ("/repos/acme/widget/statuses/{sha}", {"state": "great", "context": "zuul"},
     "body.state: 'great' is not one of ['error', 'failure', 'pending', 'success']"),
    ("/repos/acme/widget/issues/{number}/comments", {"body": 42},
     "body.body: 42 is not of type 'string'"),
    ("/repos/acme/widget/pulls/{number}/merge", {"merge_method": "fast-forward"},
     "body.merge_method: 'fast-forward' is not one of ['merge', 'squash', 'rebase']"),
])
def test_wrong_types_and_values_are_violations(world, path, body, problem):
    fake, pull, http = world
    url = path.format(sha=pull.head_sha, number=pull.number)
    method = "PUT" if url.endswith("/merge") else "POST"
    violations = refused(fake, http.request(method, url, json=body))
    assert len(violations) == 1 and violations[0].endswith(problem)


def test_wrong_path_and_query_parameter_types_are_violations(world):
    fake, _, http = world
    violations = refused(fake, http.get("/repos/acme/widget/pulls/first"))
    assert violations == ["GET /repos/{owner}/{repo}/pulls/{pull_number}: path parameter "
                          "pull_number must be an integer, not 'first'"]
    violations = refused(fake, http.get("/repos/acme/widget/pulls",
                                        params={"state": "merged"}))
    assert violations == ["GET /repos/{owner}/{repo}/pulls: query parameter state: 'merged' "
                          "is not one of ['open', 'closed', 'all']"]


def test_an_operation_the_fake_does_not_serve_is_a_violation(world):
    fake, _, http = world
    violations = refused(fake, http.get("/repos/acme/widget/releases"))
    assert violations == ["GET /repos/{owner}/{repo}/releases: the fake GitHub does not serve "
                          "this operation"]


def test_a_request_that_breaks_the_description_is_never_acted_on(world):
    fake, pull, http = world
    refused(fake, http.put(f"/repos/acme/widget/pulls/{pull.number}/merge",
                           json={"sha": 1234}))
    assert pull.state == "open" and not pull.merged


def test_answers_are_checked_against_the_response_schemas(github_openapi):
    op = github_openapi.find("GET", "/repos/acme/widget/pulls/1")
    assert github_openapi.check_response(op, 200, {"number": 1, "state": "open"}) == []
    where = "GET /repos/{owner}/{repo}/pulls/{pull_number} answer 200"
    assert github_openapi.check_response(op, 200, {"number": "1", "head": {"sha": 7}}) == [
        f"{where}: .number: '1' is not of type 'integer'",
        f"{where}: .head.sha: 7 is not of type 'string'"]
    assert f"{where}: .head.sha: None for not nullable" in github_openapi.check_response(
        op, 200, {"head": {"sha": None}})
    merge = github_openapi.find("PUT", "/repos/acme/widget/pulls/1/merge")
    assert github_openapi.check_response(merge, 201, {"merged": True}) == [
        "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge answer 201: GitHub's API does not "
        "answer 201 here (it answers 200, 403, 404, 405, 409, 422)"]


def test_every_answer_the_client_saw_was_checked(world):
    fake, pull, _ = world
    client = app_client(fake).client
    client.get_pull("acme", "widget", pull.number)
    client.create_check_run("acme", "widget", name="zuul", head_sha=pull.head_sha,
                            status="completed", conclusion="success")
    client.merge_pull("acme", "widget", pull.number, sha=pull.head_sha)
    assert [c.operation for c in fake.calls] == [
        "GET /repos/{owner}/{repo}/installation",
        "POST /app/installations/{installation_id}/access_tokens",
        "GET /repos/{owner}/{repo}/pulls/{pull_number}",
        "POST /repos/{owner}/{repo}/check-runs",
        "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge"]
    assert fake.violations == []


def unavailable():
    raise OpenAPIUnavailable("npm is not installed")


def test_without_the_description_tests_skip(monkeypatch):
    monkeypatch.delenv(REQUIRED_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="npm is not installed"):
        fixtures.description_or_skip(unavailable)


def test_where_the_description_is_required_its_absence_fails(monkeypatch):
    monkeypatch.setenv(REQUIRED_ENV, "required")
    with pytest.raises(pytest.fail.Exception, match="ZUULISH_GITHUB_OPENAPI=required"):
        fixtures.description_or_skip(unavailable)


def test_a_violation_left_in_the_fake_fails_the_test(tmp_path, github_openapi):
    with (pytest.raises(pytest.fail.Exception, match="no such path in GitHub's API"),
          fixtures.running_fake(tmp_path, github_openapi) as fake):
        assert httpx.get(f"{fake.url}/no/such/thing").status_code == 500
