"""Webhook deliveries from the fake GitHub, built from its state and signed as GitHub
signs them (``X-Hub-Signature-256``: HMAC-SHA256 of the body with the hook's secret).

The payloads carry the fields of GitHub's events that a gate reads (``action``, the
pull request as the REST API shows it, ``repository``, ``sender``, ``installation``);
the shapes of complete deliveries are in ``../shared/corpus/github/``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from tests.fakes.github.handlers import label_json, pull_json
from tests.fakes.github.state import Pull, Repo, repo_json, user_json

if TYPE_CHECKING:
    from tests.fakes.github.server import FakeGitHub


@dataclass(frozen=True)
class Hook:
    url: str
    secret: str


@dataclass(frozen=True)
class Delivery:
    event: str
    delivery_id: str
    body: bytes
    status: int  # the receiver's answer


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(hook: Hook, event: str, payload: dict[str, Any],
            delivery_id: str | None = None) -> Delivery:
    """POST one event to ``hook`` as GitHub does; the receiver's status comes back."""
    body = json.dumps(payload).encode()
    delivery_id = delivery_id or str(uuid.uuid4())
    headers = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/fake",
               "X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id,
               "X-GitHub-Hook-ID": "1", "X-Hub-Signature-256": signature(hook.secret, body)}
    response = httpx.post(hook.url, content=body, headers=headers, timeout=10.0)
    return Delivery(event, delivery_id, body, response.status_code)


def _common(fake: FakeGitHub, repo: Repo, sender: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "repository": repo_json(fake.url, repo, fake.user_id(repo.owner)),
        "sender": user_json(fake.url, sender, fake.user_id(sender))}
    for inst in fake.installations.values():
        if inst.covers(repo.full_name):
            payload["installation"] = {"id": inst.id, "node_id": f"I_{inst.id}"}
            break
    return payload


def pull_request_payload(fake: FakeGitHub, repo: Repo, pull: Pull, action: str,
                         sender: str | None = None, **extra: Any) -> dict[str, Any]:
    """``pull_request`` (opened, synchronize, reopened, closed, labeled, edited...);
    ``extra``: ``label={"name": ...}``, ``changes={...}``, ``before=``/``after=``."""
    if "label" in extra and isinstance(extra["label"], str):
        extra["label"] = label_json(fake, repo, extra["label"])
    return {"action": action, "number": pull.number,
            "pull_request": pull_json(fake, repo, pull), **extra,
            **_common(fake, repo, sender or pull.user)}


def comment_payload(fake: FakeGitHub, repo: Repo, pull: Pull, comment: dict[str, Any],
                    action: str = "created") -> dict[str, Any]:
    """``issue_comment`` on a pull request (its ``issue`` has a ``pull_request`` link)."""
    issue = {"id": repo.id * 100000 + pull.number, "number": pull.number,
             "title": pull.title, "body": pull.body, "state": pull.state,
             "user": user_json(fake.url, pull.user, fake.user_id(pull.user)),
             "url": f"{fake.url}/repos/{repo.full_name}/issues/{pull.number}",
             "pull_request": {"url": f"{fake.url}/repos/{repo.full_name}/pulls/{pull.number}"}}
    return {"action": action, "issue": issue, "comment": comment,
            **_common(fake, repo, comment["user"]["login"])}


def review_payload(fake: FakeGitHub, repo: Repo, pull: Pull, review: dict[str, Any],
                   action: str = "submitted") -> dict[str, Any]:
    return {"action": action, "review": {**review, "state": review["state"].lower()},
            "pull_request": pull_json(fake, repo, pull),
            **_common(fake, repo, review["user"]["login"])}


def check_run_payload(fake: FakeGitHub, repo: Repo, run: dict[str, Any], action: str,
                      sender: str = "dev",
                      requested_action: str | None = None) -> dict[str, Any]:
    payload = {"action": action, "check_run": run, **_common(fake, repo, sender)}
    if requested_action is not None:
        payload["requested_action"] = {"identifier": requested_action}
    return payload


def push_payload(fake: FakeGitHub, repo: Repo, ref: str, before: str, after: str,
                 sender: str = "dev") -> dict[str, Any]:
    zero = "0" * 40
    return {"ref": ref, "before": before, "after": after, "created": before == zero,
            "deleted": after == zero, "forced": False, "base_ref": None,
            "compare": f"{fake.url}/{repo.full_name}/compare/{before[:12]}...{after[:12]}",
            "commits": [], "head_commit": None if after == zero else {"id": after},
            "pusher": {"name": sender}, **_common(fake, repo, sender)}
