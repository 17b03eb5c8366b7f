"""What GitHub does to the driver when things go wrong (issue 19, "Bad input"): an
installation token that expires mid-run, a storm of server errors, a call that
times out. Each is survived or said plainly, and nothing is lost."""

from __future__ import annotations

import pytest

from tests.fakes.github.state import Pull
from tests.unit.github_driver.conftest import REPO, TIMEOUT, World
from tests.unit.github_driver.repo_state import state_as_tested
from zuulish.errors import UserError
from zuulish.store.outbox import PENDING, SENT

# the driver's logic is the subject; the outbox and pull requests it keeps have
# store tests of their own (tests/conftest.py)
pytestmark = pytest.mark.not_store

TOKENS = "/app/installations/{installation_id}/access_tokens"


def opened(world: World) -> tuple[Pull, int]:
    pull = world.fake.add_pull(REPO, {"a.txt": "a\n"}, title="Add a")
    number = world.known(pull)  # the client holds an installation token from here on
    return pull, number


def test_an_installation_token_that_expires_mid_run_is_replaced(world: World):
    fake = world.fake
    pull, number = opened(world)
    assert len(fake.calls_to("POST", TOKENS)) == 1
    assert fake.expire_tokens() == 1
    mark = world.mark()
    change = world.source.get_change(number)
    assert change is not None and change.commit == pull.head_sha
    assert len(fake.calls_to("POST", TOKENS)) == 2
    # the call the expired token made was refused once, then made with the new one
    statuses = [c.status for c in world.calls_since(mark)]
    assert statuses[0] == 401 and set(statuses[1:]) == {200}


def test_a_report_after_the_token_expired_is_delivered(world: World):
    pull, number = opened(world)
    world.reporter.report(number, tenant="acme", pipeline="check", action="success",
                          result="SUCCESS", votes={}, message="Build succeeded.\n",
                          patchset=1)
    world.fake.expire_tokens()
    world.deliver()
    assert [c["body"] for c in pull.comments] == ["Build succeeded.\n"]
    assert [row.state for row in world.outbox()] == [SENT]


def test_a_storm_of_server_errors_is_said_then_recovered_from(world: World):
    pull, number = opened(world)
    world.fake.fail_next(3, status=502)  # the client tries three times
    with pytest.raises(UserError, match=f"cannot read {REPO}#{pull.number} from GitHub: "
                                        ".*502 server error 3 times in a row"):
        world.source.get_change(number)
    change = world.source.get_change(number)  # GitHub is back
    assert change.files == ("a.txt",)


def test_a_short_burst_of_server_errors_is_retried_unseen(world: World):
    _, number = opened(world)
    world.fake.fail_next(2, status=503)
    assert world.source.get_change(number).files == ("a.txt",)


def test_a_storm_during_the_merge_leaves_the_branch_alone_then_merges(world: World,
                                                                      tmp_path):
    pull, number = opened(world)
    state = state_as_tested(world, pull, "merge", tmp_path)
    before = world.repo.bare.rev("refs/heads/main")
    world.fake.fail_next(3, status=500)
    with pytest.raises(UserError, match="server error 3 times in a row"):
        world.reporter.submit(number, state)
    assert world.repo.bare.rev("refs/heads/main") == before
    world.reporter.submit(number, state)
    assert world.repo.bare.git("rev-parse", "refs/heads/main^{tree}") == state[REPO]["tree"]


def test_a_call_that_times_out_is_made_again(world: World):
    _, number = opened(world)
    world.fake.delay_next(1, TIMEOUT + 0.5)
    assert world.source.get_change(number).files == ("a.txt",)


def test_calls_that_keep_timing_out_are_said_and_the_report_kept(world: World):
    pull, number = opened(world)
    world.reporter.report(number, tenant="acme", pipeline="check", action="success",
                          result="SUCCESS", votes={}, message="Build succeeded.\n",
                          patchset=1)
    world.fake.delay_next(3, TIMEOUT + 0.5)
    world.deliver()
    [row] = world.outbox()
    assert (row.state, row.attempts) == (PENDING, 1)
    assert "timed out" in row.last_error
    world.clock.advance(2)
    world.deliver()
    assert world.outbox()[0].state == SENT
    # a call that timed out may still have been made (GitHub answered too late): a
    # comment is then posted more than once, as the outbox's at-least-once delivery
    # allows (see zuulish/drivers/outbox.py); the report is never lost
    bodies = [c["body"] for c in pull.comments]
    assert bodies and set(bodies) == {"Build succeeded.\n"}
