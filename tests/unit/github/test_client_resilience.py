"""Rate limits, server errors and timeouts: the client waits, backs off, then says why."""

from __future__ import annotations

import socket

import pytest

from tests.fakes.github import fixtures
from tests.fakes.github.fixtures import RecordingClock, app_client
from zuulish.drivers.github.auth import TokenAuth
from zuulish.drivers.github.client import GitHubClient
from zuulish.drivers.github.errors import GitHubApiError
from zuulish.drivers.github.ratelimit import RateLimiter
from zuulish.drivers.github.transport import Transport

GET_PULL = "GET", "/repos/{owner}/{repo}/pulls/{pull_number}"

# the fake GitHub (tests/fakes/github), checked against GitHub's OpenAPI description
fake_github = fixtures.fake_github
github_openapi = fixtures.github_openapi


@pytest.fixture
def world(fake_github):
    fake_github.add_repo("acme/widget")
    pull = fake_github.add_pull("acme/widget", {"a.txt": "a\n"})
    setup = app_client(fake_github)
    setup.client.get_pull("acme", "widget", pull.number)  # token in hand
    fake_github.clock.sleeps.clear()
    return fake_github, pull, setup.client


def statuses(fake):
    return [c.status for c in fake.calls_to(*GET_PULL)][1:]


def test_spent_budget_is_waited_out_before_calling(world):
    fake, pull, client = world
    fake.limit_rate(remaining=1, reset_in=120)
    client.get_pull("acme", "widget", pull.number)  # spends the last call
    before = fake.clock.now()
    client.get_pull("acme", "widget", pull.number)
    assert statuses(fake) == [200, 200]  # never refused: the client waited first
    assert fake.clock.now() - before >= 120
    assert fake.clock.sleeps and fake.clock.sleeps[-1] <= 122


def test_refusal_for_a_spent_budget_waits_until_the_reset(world):
    fake, pull, client = world
    fake.limit_rate(remaining=0, reset_in=300)
    before = fake.clock.now()
    assert client.get_pull("acme", "widget", pull.number)["number"] == pull.number
    assert statuses(fake) == [403, 200]
    assert fake.clock.now() - before >= 300
    assert len(fake.clock.sleeps) == 1 and fake.clock.sleeps[0] <= 302


def test_retry_after_is_honoured(world):
    fake, pull, client = world
    fake.secondary_limit(retry_after=7, status=429)
    client.get_pull("acme", "widget", pull.number)
    assert statuses(fake) == [429, 200]
    assert fake.clock.sleeps == [7]


def test_secondary_limit_without_retry_after_backs_off_a_minute_then_longer(world):
    fake, pull, client = world
    fake.secondary_limit(times=2)
    client.get_pull("acme", "widget", pull.number)
    assert statuses(fake) == [403, 403, 200]
    assert fake.clock.sleeps == [60, 120]


def test_endless_secondary_limit_fails_with_githubs_message(world):
    fake, pull, client = world
    fake.secondary_limit(times=10)
    with pytest.raises(GitHubApiError) as err:
        client.get_pull("acme", "widget", pull.number)
    assert err.value.status == 403
    assert "secondary rate limit" in err.value.reason
    assert err.value.call == f"GET /repos/acme/widget/pulls/{pull.number}"
    assert len(fake.clock.sleeps) == 3  # rate_limit_retries


def test_a_403_that_is_not_a_rate_limit_is_not_retried(world):
    fake, pull, _ = world
    fake.add_collaborator("acme/widget", "reader", "read")
    client = GitHubClient(Transport(fake.url, clock=fake.clock),
                          TokenAuth(fake.add_user_token("reader")))
    with pytest.raises(GitHubApiError) as err:
        client.create_comment("acme", "widget", pull.number, "hi")
    assert err.value.status == 403
    assert fake.clock.sleeps == []


def test_server_error_storm_then_success(world):
    fake, pull, client = world
    fake.fail_next(3, status=502)
    assert client.get_pull("acme", "widget", pull.number)["number"] == pull.number
    assert statuses(fake) == [502, 502, 502, 200]
    assert fake.clock.sleeps == [1, 2, 4]


def test_server_error_storm_past_the_retries_names_the_call(world):
    fake, pull, client = world
    fake.fail_next(10, status=503)
    with pytest.raises(GitHubApiError) as err:
        client.create_comment("acme", "widget", pull.number, "Build succeeded.")
    assert err.value.status == 503
    assert str(err.value).startswith(f"POST /repos/acme/widget/issues/{pull.number}/comments: "
                                     "503 server error 5 times in a row")
    assert pull.comments == []


def test_a_timeout_is_retried(fake_github):
    fake = fake_github
    fake.add_repo("acme/widget")
    pull = fake.add_pull("acme/widget", {"a.txt": "a\n"})
    client = app_client(fake, timeout=0.3).client
    client.get_pull("acme", "widget", pull.number)
    fake.delay_next(1, 2.0)
    assert client.get_pull("acme", "widget", pull.number)["number"] == pull.number
    assert fake.clock.sleeps[-1:] == [1]


def test_timeouts_past_the_retries_say_so(fake_github):
    fake = fake_github
    fake.add_repo("acme/widget")
    pull = fake.add_pull("acme/widget", {"a.txt": "a\n"})
    client = app_client(fake, timeout=0.3, retries=1).client
    client.get_pull("acme", "widget", pull.number)
    fake.delay_next(2, 2.0)
    with pytest.raises(GitHubApiError) as err:
        client.get_pull("acme", "widget", pull.number)
    assert err.value.status is None
    assert "timed out" in str(err.value) and f"pulls/{pull.number}" in str(err.value)


def test_unreachable_api_fails_after_the_retries():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    clock = RecordingClock()
    client = GitHubClient(Transport(f"http://127.0.0.1:{port}", clock=clock, retries=2),
                          TokenAuth("ghp_x"))
    with pytest.raises(GitHubApiError) as err:
        client.get_repository("acme", "widget")
    assert "connection failed" in str(err.value)
    assert err.value.call == "GET /repos/acme/widget"
    assert clock.sleeps == [1, 2]


def test_a_link_to_another_host_is_not_followed(world):
    fake, _, client = world
    with pytest.raises(GitHubApiError, match="refusing to follow a link"):
        client.transport.url("https://evil.example/repos/acme/widget/pulls?page=2")


def test_rate_limiter_keeps_budgets_apart():
    clock = RecordingClock(1000.0)
    limiter = RateLimiter(clock)
    limiter.record("installation:1", {"x-ratelimit-remaining": "0",
                                      "x-ratelimit-reset": "1100"})
    limiter.record("installation:2", {"x-ratelimit-remaining": "10",
                                      "x-ratelimit-reset": "1100"})
    assert limiter.delay_before("installation:2") == 0
    assert limiter.delay_before("installation:1") == 101
    clock.advance(101)
    assert limiter.delay_before("installation:1") == 0


def test_a_wait_longer_than_allowed_is_handed_back_as_retry_after(fake_github):
    fake = fake_github
    fake.add_repo("acme/widget")
    pull = fake.add_pull("acme/widget", {"a.txt": "a\n"})
    setup = app_client(fake)
    client = setup.client
    client.get_pull("acme", "widget", pull.number)
    client.transport.max_rate_wait = 30
    fake.limit_rate(remaining=0, reset_in=600)
    with pytest.raises(GitHubApiError) as err:
        client.create_comment("acme", "widget", pull.number, "Build succeeded.")
    assert err.value.status == 403 and 599 <= err.value.retry_after <= 602
    assert "API rate limit exceeded for installation ID" in err.value.reason
    assert not err.value.refused
    with pytest.raises(GitHubApiError) as err:  # the budget is known spent: no call made
        client.create_comment("acme", "widget", pull.number, "Build succeeded.")
    assert err.value.status is None and 598 <= err.value.retry_after <= 602
    assert [c.status for c in fake.calls_to(
        "POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")] == [403]
    assert fake.clock.sleeps == [] and pull.comments == []


def test_errors_say_whether_trying_again_can_help(world):
    fake, pull, client = world
    with pytest.raises(GitHubApiError) as err:
        client.merge_pull("acme", "widget", pull.number, sha="0" * 40)
    assert err.value.status == 409 and err.value.refused
    fake.fail_next(10, status=502)
    with pytest.raises(GitHubApiError) as err:
        client.get_pull("acme", "widget", pull.number)
    assert not err.value.refused
