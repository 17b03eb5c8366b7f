"""The fake GitHub's HTTP server, its door checks, and the API tests drive it with.

Each request, in order: recorded in ``calls``; checked against GitHub's OpenAPI
description (a violation is recorded in ``violations`` and answered 500); an injected
delay or server error; a secondary rate limit; authentication (App JWT or token);
the caller's rate-limit budget; the repository and the caller's permission on it; then
the operation. Answers carry ``X-RateLimit-*`` headers and are checked against the
description's response schemas too (a mismatch is a violation: the fake's own bug).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

from tests.fakes.github.gitops import BareRepo
from tests.fakes.github.handlers import ROUTES, Refusal, Reply
from tests.fakes.github.openapi import OpenAPIDescription
from tests.fakes.github.state import (
    ALL_PERMISSIONS,
    LEVELS,
    App,
    Installation,
    Protection,
    Pull,
    Repo,
    Token,
    iso,
    user_json,
)
from tests.fakes.github.webhooks import Delivery, Hook, deliver
from zuulish.clock import Clock, SystemClock

DOCS = "https://docs.github.com/rest"
TOKEN_LIFETIME = 3600.0
RATE_LIMIT = 5000
SECONDARY_MESSAGE = ("You have exceeded a secondary rate limit. Please wait a few minutes "
                     "before you try again.")


@dataclass
class Call:
    """One request the fake received (no credentials kept: ``caller`` names who)."""

    method: str
    path: str  # as sent, without the query
    query: dict[str, list[str]]
    body: Any  # its JSON, or None
    caller: str = ""  # "app:1", "installation:2", "user:alice" or "" (none or refused)
    status: int = 0
    operation: str = ""  # "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    params: dict[str, str]
    app: App | None = None  # the App calling (its JWT or one of its installation tokens)
    installation: Installation | None = None
    user: str | None = None
    repo: Repo = field(default=None)  # type: ignore[assignment]

    @property
    def caller_login(self) -> str:
        if self.user:
            return self.user
        return f"{self.app.slug}[bot]" if self.app else "unknown"


@dataclass
class _Budget:
    limit: int
    remaining: int
    reset: float


class FakeGitHub:
    """GitHub's REST API on 127.0.0.1, over real bare git repositories in ``root``."""

    def __init__(self, root: Path, description: OpenAPIDescription,
                 clock: Clock | None = None):
        self.root = root
        self.description = description
        self.clock: Clock = clock or SystemClock()
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.repos: dict[str, Repo] = {}
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Token] = {}
        self._users: dict[str, int] = {}
        self._ids = 100
        self._budgets: dict[str, _Budget] = {}
        self._rate_default: tuple[int, float] | None = None
        self._rate_limit = RATE_LIMIT
        self._secondary: list[tuple[int, int | None]] = []  # (status, retry_after)
        self._failures: list[int] = []
        self._delays: list[float] = []
        self.hooks: list[Hook] = []
        self.deliveries: list[Delivery] = []
        self.lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- building the world --------------------------------------------------------------

    def next_id(self) -> int:
        with self.lock:
            self._ids += 1
            return self._ids

    def user_id(self, login: str) -> int:
        with self.lock:
            return self._users.setdefault(login.lower(), 1000 + len(self._users))

    def add_app(self, slug: str = "zuulish") -> App:
        """A GitHub App with a fresh RSA key (``app.private_key_pem``, ``app.id``)."""
        app = App.generate(self.next_id(), slug)
        self.apps[app.id] = app
        return app

    def add_installation(self, app: App, account: str, repos: list[str] | None = None,
                         permissions: dict[str, str] | None = None) -> Installation:
        """``app`` installed on ``account``'s repositories (``repos``: "owner/name"; None:
        all of them) with ``permissions`` (default: what zuulish needs)."""
        inst = Installation(self.next_id(), app, account,
                            None if repos is None else {r.lower() for r in repos},
                            dict(ALL_PERMISSIONS if permissions is None else permissions))
        self.installations[inst.id] = inst
        return inst

    def add_user_token(self, user: str) -> str:
        """A personal access token of ``user`` (a repository's owner has admin on it)."""
        token = Token(Token.new_value("ghp_"), None, user=user)
        self.tokens[token.value] = token
        return token.value

    def issue_installation_token(self, inst: Installation) -> Token:
        token = Token(Token.new_value("ghs_"), self.clock.now() + TOKEN_LIFETIME,
                      installation=inst)
        with self.lock:
            self.tokens[token.value] = token
        return token

    def expire_tokens(self, installation: Installation | None = None) -> int:
        """Make installation tokens expire now (all, or one installation's); how many."""
        count = 0
        with self.lock:
            for token in self.tokens.values():
                if token.installation and installation in (None, token.installation):
                    token.expires = self.clock.now() - 1
                    count += 1
        return count

    def add_repo(self, full_name: str, *, default_branch: str = "main",
                 files: dict[str, str] | None = None, private: bool = False) -> Repo:
        """A repository whose ``default_branch`` holds one commit of ``files``."""
        owner, name = full_name.split("/")
        bare = BareRepo(self.root / f"{owner}/{name}.git", lambda: self.clock.now(),
                        default_branch)
        bare.commit(default_branch, files or {"README": f"{name}\n"}, "Initial commit")
        repo = Repo(self.next_id(), owner, name, bare, default_branch, private)
        self.repos[full_name.lower()] = repo
        self.user_id(owner)
        return repo

    def repo(self, full_name: str) -> Repo:
        return self.repos[full_name.lower()]

    def add_collaborator(self, full_name: str, user: str, permission: str = "write") -> None:
        if permission not in LEVELS:
            raise ValueError(f"permission must be one of {list(LEVELS)}")
        self.repo(full_name).collaborators[user.lower()] = permission

    def protect_branch(self, full_name: str, branch: str, *,
                       contexts: tuple[str, ...] | list[str] = (), strict: bool = False,
                       required_approvals: int = 0) -> Protection:
        """Branch protection requiring ``contexts`` (statuses or check runs) to pass."""
        protection = Protection(list(contexts), strict, required_approvals)
        self.repo(full_name).protections[branch] = protection
        return protection

    def add_pull(self, full_name: str, files: dict[str, str | None], *,
                 title: str = "A change", body: str = "", user: str = "dev",
                 head_branch: str | None = None, base: str | None = None,
                 commits: int = 1) -> Pull:
        """A pull request whose head branch adds ``commits`` commits on ``base``'s tip."""
        repo = self.repo(full_name)
        base = base or repo.default_branch
        with self.lock:
            number = repo.next_number
            repo.next_number += 1
        head_branch = head_branch or f"change-{number}"
        author = (user, f"{user}@example.org")
        sha = ""
        for i in range(commits):
            part = files if i == commits - 1 else {f".commit-{number}-{i}": f"{i}\n"}
            sha = repo.bare.commit(head_branch, part, f"{title}" if i == commits - 1 else
                                   f"{title}, part {i + 1}", start=f"refs/heads/{base}",
                                   author=author)
        repo.bare.set_ref(f"refs/pull/{number}/head", sha)
        pull = Pull(number, title, body, user, head_branch, base, sha, self.clock.now())
        repo.pulls[number] = pull
        return pull

    def push_to_pull(self, full_name: str, pull: Pull, files: dict[str, str | None],
                     message: str = "More") -> str:
        """A new commit on the pull request's head branch; its sha."""
        repo = self.repo(full_name)
        sha = repo.bare.commit(pull.head_branch, files, message,
                               author=(pull.user, f"{pull.user}@example.org"))
        repo.bare.set_ref(f"refs/pull/{pull.number}/head", sha)
        pull.head_sha = sha
        return sha

    def push(self, full_name: str, branch: str, files: dict[str, str | None],
             message: str = "Pushed") -> str:
        """A commit pushed straight to ``branch`` (moves the base under open pulls)."""
        return self.repo(full_name).bare.commit(branch, files, message)

    def add_status(self, repo: Repo, sha: str, state: str, context: str,
                   description: str | None = None, target_url: str | None = None,
                   creator: str = "ci") -> dict[str, Any]:
        status = {"id": self.next_id(), "node_id": f"S_{self._ids}", "state": state,
                  "context": context, "description": description, "target_url": target_url,
                  "url": f"{self.url}/repos/{repo.full_name}/statuses/{sha}",
                  "avatar_url": None, "created_at": iso(self.clock.now()),
                  "updated_at": iso(self.clock.now()),
                  "creator": user_json(self.url, creator, self.user_id(creator))}
        with self.lock:
            repo.statuses.setdefault(sha, []).append(status)
        return status

    def add_check_run(self, repo: Repo, app: App, fields: dict[str, Any]) -> dict[str, Any]:
        run_id = self.next_id()
        run = {"id": run_id, "node_id": f"CR_{run_id}", "name": fields["name"],
               "head_sha": fields["head_sha"], "status": "queued", "conclusion": None,
               "external_id": None, "details_url": None, "started_at": iso(self.clock.now()),
               "completed_at": None, "output": {"title": None, "summary": None, "text": None,
                                                "annotations_count": 0, "annotations_url": ""},
               "url": f"{self.url}/repos/{repo.full_name}/check-runs/{run_id}",
               "html_url": f"{self.url}/{repo.full_name}/runs/{run_id}",
               "app": {"id": app.id, "slug": app.slug, "name": app.slug},
               "pull_requests": [], "annotations": []}
        self.update_check_run(run, {k: v for k, v in fields.items() if k != "name"})
        with self.lock:
            repo.check_runs.append(run)
        return run

    def update_check_run(self, run: dict[str, Any], fields: dict[str, Any]) -> None:
        for key in ("name", "status", "conclusion", "details_url", "external_id",
                    "started_at", "completed_at"):
            if key in fields:
                run[key] = fields[key]
        if fields.get("conclusion") and "status" not in fields:
            run["status"] = "completed"
        if run["status"] == "completed" and not run["completed_at"]:
            run["completed_at"] = iso(self.clock.now())
        output = fields.get("output")
        if output:
            notes = list(output.get("annotations") or [])
            run["annotations"] = run["annotations"] + notes
            run["output"] = {**run["output"], **{k: output[k] for k in ("title", "summary", "text")
                                                 if k in output},
                             "annotations_count": len(run["annotations"])}

    def add_comment(self, repo: Repo, pull: Pull, user: str, body: str) -> dict[str, Any]:
        cid = self.next_id()
        comment = {"id": cid, "node_id": f"IC_{cid}", "body": body,
                   "user": user_json(self.url, user, self.user_id(user)),
                   "url": f"{self.url}/repos/{repo.full_name}/issues/comments/{cid}",
                   "html_url": f"{self.url}/{repo.full_name}/pull/{pull.number}#c{cid}",
                   "issue_url": f"{self.url}/repos/{repo.full_name}/issues/{pull.number}",
                   "created_at": iso(self.clock.now()), "updated_at": iso(self.clock.now()),
                   "author_association": "NONE"}
        with self.lock:
            pull.comments.append(comment)
        return comment

    def add_review(self, repo: Repo, pull: Pull, user: str, state: str, body: str = "",
                   commit_id: str | None = None) -> dict[str, Any]:
        """A review (``APPROVED``, ``CHANGES_REQUESTED``, ``COMMENTED``) by ``user``."""
        rid = self.next_id()
        review = {"id": rid, "node_id": f"PRR_{rid}", "body": body, "state": state,
                  "user": user_json(self.url, user, self.user_id(user)),
                  "commit_id": commit_id or pull.head_sha,
                  "submitted_at": iso(self.clock.now()), "author_association": "COLLABORATOR",
                  "html_url": f"{self.url}/{repo.full_name}/pull/{pull.number}#r{rid}",
                  "pull_request_url": f"{self.url}/repos/{repo.full_name}/pulls/{pull.number}",
                  "_links": {"html": {"href": f"{self.url}/{repo.full_name}/pull/{pull.number}"},
                             "pull_request": {"href": f"{self.url}/repos/{repo.full_name}"
                                              f"/pulls/{pull.number}"}}}
        with self.lock:
            pull.reviews.append(review)
        return review

    def installation_json(self, inst: Installation) -> dict[str, Any]:
        return {"id": inst.id, "app_id": inst.app.id, "app_slug": inst.app.slug,
                "target_id": self.user_id(inst.account), "target_type": "Organization",
                "account": user_json(self.url, inst.account, self.user_id(inst.account),
                                     "Organization"),
                "permissions": dict(inst.permissions), "events": [],
                "repository_selection": "all" if inst.repositories is None else "selected",
                "access_tokens_url": f"{self.url}/app/installations/{inst.id}/access_tokens",
                "repositories_url": f"{self.url}/installation/repositories",
                "html_url": f"{self.url}/settings/installations/{inst.id}",
                "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
                "single_file_name": None}

    # -- what the fake does to callers ---------------------------------------------------

    def limit_rate(self, remaining: int, reset_in: float = 60.0,
                   limit: int = RATE_LIMIT) -> None:
        """Every caller's budget is ``remaining`` calls until ``reset_in`` seconds from now,
        then ``limit`` an hour again."""
        with self.lock:
            self._budgets.clear()
            self._rate_default = (remaining, self.clock.now() + reset_in)
            self._rate_limit = limit

    def secondary_limit(self, times: int = 1, *, retry_after: int | None = None,
                        status: int = 403) -> None:
        """The next ``times`` calls hit a secondary rate limit (403 or 429), with a
        ``Retry-After`` header when ``retry_after`` is given."""
        with self.lock:
            self._secondary += [(status, retry_after)] * times

    def fail_next(self, times: int = 1, status: int = 502) -> None:
        """The next ``times`` calls (that pass the OpenAPI check) answer ``status``."""
        with self.lock:
            self._failures += [status] * times

    def delay_next(self, times: int, seconds: float) -> None:
        """The next ``times`` calls are answered only after ``seconds`` of real time."""
        with self.lock:
            self._delays += [seconds] * times

    # -- webhooks ------------------------------------------------------------------------

    def add_webhook(self, url: str, secret: str) -> Hook:
        """Deliver events sent with :meth:`emit` to ``url``, signed with ``secret``."""
        hook = Hook(url, secret)
        self.hooks.append(hook)
        return hook

    def emit(self, event: str, payload: dict[str, Any],
             delivery_id: str | None = None) -> list[Delivery]:
        """Deliver one event (``payload``: see :mod:`tests.fakes.github.webhooks`) to every
        hook; ``delivery_id``: to replay a delivery."""
        found = [deliver(hook, event, payload, delivery_id) for hook in self.hooks]
        self.deliveries.extend(found)
        return found

    def calls_to(self, method: str, operation: str) -> list[Call]:
        """The calls made to one operation (``"PUT", "/repos/{owner}/{repo}/pulls/..."``)."""
        return [c for c in self.calls if c.method == method and c.operation.endswith(
            " " + operation)]

    def take_violations(self) -> list[str]:
        with self.lock:
            found, self.violations = self.violations, []
        return found

    # -- serving -------------------------------------------------------------------------

    def serve(self, method: str, raw_path: str, headers: dict[str, str],
              raw_body: bytes) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            body = None
        call = Call(method, parts.path, query, body)
        with self.lock:
            self.calls.append(call)
        op, problems = self.description.check_request(
            method, parts.path, query, raw_body, headers.get("content-type", ""))
        if op is not None:
            call.operation = f"{method} {op.template}"
        if op is not None and not problems and (op.method, op.template) not in ROUTES:
            problems = [f"{method} {op.template}: the fake GitHub does not serve this operation"]
        if problems:
            with self.lock:
                self.violations.extend(problems)
            call.status = 500
            return 500, {"message": "request does not match GitHub's OpenAPI description "
                         f"{self.description.version}: " + "; ".join(problems)}, {}
        assert op is not None
        route = ROUTES[(op.method, op.template)]
        req = Request(method, parts.path, query, body,
                      {k: unquote(v) for k, v in op.params.items()})
        extra: dict[str, str] = {}
        try:
            self._faults()
            self._authenticate(req, headers.get("authorization", ""), route.caller)
            call.caller = self._caller_name(req)
            extra = self._spend(call.caller)
            if route.caller == "repo":
                self._authorize(req, route.permission)
            with self.lock:  # one operation at a time, as one consistent GitHub
                reply: Reply = route.handler(self, req)
        except Refusal as refusal:
            reply = Reply(refusal.status, {"message": refusal.message,
                                           "documentation_url": DOCS,
                                           **({"errors": refusal.errors}
                                              if refusal.errors else {})},
                          refusal.headers)
        reply.headers = {**extra, **reply.headers}
        call.status = reply.status
        bad = self.description.check_response(op, reply.status, reply.body)
        if bad:
            with self.lock:
                self.violations.extend(bad)
        return reply.status, reply.body, reply.headers

    def _faults(self) -> None:
        with self.lock:
            delay = self._delays.pop(0) if self._delays else 0.0
            failure = self._failures.pop(0) if self._failures else None
            secondary = self._secondary.pop(0) if self._secondary else None
        if delay:
            time.sleep(delay)
        if failure is not None:
            raise Refusal(failure, "Server Error" if failure != 503 else "Service Unavailable")
        if secondary is not None:
            status, retry_after = secondary
            raise Refusal(status, SECONDARY_MESSAGE,
                          headers={"Retry-After": str(retry_after)} if retry_after else {})

    def _authenticate(self, req: Request, header: str, caller: str) -> None:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not credential:
            raise Refusal(401, "Requires authentication")
        if credential.count(".") == 2 and scheme.lower() == "bearer":
            req.app = self._verify_jwt(credential)
            if caller != "app":
                raise Refusal(403, "Resource not accessible by integration")  # App JWT
            return
        if caller == "app":
            raise Refusal(401, "A JSON web token could not be decoded")
        with self.lock:
            token = self.tokens.get(credential)
        if token is None or (token.expires is not None and token.expires <= self.clock.now()):
            raise Refusal(401, "Bad credentials")
        req.installation = token.installation
        req.app = token.installation.app if token.installation else None
        req.user = token.user

    def _verify_jwt(self, credential: str) -> App:
        try:
            claims = jwt.decode(credential, options={"verify_signature": False})
            app = self.apps.get(int(claims.get("iss")))
        except (jwt.PyJWTError, TypeError, ValueError):
            raise Refusal(401, "A JSON web token could not be decoded") from None
        if app is None:
            raise Refusal(401, "Integration not found")
        try:
            claims = jwt.decode(credential, app.public_key, algorithms=["RS256"],
                                options={"verify_exp": False, "verify_iat": False,
                                         "verify_nbf": False})
        except jwt.PyJWTError:
            raise Refusal(401, "A JSON web token could not be decoded") from None
        now = self.clock.now()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or iat > now + 60:
            raise Refusal(401, "'Issued at' claim ('iat') must be an Integer representing the "
                          "time that the assertion was issued.")
        if not isinstance(exp, int) or exp <= now:
            raise Refusal(401, "'Expiration time' claim ('exp') must be a numeric value "
                          "representing the future time at which the assertion expires.")
        if exp - iat > 600:
            raise Refusal(401, "'Expiration time' claim ('exp') is too far in the future.")
        return app

    def _caller_name(self, req: Request) -> str:
        if req.installation:
            return f"installation:{req.installation.id}"
        if req.user:
            return f"user:{req.user}"
        return f"app:{req.app.id}" if req.app else ""

    def _spend(self, caller: str) -> dict[str, str]:
        now = self.clock.now()
        with self.lock:
            budget = self._budgets.get(caller)
            if budget is None:
                remaining, reset = self._rate_default or (RATE_LIMIT, now + 3600)
                budget = self._budgets[caller] = _Budget(self._rate_limit, remaining, reset)
            if now >= budget.reset:
                budget.remaining, budget.reset = budget.limit, now + 3600
            headers = {"X-RateLimit-Limit": str(budget.limit),
                       "X-RateLimit-Reset": str(int(budget.reset)),
                       "X-RateLimit-Resource": "core"}
            if budget.remaining <= 0:
                headers.update({"X-RateLimit-Remaining": "0",
                                "X-RateLimit-Used": str(budget.limit)})
                who = caller.replace("installation:", "installation ID ")
                raise Refusal(403, f"API rate limit exceeded for {who}.", headers=headers)
            budget.remaining -= 1
            headers.update({"X-RateLimit-Remaining": str(budget.remaining),
                            "X-RateLimit-Used": str(budget.limit - budget.remaining)})
        return headers

    def _authorize(self, req: Request, permission: tuple[str, str] | None) -> None:
        full = f"{req.params['owner']}/{req.params['repo']}"
        repo = self.repos.get(full.lower())
        if repo is None:
            raise Refusal(404, "Not Found")
        req.repo = repo
        resource, level = permission or ("metadata", "read")
        if req.installation is not None:
            if not req.installation.covers(full):
                raise Refusal(404, "Not Found")
            held = req.installation.permissions.get(resource, "none")
            if LEVELS[held] < LEVELS[level]:
                raise Refusal(403, "Resource not accessible by integration")
            return
        assert req.user is not None
        held = repo.permission(req.user)
        if held == "none":
            raise Refusal(404, "Not Found")
        needed = "admin" if resource == "administration" else level
        if LEVELS[held] < LEVELS[needed]:
            raise Refusal(403, "Resource not accessible by personal access token")


def _handler_for(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # the headers and the body are two writes: with Nagle's algorithm on, a kept-alive
        # connection's answer waits for the client's delayed ACK (about 40 ms a call)
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra = fake.serve(self.command, self.path, headers, raw)
            data = b"" if body is None else json.dumps(body).encode()
            try:
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


