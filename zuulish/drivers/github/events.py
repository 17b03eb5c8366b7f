"""GitHub webhook payloads as Zuul's GitHub trigger events.

A delivery (its ``X-GitHub-Event`` name and JSON body) becomes one :class:`Parsed`
event in Zuul's vocabulary, or an :class:`Ignored` with the reason, which the intake
worker logs and keeps as the delivery's outcome:

=====================  ==========================================================
GitHub event           zuulish event (``type`` / ``action``)
=====================  ==========================================================
pull_request           ``pull_request`` / opened, changed (GitHub's synchronize),
                       reopened, closed, labeled, unlabeled, edited; other
                       actions (assigned, review_requested...) are ignored
pull_request_review    ``pull_request_review`` / submitted, dismissed (``state``)
issue_comment          ``pull_request`` / comment, for a comment created on a pull
                       request by a user with write permission (the worker checks)
check_run              ``check_run`` / rerequested, requested_action
                       (``identifier``), completed; ``created`` is ignored (zuulish
                       creates its own check runs)
push                   ``push`` (a branch or a tag) with ref, oldrev, newrev
status                 ``pull_request`` / status, for each open pull request whose
                       head is the commit (the worker finds them)
ping, others           answered, never stored (see :data:`HANDLED`)
=====================  ==========================================================

This module is pure: no store, no network. Which pull request an event concerns is
given by number (``pull_number``), by GitHub's description (``pull``) or by head
commit (``head_sha``); the worker turns those into change numbers and patch sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zuulish.model import EventMeaning

#: the GitHub events zuulish stores and acts on; any other is answered and dropped
HANDLED = frozenset({"pull_request", "pull_request_review", "issue_comment", "check_run",
                     "push", "status"})
#: GitHub's pull_request actions zuulish acts on, and Zuul's names for them
PULL_REQUEST_ACTIONS = {"opened": "opened", "synchronize": "changed", "reopened": "reopened",
                        "closed": "closed", "labeled": "labeled", "unlabeled": "unlabeled",
                        "edited": "edited"}
REVIEW_ACTIONS = ("submitted", "dismissed")
CHECK_RUN_ACTIONS = ("rerequested", "requested_action", "completed")
#: permissions that may trigger with a comment (GitHub's collaborator permission)
WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})
NULL_SHA = "0" * 40


@dataclass(frozen=True)
class Parsed:
    """One trigger event, before it knows its change number and patch set."""

    type: str
    project: str
    action: str | None = None
    branch: str | None = None
    #: GitHub's description of the pull request (recorded and refreshed from it)
    pull: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    #: the pull request's number in its repository, when only that is known
    pull_number: int | None = None
    #: the commit whose open pull requests the event concerns (status, check run)
    head_sha: str | None = None
    #: a user whose write permission on ``project`` the event needs (a comment)
    needs_write: str | None = None
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Ignored:
    """A delivery zuulish does not act on, and why."""

    reason: str


def _get(payload: dict[str, Any], path: str) -> Any:
    value: Any = payload
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


#: the fields each handled event must have (checked on the request path: a 400)
REQUIRED = {
    "pull_request": ("action", "repository.full_name", "sender.login", "pull_request.number",
                     "pull_request.head.sha", "pull_request.base.ref"),
    "pull_request_review": ("action", "repository.full_name", "sender.login",
                            "review.state", "pull_request.number", "pull_request.head.sha",
                            "pull_request.base.ref"),
    "issue_comment": ("action", "repository.full_name", "sender.login", "issue.number",
                      "comment.body"),
    "check_run": ("action", "repository.full_name", "sender.login", "check_run.name",
                  "check_run.head_sha"),
    "push": ("ref", "before", "after", "repository.full_name"),
    "status": ("sha", "state", "context", "repository.full_name", "sender.login"),
}


def missing_fields(event: str, payload: Any) -> str | None:
    """What a handled event's payload lacks, as a message; None when it has it all."""
    if not isinstance(payload, dict):
        return f"a {event} payload must be a JSON object, not {type(payload).__name__}"
    missing = [path for path in REQUIRED.get(event, ()) if _get(payload, path) is None]
    if missing:
        return f"the {event} payload lacks {', '.join(missing)}"
    return None


def _common(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"github_event": event, "account": _get(payload, "sender.login")}
    installation = _get(payload, "installation.id")
    if installation is not None:
        data["installation"] = installation
    return data


def _labels(pull: dict[str, Any]) -> list[str]:
    return [str(label["name"]) for label in pull.get("labels") or ()
            if isinstance(label, dict) and "name" in label]


def _pull_request(payload: dict[str, Any]) -> Parsed | Ignored:
    github_action = str(payload["action"])
    action = PULL_REQUEST_ACTIONS.get(github_action)
    pull = payload["pull_request"]
    repo = str(payload["repository"]["full_name"])
    if action is None:
        return Ignored(f"pull_request action {github_action!r} on {repo}#{pull['number']} "
                       f"is not a trigger (zuulish acts on "
                       f"{', '.join(sorted(PULL_REQUEST_ACTIONS))})")
    data = _common("pull_request", payload)
    data.update(action=action, pull_number=int(pull["number"]),
                head_sha=str(pull["head"]["sha"]), labels=_labels(pull),
                title=str(pull.get("title") or ""))
    if action in ("opened", "changed", "reopened"):
        data["meaning"] = EventMeaning.NEW_PATCHSET.value
    elif action == "closed":
        merged = bool(pull.get("merged") or pull.get("merged_at"))
        data["meaning"] = (EventMeaning.MERGED if merged else EventMeaning.ABANDONED).value
    elif action in ("labeled", "unlabeled"):
        label = _get(payload, "label.name")
        if label is None:
            return Ignored(f"pull_request {github_action} on {repo}#{pull['number']} names "
                           "no label")
        data["label"] = str(label)
    elif action == "edited":
        data["changed_fields"] = sorted((payload.get("changes") or {}).keys())
    return Parsed("pull_request", repo, action=action, branch=str(pull["base"]["ref"]),
                  pull=pull, data=data)


def _review(payload: dict[str, Any]) -> Parsed | Ignored:
    action = str(payload["action"])
    pull = payload["pull_request"]
    repo = str(payload["repository"]["full_name"])
    if action not in REVIEW_ACTIONS:
        return Ignored(f"pull_request_review action {action!r} on {repo}#{pull['number']} "
                       f"is not a trigger (zuulish acts on {', '.join(REVIEW_ACTIONS)})")
    data = _common("pull_request_review", payload)
    data.update(action=action, state=str(payload["review"]["state"]).lower(),
                pull_number=int(pull["number"]), head_sha=str(pull["head"]["sha"]),
                labels=_labels(pull))
    review_author = _get(payload, "review.user.login")
    if review_author is not None:
        data["review_author"] = str(review_author)
    return Parsed("pull_request_review", repo, action=action, branch=str(pull["base"]["ref"]),
                  pull=pull, data=data)


def _comment(payload: dict[str, Any]) -> Parsed | Ignored:
    action = str(payload["action"])
    issue = payload["issue"]
    repo = str(payload["repository"]["full_name"])
    where = f"{repo}#{issue['number']}"
    if "pull_request" not in issue:
        return Ignored(f"comment on issue {where}, not on a pull request")
    if action != "created":
        return Ignored(f"comment {action} on {where}: only new comments trigger")
    author = str(payload["comment"].get("user", {}).get("login") or payload["sender"]["login"])
    data = _common("issue_comment", payload)
    data.update(action="comment", comment=str(payload["comment"]["body"]),
                pull_number=int(issue["number"]), account=author)
    return Parsed("pull_request", repo, action="comment", pull_number=int(issue["number"]),
                  needs_write=author, data=data)


def _same_repo(pull: dict[str, Any], repo: str) -> bool:
    """Whether a check run's pull request is one of ``repo`` (a check run lists the
    pull requests of its commit, which may be another repository's)."""
    url = _get(pull, "base.repo.url")
    return url is None or str(url).endswith(f"/repos/{repo}")


def _check_run(payload: dict[str, Any]) -> Parsed | Ignored:
    action = str(payload["action"])
    run = payload["check_run"]
    repo = str(payload["repository"]["full_name"])
    if action not in CHECK_RUN_ACTIONS:
        return Ignored(f"check_run action {action!r} ({run['name']!r} on {repo}) is not a "
                       f"trigger (zuulish acts on {', '.join(CHECK_RUN_ACTIONS)})")
    app = str(_get(run, "app.slug") or "")
    conclusion = str(run.get("conclusion") or "")
    data = _common("check_run", payload)
    data.update(action=action, check_name=str(run["name"]), app=app, conclusion=conclusion,
                check=f"{app}:{run['name']}:{conclusion}", newrev=str(run["head_sha"]),
                head_sha=str(run["head_sha"]))
    if action == "requested_action":
        identifier = _get(payload, "requested_action.identifier")
        if identifier is None:
            return Ignored(f"check_run requested_action ({run['name']!r} on {repo}) names "
                           "no identifier")
        data["identifier"] = str(identifier)
    numbers = [int(p["number"]) for p in run.get("pull_requests") or ()
               if isinstance(p, dict) and "number" in p and _same_repo(p, repo)]
    branch = _get(run, "check_suite.head_branch")
    if numbers:
        data["pull_numbers"] = numbers
        data["pull_number"] = numbers[0]
        return Parsed("check_run", repo, action=action, pull_number=numbers[0],
                      head_sha=str(run["head_sha"]), data=data)
    if branch:
        data["ref"] = f"refs/heads/{branch}"
    return Parsed("check_run", repo, action=action, branch=str(branch) if branch else None,
                  head_sha=str(run["head_sha"]), data=data)


def _push(payload: dict[str, Any]) -> Parsed | Ignored:
    ref = str(payload["ref"])
    repo = str(payload["repository"]["full_name"])
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else None
    if branch is None and not ref.startswith("refs/tags/"):
        return Ignored(f"push to {ref} of {repo}: neither a branch nor a tag")
    data = _common("push", payload)
    oldrev, newrev = str(payload["before"]), str(payload["after"])
    data.update(ref=ref, oldrev=oldrev, newrev=newrev,
                meaning=EventMeaning.BRANCH_UPDATED.value,
                created=bool(payload.get("created")) or oldrev == NULL_SHA,
                deleted=bool(payload.get("deleted")) or newrev == NULL_SHA,
                tag=branch is None)
    pusher = _get(payload, "pusher.name")
    if data.get("account") is None and pusher is not None:
        data["account"] = str(pusher)
    return Parsed("push", repo, branch=branch, data=data)


def _status(payload: dict[str, Any]) -> Parsed | Ignored:
    repo = str(payload["repository"]["full_name"])
    data = _common("status", payload)
    user = str(payload["sender"]["login"])
    context, state = str(payload["context"]), str(payload["state"])
    data.update(action="status", status=f"{user}:{context}:{state}", context=context,
                status_state=state, head_sha=str(payload["sha"]))
    return Parsed("pull_request", repo, action="status", head_sha=str(payload["sha"]),
                  data=data)


_PARSERS = {"pull_request": _pull_request, "pull_request_review": _review,
            "issue_comment": _comment, "check_run": _check_run, "push": _push,
            "status": _status}


def not_handled(event: str) -> str:
    """Why a delivery of ``event`` is answered and dropped."""
    return (f"zuulish does not act on {event!r} events (it acts on "
            f"{', '.join(sorted(HANDLED))})")


def parse(event: str, payload: Any) -> Parsed | Ignored:
    """What a delivery of ``event`` with ``payload`` means to zuulish."""
    if event == "ping":
        return Ignored("ping: GitHub checks that the webhook is set up; nothing to do")
    parser = _PARSERS.get(event)
    if parser is None:
        return Ignored(not_handled(event))
    missing = missing_fields(event, payload)
    if missing is not None:
        return Ignored(missing)
    return parser(payload)


def may_trigger(permission: str | None) -> bool:
    """Whether a user with this repository permission may trigger by commenting."""
    return (permission or "").lower() in WRITE_PERMISSIONS
