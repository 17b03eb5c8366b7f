"""A fake Gerrit REST API on 127.0.0.1, answering the shapes of
``../shared/corpus/gerrit/rest/`` with Gerrit's ``)]}'`` prefix.

``/a/...`` needs HTTP basic auth; queries page with ``n`` and ``S``/``start`` and
mark the last change of a page with ``_more_changes``; reviews and submits are
recorded. Switches make it answer as things go wrong: an HTML page, JSON without
the prefix, 5xx for the next requests (or for one path), slowly, or a submit
refused with 409. ``set_topic``, ``set_hashtags``, ``set_wip`` and
``move_branch`` change what it answers and return Gerrit's stream-events line
for the change (a test drops it to play a disconnected stream).

Reviews may carry robot comments (each needs ``robot_id`` and ``robot_run_id``);
``robot_comments = "removed"`` answers them 400, as a Gerrit without them. The
``checks`` plugin's ``POST .../revisions/<rev>/checks/`` records CheckInput (an
update keeps what it does not set) in ``checks``; ``checks_plugin = False`` answers
404 there, as a server without the plugin.
"""

from __future__ import annotations

import base64
import calendar
import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

PREFIX = ")]}'\n"
CHECK_STATES = ("NOT_STARTED", "SCHEDULED", "RUNNING", "SUCCESSFUL", "FAILED", "NOT_RELEVANT")


def parse_timestamp(value: str) -> float:
    """Epoch seconds of Gerrit's ``yyyy-mm-dd hh:mm:ss[.fffffffff]`` (UTC)."""
    return float(calendar.timegm(time.strptime(value[:19], "%Y-%m-%d %H:%M:%S")))


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    user: str | None


@dataclass
class FakeGerritRest:
    """Gerrit's REST API; ``changes`` are ChangeInfo dicts keyed by number."""

    user: str = "zuul"
    password: str = "secret"
    changes: dict[int, dict[str, Any]] = field(default_factory=dict)
    version: str = "3.9.1"
    related: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    mode: str = "ok"  # ok | html | no-prefix
    fail_next: int = 0  # how many next requests answer fail_status
    fail_status: int = 503
    #: requests whose path (less ``/a``) starts with this fail: with fail_status, or
    #: with a sign-in page (200, HTML) when fail_status is 200
    fail_path: str | None = None
    delay: float = 0.0  # seconds before each answer
    submit_refusal: str | None = None  # a 409's text/plain body
    calls: list[Call] = field(default_factory=list)
    #: project -> {"head": branch, "branches": {branch: sha}, "tags": {tag: sha}}
    #: (``/projects/`` answers; tags optional)
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    robot_comments: str = "ok"  # ok | removed (400, as a Gerrit without them)
    checks_plugin: bool = True
    #: (change number, patch set) -> checker UUID -> CheckInfo
    checks: dict[tuple[int, int], dict[str, dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._lock = threading.Lock()
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True, name="fake-gerrit-rest").start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_change(self, change: dict[str, Any]) -> None:
        self.changes[int(change["_number"])] = copy.deepcopy(change)

    # ------------------------------------------------------------ changing state
    # Each changes what REST answers, as Gerrit would, and returns the stream-events
    # line Gerrit sends for it (feed it to a listener, or drop it: a missed event).
    def _touch(self, number: int, user: str, text: str, tag: str, at: float | None
               ) -> tuple[dict[str, Any], float]:
        change = self.changes[number]
        at = time.time() if at is None else at
        stamp = time.strftime("%Y-%m-%d %H:%M:%S.000000000", time.gmtime(at))
        change["updated"] = stamp
        messages = change.setdefault("messages", [])
        messages.append({"id": f"s{len(messages) + 1}", "author": {"username": user},
                         "date": stamp, "message": text, "tag": tag,
                         "_revision_number": change.get("current_revision_number")})
        return change, at

    @staticmethod
    def _line(event: dict[str, Any]) -> bytes:
        return (json.dumps(event, separators=(",", ":")) + "\n").encode()

    def _stream_event(self, kind: str, change: dict[str, Any], at: float,
                      **fields: Any) -> bytes:
        stream_change: dict[str, Any] = {
            "project": change["project"], "branch": change["branch"],
            "id": change["change_id"], "number": change["_number"],
            "subject": change["subject"], "owner": {"username": change["owner"]["username"]},
            "status": change["status"]}
        if change.get("topic"):
            stream_change["topic"] = change["topic"]
        if change.get("hashtags"):
            stream_change["hashtags"] = list(change["hashtags"])
        if change.get("work_in_progress"):
            stream_change["wip"] = True
        event = {**fields, "change": stream_change, "project": change["project"],
                 "refName": f"refs/heads/{change['branch']}",
                 "changeKey": {"id": change["change_id"]}, "type": kind,
                 "eventCreatedOn": int(at)}
        return self._line(event)

    def set_topic(self, number: int, topic: str | None, *, user: str = "alice",
                  at: float | None = None) -> bytes:
        change = self.changes[number]
        old = change.get("topic")
        if topic:
            change["topic"] = topic
        else:
            change.pop("topic", None)
        change, at = self._touch(number, user, f"Topic set to {topic}",
                                 "autogenerated:gerrit:setTopic", at)
        fields: dict[str, Any] = {"changer": {"username": user}}
        if old:
            fields["oldTopic"] = old
        return self._stream_event("topic-changed", change, at, **fields)

    def set_hashtags(self, number: int, *, add: tuple[str, ...] = (),
                     remove: tuple[str, ...] = (), user: str = "bob",
                     at: float | None = None) -> bytes:
        change = self.changes[number]
        before = set(change.get("hashtags") or ())
        after = (before | set(add)) - set(remove)
        change["hashtags"] = sorted(after)
        change, at = self._touch(number, user, "Hashtags changed",
                                 "autogenerated:gerrit:setHashtag", at)
        fields: dict[str, Any] = {"editor": {"username": user}, "hashtags": sorted(after)}
        if after - before:
            fields["added"] = sorted(after - before)
        if before - after:
            fields["removed"] = sorted(before - after)
        return self._stream_event("hashtags-changed", change, at, **fields)

    def set_wip(self, number: int, wip: bool, *, user: str = "alice",
                at: float | None = None) -> bytes:
        change = self.changes[number]
        if wip:
            change["work_in_progress"] = True
        else:
            change.pop("work_in_progress", None)
        tag = "setWorkInProgress" if wip else "setReadyForReview"
        change, at = self._touch(number, user, "Set Work In Progress" if wip
                                 else "Set Ready For Review", f"autogenerated:gerrit:{tag}", at)
        return self._stream_event("wip-state-changed", change, at,
                                  changer={"username": user})

    def move_branch(self, project: str, branch: str, revision: str | None, *,
                    at: float | None = None, kind: str = "branches") -> bytes:
        """Point ``branch`` of ``project`` at ``revision`` (None: delete it); with
        ``kind="tags"``, a tag."""
        state = self.projects.setdefault(project, {"head": branch, "branches": {}})
        refs = state.setdefault(kind, {})
        zero = "0" * 40
        old = refs.get(branch, zero)
        if revision is None:
            refs.pop(branch, None)
        else:
            refs[branch] = revision
        at = time.time() if at is None else at
        prefix = "refs/tags/" if kind == "tags" else "refs/heads/"
        return self._line({"refUpdate": {"oldRev": old, "newRev": revision or zero,
                                         "refName": f"{prefix}{branch}",
                                         "project": project},
                           "type": "ref-updated", "eventCreatedOn": int(at)})

    # ------------------------------------------------------------ answering
    def _send(self, h: BaseHTTPRequestHandler, status: int, body: str,
              content_type: str = "application/json; charset=utf-8") -> None:
        data = body.encode()
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _json(self, h: BaseHTTPRequestHandler, value: Any) -> None:
        if self.mode == "html":
            self._send(h, 200, "<!DOCTYPE html><html><head><title>Sign in</title></head>"
                               "<body>Sign in to Gerrit</body></html>", "text/html")
        elif self.mode == "no-prefix":
            self._send(h, 200, json.dumps(value))
        else:
            self._send(h, 200, PREFIX + json.dumps(value, indent=2))

    def _text(self, h: BaseHTTPRequestHandler, status: int, text: str) -> None:
        self._send(h, status, text, "text/plain; charset=utf-8")

    def _user(self, h: BaseHTTPRequestHandler) -> str | None:
        header = h.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if (user, password) == (self.user, self.password) else None

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        path = parts.path
        user = self._user(h)
        with self._lock:
            self.calls.append(Call(method, path, parse_qs(parts.query), body, user))
            failing = self.fail_next > 0
            if failing:
                self.fail_next -= 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail_path is not None and path.removeprefix("/a").startswith(self.fail_path):
            if self.fail_status == 200:
                return self._send(h, 200, "<!DOCTYPE html><html><body>Sign in</body></html>",
                                  "text/html")
            failing = True
        if failing:
            return self._send(h, self.fail_status, "<html><body>Bad gateway</body></html>",
                              "text/html")
        if path.startswith("/a/"):
            if user is None:
                return self._text(h, 401, "Unauthorized")
            path = path[2:]
        elif method == "POST":
            return self._text(h, 403, "Authentication required")
        if method == "POST" and re.fullmatch(r"/changes/[^/]+/revisions/[^/]+/review", path):
            refusal = self._review_refusal(body or {})
            if refusal is not None:
                return self._text(h, 400, refusal)
        self._route(h, method, path, parse_qs(parts.query), body)

    def _review_refusal(self, review: dict[str, Any]) -> str | None:
        """Why Gerrit would answer a ReviewInput 400 (its robot comments); None: taken."""
        robots = review.get("robot_comments")
        if not robots:
            return None
        if self.robot_comments == "removed":
            return "robot comments are not supported"
        for path, entries in robots.items():
            for entry in entries:
                for needed in ("robot_id", "robot_run_id", "message"):
                    if not entry.get(needed):
                        return f"{needed} is missing in robot comment on {path}"
        return None

    def _change(self, ident: str) -> dict[str, Any] | None:
        ident = unquote(ident)
        for change in self.changes.values():
            number = change["_number"]
            if ident in (str(number), f"{change['project']}~{number}",
                         f"{change['project']}~{change['branch']}~{change['change_id']}",
                         change["change_id"]):
                return change
        return None

    def _route(self, h: BaseHTTPRequestHandler, method: str, path: str,
               query: dict[str, list[str]], body: Any) -> None:
        if method == "GET" and path == "/config/server/version":
            return self._json(h, self.version)
        if method == "GET" and path == "/changes/":
            return self._query(h, query)
        if method == "GET" and (p := re.fullmatch(r"/projects/([^/]+)(/.*)?", path)):
            return self._project(h, unquote(p.group(1)), p.group(2) or "")
        m = re.fullmatch(r"/changes/([^/]+)(/.*)?", path)
        if not m:
            return self._text(h, 404, "Not found")
        change = self._change(m.group(1))
        if change is None:
            return self._text(h, 404, f"Not found: {unquote(m.group(1))}")
        rest = m.group(2) or ""
        if method == "GET" and rest in ("", "/detail"):
            return self._json(h, change)
        if method == "POST" and rest == "/submit":
            if self.submit_refusal is not None:
                return self._text(h, 409, self.submit_refusal)
            change.update(status="MERGED", submitted="2023-11-15 02:00:00.000000000",
                          submitter={"_account_id": 1000010, "username": self.user})
            return self._json(h, {k: v for k, v in change.items() if k != "revisions"})
        if m3 := re.fullmatch(r"/revisions/([^/]+)/checks/?", rest):
            if not self.checks_plugin:
                return self._text(h, 404, "Not found")
            return self._check(h, method, change, unquote(m3.group(1)), body)
        m2 = re.fullmatch(r"/revisions/([^/]+)/(review|related)", rest)
        if m2 and method == "POST" and m2.group(2) == "review":
            return self._json(h, {"labels": (body or {}).get("labels", {})})
        if m2 and method == "GET" and m2.group(2) == "related":
            return self._json(h, {"changes": self.related.get(change["_number"], [])})
        return self._text(h, 404, "Not found")

    def _patchset(self, change: dict[str, Any], revision: str) -> int | None:
        """The patch set number ``revision`` (a number, a sha or ``current``) names."""
        revisions = change.get("revisions") or {}
        if revision == "current":
            revision = str(change.get("current_revision"))
        if revision in revisions:
            return int(revisions[revision]["_number"])
        numbers = {str(r["_number"]) for r in revisions.values()}
        return int(revision) if revision in numbers else None

    def _check(self, h: BaseHTTPRequestHandler, method: str, change: dict[str, Any],
               revision: str, body: Any) -> None:
        """The checks plugin: list the checks of a revision, or create/update one."""
        ps = self._patchset(change, revision)
        if ps is None:
            return self._text(h, 404, f"Not found: {revision}")
        key = (int(change["_number"]), ps)
        if method == "GET":
            return self._json(h, list(self.checks.get(key, {}).values()))
        check = body if isinstance(body, dict) else {}
        uuid = check.get("checker_uuid")
        if not uuid:
            return self._text(h, 400, "checker UUID is required")
        if check.get("state") is not None and check["state"] not in CHECK_STATES:
            return self._text(h, 400, f"invalid state: {check['state']}")
        with self._lock:
            info = self.checks.setdefault(key, {}).setdefault(uuid, {
                "repository": change["project"], "change_number": key[0],
                "patch_set_id": ps, "checker_uuid": uuid, "state": "NOT_STARTED",
                "created": "2023-11-15 02:00:00.000000000"})
            info.update({k: v for k, v in check.items() if v is not None})
            info["updated"] = "2023-11-15 02:00:00.000000000"
            answer = copy.deepcopy(info)
        return self._json(h, answer)

    def project_state(self, name: str) -> dict[str, Any] | None:
        """{"head": branch, "branches": {branch: sha}} of a project; None: no project."""
        return self.projects.get(name)

    def _project(self, h: BaseHTTPRequestHandler, name: str, rest: str) -> None:
        state = self.project_state(name)
        if state is None:
            return self._text(h, 404, f"Not found: {name}")
        if rest == "":
            return self._json(h, {"id": name.replace("/", "%2F"), "name": name,
                                  "state": "ACTIVE"})
        if rest == "/config":
            submit = state.get("submit_type", "MERGE_IF_NECESSARY")
            return self._json(h, {"default_submit_type": {
                "value": submit, "configured_value": "INHERIT",
                "inherited_value": submit}, "submit_type": submit})
        if rest == "/HEAD":
            return self._json(h, f"refs/heads/{state['head']}")
        if rest == "/tags/":
            return self._json(h, [{"ref": f"refs/tags/{t}", "revision": sha}
                                  for t, sha in sorted(state.get("tags", {}).items())])
        if rest == "/branches/":
            return self._json(h, [{"ref": "HEAD", "revision": state["head"]},
                                  {"ref": "refs/meta/config", "revision": "0" * 40}]
                              + [{"ref": f"refs/heads/{b}", "revision": sha}
                                 for b, sha in sorted(state["branches"].items())])
        if m := re.fullmatch(r"/branches/([^/]+)", rest):
            branch = unquote(m.group(1)).removeprefix("refs/heads/")
            if branch not in state["branches"]:
                return self._text(h, 404, f"Not found: {branch}")
            return self._json(h, {"ref": f"refs/heads/{branch}",
                                  "revision": state["branches"][branch]})
        return self._text(h, 404, "Not found")

    def _query(self, h: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        q = query.get("q", [""])[0]
        found = sorted(self.changes.values(), key=lambda c: c["updated"], reverse=True)
        if m := re.search(r'\btopic:"((?:[^"\\]|\\.)*)"', q):
            topic = re.sub(r"\\(.)", r"\1", m.group(1))  # Gerrit's escapes in quotes
            found = [c for c in found if c.get("topic") == topic]
            q = q[:m.start()] + q[m.end():]  # what is quoted is no operator
        elif m := re.search(r'\btopic:(\S+)', q):
            found = [c for c in found if c.get("topic") == m.group(1)]
        if m := re.search(r'\bmessage:"((?:[^"\\]|\\.)*)"', q):
            text = re.sub(r"\\(.)", r"\1", m.group(1))
            found = [c for c in found if text in _commit_message(c)]
            q = q[:m.start()] + q[m.end():]
        elif m := re.search(r'\bmessage:(\S+)', q):
            found = [c for c in found if m.group(1) in _commit_message(c)]
            q = q[:m.start()] + q[m.end():]
        if m := re.search(r'change:(\d+)\b', q):
            found = [c for c in found if c["_number"] == int(m.group(1))]
        if m := re.search(r'change:(I[0-9a-f]{40})', q):
            found = [c for c in found if c["change_id"] == m.group(1)]
        if m := re.search(r'commit:([0-9a-f]{40})', q):
            found = [c for c in found if m.group(1) in (c.get("revisions") or {})]
        if m := re.search(r'project:(\S+)', q):
            found = [c for c in found if c["project"] == m.group(1)]
        if m := re.search(r'branch:(\S+)', q):
            found = [c for c in found if c["branch"] == m.group(1)]
        if m := re.search(r'(?:since|after):"([^"]+)"', q):
            since = parse_timestamp(m.group(1))
            found = [c for c in found if parse_timestamp(c["updated"]) >= since]
        if "status:open" in q:
            found = [c for c in found if c["status"] == "NEW"]
        size = int(query.get("n", ["500"])[0])
        start = int(query.get("S", query.get("start", ["0"]))[0])
        page = [copy.deepcopy(c) for c in found[start:start + size]]
        if page and start + size < len(found):
            page[-1]["_more_changes"] = True
        self._json(h, page)


def _commit_message(change: dict[str, Any]) -> str:
    """The commit message of ``change``'s current revision (what ``message:`` searches)."""
    revision = (change.get("revisions") or {}).get(change.get("current_revision")) or {}
    return str((revision.get("commit") or {}).get("message") or "")
