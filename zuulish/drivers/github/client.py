"""GitHub's REST API as the driver uses it: pull requests, statuses, checks, merges.

Each helper is one documented call (paged ones follow GitHub's ``Link`` headers) and
returns GitHub's JSON as it came, or fails with :class:`GitHubApiError` carrying the
status, GitHub's ``message`` and the call. An answer of 401 on an installation token
is tried once more with a new token. Build one from a connection's settings with
:func:`zuulish.drivers.github.connect.client_for`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from zuulish.drivers.github.auth import Auth
from zuulish.drivers.github.errors import GitHubApiError, error_from_response
from zuulish.drivers.github.transport import Transport
from zuulish.errors import ConfigError

MERGE_METHODS = ("merge", "squash", "rebase")
PER_PAGE = 100
MAX_PAGES = 100  # GitHub lists at most 3,000 files of a pull request: 30 pages


@dataclass(frozen=True)
class RequiredChecks:
    """A protected branch's required status checks (empty when it requires none)."""

    contexts: tuple[str, ...] = ()
    strict: bool = False  # the head must be up to date with the branch


@dataclass(frozen=True)
class MergeResult:
    sha: str  # the commit now at the tip of the base branch
    message: str


class GitHubClient:
    """Calls on repositories, made with ``auth``'s credentials through ``transport``."""

    def __init__(self, transport: Transport, auth: Auth):
        self.transport = transport
        self.auth = auth

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    def close(self) -> None:
        self.transport.close()

    # -- the calls -----------------------------------------------------------------------

    def get_pull(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        return self._json("GET", owner, repo, f"/pulls/{number}")

    def list_pull_files(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        return list(self._paged(owner, repo, f"/pulls/{number}/files"))

    def list_pull_reviews(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        return list(self._paged(owner, repo, f"/pulls/{number}/reviews"))

    def list_open_pulls(self, owner: str, repo: str,
                        base: str | None = None) -> list[dict[str, Any]]:
        params = {"state": "open", **({"base": base} if base else {})}
        return list(self._paged(owner, repo, "/pulls", params))

    def combined_status(self, owner: str, repo: str, sha: str) -> dict[str, Any]:
        """The combined state and the latest status of each context for ``sha``."""
        return self._json("GET", owner, repo, f"/commits/{sha}/status",
                          params={"per_page": PER_PAGE})

    def list_check_runs(self, owner: str, repo: str, sha: str) -> list[dict[str, Any]]:
        return list(self._paged(owner, repo, f"/commits/{sha}/check-runs", key="check_runs"))

    def collaborator_permission(self, owner: str, repo: str, user: str) -> str:
        """``admin``, ``write``, ``read`` or ``none`` (maintain and triage count as write
        and read, as GitHub's ``permission`` field says)."""
        body = self._json("GET", owner, repo, f"/collaborators/{_seg(user)}/permission")
        permission = body.get("permission")
        if not isinstance(permission, str):
            raise GitHubApiError(f"GET /repos/{owner}/{repo}/collaborators/{user}/permission",
                                 200, "answer has no permission")
        return permission

    def get_repository(self, owner: str, repo: str) -> dict[str, Any]:
        return self._json("GET", owner, repo, "")

    def get_branch(self, owner: str, repo: str, branch: str) -> dict[str, Any]:
        return self._json("GET", owner, repo, f"/branches/{_seg(branch)}")

    def get_git_commit(self, owner: str, repo: str, sha: str) -> dict[str, Any]:
        """The commit object ``sha``: its ``tree`` and ``parents`` (the gate compares
        the tree GitHub merged with the tree it tested)."""
        return self._json("GET", owner, repo, f"/git/commits/{sha}")

    def required_status_checks(self, owner: str, repo: str, branch: str) -> RequiredChecks:
        """The checks ``branch``'s protection requires (none for an unprotected branch).

        GitHub asks an App for the ``administration: read`` permission here; without it,
        :func:`branch_required_checks` reads the contexts from :meth:`get_branch`."""
        path = f"/branches/{_seg(branch)}/protection/required_status_checks"
        try:
            body = self._json("GET", owner, repo, path)
        except GitHubApiError as exc:
            if exc.status == 404 and "not protected" in exc.reason.lower():
                return RequiredChecks()
            if exc.status == 404 and "not enabled" in exc.reason.lower():
                return RequiredChecks()
            raise
        return RequiredChecks(_contexts(body), bool(body.get("strict")))

    def create_check_run(self, owner: str, repo: str, *, name: str, head_sha: str,
                         **fields: Any) -> dict[str, Any]:
        """``fields``: ``status``, ``conclusion``, ``details_url``, ``external_id``,
        ``started_at``, ``completed_at``, ``output`` (title, summary, annotations),
        ``actions`` as GitHub names them."""
        return self._json("POST", owner, repo, "/check-runs",
                          body={"name": name, "head_sha": head_sha, **fields})

    def update_check_run(self, owner: str, repo: str, check_run_id: int,
                         **fields: Any) -> dict[str, Any]:
        return self._json("PATCH", owner, repo, f"/check-runs/{check_run_id}", body=fields)

    def create_status(self, owner: str, repo: str, sha: str, *, state: str, context: str,
                      description: str | None = None,
                      target_url: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"state": state, "context": context}
        if description is not None:
            body["description"] = description[:140]  # GitHub's limit
        if target_url is not None:
            body["target_url"] = target_url
        return self._json("POST", owner, repo, f"/statuses/{sha}", body=body)

    def create_comment(self, owner: str, repo: str, number: int,
                       body: str) -> dict[str, Any]:
        return self._json("POST", owner, repo, f"/issues/{number}/comments",
                          body={"body": body})

    def add_labels(self, owner: str, repo: str, number: int,
                   labels: list[str]) -> list[dict[str, Any]]:
        return self._json("POST", owner, repo, f"/issues/{number}/labels",
                          body={"labels": list(labels)})

    def remove_label(self, owner: str, repo: str, number: int, label: str) -> bool:
        """Take ``label`` off; False when the pull request did not have it."""
        try:
            self._call("DELETE", owner, repo, f"/issues/{number}/labels/{_seg(label)}")
        except GitHubApiError as exc:
            if exc.status == 404 and exc.reason == "Label does not exist":
                return False
            raise
        return True

    def create_review(self, owner: str, repo: str, number: int, *, event: str,
                      body: str | None = None, commit_id: str | None = None,
                      comments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """``event``: ``APPROVE``, ``REQUEST_CHANGES`` or ``COMMENT``."""
        payload: dict[str, Any] = {"event": event}
        if body is not None:
            payload["body"] = body
        if commit_id is not None:
            payload["commit_id"] = commit_id
        if comments:
            payload["comments"] = comments
        return self._json("POST", owner, repo, f"/pulls/{number}/reviews", body=payload)

    def merge_pull(self, owner: str, repo: str, number: int, *, sha: str,
                   method: str = "merge", title: str | None = None,
                   message: str | None = None) -> MergeResult:
        """Merge the pull request if its head is still ``sha``; GitHub's refusal (405, 409,
        422: branch protection, a moved head, a conflict) is raised with its reason."""
        if method not in MERGE_METHODS:
            raise ConfigError(f"merge method must be one of {', '.join(MERGE_METHODS)}, "
                              f"not {method!r}")
        payload: dict[str, Any] = {"sha": sha, "merge_method": method}
        if title is not None:
            payload["commit_title"] = title
        if message is not None:
            payload["commit_message"] = message
        body = self._json("PUT", owner, repo, f"/pulls/{number}/merge", body=payload)
        if not body.get("merged") or not isinstance(body.get("sha"), str):
            raise GitHubApiError(f"PUT /repos/{owner}/{repo}/pulls/{number}/merge", 200,
                                 str(body.get("message") or "not merged"))
        return MergeResult(body["sha"], str(body.get("message") or ""))

    # -- plumbing ------------------------------------------------------------------------

    def _send(self, method: str, owner: str, repo: str, target: str, *,
              params: Mapping[str, Any] | None = None, body: Any = None) -> httpx.Response:
        """The answer to one call, made once more with new credentials after a 401."""
        renewed = False
        while True:
            creds = self.auth.credentials(owner, repo)
            response = self.transport.request(method, target, authorization=creds.authorization,
                                              bucket=creds.bucket, params=params, json=body)
            if (response.status_code == 401 and not renewed
                    and self.auth.renew(owner, repo, creds)):
                renewed = True
                continue
            return response

    def _call(self, method: str, owner: str, repo: str, tail: str, *,
              params: Mapping[str, Any] | None = None, body: Any = None,
              url: str | None = None) -> tuple[Any, httpx.Response]:
        """GitHub's JSON answer (``None`` for 204) to a call under ``/repos/owner/repo``
        (or to ``url``, a ``Link`` GitHub gave), and the answer; raises for non-2xx."""
        target = url or f"/repos/{_seg(owner)}/{_seg(repo)}{tail}"
        call = f"{method} /repos/{owner}/{repo}{tail}"
        response = self._send(method, owner, repo, target, params=params, body=body)
        data = None
        if response.status_code != 204 and response.content:
            try:
                data = response.json()
            except ValueError:
                data = None
        if response.status_code >= 300:
            raise error_from_response(call, response.status_code, data, response.text)
        if data is None and response.status_code != 204:
            raise GitHubApiError(call, response.status_code, "answer is not JSON")
        return data, response

    def _json(self, method: str, owner: str, repo: str, tail: str, *,
              params: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        data, _ = self._call(method, owner, repo, tail, params=params, body=body)
        if data is None:
            raise GitHubApiError(f"{method} /repos/{owner}/{repo}{tail}", 204,
                                 "answer has no body")
        return data

    def _paged(self, owner: str, repo: str, tail: str,
               params: Mapping[str, Any] | None = None,
               key: str | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a list, page after page (``key``: the list's field when the page
        is an object, as for check runs)."""
        url: str | None = None
        query: Mapping[str, Any] | None = {**(params or {}), "per_page": PER_PAGE}
        for _ in range(MAX_PAGES):
            page, response = self._call("GET", owner, repo, tail, params=query, url=url)
            items = page.get(key) if key and isinstance(page, dict) else page
            if not isinstance(items, list):
                raise GitHubApiError(f"GET /repos/{owner}/{repo}{tail}", response.status_code,
                                     "answer is not a list")
            yield from items
            url = response.links.get("next", {}).get("url")
            if not url:
                return
            query = None  # the next link carries the query
        raise GitHubApiError(f"GET /repos/{owner}/{repo}{tail}", 200,
                             f"more than {MAX_PAGES} pages")


def branch_required_checks(branch: Mapping[str, Any]) -> RequiredChecks:
    """The required checks a branch's JSON (:meth:`GitHubClient.get_branch`) shows; it
    does not say whether the branch must be up to date (``strict`` is False)."""
    if not branch.get("protected"):
        return RequiredChecks()
    protection = branch.get("protection") or {}
    return RequiredChecks(_contexts(protection.get("required_status_checks") or {}))


def _contexts(checks: Mapping[str, Any]) -> tuple[str, ...]:
    """The names of required checks: ``contexts`` and the ``context`` of each ``checks``."""
    contexts = [str(c) for c in checks.get("contexts") or []]
    for check in checks.get("checks") or []:
        if isinstance(check, dict) and str(check.get("context")) not in contexts:
            contexts.append(str(check.get("context")))
    return tuple(contexts)


def _seg(value: str) -> str:
    """One path segment, escaped (branch names may hold ``/``)."""
    return quote(value, safe="")
