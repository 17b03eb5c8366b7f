"""The fake GitHub's answers, one function per operation of GitHub's description.

Each route names the operation (method and path template exactly as GitHub's OpenAPI
description spells them), who may call it (the App's JWT, or a token with access to
the repository) and the installation permission it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from tests.fakes.github.state import LEVELS, Pull, Repo, iso, repo_json, user_json

if TYPE_CHECKING:
    from tests.fakes.github.server import FakeGitHub, Request

NOT_MERGEABLE = "Pull Request is not mergeable"
HEAD_MODIFIED = "Head branch was modified. Review and try the merge again."
METHOD_NOT_ALLOWED = {"merge": "Merge commits are not allowed on this repository.",
                      "squash": "Squash merges are not allowed on this repository.",
                      "rebase": "Rebase merges are not allowed on this repository."}
CHECK_OK = {"success", "neutral", "skipped"}


class Refusal(Exception):
    """An error answer as GitHub gives it: ``{"message": ..., "documentation_url": ...}``."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    handler: Callable[[FakeGitHub, Request], Reply]
    caller: str  # "app": the App's JWT; "repo": a token with access to the repository
    permission: tuple[str, str] | None = None  # (installation permission, level)


ROUTES: dict[tuple[str, str], Route] = {}


def route(method: str, template: str, caller: str = "repo",
          permission: tuple[str, str] | None = None) -> Callable[..., Any]:
    def register(fn: Callable[[FakeGitHub, Request], Reply]) -> Callable[..., Any]:
        ROUTES[(method.lower(), template)] = Route(fn, caller, permission)
        return fn
    return register


# -- helpers -------------------------------------------------------------------------------


def paged(fake: FakeGitHub, req: Request, items: list[Any],
          wrap: Callable[[list[Any]], Any] | None = None) -> Reply:
    """One page of ``items`` as ``per_page``/``page`` ask, with GitHub's ``Link`` header."""
    per_page = min(int(req.query.get("per_page", ["30"])[0]), 100)
    page = max(int(req.query.get("page", ["1"])[0]), 1)
    chunk = items[(page - 1) * per_page: page * per_page]
    last = max((len(items) + per_page - 1) // per_page, 1)
    links = []
    base_query = {k: v[0] for k, v in req.query.items() if k != "page"}

    def link(n: int, rel: str) -> str:
        return f'<{fake.url}{req.path}?{urlencode({**base_query, "page": n})}>; rel="{rel}"'
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links += [link(1, "first"), link(page - 1, "prev")]
    headers = {"Link": ", ".join(links)} if links else {}
    return Reply(200, wrap(chunk) if wrap else chunk, headers)


def pull_of(req: Request) -> Pull:
    repo = req.repo
    number = int(req.params["pull_number"] if "pull_number" in req.params
                 else req.params["issue_number"])
    pull = repo.pulls.get(number)
    if pull is None:
        raise Refusal(404, "Not Found")
    return pull


def pull_json(fake: FakeGitHub, repo: Repo, pull: Pull) -> dict[str, Any]:
    base_sha = repo.bare.rev(f"refs/heads/{pull.base_branch}") or ""
    mergeable = None if pull.state != "open" else repo.bare.mergeable(base_sha, pull.head_sha)
    files = repo.bare.changed_files(base_sha, pull.head_sha) if base_sha else []
    url = f"{fake.url}/repos/{repo.full_name}/pulls/{pull.number}"
    owner = fake.user_id(repo.owner)
    rjson = repo_json(fake.url, repo, owner)
    return {
        "url": url, "id": repo.id * 100000 + pull.number, "node_id": f"PR_{pull.number}",
        "html_url": f"{fake.url}/{repo.full_name}/pull/{pull.number}",
        "number": pull.number, "state": pull.state, "locked": False, "title": pull.title,
        "body": pull.body, "user": user_json(fake.url, pull.user, fake.user_id(pull.user)),
        "labels": [label_json(fake, repo, name) for name in pull.labels],
        "draft": pull.draft, "created_at": iso(pull.created_at),
        "updated_at": iso(pull.created_at), "closed_at": None, "merged_at": None,
        "merge_commit_sha": pull.merge_commit_sha, "merged": pull.merged,
        "mergeable": mergeable,
        "mergeable_state": merge_state(fake, repo, pull, mergeable),
        "merged_by": (user_json(fake.url, pull.merged_by, fake.user_id(pull.merged_by))
                      if pull.merged_by else None),
        "head": {"label": f"{repo.owner}:{pull.head_branch}", "ref": pull.head_branch,
                 "sha": pull.head_sha, "repo": rjson,
                 "user": user_json(fake.url, repo.owner, owner)},
        "base": {"label": f"{repo.owner}:{pull.base_branch}", "ref": pull.base_branch,
                 "sha": base_sha, "repo": rjson,
                 "user": user_json(fake.url, repo.owner, owner)},
        "commits_url": f"{url}/commits", "statuses_url":
            f"{fake.url}/repos/{repo.full_name}/statuses/{pull.head_sha}",
        "issue_url": f"{fake.url}/repos/{repo.full_name}/issues/{pull.number}",
        "comments": len(pull.comments), "changed_files": len(files),
        "additions": sum(f[2] for f in files), "deletions": sum(f[3] for f in files),
    }


def label_json(fake: FakeGitHub, repo: Repo, name: str) -> dict[str, Any]:
    return {"id": abs(hash((repo.full_name, name))) % 10**9, "node_id": f"L_{name}",
            "url": f"{fake.url}/repos/{repo.full_name}/labels/{name}", "name": name,
            "color": "ededed", "default": False, "description": None}


def merge_blocker(fake: FakeGitHub, repo: Repo, pull: Pull) -> str | None:
    """Why branch protection refuses to merge ``pull`` now (None: it allows it)."""
    protection = repo.protections.get(pull.base_branch)
    if protection is None:
        return None
    if protection.required_approvals:
        latest: dict[str, str] = {}
        for review in pull.reviews:
            latest[review["user"]["login"].lower()] = review["state"]
        approvals = sum(1 for user, state in latest.items() if state == "APPROVED"
                        and LEVELS[repo.permission(user)] >= LEVELS["write"])
        if approvals < protection.required_approvals:
            n = protection.required_approvals
            return (f"At least {n} approving review{'s are' if n > 1 else ' is'} "
                    "required by reviewers with write access.")
    missing = [c for c in protection.contexts if not check_passed(repo, pull.head_sha, c)]
    if len(missing) == 1:
        return f'Required status check "{missing[0]}" is expected.'
    if missing:
        return (f"{len(missing)} of {len(protection.contexts)} required status checks "
                "are expected.")
    base_sha = repo.bare.rev(f"refs/heads/{pull.base_branch}") or ""
    if protection.strict and not repo.bare.is_ancestor(base_sha, pull.head_sha):
        return "Head branch is not up to date with the base branch."
    return None


def check_passed(repo: Repo, sha: str, context: str) -> bool:
    latest = [s for s in repo.statuses.get(sha, []) if s["context"] == context]
    if latest and latest[-1]["state"] == "success":
        return True
    runs = [r for r in repo.check_runs if r["head_sha"] == sha and r["name"] == context]
    return bool(runs) and runs[-1]["status"] == "completed" and runs[-1]["conclusion"] in CHECK_OK


def merge_state(fake: FakeGitHub, repo: Repo, pull: Pull, mergeable: bool | None) -> str:
    if pull.state != "open":
        return "unknown"
    if mergeable is False:
        return "dirty"
    blocker = merge_blocker(fake, repo, pull)
    if blocker is None:
        return "clean"
    return "behind" if "up to date" in blocker else "blocked"


def combined_state(statuses: list[dict[str, Any]]) -> str:
    states = {s["state"] for s in statuses}
    if states & {"error", "failure"}:
        return "failure"
    if not statuses or "pending" in states:
        return "pending"
    return "success"


def latest_statuses(repo: Repo, sha: str) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for status in repo.statuses.get(sha, []):
        latest[status["context"]] = status
    return sorted(latest.values(), key=lambda s: -s["id"])


def require_sha(repo: Repo, ref: str) -> str:
    sha = repo.bare.rev(ref)
    if sha is None:
        raise Refusal(422, f"No commit found for SHA: {ref}")
    return sha


# -- App ------------------------------------------------------------------------------------


@route("GET", "/repos/{owner}/{repo}/installation", caller="app")
def get_repo_installation(fake: FakeGitHub, req: Request) -> Reply:
    full = f"{req.params['owner']}/{req.params['repo']}"
    for inst in fake.installations.values():
        if inst.app is req.app and inst.covers(full) and full.lower() in fake.repos:
            return Reply(200, fake.installation_json(inst))
    raise Refusal(404, "Not Found")


@route("POST", "/app/installations/{installation_id}/access_tokens", caller="app")
def create_installation_token(fake: FakeGitHub, req: Request) -> Reply:
    inst = fake.installations.get(int(req.params["installation_id"]))
    if inst is None or inst.app is not req.app:
        raise Refusal(404, "Not Found")
    token = fake.issue_installation_token(inst)
    return Reply(201, {"token": token.value, "expires_at": iso(token.expires or 0),
                       "permissions": dict(inst.permissions),
                       "repository_selection": "all" if inst.repositories is None
                       else "selected"})


# -- repositories and branches ---------------------------------------------------------------


@route("GET", "/repos/{owner}/{repo}", permission=("metadata", "read"))
def get_repository(fake: FakeGitHub, req: Request) -> Reply:
    return Reply(200, repo_json(fake.url, req.repo, fake.user_id(req.repo.owner)))


@route("GET", "/repos/{owner}/{repo}/branches/{branch}", permission=("contents", "read"))
def get_branch(fake: FakeGitHub, req: Request) -> Reply:
    repo, name = req.repo, req.params["branch"]
    sha = repo.bare.rev(f"refs/heads/{name}")
    if sha is None:
        raise Refusal(404, "Branch not found")
    protection = repo.protections.get(name)
    url = f"{fake.url}/repos/{repo.full_name}/branches/{name}"
    body: dict[str, Any] = {
        "name": name, "commit": {"sha": sha, "url": f"{fake.url}/repos/{repo.full_name}"
                                 f"/commits/{sha}"},
        "protected": protection is not None, "protection_url": f"{url}/protection",
        "_links": {"self": url, "html": f"{fake.url}/{repo.full_name}/tree/{name}"},
    }
    if protection is not None:
        body["protection"] = {"enabled": True, "required_status_checks": {
            "enforcement_level": "non_admins", "contexts": list(protection.contexts),
            "checks": [{"context": c, "app_id": None} for c in protection.contexts]}}
    return Reply(200, body)


@route("GET", "/repos/{owner}/{repo}/git/commits/{commit_sha}", permission=("contents", "read"))
def get_git_commit(fake: FakeGitHub, req: Request) -> Reply:
    repo, sha = req.repo, req.params["commit_sha"]
    if repo.bare.rev(sha) != sha:
        raise Refusal(404, "Not Found")
    fields = repo.bare.git("show", "-s", "--format=%T%n%P%n%B", sha).split("\n", 2)
    tree, parents = fields[0], fields[1].split()
    url = f"{fake.url}/repos/{repo.full_name}/git/commits"
    return Reply(200, {"sha": sha, "url": f"{url}/{sha}", "message": fields[2].strip(),
                       "tree": {"sha": tree, "url": f"{fake.url}/repos/{repo.full_name}"
                                                    f"/git/trees/{tree}"},
                       "parents": [{"sha": p, "url": f"{url}/{p}"} for p in parents]})


@route("GET", "/repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks",
       permission=("administration", "read"))
def get_required_checks(fake: FakeGitHub, req: Request) -> Reply:
    repo, name = req.repo, req.params["branch"]
    protection = repo.protections.get(name)
    if protection is None:
        raise Refusal(404, "Branch not protected")
    url = f"{fake.url}/repos/{repo.full_name}/branches/{name}/protection/required_status_checks"
    return Reply(200, {"url": url, "strict": protection.strict,
                       "contexts": list(protection.contexts), "contexts_url": f"{url}/contexts",
                       "checks": [{"context": c, "app_id": None} for c in protection.contexts]})


@route("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission",
       permission=("metadata", "read"))
def get_permission(fake: FakeGitHub, req: Request) -> Reply:
    user = req.params["username"]
    permission = req.repo.permission(user)
    return Reply(200, {"permission": permission, "role_name": permission,
                       "user": user_json(fake.url, user, fake.user_id(user))})


# -- pull requests ---------------------------------------------------------------------------


@route("GET", "/repos/{owner}/{repo}/pulls", permission=("pull_requests", "read"))
def list_pulls(fake: FakeGitHub, req: Request) -> Reply:
    state = req.query.get("state", ["open"])[0]
    base = req.query.get("base", [None])[0]
    pulls = [p for p in sorted(req.repo.pulls.values(), key=lambda p: -p.number)
             if (state == "all" or p.state == state) and (base is None or p.base_branch == base)]
    return paged(fake, req, [pull_json(fake, req.repo, p) for p in pulls])


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", permission=("pull_requests", "read"))
def get_pull(fake: FakeGitHub, req: Request) -> Reply:
    return Reply(200, pull_json(fake, req.repo, pull_of(req)))


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files",
       permission=("pull_requests", "read"))
def list_pull_files(fake: FakeGitHub, req: Request) -> Reply:
    repo, pull = req.repo, pull_of(req)
    base = repo.bare.rev(f"refs/heads/{pull.base_branch}") or pull.head_sha
    files = [{"sha": pull.head_sha, "filename": path, "status": status, "additions": add,
              "deletions": rm, "changes": add + rm,
              "blob_url": f"{fake.url}/{repo.full_name}/blob/{pull.head_sha}/{path}",
              "raw_url": f"{fake.url}/{repo.full_name}/raw/{pull.head_sha}/{path}",
              "contents_url": f"{fake.url}/repos/{repo.full_name}/contents/{path}"}
             for status, path, add, rm in repo.bare.changed_files(base, pull.head_sha)]
    return paged(fake, req, files)


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
       permission=("pull_requests", "read"))
def list_reviews(fake: FakeGitHub, req: Request) -> Reply:
    return paged(fake, req, list(pull_of(req).reviews))


@route("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
       permission=("pull_requests", "write"))
def create_review(fake: FakeGitHub, req: Request) -> Reply:
    pull = pull_of(req)
    event = req.body.get("event")
    if event in ("REQUEST_CHANGES", "COMMENT") and not req.body.get("body"):
        what = "request changes" if event == "REQUEST_CHANGES" else "comment"
        raise Refusal(422, "Unprocessable Entity", [f"Review Can not {what} without a body"])
    if event is None:
        raise Refusal(422, "Unprocessable Entity", ["A review needs an event here"])
    state = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED",
             "COMMENT": "COMMENTED"}[event]
    review = fake.add_review(req.repo, pull, req.caller_login, state,
                             req.body.get("body") or "",
                             commit_id=req.body.get("commit_id") or pull.head_sha)
    return Reply(200, review)


@route("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", permission=("contents", "write"))
def merge_pull(fake: FakeGitHub, req: Request) -> Reply:
    repo, pull = req.repo, pull_of(req)
    body = req.body or {}
    method = body.get("merge_method", "merge")
    if pull.state != "open" or pull.merged:
        raise Refusal(405, NOT_MERGEABLE)
    if body.get("sha") is not None and body["sha"] != pull.head_sha:
        raise Refusal(409, HEAD_MODIFIED)
    if not getattr(repo, f"allow_{'merge_commit' if method == 'merge' else method + '_merge'}"):
        raise Refusal(405, METHOD_NOT_ALLOWED[method])
    blocker = merge_blocker(fake, repo, pull)
    if blocker is not None:
        raise Refusal(405, blocker)
    if method == "merge":
        title = body.get("commit_title") or (
            f"Merge pull request #{pull.number} from {repo.owner}/{pull.head_branch}")
        message = body.get("commit_message", pull.title)
    else:
        title = body.get("commit_title") or f"{pull.title} (#{pull.number})"
        message = body.get("commit_message", pull.body)
    tip = repo.bare.merge(pull.base_branch, pull.head_sha, method, title, message)
    if tip is None:
        raise Refusal(405, NOT_MERGEABLE)
    pull.state, pull.merged, pull.merge_commit_sha = "closed", True, tip
    pull.merged_by = req.caller_login
    return Reply(200, {"sha": tip, "merged": True, "message": "Pull Request successfully merged"})


# -- statuses and checks ---------------------------------------------------------------------


@route("GET", "/repos/{owner}/{repo}/commits/{ref}/status", permission=("statuses", "read"))
def combined_status(fake: FakeGitHub, req: Request) -> Reply:
    repo = req.repo
    sha = require_sha(repo, req.params["ref"])
    statuses = latest_statuses(repo, sha)
    return Reply(200, {"state": combined_state(statuses), "statuses": statuses, "sha": sha,
                       "total_count": len(statuses),
                       "repository": repo_json(fake.url, repo, fake.user_id(repo.owner)),
                       "commit_url": f"{fake.url}/repos/{repo.full_name}/commits/{sha}",
                       "url": f"{fake.url}/repos/{repo.full_name}/commits/{sha}/status"})


@route("POST", "/repos/{owner}/{repo}/statuses/{sha}", permission=("statuses", "write"))
def create_status(fake: FakeGitHub, req: Request) -> Reply:
    repo = req.repo
    sha = require_sha(repo, req.params["sha"])
    status = fake.add_status(repo, sha, req.body["state"], req.body.get("context", "default"),
                             req.body.get("description"), req.body.get("target_url"),
                             creator=req.caller_login)
    return Reply(201, status)


@route("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs", permission=("checks", "read"))
def list_check_runs(fake: FakeGitHub, req: Request) -> Reply:
    repo = req.repo
    sha = require_sha(repo, req.params["ref"])
    name = req.query.get("check_name", [None])[0]
    runs = [r for r in reversed(repo.check_runs)
            if r["head_sha"] == sha and (name is None or r["name"] == name)]
    return paged(fake, req, runs, wrap=lambda page: {"total_count": len(runs),
                                                     "check_runs": page})


@route("POST", "/repos/{owner}/{repo}/check-runs", permission=("checks", "write"))
def create_check_run(fake: FakeGitHub, req: Request) -> Reply:
    if req.app is None:
        raise Refusal(403, "You must authenticate via a GitHub App.")
    repo = req.repo
    require_sha(repo, req.body["head_sha"])
    return Reply(201, fake.add_check_run(repo, req.app, req.body))


@route("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}", permission=("checks", "write"))
def update_check_run(fake: FakeGitHub, req: Request) -> Reply:
    if req.app is None:
        raise Refusal(403, "You must authenticate via a GitHub App.")
    run_id = int(req.params["check_run_id"])
    for run in req.repo.check_runs:
        if run["id"] == run_id:
            if run["app"]["id"] != req.app.id:
                raise Refusal(403, f"Invalid app_id `{req.app.id}` - check run can only be "
                              "modified by the GitHub App that created it.")
            fake.update_check_run(run, req.body)
            return Reply(200, run)
    raise Refusal(404, "Not Found")


# -- issues: comments and labels -------------------------------------------------------------


@route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments",
       permission=("issues", "read"))
def list_comments(fake: FakeGitHub, req: Request) -> Reply:
    return paged(fake, req, list(pull_of(req).comments))


@route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments",
       permission=("issues", "write"))
def create_comment(fake: FakeGitHub, req: Request) -> Reply:
    pull = pull_of(req)
    return Reply(201, fake.add_comment(req.repo, pull, req.caller_login, req.body["body"]))


@route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels",
       permission=("issues", "write"))
def add_labels(fake: FakeGitHub, req: Request) -> Reply:
    repo, pull = req.repo, pull_of(req)
    labels = req.body.get("labels") if isinstance(req.body, dict) else req.body
    names = [x if isinstance(x, str) else x.get("name", "") for x in (labels or [])]
    for name in names:
        repo.labels.add(name)
        if name not in pull.labels:
            pull.labels.append(name)
    return Reply(200, [label_json(fake, repo, n) for n in pull.labels])


@route("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}",
       permission=("issues", "write"))
def remove_label(fake: FakeGitHub, req: Request) -> Reply:
    repo, pull = req.repo, pull_of(req)
    name = req.params["name"]
    if name not in pull.labels:
        raise Refusal(404, "Label does not exist")
    pull.labels.remove(name)
    return Reply(200, [label_json(fake, repo, n) for n in pull.labels])
