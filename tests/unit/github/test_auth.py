"""GitHub App and personal-token authentication against the fake GitHub."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest

from tests.fakes.github import fixtures
from tests.fakes.github.fixtures import app_client, token_client
from zuulish.clock import SimulatedClock
from zuulish.drivers.github.auth import AppAuth, TokenAuth
from zuulish.drivers.github.client import GitHubClient
from zuulish.drivers.github.connect import client_for
from zuulish.drivers.github.errors import GitHubApiError
from zuulish.drivers.github.settings import read_github_settings
from zuulish.drivers.github.transport import Transport
from zuulish.errors import ConfigError

TOKENS = "POST", "/app/installations/{installation_id}/access_tokens"
INSTALLATION = "GET", "/repos/{owner}/{repo}/installation"
GET_PULL = "GET", "/repos/{owner}/{repo}/pulls/{pull_number}"

# the fake GitHub (tests/fakes/github), checked against GitHub's OpenAPI description
fake_github = fixtures.fake_github
github_openapi = fixtures.github_openapi


@pytest.fixture
def world(fake_github):
    fake_github.add_repo("acme/widget")
    pull = fake_github.add_pull("acme/widget", {"a.txt": "a\n"})
    return fake_github, pull


def test_app_jwt_is_signed_with_the_apps_key_and_lives_under_ten_minutes(world):
    fake, _ = world
    setup = app_client(fake)
    token = setup.client.auth.app_jwt()
    claims = jwt.decode(token, setup.app.public_key, algorithms=["RS256"],
                        options={"verify_exp": False, "verify_iat": False})
    now = int(fake.clock.now())
    assert claims["iss"] == str(setup.app.id)
    assert claims["iat"] == now - 60
    assert now < claims["exp"] <= claims["iat"] + 600


def test_app_finds_the_installation_and_reuses_its_token(world):
    fake, pull = world
    client = app_client(fake).client
    assert client.get_pull("acme", "widget", pull.number)["head"]["sha"] == pull.head_sha
    client.get_pull("acme", "widget", pull.number)
    client.list_pull_files("acme", "widget", pull.number)
    assert len(fake.calls_to(*INSTALLATION)) == 1
    assert len(fake.calls_to(*TOKENS)) == 1
    assert {c.caller for c in fake.calls_to(*GET_PULL)} == {
        f"installation:{client.auth.installation_id('acme', 'widget')}"}


def test_installation_token_is_refreshed_five_minutes_before_it_expires(world):
    fake, pull = world
    client = app_client(fake).client
    client.get_pull("acme", "widget", pull.number)
    fake.clock.advance(3600 - 310)  # the token has 5 min 10 s left
    client.get_pull("acme", "widget", pull.number)
    assert len(fake.calls_to(*TOKENS)) == 1
    fake.clock.advance(20)  # now under 5 minutes
    client.get_pull("acme", "widget", pull.number)
    assert len(fake.calls_to(*TOKENS)) == 2
    assert all(c.status == 200 for c in fake.calls_to(*GET_PULL))


def test_token_that_expires_mid_run_is_renewed_once_after_a_401(world):
    fake, pull = world
    client = app_client(fake).client
    client.get_pull("acme", "widget", pull.number)
    assert fake.expire_tokens() == 1
    assert client.get_pull("acme", "widget", pull.number)["number"] == pull.number
    assert [c.status for c in fake.calls_to(*GET_PULL)] == [200, 401, 200]
    assert len(fake.calls_to(*TOKENS)) == 2


def test_a_key_github_does_not_know_is_refused_with_githubs_reason(world):
    fake, pull = world
    setup = app_client(fake)
    other = fake.add_app("other")  # same id is not enough: the signature is checked
    transport = Transport(fake.url, clock=fake.clock)
    client = GitHubClient(transport, AppAuth(setup.app.id, other.private_key_pem, transport,
                                             fake.clock))
    with pytest.raises(GitHubApiError) as err:
        client.get_pull("acme", "widget", pull.number)
    assert err.value.status == 401
    assert err.value.call == "GET /repos/acme/widget/installation"
    assert "A JSON web token could not be decoded" in str(err.value)


def test_a_jwt_from_a_clock_far_behind_is_refused(world):
    fake, pull = world
    setup = app_client(fake)
    setup.client.auth.clock = SimulatedClock(fake.clock.now() - 3600)  # this host is late
    with pytest.raises(GitHubApiError) as err:
        setup.client.get_pull("acme", "widget", pull.number)
    assert err.value.status == 401
    assert "'Expiration time' claim ('exp')" in err.value.reason


def test_repository_without_the_app_installed_is_a_clear_404(world):
    fake, _ = world
    fake.add_repo("elsewhere/tool")
    client = app_client(fake, "acme").client
    with pytest.raises(GitHubApiError) as err:
        client.get_repository("elsewhere", "tool")
    assert (err.value.status, err.value.call) == (404, "GET /repos/elsewhere/tool/installation")


def test_installation_without_a_permission_is_refused_that_call(world):
    fake, pull = world
    client = app_client(fake, permissions={"pull_requests": "read", "metadata": "read"}).client
    assert client.get_pull("acme", "widget", pull.number)["number"] == pull.number
    with pytest.raises(GitHubApiError) as err:
        client.create_check_run("acme", "widget", name="zuul", head_sha=pull.head_sha)
    assert err.value.status == 403
    assert err.value.reason == "Resource not accessible by integration"


def test_personal_token_acts_as_its_user(world):
    fake, pull = world
    fake.add_collaborator("acme/widget", "robot", "write")
    client = token_client(fake, fake.add_user_token("robot"))
    client.create_comment("acme", "widget", pull.number, "Build succeeded.")
    assert [(c["user"]["login"], c["body"]) for c in pull.comments] == [
        ("robot", "Build succeeded.")]
    assert fake.calls_to(*TOKENS) == []


def test_personal_token_cannot_create_check_runs(world):
    fake, pull = world
    fake.add_collaborator("acme/widget", "robot", "write")
    client = token_client(fake, fake.add_user_token("robot"))
    with pytest.raises(GitHubApiError) as err:
        client.create_check_run("acme", "widget", name="zuul", head_sha=pull.head_sha)
    assert (err.value.status, err.value.reason) == (403, "You must authenticate via a GitHub App.")


def test_bad_personal_token_fails_at_once_with_bad_credentials(world):
    fake, pull = world
    client = token_client(fake, "ghp_not-a-real-token")
    with pytest.raises(GitHubApiError) as err:
        client.get_pull("acme", "widget", pull.number)
    assert (err.value.status, err.value.reason) == (401, "Bad credentials")
    assert len(fake.calls_to(*GET_PULL)) == 1


def test_no_token_or_key_reaches_the_log(world, caplog):
    fake, pull = world
    caplog.set_level(logging.DEBUG)
    setup = app_client(fake)
    setup.client.get_pull("acme", "widget", pull.number)
    fake.expire_tokens()
    setup.client.get_pull("acme", "widget", pull.number)
    tokens = list(fake.tokens)
    assert len(tokens) == 2
    assert "new token for GitHub App" in caplog.text
    for secret in [*tokens, setup.client.auth.app_jwt()[:40]]:
        assert secret not in caplog.text
    assert "hidden" in repr(TokenAuth("ghp_secret")) and "ghp_secret" not in repr(
        TokenAuth("ghp_secret"))


def settings(tmp_path, **options):
    config = tmp_path / "zuulish.yaml"
    return read_github_settings("github", {"webhook_token": "w", **options}, config)


def test_client_acts_as_the_app_whose_key_file_the_settings_name(world, tmp_path):
    fake, pull = world
    app = fake.add_app()
    fake.add_installation(app, "acme")
    (tmp_path / "app.pem").write_text(app.private_key_pem)
    client = client_for(settings(tmp_path, app_id=app.id, app_key="app.pem",
                                 api_url=fake.url), clock=fake.clock)
    assert client.base_url == fake.url
    assert client.get_pull("acme", "widget", pull.number)["state"] == "open"


def test_client_with_a_personal_token_calls_github_enterprise_server(tmp_path):
    client = client_for(settings(tmp_path, server="ghe.example.com", api_token="ghp_x"))
    assert client.base_url == "https://ghe.example.com/api/v3"
    assert isinstance(client.auth, TokenAuth)
    client = client_for(settings(tmp_path, api_token="ghp_x"))
    assert client.base_url == "https://api.github.com"


@pytest.mark.parametrize("key, app_id, message", [
    ("not a key\n", "1", "not a PEM private key"),
    (None, "my-app", "app_id must be the App's number"),
])
def test_client_refuses_a_key_or_app_id_that_cannot_work(tmp_path, key, app_id, message):
    (tmp_path / "k.pem").write_text(key or "")
    with pytest.raises(ConfigError, match=message):
        client_for(settings(tmp_path, app_id=app_id, app_key="k.pem"))


def test_api_token_with_spaces_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="api_token must be a token without spaces"):
        client_for(settings(tmp_path, api_token="ghp_x ghp_y"))


def test_worker_threads_share_one_client_and_one_token(world):
    fake, pull = world
    client = app_client(fake).client
    with ThreadPoolExecutor(max_workers=8) as pool:
        heads = list(pool.map(lambda _: client.get_pull("acme", "widget", pull.number)[
            "head"]["sha"], range(16)))
    assert heads == [pull.head_sha] * 16
    assert len(fake.calls_to(*TOKENS)) == 1


def test_threads_refused_together_fetch_one_new_token(world):
    fake, pull = world
    client = app_client(fake).client
    client.get_pull("acme", "widget", pull.number)
    fake.expire_tokens()
    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(lambda _: client.get_pull("acme", "widget", pull.number)[
            "number"], range(8)))
    assert numbers == [pull.number] * 8
    assert len(fake.calls_to(*TOKENS)) == 2
