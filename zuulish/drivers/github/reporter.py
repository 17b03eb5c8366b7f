"""Reporting to GitHub: comments, commit statuses, check runs, labels, reviews, and the
gate's merge.

A report is recorded in the connection's outbox, one call per row, and made by the
outbox's sender (so a slow, failing or rate-limiting GitHub never holds up the
scheduler, and a restart loses no report). The merge is made at once: the gate
needs its answer. A pipeline's ``status``/``check`` for the merging report are set
before the merge, so a branch protection that requires them lets it through.

What merges is what was tested: before merging, the pull request's head must be
the tested head and its base branch must hold the tree the gate tested on; GitHub's
own test merge, when it has one on that base, must have the tested tree; after
merging, the commit GitHub made must have the tested tree. GitHub merges with
commits of its own (its committer, its dates), so trees are compared, not commits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from zuulish.clock import Clock, SystemClock
from zuulish.drivers.github import pulls
from zuulish.drivers.github.client import GitHubClient
from zuulish.drivers.github.errors import GitHubApiError, unavailable
from zuulish.drivers.github.source import split_repo
from zuulish.drivers.outbox import Deferred, Outbox, Refused
from zuulish.errors import UserError
from zuulish.model import Ref
from zuulish.model.file_comments import comment_lines
from zuulish.store import Store
from zuulish.store.outbox import OutboxRow

log = logging.getLogger(__name__)

#: zuulish's merge modes and GitHub's merge methods
MERGE_METHODS = {"merge": "merge", "merge-resolve": "merge", "merge-recursive": "merge",
                 "squash-merge": "squash", "rebase": "rebase"}
#: a check reported with one of these is still running; the others complete it
CHECK_RUNNING = ("queued", "in_progress")
REVIEW_EVENTS = {"approve": "APPROVE", "comment": "COMMENT",
                 "request-changes": "REQUEST_CHANGES"}
MAX_ANNOTATIONS = 50  # GitHub's limit per check run update
LEVELS = {"info": "notice", "warning": "warning", "error": "failure"}
#: GitHub refuses a longer comment (422 "Body is too long (maximum is 65536 characters)")
MAX_BODY = 65536
CUT_NOTE = "\n\n(Cut short: GitHub takes at most {limit} characters; the whole report " \
    "is on zuulish's dashboard.)\n"


def fit_body(text: str) -> str:
    """``text`` as GitHub takes it: cut short, with a note saying so, when too long."""
    if len(text) <= MAX_BODY:
        return text
    note = CUT_NOTE.format(limit=MAX_BODY)
    return text[:MAX_BODY - len(note)].rstrip() + note


def merge_method(mode: str) -> str:
    method = MERGE_METHODS.get(mode)
    if method is None:
        raise UserError(f"GitHub cannot merge with merge-mode {mode!r}; use merge, "
                        "squash-merge or rebase")
    return method


def context(tenant: str, pipeline: str) -> str:
    """The commit status context and check run name of a pipeline (as Zuul names them)."""
    return f"{tenant}/{pipeline}"


def annotations(file_comments: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """``zuul.file_comments`` as check run annotations (GitHub takes 50 per update)."""
    out = []
    for path, comments in sorted(file_comments.items()):
        for c in comments:
            line = int(c.get("line") or 1)
            found = c.get("range") or {}
            out.append({"path": path, "start_line": int(found.get("start_line", line)),
                        "end_line": int(found.get("end_line", line)),
                        "annotation_level": LEVELS.get(str(c.get("level")), "warning"),
                        "message": str(c.get("message") or "")})
    return out[:MAX_ANNOTATIONS]


class GithubReporter:
    def __init__(self, name: str, client: GitHubClient, store: Store, outbox: Outbox,
                 web_url: str, app_id: str | None = None, *, clock: Clock | None = None):
        self.name = name
        #: the GitHub App zuulish acts as: only its own check runs are updated (GitHub
        #: refuses an App the runs of another)
        self.app_id = app_id
        #: when a merge is recorded (see :func:`pulls.mark_merged`)
        self.clock: Clock = clock or SystemClock()
        self.client = client
        self.store = store
        self.outbox = outbox
        self.web_url = web_url.rstrip("/")

    def _pull(self, number: int) -> pulls.PullRequest:
        pull = pulls.get(self.store, self.name, number)
        if pull is None:
            raise UserError(f"no pull request {number} on connection {self.name!r}")
        return pull

    def _sha(self, pull: pulls.PullRequest, patchset: int | None) -> str | None:
        """The head the report is about: the tested patch set's, else the current one."""
        heads = pulls.shas(self.store, pull.id) if patchset else []
        return heads[patchset - 1] if patchset and 0 < patchset <= len(heads) \
            else pull.head_sha

    # --------------------------------------------------------------- reports
    def report(self, number: int, *, tenant: str, pipeline: str, action: str,
               result: str | None, votes: dict[str, int], message: str,
               patchset: int | None = None,
               file_comments: dict[str, list[dict[str, Any]]] | None = None,
               options: Mapping[str, Any] | None = None, comment: bool = True) -> None:
        """Record the report's calls in the outbox, in the order GitHub shows them."""
        pull = self._pull(number)
        options = dict(options or {})
        base = {"repo": pull.repo, "pull": pull.number, "sha": self._sha(pull, patchset),
                "report": [tenant, pipeline, patchset, action]}
        key = f"pull:{number}"
        file_comments = file_comments or {}
        url = options.get("status-url") or f"{self.web_url}/t/{tenant}/status"
        what = f"{pipeline}: {result or action}"
        if options.get("status"):
            self.outbox.put("status", key, {**base, "state": options["status"],
                                            "context": context(tenant, pipeline),
                                            "description": what, "target_url": url})
        if options.get("check"):
            self.outbox.put("check", key, {**base, "name": context(tenant, pipeline),
                                           "state": options["check"], "title": what,
                                           "summary": message, "details_url": url,
                                           "annotations": annotations(file_comments)})
        if comment and message.strip():
            text = message
            lines = comment_lines(file_comments)
            if lines and not options.get("check"):
                text = text.rstrip("\n") + "\n\nFile comments:\n" + "\n".join(lines) + "\n"
            self.outbox.put("comment", key, {**base, "body": fit_body(text)})
        if options.get("label") or options.get("unlabel"):
            self.outbox.put("labels", key, {**base, "add": list(options.get("label") or ()),
                                            "remove": list(options.get("unlabel") or ())})
        if options.get("review"):
            self.outbox.put("review", key, {**base, "event": REVIEW_EVENTS[options["review"]],
                                            "body": options.get("review-body")})
        if not any(options.get(k) for k in ("status", "check", "label", "unlabel", "review")) \
                and not (comment and message.strip()):
            # nothing to tell GitHub, but remember the report was made
            self.outbox.put("noop", key, base)

    def reported(self, number: int, *, tenant: str, pipeline: str, patchset: int,
                 action: str) -> bool:
        wanted = [tenant, pipeline, patchset, action]
        with self.store.read() as s:
            payloads = s.scalars(select(OutboxRow.payload).where(
                OutboxRow.connection == self.name, OutboxRow.key == f"pull:{number}"))
            return any((p or {}).get("report") == wanted for p in payloads)

    def report_ref(self, ref: Ref, *, tenant: str, pipeline: str, action: str,
                   result: str | None, message: str) -> None:
        """A push or a periodic run has no pull request to comment on: the result is on
        the dashboard and in the build history."""
        log.info("%s/%s %s of %s: %s", tenant, pipeline, action, ref.describe(),
                 result or "-")

    # ------------------------------------------------------------- delivery
    def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        """Make one recorded call (the outbox's sender calls this)."""
        owner, repo = split_repo(payload["repo"])
        try:
            if kind == "status":
                self.client.create_status(owner, repo, payload["sha"], state=payload["state"],
                                          context=payload["context"],
                                          description=payload["description"],
                                          target_url=payload["target_url"])
            elif kind == "check":
                self._check_run(owner, repo, payload)
            elif kind == "comment":
                self.client.create_comment(owner, repo, payload["pull"], payload["body"])
            elif kind == "labels":
                if payload["add"]:
                    self.client.add_labels(owner, repo, payload["pull"], payload["add"])
                for label in payload["remove"]:
                    self.client.remove_label(owner, repo, payload["pull"], label)
            elif kind == "review":
                self.client.create_review(owner, repo, payload["pull"], event=payload["event"],
                                          body=payload.get("body"), commit_id=payload["sha"])
            elif kind != "noop":
                raise Refused(f"unknown call {kind!r}")
        except GitHubApiError as exc:
            if exc.retry_after is not None:
                raise Deferred(str(exc), exc.retry_after) from exc
            if exc.refused:
                raise Refused(str(exc)) from exc
            raise

    def _check_run(self, owner: str, repo: str, payload: dict[str, Any]) -> None:
        """Update the pipeline's check run on this head, or create it."""
        state = payload["state"]
        fields: dict[str, Any] = {
            "details_url": payload["details_url"],
            "output": {"title": payload["title"][:255], "summary": payload["summary"][:65535],
                       **({"annotations": payload["annotations"]}
                          if payload["annotations"] else {})}}
        if state in CHECK_RUNNING:
            fields["status"] = state
        else:
            fields.update(status="completed", conclusion=state)
        existing = [run for run in self.client.list_check_runs(owner, repo, payload["sha"])
                    if run.get("name") == payload["name"]
                    and (self.app_id is None
                         or str((run.get("app") or {}).get("id")) == self.app_id)]
        if existing:
            self.client.update_check_run(owner, repo, existing[0]["id"], **fields)
        else:
            self.client.create_check_run(owner, repo, name=payload["name"],
                                         head_sha=payload["sha"], **fields)

    # ----------------------------------------------------------------- merge
    def submit(self, number: int, repo_state: dict[str, Any], *, tenant: str = "",
               pipeline: str = "", options: Mapping[str, Any] | None = None,
               votes: Mapping[str, int] | None = None) -> str:
        """Merge the pull request as tested; UserError (with GitHub's reason where it gave
        one) when it cannot be, or when GitHub's merge would not be the tested state."""
        try:
            return self._submit(number, repo_state, tenant, pipeline, dict(options or {}))
        except GitHubApiError as exc:
            raise unavailable(exc, f"cannot merge pull request {number} now") or \
                UserError(f"GitHub refused the merge: {exc.reason}") from exc

    def _submit(self, number: int, repo_state: dict[str, Any], tenant: str, pipeline: str,
                options: dict[str, Any]) -> str:
        pull = self._pull(number)
        owner, repo = split_repo(pull.repo)
        live = self.client.get_pull(owner, repo, pull.number)
        if live.get("merged"):  # merged before a restart
            merged = str(live.get("merge_commit_sha") or "")
            pulls.mark_merged(self.store, pull.id, merged, self.clock.now())
            return merged
        if live.get("state") != "open":
            raise UserError(f"{pull.display} is closed; it cannot be merged")
        state = repo_state.get(pull.repo)
        if state is None:
            raise UserError(f"no tested state for {pull.repo} in this item")
        # refused before anything is said to GitHub about a merge that cannot be made
        method = merge_method(state.get("merge_mode") or "merge")
        head = str(live["head"]["sha"])
        if head not in state.get("changes", ()):
            raise UserError(f"{pull.display} has new commits (head {head[:12]}) that were not "
                            "tested; it will be tested again")
        base = str(live["base"]["ref"])
        tip = str(self.client.get_branch(owner, repo, base)["commit"]["sha"])
        tip_tree = self._tree(owner, repo, tip)
        if state.get("pre_tree") and tip_tree != state["pre_tree"]:
            raise UserError(f"{base} of {pull.repo} moved since {pull.display} was tested "
                            f"(it is at {tip[:12]}, which holds what the gate did not test "
                            "on); not merged")
        self._check_test_merge(owner, repo, pull, live, tip, state)
        if tenant and pipeline:
            self._pre_merge_reports(owner, repo, head, tenant, pipeline, options)
        result = self.client.merge_pull(owner, repo, pull.number, sha=head, method=method)
        pulls.mark_merged(self.store, pull.id, result.sha, self.clock.now())
        merged_tree = self._tree(owner, repo, result.sha)
        if state.get("tree") and merged_tree != state["tree"]:
            log.error("%s: GitHub merged %s as %s with tree %s, but the gate tested tree %s",
                      self.name, pull.display, result.sha, merged_tree, state["tree"])
            raise UserError(f"GitHub merged {pull.display} as {result.sha[:12]}, whose tree "
                            f"is not the tested one ({merged_tree[:12]}, tested "
                            f"{str(state['tree'])[:12]}): the branch no longer holds "
                            "exactly what was tested")
        return result.sha

    def _tree(self, owner: str, repo: str, sha: str) -> str:
        return str(self.client.get_git_commit(owner, repo, sha)["tree"]["sha"])

    def _check_test_merge(self, owner: str, repo: str, pull: pulls.PullRequest,
                          live: dict[str, Any], tip: str, state: dict[str, Any]) -> None:
        """GitHub's own test merge of the pull request, when it made one on the current
        base, must be the tested tree: otherwise its merge would differ."""
        test_merge = live.get("merge_commit_sha")
        if not test_merge or live.get("mergeable") is not True or not state.get("tree"):
            return
        try:
            commit = self.client.get_git_commit(owner, repo, str(test_merge))
        except GitHubApiError as exc:
            if exc.status == 404:
                return  # not computed yet
            raise
        parents = [p.get("sha") for p in commit.get("parents") or ()]
        if parents[:1] == [tip] and commit["tree"]["sha"] != state["tree"]:
            raise UserError(f"GitHub's merge of {pull.display} would not be the tested state "
                            f"(its tree {commit['tree']['sha'][:12]}, tested "
                            f"{str(state['tree'])[:12]}); not merged")

    def _pre_merge_reports(self, owner: str, repo: str, head: str, tenant: str,
                           pipeline: str, options: dict[str, Any]) -> None:
        """The merging report's status and check, set now: a branch protection that
        requires them would refuse the merge otherwise."""
        name = context(tenant, pipeline)
        url = options.get("status-url") or f"{self.web_url}/t/{tenant}/status"
        if options.get("status"):
            self.client.create_status(owner, repo, head, state=options["status"],
                                      context=name, description=f"{pipeline}: merging",
                                      target_url=url)
        if options.get("check"):
            self._check_run(owner, repo, {"sha": head, "name": name,
                                          "state": options["check"],
                                          "title": f"{pipeline}: merging",
                                          "summary": "Every voting job passed; merging.",
                                          "details_url": url, "annotations": []})
