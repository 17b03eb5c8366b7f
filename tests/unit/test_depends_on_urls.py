"""A Depends-On footer may name a change of another connection (another forge)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zuulish.drivers.depends_on import ChangeUrls
from zuulish.drivers.git.connection import GitForge
from zuulish.drivers.git.source import GitSource
from zuulish.model import ChangeKey
from zuulish.store import ChangeRow, Store

WEB = "http://zuulish.test"
PULL = "https://github.com/org/lib/pull/7"


def _other_forge(url: str) -> int | None:
    """A second connection that owns URLs of the shape GitHub gives pull requests."""
    prefix = "https://github.com/org/lib/pull/"
    return 700 + int(url[len(prefix):]) if url.startswith(prefix) else None


def _source(store: Store, tmp_path: Path, urls: ChangeUrls | None) -> GitSource:
    return GitSource(GitForge("forge", tmp_path, store, WEB, None), store, urls)


def _change(store: Store, depends_on: list[str]) -> None:
    with store.session() as s:
        s.add(ChangeRow(connection="forge", number=1, project="org/app", branch="main",
                        commit_sha="a" * 40, depends_on=depends_on, created_at=0.0,
                        updated_at=0.0))


def test_a_footer_naming_another_connections_change_is_a_need(store: Store,
                                                             tmp_path: Path) -> None:
    urls = ChangeUrls()
    urls.register("github", _other_forge)
    _change(store, [PULL])
    change = _source(store, tmp_path, urls).get_change(1)
    assert change is not None
    assert change.needs == (ChangeKey("github", 707),)
    assert change.unresolved_depends_on == ()


@pytest.mark.parametrize("registered", [True, False])
def test_a_footer_no_connection_recognises_is_unresolved(store: Store, tmp_path: Path,
                                                         registered: bool) -> None:
    urls = ChangeUrls()
    if registered:
        urls.register("github", _other_forge)
    _change(store, ["https://gitlab.example.com/org/lib/-/merge_requests/3"])
    change = _source(store, tmp_path, urls).get_change(1)
    assert change is not None and change.needs == ()
    assert change.unresolved_depends_on == (
        "Depends-On https://gitlab.example.com/org/lib/-/merge_requests/3 points at no "
        "change of this forge or of any other connection",)


def test_connections_are_asked_in_their_configured_order() -> None:
    urls = ChangeUrls()
    urls.register("first", lambda url: 1 if url.endswith("/1") else None)
    urls.register("second", lambda url: 2)
    assert urls.resolve("https://x/1") == ChangeKey("first", 1)
    assert urls.resolve("https://x/9") == ChangeKey("second", 2)
