"""A fake Gerrit backed by real git repositories.

Bare repositories under ``root`` hold the branches and every patch set as
``refs/changes/NN/N/P``; the REST server (``FakeGerritRest``) answers ChangeInfo
built from the corpus's shape for them, serves the repositories by git smart
HTTP under ``/a/<project>`` (behind the same basic authentication, proxied to a
``GitHttpServer``), and a submit really moves the branch (a fast-forward when
the change is on the tip, else a merge commit, as Gerrit's "merge if
necessary"). Each upload, vote, review and submit is announced as Gerrit would
announce it, as a stream-events line handed to ``emit`` (the fake SSH server's
``send``; or collected in ``lines``).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tests.fakes.gerrit import query_change
from tests.fakes.gerrit.rest import FakeGerritRest
from tests.fakes.git_http import GitHttpServer

ACCOUNTS = {
    "alice": {"_account_id": 1000001, "name": "Alice Developer", "email": "alice@example.org",
              "username": "alice"},
    "bob": {"_account_id": 1000002, "name": "Bob Core", "email": "bob@example.org",
            "username": "bob"},
    "zuul": {"_account_id": 1000010, "name": "Zuul", "email": "zuul@example.org",
             "username": "zuul"},
}
LABELS = ("Code-Review", "Verified", "Workflow")
GIT_ENV = {"GIT_AUTHOR_NAME": "Alice Developer", "GIT_AUTHOR_EMAIL": "alice@example.org",
           "GIT_COMMITTER_NAME": "Alice Developer", "GIT_COMMITTER_EMAIL": "alice@example.org",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def _timestamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S.000000000", time.gmtime(epoch))


def _stream_account(name: str) -> dict[str, str]:
    a = ACCOUNTS[name]
    return {"name": a["name"], "email": a["email"], "username": a["username"]}


class GitBackedGerrit(FakeGerritRest):
    """The REST API over ``root``'s repositories; see the module's docstring."""

    def __init__(self, root: Path, *, emit: Callable[[bytes], None] | None = None,
                 user: str = "zuul", password: str = "secret"):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git_server = GitHttpServer(root)
        self.emit = emit
        self.lines: list[bytes] = []
        self.next_number = 1
        #: project -> Gerrit's submit type (default MERGE_IF_NECESSARY)
        self.submit_types: dict[str, str] = {}
        self.submit_mode = "merge"  # merge | untested (merges an extra file in)
        #: label -> the vote a submit needs (Gerrit's submit requirements, as a site
        #: that makes Verified +2 mandatory configures them)
        self.submit_requires: dict[str, int] = {}
        #: the inline comments reviews left (CommentInfo-like: the path, the patch
        #: set, and ``robot`` for a robot comment)
        self.inline_comments: list[dict[str, Any]] = []
        self._git_lock = threading.Lock()
        super().__init__(user=user, password=password)

    def close(self) -> None:
        super().close()
        self.git_server.close()

    # ------------------------------------------------------------ git
    def _git(self, project: str, *args: str, input: bytes | None = None,
             env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(["git", *args], cwd=self.root / f"{project}.git", input=input,
                              capture_output=True, env={**os.environ, **GIT_ENV, **(env or {})},
                              check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"git {args}: {proc.stderr.decode()}")
        return proc.stdout.decode().strip()

    def _commit(self, project: str, parent: str | None, files: dict[str, str],
                message: str) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._git(project, "read-tree", *([parent] if parent else ["--empty"]), env=env)
            for path, content in files.items():
                blob = self._git(project, "hash-object", "-w", "--stdin",
                                 input=content.encode())
                self._git(project, "update-index", "--add", "--cacheinfo",
                          f"100644,{blob},{path}", env=env)
            tree = self._git(project, "write-tree", env=env)
        return self._git(project, "commit-tree", tree, *(["-p", parent] if parent else []),
                         "-m", message)

    def create_project(self, project: str, files: dict[str, str],
                       branch: str = "master") -> str:
        path = self.root / f"{project}.git"
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "--bare", "-b", branch, str(path)], check=True,
                       env={**os.environ, **GIT_ENV})
        sha = self._commit(project, None, files, "Initial commit")
        self._git(project, "update-ref", f"refs/heads/{branch}", sha)
        return sha

    def tip(self, project: str, branch: str = "master") -> str | None:
        try:
            return self._git(project, "rev-parse", "--verify", "-q", f"refs/heads/{branch}")
        except RuntimeError:
            return None

    def tree(self, project: str, rev: str) -> str:
        return self._git(project, "rev-parse", f"{rev}^{{tree}}")

    def read(self, project: str, rev: str, path: str) -> str:
        return self._git(project, "show", f"{rev}:{path}")

    def project_state(self, name: str) -> dict[str, Any] | None:
        path = self.root / f"{name}.git"
        if not path.is_dir():
            return None
        refs = self._git(name, "for-each-ref", "--format=%(refname) %(objectname)",
                         "refs/heads/")
        branches = {r.split()[0].removeprefix("refs/heads/"): r.split()[1]
                    for r in refs.splitlines() if r}
        head = self._git(name, "symbolic-ref", "HEAD").removeprefix("refs/heads/")
        return {"head": head, "branches": branches,
                "submit_type": self.submit_types.get(name, "MERGE_IF_NECESSARY")}

    # ------------------------------------------------------------ changes
    def upload(self, project: str, files: dict[str, str], subject: str, *,
               branch: str = "master", parent: str | None = None, number: int | None = None,
               footers: str = "", uploader: str = "alice", topic: str | None = None
               ) -> dict[str, Any]:
        """A new change (or, with ``number``, a new patch set of it) whose commit is
        ``parent`` (default: the branch tip) plus ``files``, in ``topic`` when given
        (as ``git push -o topic=...``); announces it."""
        existing = self.changes.get(number) if number is not None else None
        if existing is None:
            number = self.next_number
            self.next_number += 1
            change_id = f"I{number:040x}"
        else:
            change_id = existing["change_id"]
        assert number is not None
        parent = parent or self.tip(project, branch)
        message = f"{subject}\n\n{footers}\n\nChange-Id: {change_id}\n" if footers \
            else f"{subject}\n\nChange-Id: {change_id}\n"
        sha = self._commit(project, parent, files, message)
        ps = 1 if existing is None else existing["current_revision_number"] + 1
        ref = f"refs/changes/{number % 100:02d}/{number}/{ps}"
        self._git(project, "update-ref", ref, sha)
        now = time.time()
        revision = {
            "kind": "REWORK", "_number": ps, "created": _timestamp(now),
            "uploader": ACCOUNTS[uploader], "ref": ref,
            "fetch": {"http": {"url": f"{self.url}/{project}", "ref": ref}},
            "commit": {"parents": [{"commit": parent, "subject": "parent"}] if parent else [],
                       "author": {"name": "Alice Developer", "email": "alice@example.org",
                                  "date": _timestamp(now), "tz": 0},
                       "committer": {"name": "Alice Developer", "email": "alice@example.org",
                                     "date": _timestamp(now), "tz": 0},
                       "subject": subject, "message": message},
            "files": {path: {"lines_inserted": content.count("\n") + 1}
                      for path, content in files.items()},
        }
        if existing is None:
            info = copy.deepcopy(query_change())
            for k in ("topic", "attention_set", "submit_type", "mergeable", "meta_rev_id"):
                info.pop(k, None)
            info.update(
                id=f"{project.replace('/', '%2F')}~{number}",
                triplet_id=f"{project.replace('/', '%2F')}~{branch}~{change_id}",
                project=project, branch=branch, change_id=change_id, subject=subject,
                status="NEW", created=_timestamp(now), _number=number,
                virtual_id_number=number, owner=ACCOUNTS[uploader], revisions={})
            for label in LABELS:
                info["labels"][label].pop("approved", None)
        else:
            info = existing
        info.update(updated=_timestamp(now), subject=subject, current_revision=sha,
                    current_revision_number=ps)
        if topic is not None:
            info["topic"] = topic
        info["revisions"][sha] = revision
        for label in LABELS:  # a new patch set starts with no votes
            info["labels"][label]["all"] = []
        self.changes[number] = info
        self._message(info, uploader, f"Uploaded patch set {ps}.",
                      tag="autogenerated:gerrit:newPatchSet")
        self.announce("patchset-created", number, uploader=_stream_account(uploader))
        return info

    def set_topic(self, number: int, topic: str, *, user: str = "alice") -> bytes:
        """``user`` sets (``""``: removes) the change's topic; the topic-changed line."""
        info = self.changes[number]
        old = info.get("topic")
        if topic:
            info["topic"] = topic
        else:
            info.pop("topic", None)
        info["updated"] = _timestamp(time.time())
        fields: dict[str, Any] = {"changer": _stream_account(user)}
        if old:
            fields["oldTopic"] = old
        return self.announce("topic-changed", number, **fields)

    def _stream_change(self, info: dict[str, Any]) -> dict[str, Any]:
        rev = info["revisions"][info["current_revision"]]
        topic = {"topic": info["topic"]} if info.get("topic") else {}
        return {**topic, "project": info["project"], "branch": info["branch"],
                "id": info["change_id"],
                "number": info["_number"], "subject": info["subject"],
                "owner": _stream_account(info["owner"]["username"]),
                "url": f"{self.url}/c/{info['project']}/+/{info['_number']}",
                "commitMessage": rev["commit"]["message"], "status": info["status"],
                "createdOn": int(time.time())}

    def _stream_patchset(self, info: dict[str, Any]) -> dict[str, Any]:
        sha = info["current_revision"]
        rev = info["revisions"][sha]
        return {"number": rev["_number"], "revision": sha,
                "parents": [p["commit"] for p in rev["commit"]["parents"]], "ref": rev["ref"],
                "uploader": _stream_account(rev["uploader"]["username"]),
                "createdOn": int(time.time()), "kind": rev["kind"]}

    def event_line(self, kind: str, number: int, **fields: Any) -> bytes:
        """The stream-events line of a ``kind`` event about change ``number``, now."""
        info = self.changes[number]
        event = {**fields, "patchSet": self._stream_patchset(info),
                 "change": self._stream_change(info), "project": info["project"],
                 "refName": f"refs/heads/{info['branch']}",
                 "changeKey": {"id": info["change_id"]}, "type": kind,
                 "eventCreatedOn": int(time.time())}
        return (json.dumps(event, separators=(",", ":")) + "\n").encode()

    def announce(self, kind: str, number: int, **fields: Any) -> bytes:
        return self._send_line(self.event_line(kind, number, **fields))

    def _send_line(self, line: bytes) -> bytes:
        self.lines.append(line)
        if self.emit is not None:
            self.emit(line)
        return line

    def _set_votes(self, info: dict[str, Any], user: str, votes: dict[str, int]) -> list[Any]:
        approvals = []
        for label, value in votes.items():
            entries = info["labels"].setdefault(label, {"all": []})["all"]
            old = next((e for e in entries if e.get("username") == user), None)
            old_value = old.get("value", 0) if old else 0
            if old is not None:
                entries.remove(old)
            entries.append({**ACCOUNTS[user], "value": value,
                            "date": _timestamp(time.time())})
            approvals.append({"type": label, "description": label, "value": str(value),
                              "oldValue": str(old_value)})
        info["updated"] = _timestamp(time.time())
        return approvals

    def _message(self, info: dict[str, Any], user: str, text: str,
                 tag: str | None = None) -> None:
        """A ChangeMessageInfo, as Gerrit keeps one for every review and upload."""
        message: dict[str, Any] = {
            "id": f"m{len(info.setdefault('messages', [])) + 1}", "author": ACCOUNTS[user],
            "date": _timestamp(time.time()), "message": text,
            "_revision_number": info["current_revision_number"]}
        if tag:
            message["tag"] = tag
        info["messages"].append(message)

    def vote(self, number: int, votes: dict[str, int], *, user: str = "bob",
             message: str = "", announce: bool = True) -> bytes:
        """``user`` votes on the current patch set; the comment-added line."""
        info = self.changes[number]
        approvals = self._set_votes(info, user, votes)
        ps = info["current_revision_number"]
        text = " ".join(f"{k}{v:+d}" for k, v in votes.items())
        comment = f"Patch Set {ps}: {text}" + (f"\n\n{message}" if message else "")
        self._message(info, user, comment)
        line = self.event_line("comment-added", number, author=_stream_account(user),
                               approvals=approvals, comment=comment)
        return self._send_line(line) if announce else line

    # ------------------------------------------------------------ REST
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = h.path.split("?", 1)[0]
        if path.startswith("/a/") and ("/info/refs" in path or path.endswith("-pack")):
            return self._proxy_git(h, method)
        return super()._handle(h, method)

    def _proxy_git(self, h: BaseHTTPRequestHandler, method: str) -> None:
        if self._user(h) is None:
            h.send_response(401)
            h.send_header("WWW-Authenticate", 'Basic realm="Gerrit Code Review"')
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else None
        path, _, query = h.path[2:].partition("?")
        suffix = next(s for s in ("/info/refs", "/git-upload-pack", "/git-receive-pack")
                      if path.endswith(s))
        project = path[:-len(suffix)].removesuffix(".git")
        target = f"{project}.git{suffix}" + (f"?{query}" if query else "")
        headers = {k: v for k, v in h.headers.items()
                   if k.lower() in ("content-type", "git-protocol", "content-encoding",
                                    "accept")}
        request = urllib.request.Request(f"{self.git_server.url}{target}", data=body,
                                         method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                status, data, answer_headers = answer.status, answer.read(), answer.headers
        except urllib.error.HTTPError as exc:
            status, data, answer_headers = exc.code, exc.read(), exc.headers
        h.send_response(status)
        for k, v in answer_headers.items():
            if k.lower() in ("content-type", "cache-control", "expires", "pragma"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _route(self, h: BaseHTTPRequestHandler, method: str, path: str,
               query: dict[str, list[str]], body: Any) -> None:
        m = re.fullmatch(r"/changes/([^/]+)/(submit|revisions/([^/]+)/review)", path)
        change = self._change(m.group(1)) if m and method == "POST" else None
        if change is None or self.submit_refusal is not None:
            return super()._route(h, method, path, query, body)
        if m.group(2) == "submit":
            return self._submit(h, change)
        revision = unquote(m.group(3))
        current = change["revisions"][change["current_revision"]]["_number"]
        labels = (body or {}).get("labels") or {}
        if labels and revision not in (str(current), change["current_revision"], "current"):
            return self._text(h, 409, "cannot post votes on a patch set that is not current")
        with self._lock:
            approvals = self._set_votes(change, self.user, labels) if labels else []
            self._message(change, self.user, (body or {}).get("message") or "",
                          tag=(body or {}).get("tag"))
            ps = self._patchset(change, revision)
            for kind in ("comments", "robot_comments"):
                for path, entries in ((body or {}).get(kind) or {}).items():
                    self.inline_comments.extend(
                        {**entry, "path": path, "patch_set": ps,
                         "robot": kind == "robot_comments"} for entry in entries)
        line = self.event_line("comment-added", change["_number"],
                               author=_stream_account(self.user), approvals=approvals,
                               comment=self._review_text(change, labels, body))
        self._send_line(line)
        return self._json(h, {"labels": labels})

    @staticmethod
    def _review_text(change: dict[str, Any], labels: dict[str, int], body: Any) -> str:
        """The comment-added text Gerrit makes of a review: ``Patch Set N: votes`` and
        the message after a blank line."""
        votes = " ".join(f"{k}{int(v):+d}" for k, v in labels.items())
        head = f"Patch Set {change['current_revision_number']}:" + (f" {votes}" if votes else "")
        message = (body or {}).get("message")
        return f"{head}\n\n{message}" if message else head

    def _submit(self, h: BaseHTTPRequestHandler, change: dict[str, Any]) -> None:
        if change["status"] == "MERGED":
            return self._text(h, 409, "change is merged")
        for label, wanted in self.submit_requires.items():
            votes = [e.get("value", 0) for e in change["labels"].get(label, {}).get("all", [])]
            if not votes or max(votes) < wanted or min(votes) < 0:
                return self._text(h, 409, f"Change {change['_number']}: submit requirement "
                                          f"'{label}' is unsatisfied.")
        project, branch = change["project"], change["branch"]
        sha = change["current_revision"]
        with self._git_lock:
            old = self.tip(project, branch)
            parents = [p["commit"] for p in change["revisions"][sha]["commit"]["parents"]]
            if parents == [old] and self.submit_mode == "merge":
                new = sha
            else:
                tree = self._git(project, "merge-tree", "--write-tree", str(old), sha)
                tree = tree.splitlines()[0]
                if self.submit_mode == "untested":
                    extra = self._commit(project, sha, {"UNTESTED": "surprise\n"}, "x")
                    tree = self.tree(project, extra)
                new = self._git(project, "commit-tree", tree, "-p", str(old), "-p", sha,
                                "-m", f"Merge \"{change['subject']}\"")
            self._git(project, "update-ref", f"refs/heads/{branch}", new, str(old))
        change.update(status="MERGED", submitted=_timestamp(time.time()),
                      submitter=ACCOUNTS[self.user])
        self.announce("change-merged", change["_number"], submitter=_stream_account(self.user),
                      newRev=new)
        ref_updated = {"submitter": _stream_account(self.user),
                       "refUpdate": {"oldRev": old, "newRev": new,
                                     "refName": f"refs/heads/{branch}", "project": project},
                       "type": "ref-updated", "eventCreatedOn": int(time.time())}
        self._send_line((json.dumps(ref_updated, separators=(",", ":")) + "\n").encode())
        return self._json(h, {k: v for k, v in change.items() if k != "revisions"})
