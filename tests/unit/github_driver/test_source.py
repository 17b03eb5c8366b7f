"""The GitHub source against the fake GitHub: pull requests as changes, the cache that
spares the API, Depends-On by pull request URL, and the repositories' configuration."""

from __future__ import annotations

import pytest

from tests.unit.github_driver.conftest import CONNECTION, REPO, World
from zuulish.drivers.github import pulls
from zuulish.drivers.github.source import ABSENT_FOR
from zuulish.model import Change, ChangeKey, ChangeStatus
from zuulish.model.change import Review
from zuulish.scheduler.behind import changes_behind

# the driver's logic is the subject; the outbox and pull requests it keeps have
# store tests of their own (tests/conftest.py)
pytestmark = pytest.mark.not_store


def test_a_pull_request_is_a_change_with_what_github_shows(world: World):
    fake = world.fake
    pull = fake.add_pull(REPO, {"a.txt": "a\n", "docs/x.md": "x\n"}, title="Add a",
                         body="Because.", user="alice")
    pull.labels.append("ready")
    world.repo.labels.add("ready")
    change = world.source.get_change(world.known(pull))
    assert change is not None
    assert (change.key, change.project, change.branch) == (
        ChangeKey(CONNECTION, change.key.number), REPO, "main")
    assert (change.patchset, change.commit) == (1, pull.head_sha)
    assert change.subject == "Add a"
    assert change.message == "Add a\n\nBecause.\n"
    assert sorted(change.files) == ["a.txt", "docs/x.md"]
    assert change.labels == ("ready",)
    assert change.draft is False
    assert change.status == ChangeStatus.NEW
    assert change.url == f"{fake.url}/{REPO}/pull/{pull.number}"
    assert change.display == f"{REPO}#{pull.number}"
    assert change.needs == () and change.unresolved_depends_on == ()


def test_a_draft_is_shown_as_one(world: World):
    pull = world.fake.add_pull(REPO, {"a.txt": "a\n"})
    pull.draft = True
    assert world.source.get_change(world.known(pull)).draft is True


def test_each_new_head_is_the_next_patchset(world: World):
    fake = world.fake
    pull = fake.add_pull(REPO, {"a.txt": "a\n"})
    number = world.known(pull)
    first = pull.head_sha
    second = fake.push_to_pull(REPO, pull, {"a.txt": "a2\n"})
    world.known(pull)
    change = world.source.get_change(number)
    assert (change.patchset, change.commit) == (2, second)
    third = fake.push_to_pull(REPO, pull, {"a.txt": "a3\n"})
    world.known(pull)
    assert (world.source.get_change(number).patchset, pulls.shas(world.store, number)) == (
        3, [first, second, third])


def test_reviews_carry_the_reviewers_permission(world: World):
    fake = world.fake
    fake.add_collaborator(REPO, "carol", "write")
    pull = fake.add_pull(REPO, {"a.txt": "a\n"})
    fake.add_review(world.repo, pull, "carol", "APPROVED")
    fake.add_review(world.repo, pull, "dave", "CHANGES_REQUESTED")
    change = world.source.get_change(world.known(pull))
    assert [(r.user, r.state, r.permission) for r in change.reviews] == [
        ("carol", "approved", "write"), ("dave", "changes_requested", "read")]
    assert all(isinstance(r, Review) and r.submitted_at for r in change.reviews)


def test_statuses_and_check_runs_of_the_head(world: World):
    fake = world.fake
    pull = fake.add_pull(REPO, {"a.txt": "a\n"})
    fake.add_status(world.repo, pull.head_sha, "success", "ci/lint", creator="ci-bot")
    fake.add_status(world.repo, pull.head_sha, "failure", "ci/docs", creator="ci-bot")
    fake.add_check_run(world.repo, world.app, {"name": "build", "head_sha": pull.head_sha,
                                               "status": "completed",
                                               "conclusion": "success"})
    fake.add_check_run(world.repo, world.app, {"name": "lint", "head_sha": pull.head_sha,
                                               "status": "in_progress"})
    change = world.source.get_change(world.known(pull))
    assert sorted(change.statuses) == ["ci-bot:ci/docs:failure", "ci-bot:ci/lint:success"]
    assert sorted(change.check_runs) == ["zuulish:build:success", "zuulish:lint:in_progress"]


def test_merged_and_closed_pull_requests(world: World):
    fake = world.fake
    merged = fake.add_pull(REPO, {"a.txt": "a\n"})
    closed = fake.add_pull(REPO, {"c.txt": "c\n"})
    world.client.merge_pull("acme", "widget", merged.number, sha=merged.head_sha)
    closed.state = "closed"
    assert world.source.get_change(world.known(merged)).status == ChangeStatus.MERGED
    assert world.source.get_change(world.known(closed)).status == ChangeStatus.ABANDONED


def test_an_unknown_number_is_no_change(world: World):
    assert world.source.get_change(4242) is None


# ----------------------------------------------------------------------------- the cache


def test_a_second_read_makes_no_api_calls(world: World):
    pull = world.fake.add_pull(REPO, {"a.txt": "a\n"})
    number = world.known(pull)
    first = world.source.get_change(number)
    mark = world.mark()
    assert world.source.get_change(number) == first
    assert world.calls_since(mark) == []


def test_an_event_about_the_pull_request_reads_it_again(world: World):
    fake = world.fake
    pull = fake.add_pull(REPO, {"a.txt": "a\n"})
    number = world.known(pull)
    assert world.source.get_change(number).statuses == ()
    fake.add_status(world.repo, pull.head_sha, "success", "ci/lint", creator="ci-bot")
    assert world.source.get_change(number).statuses == ()  # no event yet: cached
    world.refresh(number)
    mark = world.mark()
    assert world.source.get_change(number).statuses == ("ci-bot:ci/lint:success",)
    assert world.calls_since(mark)


def test_a_new_head_reads_its_files_again(world: World):
    fake = world.fake
    pull = fake.add_pull(REPO, {"a.txt": "a\n"})
    number = world.known(pull)
    assert world.source.get_change(number).files == ("a.txt",)
    fake.push_to_pull(REPO, pull, {"z.txt": "z\n"})
    world.clock.advance(1)
    world.known(pull)
    assert sorted(world.source.get_change(number).files) == ["a.txt", "z.txt"]


# ------------------------------------------------------------------------ Depends-On


def depends(*urls: str) -> str:
    return "A change.\n\n" + "".join(f"Depends-On: {u}\n" for u in urls)


def test_depends_on_a_known_pull_request_of_the_same_repository(world: World):
    fake = world.fake
    needed = fake.add_pull(REPO, {"n.txt": "n\n"})
    needed_number = world.known(needed)
    pull = fake.add_pull(REPO, {"a.txt": "a\n"},
                         body=depends(f"https://github.com/{REPO}/pull/{needed.number}"))
    change = world.source.get_change(world.known(pull))
    assert change.needs == (ChangeKey(CONNECTION, needed_number),)
    assert change.unresolved_depends_on == ()


def test_depends_on_a_pull_request_never_heard_of_in_another_repository(world: World):
    fake = world.fake
    other = fake.add_pull("acme/gadget", {"g.txt": "g\n"}, title="Gadget part")
    pull = fake.add_pull(REPO, {"a.txt": "a\n"},
                         body=depends(f"https://github.com/acme/gadget/pull/{other.number}"))
    assert pulls.find(world.store, CONNECTION, "acme/gadget", other.number) is None
    change = world.source.get_change(world.known(pull))
    recorded = pulls.find(world.store, CONNECTION, "acme/gadget", other.number)
    assert recorded is not None
    assert (recorded.head_sha, recorded.title) == (other.head_sha, "Gadget part")
    assert change.needs == (ChangeKey(CONNECTION, recorded.id),)
    needed = world.source.get_change(recorded.id)
    assert (needed.project, needed.commit) == ("acme/gadget", other.head_sha)


def test_depends_on_a_url_to_nothing_is_unresolved(world: World):
    pull = world.fake.add_pull(REPO, {"a.txt": "a\n"},
                               body=depends(f"https://github.com/{REPO}/pull/99",
                                            "https://elsewhere.example.org/x/y/pull/1"))
    change = world.source.get_change(world.known(pull))
    assert change.needs == ()
    assert len(change.unresolved_depends_on) == 2
    assert "pull/99 points at no pull request" in change.unresolved_depends_on[0]
    assert "elsewhere.example.org" in change.unresolved_depends_on[1]


def test_depends_on_itself_is_unresolved(world: World):
    pull = world.fake.add_pull(REPO, {"a.txt": "a\n"})
    pull.body = depends(f"https://github.com/{REPO}/pull/{pull.number}")
    change = world.source.get_change(world.known(pull))
    assert change.needs == ()
    assert change.unresolved_depends_on == (
        f"Depends-On https://github.com/{REPO}/pull/{pull.number} points at this pull "
        "request itself",)


# ---------------------------------------------------------------------- repositories


def test_configuration_and_branches_come_from_the_repository(world: World):
    fake = world.fake
    assert world.source.config_files(REPO, "main") == {
        "zuul.yaml": "- job: {name: widget-test}\n"}
    assert world.source.config_files(REPO, "no-such-branch") == {}
    fake.push(REPO, "stable", {"zuul.yaml": "- job: {name: stable-test}\n"})
    assert sorted(world.source.branches(REPO)) == ["main", "stable"]
    assert world.source.config_files(REPO, "stable") == {
        "zuul.yaml": "- job: {name: stable-test}\n"}


def test_branch_tip_default_branch_and_urls(world: World):
    source, repo = world.source, world.repo
    assert source.branch_tip(REPO, "main") == repo.bare.rev("refs/heads/main")
    assert source.branch_tip(REPO, "no-such-branch") is None
    assert source.default_branch(REPO) == "main"
    assert source.project_url(REPO) == str(repo.bare.path)
    assert source.change_url(REPO, 7) == f"https://github.com/{REPO}/pull/7"
    assert source.default_merge_mode(REPO) == "merge"


@pytest.mark.parametrize(("project", "expected"), [(REPO, True), ("acme/nothing", False)])
def test_exists(world: World, project: str, expected: bool):
    assert world.source.exists(project) is expected


def test_a_depends_on_naming_nothing_is_not_asked_for_on_every_read(world: World):
    fake = world.fake
    url = f"https://github.com/{REPO}/pull/2"
    pull = fake.add_pull(REPO, {"a.txt": "a\n"}, body=depends(url))
    number = world.known(pull)
    assert world.source.get_change(number).unresolved_depends_on
    mark = world.mark()
    assert world.source.get_change(number).unresolved_depends_on
    assert world.calls_since(mark) == []
    # once the pull request exists, a later read finds it
    needed = fake.add_pull(REPO, {"n.txt": "n\n"})
    assert needed.number == 2
    world.clock.advance(ABSENT_FOR)
    change = world.source.get_change(number)
    assert change.unresolved_depends_on == ()
    assert change.needs == (
        ChangeKey(CONNECTION, pulls.find(world.store, CONNECTION, REPO, 2).id),)


def test_depends_on_a_change_of_another_connection(world: World):
    gerrit_url = "https://review.example.org/c/org/lib/+/5"
    world.urls.register("review", lambda url: 5 if url == gerrit_url else None)
    pull = world.fake.add_pull(REPO, {"a.txt": "a\n"}, body=depends(gerrit_url))
    change = world.source.get_change(world.known(pull))
    assert change.needs == (ChangeKey("review", 5),)


def test_a_pull_request_known_only_by_its_number_is_read_from_github(world: World):
    """A comment came first: zuulish knows the number, not the head or the branch."""
    pull = world.fake.add_pull(REPO, {"a.txt": "a\n"}, title="Add a")
    with world.store.session() as s:
        number = pulls.ensure(world.store, s, CONNECTION, REPO, pull.number,
                              world.clock.now()).id
    change = world.source.get_change(number)
    assert (change.commit, change.branch, change.subject, change.patchset) == (
        pull.head_sha, "main", "Add a", 1)


def test_pull_requests_naming_a_change_wait_behind_it_without_api_calls(world: World):
    fake = world.fake
    needed = fake.add_pull(REPO, {"n.txt": "n\n"})
    needed_number = world.known(needed)
    waiting = world.known(fake.add_pull(
        REPO, {"a.txt": "a\n"}, body=depends(f"https://github.com/{REPO}/pull/{needed.number}")))
    world.known(fake.add_pull(REPO, {"b.txt": "b\n"}, body="Depends on nothing"))
    gadget = world.known(fake.add_pull(
        "acme/gadget", {"g.txt": "g\n"}, body=depends("https://review.example.org/c/x/+/3")),
        repo="acme/gadget")
    needed_change = world.source.get_change(needed_number)
    mark = world.mark()
    assert world.source.changes_depending_on(needed_change) == [waiting]
    gerrit_change = Change(key=ChangeKey("review", 3), project="x", branch="master",
                           patchset=1, commit="1" * 40, url="https://review.example.org/c/x/+/3")
    assert world.source.changes_depending_on(gerrit_change) == [gadget]
    assert world.calls_since(mark) == []  # what the webhooks delivered is enough
    assert [c.key.number for c in changes_behind(needed_change, {CONNECTION: world.source})] \
        == [waiting]
