"""A Gerrit change as the scheduler sees it: read from REST, kept until an event."""

from __future__ import annotations

import copy

import pytest

from tests.fakes.gerrit import query_change, stream_line
from tests.fakes.gerrit.rest import FakeGerritRest
from tests.unit.gerrit_driver.conftest import PROJECT, Parts
from zuulish.drivers.gerrit.driver import ChangeListener
from zuulish.drivers.gerrit.rest import GerritRest
from zuulish.drivers.gerrit.source import GerritSource
from zuulish.errors import ForgeUnavailable
from zuulish.model import ChangeKey, ChangeStatus
from zuulish.model.change import Vote
from zuulish.store import Store


def corpus_source(fake: FakeGerritRest, parts: Parts) -> GerritSource:
    rest = GerritRest(fake.url, user="zuul", password="secret", timeout=5, retries=1,
                      sleep=lambda _s: None)
    return GerritSource("review", rest, baseurl="https://review.example.org",
                        repos=parts.repos, authenticated=True)


def test_the_corpus_change_becomes_a_full_change(parts: Parts) -> None:
    fake = FakeGerritRest()
    try:
        fake.add_change(query_change())
        change = corpus_source(fake, parts).get_change(4321)
    finally:
        fake.close()
    assert change is not None
    assert change.key == ChangeKey("review", 4321)
    assert (change.project, change.branch, change.patchset) == ("example/widget", "master", 2)
    assert change.commit == "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
    assert change.subject == "Add retry with backoff to the widget fetcher"
    assert change.message.endswith("Change-Id: I3e7b1c5a9d2f4e6a8b0c1d3e5f7a9b2c4d6e8f01\n")
    assert change.status == ChangeStatus.NEW
    assert change.approvals == {"Code-Review": 2, "Verified": 1, "Workflow": 1}
    assert Vote("Code-Review", 2, "bob", "bob@example.org", 1700010000.0) in change.votes
    assert {(v.label, v.username) for v in change.votes} == {
        ("Code-Review", "bob"), ("Verified", "zuul"), ("Workflow", "bob")}
    assert change.url == "https://review.example.org/c/example/widget/+/4321"
    assert not change.wip and change.hashtags == ()
    assert change.needs == () and change.unresolved_depends_on == ()


def test_a_veto_shows_over_an_approval_and_wip_and_hashtags_are_read(parts: Parts) -> None:
    info = copy.deepcopy(query_change())
    info["labels"]["Code-Review"]["all"][1]["value"] = -2
    info.update(work_in_progress=True, hashtags=["retry", "backoff"])
    fake = FakeGerritRest()
    try:
        fake.add_change(info)
        change = corpus_source(fake, parts).get_change(4321)
    finally:
        fake.close()
    assert change is not None
    assert change.approvals["Code-Review"] == -2
    assert change.wip and change.hashtags == ("retry", "backoff")


def test_files_and_the_current_patch_set_come_from_the_real_repository(parts: Parts) -> None:
    info = parts.gerrit.upload(PROJECT, {"src/a.py": "x = 1\n"}, "Add a")
    info = parts.gerrit.upload(PROJECT, {"src/a.py": "x = 2\n", "b.txt": "b\n"}, "Add a",
                               number=info["_number"])
    change = parts.source.get_change(info["_number"])
    assert change is not None
    assert change.patchset == 2 and change.commit == info["current_revision"]
    assert change.files == ("b.txt", "src/a.py")


def test_an_unknown_change_is_none(parts: Parts) -> None:
    assert parts.source.get_change(999) is None


def test_a_change_is_read_once_until_an_event_about_it_is_stored(parts: Parts,
                                                                 store: Store) -> None:
    info = parts.gerrit.upload(PROJECT, {"a": "1\n"}, "A")
    other = parts.gerrit.upload(PROJECT, {"b": "1\n"}, "B")
    number = info["_number"]
    listener = ChangeListener(store, "review", parts.rest, parts.source, clock=lambda: 1.0)

    def reads() -> int:
        return sum(1 for c in parts.gerrit.calls if c.path.endswith(f"/changes/{number}"))

    parts.source.get_change(number)
    parts.source.get_change(number)
    assert reads() == 1
    listener.handle_line(parts.gerrit.event_line("comment-added", other["_number"]))
    parts.source.get_change(number)
    assert reads() == 1  # an event about another change
    line = parts.gerrit.vote(number, {"Code-Review": 2})
    listener.handle_line(line)
    change = parts.source.get_change(number)
    assert reads() == 2
    assert change is not None and change.approvals == {"Code-Review": 2}


def test_depends_on_by_url_here_and_on_another_connection(parts: Parts) -> None:
    first = parts.gerrit.upload(PROJECT, {"a": "1\n"}, "A")
    parts.urls.register("github", lambda url: 7 if url == "https://github.com/o/r/pull/7"
                        else None)
    url = f"{parts.gerrit.url}/c/{PROJECT}/+/{first['_number']}"
    info = parts.gerrit.upload(PROJECT, {"b": "1\n"}, "B", parent=parts.gerrit.tip(PROJECT),
                               footers=f"Depends-On: {url}\n"
                                       "Depends-On: https://github.com/o/r/pull/7\n"
                                       "Depends-On: https://elsewhere.example/c/1")
    change = parts.source.get_change(info["_number"])
    assert change is not None
    assert change.needs == (ChangeKey("review", first["_number"]), ChangeKey("github", 7))
    assert change.unresolved_depends_on == (
        "Depends-On https://elsewhere.example/c/1 points at no change of this Gerrit or of "
        "any other connection",)


@pytest.mark.parametrize("path", ["/c/org/widget/+/12", "/c/12", "/12", "/#/c/12/",
                                  "/c/org/widget/+/12/3", "/c/org/widget/+/12/"])
def test_change_urls_in_every_form_gerrit_has_used(parts: Parts, path: str) -> None:
    assert parts.source.resolve_change_url(parts.gerrit.url + path) == 12


def test_urls_of_other_hosts_are_not_ours(parts: Parts) -> None:
    assert parts.source.resolve_change_url("https://github.com/o/r/pull/12") is None
    assert parts.source.resolve_change_url(parts.gerrit.url + "/plugins/x") is None


def test_depends_on_by_change_id_needs_every_open_change_with_it(parts: Parts) -> None:
    first = parts.gerrit.upload(PROJECT, {"a": "1\n"}, "A")
    info = parts.gerrit.upload(PROJECT, {"b": "1\n"}, "B",
                               footers=f"Depends-On: {first['change_id']}")
    missing = parts.gerrit.upload(PROJECT, {"c": "1\n"}, "C",
                                  footers="Depends-On: I" + "f" * 40)
    change = parts.source.get_change(info["_number"])
    assert change is not None and change.needs == (ChangeKey("review", first["_number"]),)
    lost = parts.source.get_change(missing["_number"])
    assert lost is not None
    assert lost.unresolved_depends_on == (
        f"Depends-On I{'f' * 40} matches no open change of this Gerrit",)


def test_a_stack_needs_the_change_below_it(parts: Parts) -> None:
    below = parts.gerrit.upload(PROJECT, {"a": "1\n"}, "Below")
    above = parts.gerrit.upload(PROJECT, {"b": "1\n"}, "Above",
                                parent=below["current_revision"])
    change = parts.source.get_change(above["_number"])
    assert change is not None and change.needs == (ChangeKey("review", below["_number"]),)


def test_a_parent_that_is_an_outdated_patch_set_is_unresolved(parts: Parts,
                                                               store: Store) -> None:
    below = parts.gerrit.upload(PROJECT, {"a": "1\n"}, "Below")
    old = below["current_revision"]
    above = parts.gerrit.upload(PROJECT, {"b": "1\n"}, "Above", parent=old)
    listener = ChangeListener(store, "review", parts.rest, parts.source, clock=lambda: 1.0)
    assert parts.source.get_change(above["_number"]).needs  # type: ignore[union-attr]
    line = parts.gerrit.upload(PROJECT, {"a": "2\n"}, "Below", number=below["_number"])
    listener.handle_line(parts.gerrit.lines[-1])
    assert line["current_revision_number"] == 2
    change = parts.source.get_change(above["_number"])  # dropped with the change below
    assert change is not None and change.needs == ()
    assert change.unresolved_depends_on == (
        f"parent commit {old[:12]} is patch set 1 of change {below['_number']}, whose "
        "current patch set is 2; rebase this change on it",)


def test_repository_questions_go_to_rest_and_the_clone(parts: Parts) -> None:
    tip = parts.gerrit.tip(PROJECT)
    assert parts.source.exists(PROJECT) and not parts.source.exists("org/none")
    assert parts.source.default_branch(PROJECT) == "master"
    assert parts.source.branches(PROJECT) == ["master"]
    assert parts.source.branch_tip(PROJECT, "master") == tip
    assert parts.source.branch_tip(PROJECT, "stable") is None
    assert parts.source.config_files(PROJECT, "master") == {"zuul.yaml": "- job: {name: a}\n"}
    assert parts.source.project_url(PROJECT) == f"{parts.gerrit.url}/a/{PROJECT}"


@pytest.mark.parametrize(("mode", "said"), [("html", "an HTML page without Gerrit's"),
                                             ("no-prefix", "an answer without Gerrit's")])
def test_an_answer_not_from_gerrits_api_is_a_clear_error_not_a_crash(
        parts: Parts, mode: str, said: str) -> None:
    info = parts.gerrit.upload(PROJECT, {"a": "1\n"}, "A")
    parts.gerrit.mode = mode
    with pytest.raises(ForgeUnavailable, match=said):  # tried again later, never lost
        parts.source.get_change(info["_number"])
    parts.gerrit.mode = "ok"
    assert parts.source.get_change(info["_number"]) is not None


def test_stream_corpus_lines_drop_the_cached_change(parts: Parts, store: Store) -> None:
    fake = FakeGerritRest()
    try:
        fake.add_change(query_change())
        source = corpus_source(fake, parts)
        listener = ChangeListener(store, "review", None, source,  # type: ignore[arg-type]
                                  clock=lambda: 1.0)
        assert source.get_change(4321) is not None
        assert source.cached(4321) is not None
        listener.handle_line(stream_line("comment-added.vote"))
        assert source.cached(4321) is None
    finally:
        fake.close()


def test_the_merge_mode_follows_the_projects_submit_type(
        parts: Parts, caplog: pytest.LogCaptureFixture) -> None:
    assert parts.source.default_merge_mode(PROJECT) == "merge-resolve"
    parts.gerrit.submit_types["org/rebased"] = "REBASE_IF_NECESSARY"
    parts.gerrit.create_project("org/rebased", {"a": "1\n"})
    assert parts.source.default_merge_mode("org/rebased") == "rebase"
    parts.gerrit.create_project("org/picked", {"a": "1\n"})
    parts.gerrit.submit_types["org/picked"] = "CHERRY_PICK"
    parts.gerrit.mode = "html"
    assert parts.source.default_merge_mode("org/picked") == "merge-resolve"
    assert "cannot read the submit type of org/picked" in caplog.text
    parts.gerrit.mode = "ok"  # not remembered: asked again
    assert parts.source.default_merge_mode("org/picked") == "cherry-pick"


@pytest.mark.parametrize("trouble", ["5xx", "html"])
def test_a_gerrit_that_cannot_answer_now_is_unavailable_not_an_error(
        parts: Parts, trouble: str) -> None:
    """A 5xx storm or a proxy's HTML page is "try again later" for the scheduler (the
    event stays unprocessed), never a change that does not exist or a failure."""
    info = parts.gerrit.upload(PROJECT, {"a": "1\n"}, "A")
    if trouble == "5xx":
        parts.gerrit.fail_next, parts.gerrit.fail_status = 10, 503
    else:
        parts.gerrit.mode = "html"
    with pytest.raises(ForgeUnavailable, match=f"cannot read change {info['_number']}"):
        parts.source.get_change(info["_number"])
    parts.gerrit.fail_next, parts.gerrit.mode = 0, "ok"
    change = parts.source.get_change(info["_number"])
    assert change is not None and change.commit == info["current_revision"]


# ------------------------------------------------------------ topics
def test_the_topic_is_read_and_empty_when_none(parts: Parts) -> None:
    fake = FakeGerritRest()
    try:
        fake.add_change(query_change())  # the corpus's change is in topic widget-retry
        assert corpus_source(fake, parts).get_change(4321).topic == "widget-retry"
    finally:
        fake.close()
    plain = parts.gerrit.upload(PROJECT, {"a": "1\n"}, "A")["_number"]
    change = parts.source.get_change(plain)
    assert change is not None and change.topic == ""


@pytest.mark.parametrize("topic", ["retry", 'say "hi" \\o/', "a b OR project:other"])
def test_a_topics_open_changes_are_one_exact_quoted_query(parts: Parts, topic: str) -> None:
    gerrit = parts.gerrit
    gerrit.create_project("org/lib", {"README": "lib\n"})
    a = gerrit.upload(PROJECT, {"a": "1\n"}, "A", topic=topic)["_number"]
    b = gerrit.upload("org/lib", {"b": "1\n"}, "B", topic=topic)["_number"]
    gerrit.upload(PROJECT, {"c": "1\n"}, "C", topic=topic + "-other")
    gerrit.upload(PROJECT, {"d": "1\n"}, "D")
    gone = gerrit.upload(PROJECT, {"e": "1\n"}, "E", topic=topic)["_number"]
    gerrit.changes[gone]["status"] = "ABANDONED"
    changes = parts.source.topic_changes(topic)
    assert sorted(c.key.number for c in changes) == [a, b]
    assert {c.topic for c in changes} == {topic}
    asked = [c.query["q"][0] for c in gerrit.calls if c.path == "/a/changes/"
             and "topic" in c.query["q"][0]]
    escaped = topic.replace("\\", "\\\\").replace('"', '\\"')
    assert asked == [f'status:open topic:"{escaped}"']
    # the changes came with the query: reading one asks nothing more
    before = len(gerrit.calls)
    assert parts.source.get_change(b) == next(c for c in changes if c.key.number == b)
    assert len(gerrit.calls) == before


def test_a_topic_follows_gerrits_pages_and_is_kept_until_an_event(parts: Parts,
                                                                   store: Store) -> None:
    gerrit = parts.gerrit
    numbers = [gerrit.upload(PROJECT, {f"f{n}": "1\n"}, f"C{n}", topic="big")["_number"]
               for n in range(5)]
    parts.rest.page_size = 2
    assert sorted(c.key.number for c in parts.source.topic_changes("big")) == numbers
    pages = [c for c in gerrit.calls if c.path == "/a/changes/"
             and "topic" in c.query["q"][0]]
    assert len(pages) == 3 and pages[-1].query["S"] == ["4"]
    asked = len(gerrit.calls)
    parts.source.topic_changes("big")
    assert len(gerrit.calls) == asked  # kept
    # an event about any change may move it into the topic: asked again after one
    listener = ChangeListener(store, "review", parts.rest, parts.source, clock=lambda: 1.0)
    newcomer = gerrit.upload(PROJECT, {"n": "1\n"}, "N")["_number"]
    listener.handle_line(gerrit.set_topic(newcomer, "big"))
    assert newcomer in {c.key.number for c in parts.source.topic_changes("big")}
    listener.handle_line(gerrit.set_topic(numbers[0], ""))
    after = {c.key.number for c in parts.source.topic_changes("big")}
    assert numbers[0] not in after and newcomer in after
    assert parts.source.topic_changes("") == []


def test_a_topic_gerrit_cannot_list_now_is_unavailable(parts: Parts) -> None:
    parts.gerrit.upload(PROJECT, {"a": "1\n"}, "A", topic="t")
    parts.gerrit.fail_next, parts.gerrit.fail_status = 10, 503
    with pytest.raises(ForgeUnavailable, match="cannot list the changes of topic 't'"):
        parts.source.topic_changes("t")
    parts.gerrit.fail_next = 0
    assert len(parts.source.topic_changes("t")) == 1
