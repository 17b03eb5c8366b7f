"""Zuul's "enqueue changes behind": which changes wait on a change just enqueued.

Each source says which of its open changes may need a change (a ``Depends-On``
naming it, a commit on top of it); the scheduler keeps those whose ``needs`` hold
it. The scheduler's side runs end to end in
``tests/functional/test_gate_e2e.py::test_depends_on_change_is_tested_together``;
Gerrit's side in ``tests/unit/gerrit_driver/test_changes_behind.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zuulish.drivers.depends_on import ChangeUrls
from zuulish.drivers.git.connection import GitForge
from zuulish.drivers.git.source import GitSource
from zuulish.errors import ForgeUnavailable
from zuulish.model import Change, ChangeKey
from zuulish.scheduler.behind import changes_behind
from zuulish.store import ChangeRow, Store

WEB = "http://zuulish.test"
PULL = "https://github.com/org/lib/pull/7"


def _pull_urls(url: str) -> int | None:
    prefix = "https://github.com/org/lib/pull/"
    return 700 + int(url[len(prefix):]) if url.startswith(prefix) else None


def _forge(store: Store, tmp_path: Path) -> GitSource:
    urls = ChangeUrls()
    urls.register("github", _pull_urls)
    forge = GitForge("forge", tmp_path, store, WEB, None)
    return GitSource(forge, store, urls)


def _row(store: Store, number: int, *, commit: str, parent: str | None = None,
         depends_on: list[str] | None = None, status: str = "NEW",
         project: str = "org/app") -> None:
    with store.session() as s:
        s.add(ChangeRow(connection="forge", number=number, project=project, branch="main",
                        commit_sha=commit, parent_sha=parent, depends_on=depends_on or [],
                        status=status, created_at=0.0, updated_at=0.0))


def test_the_forge_finds_footers_naming_a_change_and_commits_on_top_of_it(
        store: Store, tmp_path: Path) -> None:
    source = _forge(store, tmp_path)
    _row(store, 1, commit="a" * 40)
    _row(store, 2, commit="b" * 40, parent="a" * 40)  # on top of 1
    _row(store, 3, commit="c" * 40, depends_on=[f"{WEB}/c/org/app/+/1"])  # names 1
    _row(store, 4, commit="d" * 40, depends_on=[f"{WEB}/2"])  # names another
    _row(store, 5, commit="e" * 40, depends_on=[f"{WEB}/1"], status="ABANDONED")
    _row(store, 6, commit="f" * 40, parent="a" * 40, project="org/other")  # same sha elsewhere
    one = source.get_change(1)
    assert one is not None
    assert source.changes_depending_on(one) == [2, 3]
    assert [c.key.number for c in changes_behind(one, {"forge": source})] == [2, 3]


def test_the_forge_finds_footers_naming_another_connections_change(
        store: Store, tmp_path: Path) -> None:
    source = _forge(store, tmp_path)
    _row(store, 1, commit="a" * 40, depends_on=[PULL])
    _row(store, 2, commit="b" * 40, depends_on=["https://github.com/org/lib/pull/8"])
    pull = Change(key=ChangeKey("github", 707), project="org/lib", branch="main",
                  patchset=1, commit="9" * 40, url=PULL)
    assert source.changes_depending_on(pull) == [1]
    assert [c.key for c in changes_behind(pull, {"forge": source})] == \
        [ChangeKey("forge", 1)]


class _Claims:
    """A source whose answer is more than what depends (the scheduler checks needs)."""

    def __init__(self, changes: dict[int, Change], fail: bool = False):
        self.changes, self.fail = changes, fail

    def changes_depending_on(self, change: Change) -> list[int]:
        if self.fail:
            raise ForgeUnavailable("down", after=30)
        return sorted(self.changes)

    def get_change(self, number: int) -> Change | None:
        return self.changes.get(number)


def _change(number: int, needs: tuple[ChangeKey, ...] = (), **fields: Any) -> Change:
    return Change(key=ChangeKey("other", number), project="org/x", branch="main",
                  patchset=1, commit=f"{number:040x}", needs=needs, **fields)


def test_only_changes_whose_needs_hold_it_are_behind_and_a_down_forge_is_skipped() -> None:
    ahead = _change(1)
    claims = _Claims({1: ahead, 2: _change(2, needs=(ahead.key,)), 3: _change(3),
                      4: _change(4, needs=(ahead.key,), status="MERGED")})
    behind = changes_behind(ahead, {"other": claims, "down": _Claims({}, fail=True)})
    assert [c.key.number for c in behind] == [2]
