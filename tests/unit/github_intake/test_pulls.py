"""Pull requests as changes: one number each per connection, a patch set per head,
their data cached from the events."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.unit.github_intake.helpers import corpus_payload
from zuulish.drivers.github import pulls
from zuulish.store import Store

pytestmark = pytest.mark.store


def pull(number: int = 2, sha: str = "a" * 40, updated: str = "2019-05-15T15:20:33Z",
         **changes: Any) -> dict[str, Any]:
    description = copy.deepcopy(corpus_payload("pull_request.opened.2.json")["pull_request"])
    description.update(number=number, updated_at=updated, **changes)
    description["head"]["sha"] = sha
    return description


def record(store: Store, repo: str, description: dict[str, Any],
           connection: str = "github") -> pulls.Recorded:
    with store.session() as session:
        return pulls.record(store, session, connection, repo, description, now=1.0)


def test_pull_requests_of_two_repositories_get_different_numbers(store: Store) -> None:
    one = record(store, "org/one", pull(5)).pull
    two = record(store, "org/two", pull(5)).pull
    again = record(store, "org/one", pull(5)).pull
    assert one.id != two.id and again.id == one.id
    assert (one.display, two.display) == ("org/one#5", "org/two#5")
    assert pulls.find(store, "github", "org/two", 5) == two
    assert pulls.get(store, "github", two.id) == two
    assert pulls.get(store, "other-connection", two.id) is None


def test_each_connection_numbers_its_own(store: Store) -> None:
    here = record(store, "org/one", pull(5)).pull
    there = record(store, "org/one", pull(5), connection="ghe").pull
    assert here.id != there.id
    assert pulls.find(store, "ghe", "org/one", 5) == there


def test_a_new_head_is_the_next_patch_set_and_an_old_one_is_its_own(store: Store) -> None:
    first = record(store, "org/one", pull(sha="a" * 40, updated="2026-01-01T00:00:01Z"))
    second = record(store, "org/one", pull(sha="b" * 40, updated="2026-01-01T00:00:02Z"))
    same = record(store, "org/one", pull(sha="b" * 40, updated="2026-01-01T00:00:03Z"))
    assert [(r.patchset, r.new_patchset) for r in (first, second, same)] == \
        [(1, True), (2, True), (2, False)]
    assert pulls.shas(store, first.pull.id) == ["a" * 40, "b" * 40]
    assert pulls.patchset_of(store, first.pull.id, "a" * 40) == 1


def test_data_is_refreshed_from_events_but_never_by_an_older_one(store: Store) -> None:
    record(store, "org/one", pull(title="first", updated="2026-01-01T00:00:02Z",
                                  labels=[{"name": "gate"}], draft=True))
    cached = record(store, "org/one", pull(title="stale", updated="2026-01-01T00:00:01Z")).pull
    assert (cached.title, cached.labels, cached.draft) == ("first", ("gate",), True)
    fresh = record(store, "org/one", pull(title="second", updated="2026-01-01T00:00:03Z",
                                          labels=[], draft=False, state="closed",
                                          merged=True)).pull
    assert (fresh.title, fresh.labels, fresh.draft) == ("second", (), False)
    assert (fresh.is_open, fresh.merged, fresh.base_branch) == (False, True, "master")
    assert fresh.url == "https://github.com/Codertocat/Hello-World/pull/2"
    assert fresh.author == "Codertocat"


def test_a_comment_numbers_a_pull_request_not_yet_seen(store: Store) -> None:
    with store.session() as session:
        made = pulls.ensure(store, session, "github", "org/one", 9, now=1.0)
    assert (made.head_sha, made.patchset) == (None, None)
    filled = record(store, "org/one", pull(9)).pull
    assert (filled.id, filled.patchset) == (made.id, 1)


def test_an_event_about_a_pull_request_marks_it_refreshed(store: Store) -> None:
    first = record(store, "org/one", pull()).pull
    with store.session() as session:
        pulls.touch(session, first.id, now=5.0)
    again = pulls.get(store, "github", first.id)
    assert again is not None
    assert (first.data["refreshed_at"], again.data["refreshed_at"]) == (1.0, 5.0)
