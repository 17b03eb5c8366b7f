"""GitHub pipeline triggers with Zuul's attributes: the public configurations that
use them parse, and match the corpus's events as Zuul would."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.corpus import ZUUL_CONFIGS
from tests.unit.github_intake.helpers import corpus_payload
from zuulish.drivers.github import events
from zuulish.drivers.github.trigger import GithubEventFilter, parse_trigger
from zuulish.drivers.registry import trigger_parsers
from zuulish.model import TriggerEvent

#: public Zuul configurations with GitHub triggers, and their GitHub connection's name
CONFIGS = {"ansible__zuul-config__zuul.d__pipelines.yaml": "github.com",
           "openstack__project-config__zuul.d__pipelines.yaml": "github",
           "osism__zuul-config__zuul.d__gh_pipelines.yaml": "github"}


def pipelines(name: str) -> dict[str, tuple[GithubEventFilter, ...]]:
    path = ZUUL_CONFIGS / name
    if not path.exists():
        pytest.skip(f"{path} is not here")
    connection = CONFIGS[name]
    return {item["pipeline"]["name"]: parse_trigger(connection,
                                                    item["pipeline"]["trigger"][connection])
            for item in yaml.safe_load(path.read_text())
            if "pipeline" in item and connection in item["pipeline"].get("trigger", {})}


def event(name: str, connection: str = "github", payload: dict[str, Any] | None = None,
          event_name: str | None = None) -> TriggerEvent:
    """A corpus payload as the intake worker would store it, as the scheduler reads it."""
    parsed = events.parse(event_name or name.split(".")[0], payload or corpus_payload(name))
    assert isinstance(parsed, events.Parsed), parsed
    data = parsed.data
    return TriggerEvent(id=1, connection=connection, type=parsed.type, project=parsed.project,
                        branch=parsed.branch, change_number=7, patchset=1,
                        comment=data.get("comment"), ref=data.get("ref"),
                        oldrev=data.get("oldrev"), newrev=data.get("newrev"),
                        account=data.get("account"), action=data.get("action"), data=data)


def matching(filters: dict[str, tuple[GithubEventFilter, ...]], e: TriggerEvent) -> list[str]:
    return sorted(name for name, fs in filters.items() if any(f.matches(e) for f in fs))


def comment(text: str) -> dict[str, Any]:
    payload = copy.deepcopy(corpus_payload("issue_comment.created.1.json"))
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/x/y/pulls/1"}
    payload["comment"]["body"] = text
    return payload


def test_the_github_driver_has_a_trigger_parser() -> None:
    assert trigger_parsers()["github"] is parse_trigger


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_public_configurations_parse(name: str) -> None:
    filters = pipelines(name)
    assert "check" in filters
    assert all(f.timer is None for fs in filters.values() for f in fs)


def test_ansible_pipelines_take_the_events_zuul_gives_them() -> None:
    filters = pipelines("ansible__zuul-config__zuul.d__pipelines.yaml")
    on = "github.com"
    assert matching(filters, event("pull_request.opened.1.json", on)) == \
        ["check", "third-party-check"]
    assert matching(filters, event("pull_request.synchronize.json", on)) == \
        ["check", "third-party-check"]
    assert matching(filters, event("pull_request.labeled.1.json", on)) == []
    assert matching(filters, event("pull_request.closed.1.json", on)) == []
    assert matching(filters, event("x", on, comment(" recheck "), "issue_comment")) == \
        ["check", "third-party-check"]
    assert matching(filters, event("x", on, comment("please recheck this"),
                                   "issue_comment")) == []
    assert matching(filters, event("push.5.json", on)) == ["post"]
    assert matching(filters, event("push.2.json", on)) == []  # a deleted tag
    review = copy.deepcopy(corpus_payload("pull_request_review.submitted.2.json"))
    assert matching(filters, event("x", on, review, "pull_request_review")) == []
    review["review"]["state"] = "APPROVED"
    assert matching(filters, event("x", on, review, "pull_request_review")) == ["gate"]
    status = copy.deepcopy(corpus_payload("status.1.json"))
    status["sender"]["login"] = "softwarefactory-project-zuul[bot]"
    status["context"] = "ansible/check"
    assert matching(filters, event("x", on, status, "status")) == ["gate"]
    status["state"] = "failure"
    assert matching(filters, event("x", on, status, "status")) == []


def test_osism_pipelines_take_labels_checks_and_tags() -> None:
    filters = pipelines("osism__zuul-config__zuul.d__gh_pipelines.yaml")
    labeled = copy.deepcopy(corpus_payload("pull_request.labeled.1.json"))
    assert matching(filters, event("x", payload=labeled, event_name="pull_request")) == []
    labeled["label"]["name"] = "gate"
    assert matching(filters, event("x", payload=labeled, event_name="pull_request")) == \
        ["gate"]
    labeled["label"]["name"] = "zuul"
    assert matching(filters, event("x", payload=labeled, event_name="pull_request")) == \
        ["label"]
    assert matching(filters, event("push.1.json")) == ["tag"]
    assert matching(filters, event("push.5.json")) == ["post"]
    rerun = copy.deepcopy(corpus_payload("check_run.rerequested.1.json"))
    assert matching(filters, event("x", payload=rerun, event_name="check_run")) == []
    rerun["check_run"]["name"] = "osism/check"
    assert matching(filters, event("x", payload=rerun, event_name="check_run")) == ["check"]
    assert matching(filters, event("x", payload=comment("regate"),
                                   event_name="issue_comment")) == ["gate"]
    status = corpus_payload("status.1.json")
    assert matching(filters, event("x", payload=status, event_name="status")) == ["gate"]


def test_another_connections_event_never_matches() -> None:
    (f,) = parse_trigger("github", [{"event": "push"}])
    assert f.matches(event("push.5.json", "github"))
    assert not f.matches(event("push.5.json", "other"))


def test_branch_is_matched_whole_and_ref_from_the_start() -> None:
    (branch,) = parse_trigger("github", [{"event": "pull_request", "branch": "mast"}])
    assert not branch.matches(event("pull_request.opened.1.json"))
    (branch,) = parse_trigger("github", [{"event": "pull_request", "branch": "ma.*"}])
    assert branch.matches(event("pull_request.opened.1.json"))
    (ref,) = parse_trigger("github", [{"event": "push", "ref": "refs/tags/"}])
    assert ref.matches(event("push.1.json")) and not ref.matches(event("push.5.json"))


def test_a_deleted_ref_matches_only_when_deletes_are_not_ignored() -> None:
    (default,) = parse_trigger("github", [{"event": "push"}])
    (deletes,) = parse_trigger("github", [{"event": "push", "ignore-deletes": False}])
    assert not default.matches(event("push.2.json"))
    assert deletes.matches(event("push.2.json"))


def test_unlabel_matches_only_removed_labels() -> None:
    (f,) = parse_trigger("github", [{"event": "pull_request", "action": "unlabeled",
                                     "unlabel": "bug"}])
    payload = copy.deepcopy(corpus_payload("pull_request.labeled.1.json"))
    assert not f.matches(event("x", payload=payload, event_name="pull_request"))
    payload["action"] = "unlabeled"
    assert f.matches(event("x", payload=payload, event_name="pull_request"))


def test_requested_action_and_zuuls_old_requested_name() -> None:
    (f,) = parse_trigger("github", [{"event": "check_run", "action": "requested_action"}])
    assert f.matches(event("check_run.requested_action.json"))
    (old,) = parse_trigger("github", [{"event": "check_run", "action": "requested"}])
    assert old.actions == ("rerequested",)
    assert old.matches(event("check_run.rerequested.1.json"))


def test_zuuls_comment_review_state_is_githubs_commented() -> None:
    (f,) = parse_trigger("github", [{"event": "pull_request_review", "state": "comment"}])
    assert f.matches(event("pull_request_review.submitted.1.json"))


@pytest.mark.parametrize("entry, message", [
    ({"event": "pull_request", "actoin": "opened"},
     "unknown trigger attribute 'actoin'; did you mean 'action'?"),
    ({"event": "pull_reqest"}, "unknown GitHub event 'pull_reqest'; did you mean "
                               "'pull_request'?"),
    ({"event": "pull_request", "action": "synchronize"},
     "unknown action 'synchronize' for pull_request; expected one of"),
    ({"event": "pull_request", "action": "opend"},
     "unknown action 'opend' for pull_request; did you mean 'opened'?"),
    ({"event": "push", "action": "opened"}, "push events have no action"),
    ({"action": "opened"}, "a trigger entry needs an 'event'"),
    ({"event": "pull_request", "comment": "(recheck"},
     "comment '(recheck' is not a valid regular expression"),
    ({"event": "pull_request", "ref": "^refs/tags/"}, "'ref' only applies to push events"),
    ({"event": "pull_request", "action": "opened", "comment": "recheck"},
     "'comment' only applies to pull_request actions comment, not opened"),
    ({"event": "push", "check": ".*"}, "'check' only applies to check_run events"),
    ({"event": "pull_request", "require": "open"}, "trigger 'require' must be a mapping"),
    ({"event": "push", "ignore-deletes": "no"}, "ignore-deletes must be true or false"),
])
def test_bad_entries_name_what_is_wrong(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_trigger("github", [entry])
    assert message in str(exc.value)


def test_require_and_reject_ask_something_of_the_pull_request() -> None:
    from zuulish.model.change import Change, ChangeKey
    from zuulish.model.requirements import trigger_refusal

    (f,) = parse_trigger("github", [{"event": "pull_request", "action": "comment",
                                     "require": {"label": "gate"},
                                     "reject": {"draft": True}}])
    key = ChangeKey("github", 7)
    ready = Change(key, "org/app", "main", 1, "a" * 40, labels=("gate",))
    draft = Change(key, "org/app", "main", 1, "a" * 40, labels=("gate",), draft=True)
    bare = Change(key, "org/app", "main", 1, "a" * 40)
    assert f.change_unmet(ready, None) == []
    assert trigger_refusal([f], ready, None) is None
    assert f.change_unmet(draft, None) == ["not draft: true"]
    assert f.change_unmet(bare, None) == ["label 'gate'"]
    assert trigger_refusal([f], bare, None) == "the trigger asks for label 'gate'"


def test_zuuls_old_require_status_is_a_require_of_those_statuses() -> None:
    (f,) = parse_trigger("github", [{"event": "pull_request",
                                     "require-status": "zuul:check:success"}])
    assert f.require and not f.reject


def test_an_unknown_require_attribute_names_itself() -> None:
    from zuulish.errors import ConfigError

    with pytest.raises(ConfigError, match="lable"):
        parse_trigger("github", [{"event": "pull_request", "require": {"lable": "gate"}}])


def test_a_trigger_must_be_a_list_of_mappings() -> None:
    with pytest.raises(ValueError, match="must be a list of entries"):
        parse_trigger("github", {"event": "push"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="each trigger entry must be a mapping"):
        parse_trigger("github", ["push"])
