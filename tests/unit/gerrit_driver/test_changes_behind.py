"""Which of Gerrit's open changes wait on a change (Zuul's "enqueue changes behind"):
those whose commit message names it (URL or Change-Id), and its git stack."""

from __future__ import annotations

from tests.unit.gerrit_driver.conftest import PROJECT, Parts
from zuulish.model import Change, ChangeKey
from zuulish.scheduler.behind import changes_behind

PULL = "https://github.com/org/lib/pull/7"


def test_gerrit_finds_changes_naming_it_and_its_stack(parts: Parts) -> None:
    gerrit = parts.gerrit
    base = gerrit.upload(PROJECT, {"a.txt": "a\n"}, "Base")
    child = gerrit.upload(PROJECT, {"b.txt": "b\n"}, "On top",
                          parent=base["current_revision"])
    by_id = gerrit.upload(PROJECT, {"c.txt": "c\n"}, "Needs base",
                          footers=f"Depends-On: {base['change_id']}")
    by_url = gerrit.upload(PROJECT, {"d.txt": "d\n"}, "Needs base by URL",
                           footers=f"Depends-On: {gerrit.url}/c/{PROJECT}/+/{base['_number']}")
    gerrit.upload(PROJECT, {"e.txt": "e\n"}, "Unrelated")
    # Gerrit's related changes: the stack, newest first, the change itself included
    gerrit.related[base["_number"]] = [
        {"_change_number": child["_number"], "status": "NEW"},
        {"_change_number": base["_number"], "status": "NEW"}]
    change = parts.source.get_change(base["_number"])
    assert change is not None
    found = parts.source.changes_depending_on(change)
    assert found == sorted([child["_number"], by_id["_number"], by_url["_number"]])
    behind = changes_behind(change, {"review": parts.source})
    assert {c.key.number for c in behind} == set(found)


def test_gerrit_finds_its_changes_naming_another_connections_change(parts: Parts) -> None:
    gerrit = parts.gerrit
    named = gerrit.upload(PROJECT, {"a.txt": "a\n"}, "Needs a pull request",
                          footers=f"Depends-On: {PULL}")
    gerrit.upload(PROJECT, {"b.txt": "b\n"}, "Needs another",
                  footers="Depends-On: https://github.com/org/lib/pull/8")
    pull = Change(key=ChangeKey("github", 707), project="org/lib", branch="main",
                  patchset=1, commit="9" * 40, url=PULL)
    assert parts.source.changes_depending_on(pull) == [named["_number"]]
