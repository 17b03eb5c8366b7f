"""Scheduler messages name a needed change as people know it: a pull request as
``org/repo#12`` (GitHub numbers them per repository, not per connection), a change
of another connection with that connection's name, else by its number."""

from __future__ import annotations

from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.model import (
    Change,
    ChangeKey,
    ChangeQueue,
    ChangeStatus,
    EventFilter,
    QueueItem,
    change_name,
)
from zuulish.scheduler.dependent import _split_bundles
from zuulish.scheduler.enqueue import plan_enqueue
from zuulish.scheduler.job_planning import lost_dependency
from zuulish.scheduler.verification import plan_verification


def pull(number: int, repo: str, pr: int, **kwargs: object) -> Change:
    """A GitHub pull request: connection-wide ``number``, GitHub's ``pr`` in ``repo``."""
    return Change(ChangeKey("github", number), repo, "main", 1, f"{number:040x}",
                  display=f"{repo}#{pr}", **kwargs)  # type: ignore[arg-type]


def gerrit(number: int, project: str, **kwargs: object) -> Change:
    return Change(ChangeKey("gerrit", number), project, "master", 1, f"{number:040x}",
                  **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the helper


def test_a_change_with_a_display_name_is_named_by_it_wherever_it_is() -> None:
    change = pull(3, "acme/lib", 12)
    assert change_name(change.key, change) == "change acme/lib#12"
    assert change_name(change.key, change, beside="gerrit") == "change acme/lib#12"


def test_a_change_of_another_connection_is_named_with_its_connection() -> None:
    change = gerrit(42, "org/core")
    assert change_name(change.key, change, beside="github") == "gerrit change 42"
    assert change_name(change.key, beside="github") == "gerrit change 42"


def test_a_change_of_the_same_connection_or_of_no_stated_one_is_its_number() -> None:
    change = gerrit(42, "org/core")
    assert change_name(change.key, change, beside="gerrit") == "change 42"
    assert change_name(change.key, change) == "change 42"
    assert change_name(ChangeKey("github", 3)) == "change 3"  # not read: no display


# ------------------------------------------------------------ enqueue planning


def _trigger(conn: str, entries: list) -> tuple[EventFilter, ...]:
    return tuple(EventFilter(conn, (e["event"],)) for e in entries)


def layout(manager: str = "dependent") -> Layout:
    """One shared queue over a GitHub repository and a Gerrit project."""
    pipeline = (f"- pipeline:\n    name: gate\n    manager: {manager}\n"
                "    trigger:\n      github:\n        - event: pull_request\n")
    tenant = TenantConfig("t", [TenantProject("github", "acme/config", True),
                                TenantProject("github", "acme/app", False),
                                TenantProject("github", "acme/lib", False),
                                TenantProject("gerrit", "org/core", False)])
    jobs = "- job:\n    name: unit\n    run: u.yaml\n"
    stanza = "- project:\n    queue: shared\n    gate:\n      jobs: [unit]\n"
    loader = ConfigLoader(tenant, {"github": "git", "gerrit": "git"}, {"git": _trigger})
    built = loader.build({"acme/config": ("main", {"zuul.yaml": pipeline + jobs}),
                          "acme/app": ("main", {".zuul.yaml": stanza}),
                          "acme/lib": ("main", {".zuul.yaml": stanza}),
                          "org/core": ("master", {".zuul.yaml": stanza})})
    assert built.errors == []
    return built


class Changes:
    """The changes of one connection, as its source gives them."""

    def __init__(self, *changes: Change):
        self.changes = {c.key.number: c for c in changes}

    def get_change(self, number: int) -> Change | None:
        return self.changes.get(number)


def plan(change: Change, *others: Change, queued: dict[ChangeKey, str] | None = None,
         manager: str = "dependent", in_tenant: bool = True) -> str | None:
    """Why enqueuing ``change`` (needing ``others``) is refused, or None."""
    built = layout(manager)
    by_connection: dict[str, list[Change]] = {"github": [], "gerrit": []}
    for c in (change, *others):
        by_connection[c.key.connection].append(c)
    sources = {conn: Changes(*cs) for conn, cs in by_connection.items()}
    queued = queued or {}
    return plan_enqueue(change, built.pipelines["gate"], built, sources,  # type: ignore[arg-type]
                        set(queued), queued,
                        in_tenant=None if in_tenant else (lambda _conn, _project: False)
                        ).rejection


def test_a_closed_pull_request_needed_is_named_by_its_display() -> None:
    lib = pull(3, "acme/lib", 12, status=ChangeStatus.ABANDONED)
    app = pull(4, "acme/app", 7, needs=(lib.key,))
    assert plan(app, lib) == "needed change acme/lib#12 is abandoned"


def test_a_gerrit_change_needed_by_a_pull_request_is_named_with_its_connection() -> None:
    core = gerrit(42, "org/core", status=ChangeStatus.ABANDONED)
    app = pull(4, "acme/app", 7, needs=(core.key,))
    assert plan(app, core) == "needed gerrit change 42 is abandoned"


def test_a_needed_change_of_the_same_connection_is_named_by_its_number() -> None:
    core = gerrit(42, "org/core", status=ChangeStatus.ABANDONED)
    other = gerrit(43, "org/core", needs=(core.key,))
    assert plan(other, core) == "needed change 42 is abandoned"


def test_a_needed_change_outside_the_tenant_is_named_as_people_know_it() -> None:
    lib = pull(3, "acme/lib", 12)
    app = pull(4, "acme/app", 7, needs=(lib.key,))
    assert plan(app, lib, in_tenant=False) == \
        "needed change acme/lib#12 is in project 'acme/lib', which this tenant does not include"
    core = gerrit(42, "org/core")
    app = pull(4, "acme/app", 7, needs=(core.key,))
    assert plan(app, core, manager="independent", in_tenant=False) == \
        "needed gerrit change 42 is in project 'org/core', which this tenant does not include"


def test_a_needed_change_queued_elsewhere_is_read_for_its_name() -> None:
    lib = pull(3, "acme/lib", 12)
    app = pull(4, "acme/app", 7, needs=(lib.key,))
    assert plan(app, lib, queued={lib.key: "another"}) == \
        "needed change acme/lib#12 is in a different queue ('another') of gate"


def test_a_pull_request_refused_for_itself_is_named_by_its_display() -> None:
    app = pull(4, "acme/app", 7, status=ChangeStatus.MERGED)
    assert plan(app) == "change acme/app#7 is merged"


def test_a_needed_change_that_does_not_exist_is_named_by_its_key() -> None:
    app = pull(4, "acme/app", 7, needs=(ChangeKey("gerrit", 99),))
    assert plan(app) == "needed change gerrit:99 does not exist"


# ------------------------------------------------ lost dependencies in the queue


def item(change: Change, item_id: int = 1) -> QueueItem:
    return QueueItem(id=item_id, pipeline="gate", queue="shared", change=change,
                     enqueued_at=0.0)


def test_a_lost_dependency_on_another_connection_names_that_connection() -> None:
    app = pull(4, "acme/app", 7, needs=(ChangeKey("gerrit", 42), ChangeKey("github", 3)))
    report = lost_dependency(item(app), ahead=set(), merged=set())
    assert report is not None
    assert report.message == ("This change depends on gerrit change 42, change 3, which is "
                              "no longer ahead of it in the queue (it failed or was "
                              "dequeued).")


def test_a_lost_dependency_ahead_or_merged_is_no_report() -> None:
    app = pull(4, "acme/app", 7, needs=(ChangeKey("gerrit", 42), ChangeKey("github", 3)))
    assert lost_dependency(item(app), ahead={ChangeKey("gerrit", 42)},
                           merged={ChangeKey("github", 3)}) is None


def test_verify_first_names_a_gone_dependency_of_another_connection() -> None:
    app = pull(4, "acme/app", 7, needs=(ChangeKey("gerrit", 42),))
    actions = plan_verification(ChangeQueue("gate", "shared", 20, [item(app)]), [],
                                set(), set(), 1)
    messages = [getattr(a, "message", "") for a in actions]
    assert any(m.startswith("This change depends on gerrit change 42, which is no longer "
                            "in the queue") for m in messages), messages


def test_a_cross_forge_cycle_names_its_members_as_people_know_them() -> None:
    # pull request acme/app#12 and Gerrit change 1 form a cycle, split by an item
    # between them: change 1 of two connections, which numbers alone would confuse
    app = item(pull(1, "acme/app", 12, needs=(ChangeKey("gerrit", 1),)), 10)
    between = item(gerrit(2, "org/core"), 20)
    core = item(gerrit(1, "org/core", needs=(ChangeKey("github", 1),)), 30)
    reports = _split_bundles([app, between, core], {10: (10, 30), 30: (10, 30)})
    assert [(r.item_id, r.message.split(") ")[0]) for r in reports] == [
        (10, "Its dependency cycle (change acme/app#12, gerrit change 1"),
        (30, "Its dependency cycle (change acme/app#12, change 1")]
