"""Reporting to Gerrit: reviews (a message, label votes, inline comments) through the
connection's outbox, and submitting exactly what was tested.

A report is a ReviewInput recorded in the outbox (kind ``review``) and posted by
the connection's :class:`~zuulish.drivers.outbox.OutboxSender` with
:meth:`GerritReporter.deliver`, so a slow or failing Gerrit never holds up the
scheduler and a restart loses no report. Labels go only on the current patch
set: that is checked when the review is posted, not when it was recorded, since
a new patch set may come in between; on an older patch set the message is
posted without the labels.

File comments (``zuul.file_comments``) are robot comments (RobotCommentInput: the
job as ``robot_id``, the build set as ``robot_run_id``, the build's page as
``url``). Gerrit 3.13 removed robot comments: a server of that version, or one
that answers 400 about them, gets them as plain comments, and the connection
remembers it. A pipeline's ``checks-api`` reporter option (``reporter_options``)
records a CheckInput (kind ``check``) posted to the ``checks`` plugin; a server
without the plugin answers 404, which is logged as an error and refused (not
retried), the rest of the report still made.

Submitting is synchronous. It refuses a change whose current revision was not
tested or whose branch moved since. Gerrit's merge commits are not the merger's
(another committer, another time), so once the changes ahead in the queue are
merged the branch is not at the tested ``pre`` commit: it must then hold the same
tree. After Gerrit merged the change the branch's new tree is compared with the
tested one. Both checks use the driver's clone of the repository, fetched (the
branch and the change refs), where the merger's states are rebuilt from the
tested ``base`` and commits (``ahead_changes`` and ``changes``) as the merger
built them; the trees must be equal. When they are not after the submit, Gerrit
merged something other than what was tested: that is logged as an ERROR and the
submit fails with a UserError saying so.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from zuulish.clock import Clock
from zuulish.drivers.gerrit.repos import GerritRepos
from zuulish.drivers.gerrit.rest import (
    GerritRest,
    GerritRestError,
    GerritSubmitError,
    change_id,
    review_input,
)
from zuulish.drivers.gerrit.source import GerritSource
from zuulish.drivers.outbox import Outbox, Refused
from zuulish.errors import UserError
from zuulish.merger.gitcli import MergeError
from zuulish.merger.speculative import DEFAULT_MODE, apply_commits, rev_parse
from zuulish.store import Store
from zuulish.store.outbox import OutboxRow

log = logging.getLogger(__name__)

REVIEW = "review"
CHECK = "check"
#: Gerrit's answers that will never change on a retry
REFUSED_STATUSES = (400, 401, 403, 404, 405, 409, 412, 422)
#: the robot_id of a comment whose job is not known
ROBOT_ID = "zuulish"
#: the first Gerrit release without robot comments
NO_ROBOT_COMMENTS = (3, 13)
#: RobotCommentInput's fields that CommentInput lacks
ROBOT_FIELDS = ("robot_id", "robot_run_id", "url", "properties", "fix_suggestions")
#: check states after which the checker is done (``finished`` is set), and the one
#: that starts it (``started``)
FINISHED_STATES = ("SUCCESSFUL", "FAILED", "NOT_RELEVANT")
STARTED_STATE = "RUNNING"


def outbox_key(number: int) -> str:
    return f"change:{number}"


def _comment(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A CommentInput (line, range, message; an ``error`` is left unresolved, the
    rest resolved) of one ``zuul.file_comments`` entry."""
    comment: dict[str, Any] = {"line": int(entry["line"]),
                               "message": str(entry["message"]),
                               "unresolved": entry.get("level") == "error"}
    if entry.get("range"):
        comment["range"] = dict(entry["range"])
    return comment


def gerrit_comments(file_comments: Mapping[str, list[dict[str, Any]]]
                    ) -> dict[str, list[dict[str, Any]]]:
    """``zuul.file_comments`` as ReviewInput ``comments`` (CommentInput)."""
    return {path: [_comment(e) for e in entries]
            for path, entries in file_comments.items() if entries}


def robot_comments(file_comments: Mapping[str, list[dict[str, Any]]], *, run_id: str,
                   web_url: str = "") -> dict[str, list[dict[str, Any]]]:
    """``zuul.file_comments`` as ReviewInput ``robot_comments`` (RobotCommentInput): the
    job that left a comment is its ``robot_id`` (``zuulish`` when not known), its build
    set the ``robot_run_id`` (``run_id`` when not known), the build's page its ``url``
    and the comment's level a property."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path, entries in file_comments.items():
        for entry in entries:
            comment = _comment(entry)
            comment["robot_id"] = str(entry.get("job") or ROBOT_ID)
            buildset = entry.get("buildset")
            comment["robot_run_id"] = str(buildset) if buildset is not None else run_id
            if entry.get("build") and web_url:
                comment["url"] = f"{web_url}/build/{entry['build']}"
            if entry.get("level"):
                comment["properties"] = {"level": str(entry["level"])}
            out.setdefault(path, []).append(comment)
    return out


def plain_comments(robots: Mapping[str, list[dict[str, Any]]]
                   ) -> dict[str, list[dict[str, Any]]]:
    """Robot comments as plain CommentInput, for a Gerrit without robot comments: the
    robot and its link go at the end of the message, so nothing is lost."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path, entries in robots.items():
        for entry in entries:
            comment = {k: v for k, v in entry.items() if k not in ROBOT_FIELDS}
            source = " ".join(str(entry[k]) for k in ("robot_id", "url") if entry.get(k))
            if source:
                comment["message"] = f"{entry['message']}\n\n({source})"
            out.setdefault(path, []).append(comment)
    return out


def without_robot_comments(review: Mapping[str, Any]) -> dict[str, Any]:
    """``review`` with its robot comments moved into ``comments``."""
    out = {k: v for k, v in review.items() if k != "robot_comments"}
    if review.get("robot_comments"):
        comments = {p: list(c) for p, c in (review.get("comments") or {}).items()}
        for path, entries in plain_comments(review["robot_comments"]).items():
            comments.setdefault(path, []).extend(entries)
        out["comments"] = comments
    return out


#: words of a 400 saying robot comments are not taken at all (not that one is wrong)
NOT_TAKEN = ("support", "removed", "no longer", "not allowed", "disabled", "unknown",
             "unrecognized")


def refuses_robot_comments(exc: GerritRestError) -> bool:
    """Whether Gerrit's answer says it takes no robot comments: a 400 naming them as
    not supported (not one saying a robot comment lacks a field)."""
    text = (exc.body or str(exc)).lower()
    return exc.status == 400 and "robot" in text and any(w in text for w in NOT_TAKEN)


def robot_comments_supported(version: str) -> bool:
    """Whether a Gerrit of ``version`` (``3.9.1``, ``3.13.0-rc2``) takes robot comments."""
    m = re.match(r"\s*(\d+)\.(\d+)", version)
    return m is None or (int(m.group(1)), int(m.group(2))) < NO_ROBOT_COMMENTS


def gerrit_timestamp(epoch: float) -> str:
    """Gerrit's ``yyyy-mm-dd hh:mm:ss.fffffffff`` (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) + \
        f".{int(round((epoch % 1) * 1e9)) % 1_000_000_000:09d}"


def check_input(checks_api: Mapping[str, Any], *, message: str, url: str | None,
                now: float) -> dict[str, Any]:
    """The plugin's CheckInput for a ``checks-api`` option: its message, else the
    report's first line; ``started`` when it runs, ``finished`` when it is done."""
    state = str(checks_api["state"])
    headline = next((line.strip() for line in message.splitlines() if line.strip()), "")
    check: dict[str, Any] = {"checker_uuid": str(checks_api["checker"]), "state": state,
                             "message": str(checks_api.get("message") or headline)[:1000]}
    if url:
        check["url"] = url
    if state == STARTED_STATE:
        check["started"] = gerrit_timestamp(now)
    if state in FINISHED_STATES:
        check["finished"] = gerrit_timestamp(now)
    return check


class GerritReporter:
    """Reviews and submits on one Gerrit connection."""

    def __init__(self, name: str, rest: GerritRest, source: GerritSource, store: Store,
                 clock: Clock, repos: GerritRepos, *, web_url: str = ""):
        self.name = name
        self.rest = rest
        self.source = source
        self.store = store
        self.clock = clock
        self.outbox = Outbox(store, name, clock)
        self.repos = repos
        #: the dashboard, for the links of robot comments and checks
        self.web_url = web_url.rstrip("/")
        #: whether this Gerrit takes robot comments (None: not known yet)
        self.robot_comments: bool | None = None

    # ------------------------------------------------------------ reviews
    def report(self, number: int, *, tenant: str, pipeline: str, action: str,
               result: str | None, votes: dict[str, int], message: str,
               patchset: int | None = None,
               file_comments: dict[str, list[dict[str, Any]]] | None = None,
               options: Mapping[str, Any] | None = None, comment: bool = True) -> None:
        """Record a review of the tested patch set (default: the current one) in the
        outbox, and the check of ``checks-api`` when the pipeline has one (then without
        a review when there is nothing to review: no comment, no votes). ``comment``
        false: the votes only."""
        change = self.source.cached(number)  # the scheduler has just read it
        if patchset is None:
            change = self.source.get_change(number)  # asks Gerrit only here
            if change is None:
                raise UserError(f"Gerrit {self.name} has no change {number} to report on")
            patchset = change.patchset
        tested = patchset
        checks_api = dict((options or {}).get("checks-api") or ())
        robots = None
        if comment and file_comments:
            robots = robot_comments(file_comments, web_url=self.web_url,
                                    run_id=f"{tenant}:{pipeline}:{number},{tested}")
        review = review_input(message if comment else None, labels=votes or None,
                              robot_comments=robots, tag=f"autogenerated:zuulish:{pipeline}")
        base = {"project": change.project if change is not None else None, "number": number,
                "patchset": tested,
                "meta": {"tenant": tenant, "pipeline": pipeline, "action": action,
                         "patchset": tested, "result": result}}
        if comment or votes or not checks_api:
            if not comment and not votes:
                log.info("gerrit %s: nothing to report on change %s (no comment, no votes)",
                         self.name, number)
            self.outbox.put(REVIEW, outbox_key(number), {**base, "review": review})
        if checks_api:
            url = f"{self.web_url}/t/{tenant}/status" if self.web_url else None
            self.outbox.put(CHECK, outbox_key(number), {**base, "check": check_input(
                checks_api, message=message, url=url, now=self.clock.now())})

    def reported(self, number: int, *, tenant: str, pipeline: str, patchset: int,
                 action: str) -> bool:
        """Whether such a review (or check) is in the outbox (sent, pending or given
        up on)."""
        wanted = {"tenant": tenant, "pipeline": pipeline, "action": action,
                  "patchset": patchset}
        with self.store.read() as s:
            payloads = s.scalars(select(OutboxRow.payload).where(
                OutboxRow.connection == self.name, OutboxRow.kind.in_((REVIEW, CHECK)),
                OutboxRow.key == outbox_key(number))).all()
        return any(all((p or {}).get("meta", {}).get(k) == v for k, v in wanted.items())
                   for p in payloads)

    def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        """Make one recorded call (the outbox sender's ``deliver``)."""
        if kind == CHECK:
            return self._post_check(payload)
        if kind != REVIEW:
            raise Refused(f"unknown outbox call {kind!r}")
        number = int(payload["number"])
        ident = change_id(payload["project"], number) if payload.get("project") else str(number)
        review = dict(payload["review"])
        tested = int(payload["patchset"])
        try:
            if review.get("labels"):
                info = self.rest.get_change(ident, ("CURRENT_REVISION",))
                current = (info.get("revisions") or {}).get(info.get("current_revision"), {})
                if current.get("_number") != tested:
                    log.info("gerrit %s: change %s has patch set %s now; the votes for "
                             "patch set %s are not applied", self.name, payload["number"],
                             current.get("_number"), tested)
                    review.pop("labels")
                    if "message" not in review and not review.get("robot_comments"):
                        return  # votes only, and they are not wanted any more
            self._set_review(ident, str(tested), review)
        except GerritRestError as exc:
            if exc.status in REFUSED_STATUSES:
                raise Refused(str(exc)) from None
            raise

    def _robot_comments_ok(self) -> bool:
        """Whether this Gerrit takes robot comments: not from 3.13 on, nor after it
        refused them once; asked once (a failed question is asked again later)."""
        if self.robot_comments is None:
            try:
                version = self.rest.server_version()
            except GerritRestError as exc:
                log.info("gerrit %s: version not known (%s); robot comments are tried",
                         self.name, exc)
                return True
            self.robot_comments = robot_comments_supported(version)
            if not self.robot_comments:
                log.info("gerrit %s: Gerrit %s has no robot comments; file comments are "
                         "posted as plain comments", self.name, version)
        return self.robot_comments

    def _set_review(self, ident: str, revision: str, review: dict[str, Any]) -> None:
        """Post ``review``; its robot comments as plain comments where Gerrit takes none
        (known, or answered with a 400 about them: then remembered)."""
        if not review.get("robot_comments"):
            self.rest.set_review(ident, revision, review)
            return
        if not self._robot_comments_ok():
            self.rest.set_review(ident, revision, without_robot_comments(review))
            return
        try:
            self.rest.set_review(ident, revision, review)
        except GerritRestError as exc:
            if not refuses_robot_comments(exc):
                raise
            log.warning("gerrit %s refuses robot comments (%s); file comments are posted "
                        "as plain comments from now on", self.name, exc)
            self.robot_comments = False
            self.rest.set_review(ident, revision, without_robot_comments(review))

    def _post_check(self, payload: dict[str, Any]) -> None:
        """Post a recorded CheckInput to the checks plugin. A 404 (no plugin, or no
        such change) is an error logged and refused: the report's other calls are made."""
        number = int(payload["number"])
        ident = change_id(payload["project"], number) if payload.get("project") else str(number)
        check = dict(payload["check"])
        try:
            self.rest.post_check(ident, str(payload["patchset"]), check)
        except GerritRestError as exc:
            if exc.status == 404:
                log.error("gerrit %s: the checks endpoint answered 404 for change %s: "
                          "Gerrit's checks plugin is not installed (or the change is "
                          "gone); check %s %s was not reported. Install the plugin or "
                          "remove checks-api from the pipeline's reporters", self.name,
                          number, check.get("checker_uuid"), check.get("state"))
                raise Refused(f"no checks plugin at {exc.url} (404)") from None
            if exc.status in REFUSED_STATUSES:
                raise Refused(str(exc)) from None
            raise

    # ------------------------------------------------------------ submit
    def submit(self, number: int, repo_state: dict[str, Any], *, tenant: str = "",
               pipeline: str = "", options: Mapping[str, Any] | None = None,
               votes: Mapping[str, int] | None = None) -> str:
        """Submit the change if Gerrit holds exactly what was tested; the branch's new
        tip. A UserError (with Gerrit's reason where it refused) otherwise. The merging
        reporter's ``votes`` (Verified +2) are cast first, as Zuul does: a site whose
        submit requirements need them would refuse the submit without them."""
        info = self.rest.get_change(str(number), ("CURRENT_REVISION",))
        project, branch = str(info["project"]), str(info["branch"])
        ident = change_id(project, number)
        status = info.get("status")
        if status == "MERGED":
            self.source.invalidate(number)
            return self.source.branch_tip(project, branch) or ""
        if status != "NEW":
            raise UserError(f"change {number} is {str(status).lower()}; it cannot be merged")
        state = repo_state.get(project)
        if state is None:
            raise UserError(f"no tested state for {project} in this item")
        current = info.get("current_revision")
        if current not in state.get("changes", ()):
            ps = (info.get("revisions") or {}).get(current, {}).get("_number", "?")
            raise UserError(f"change {number} has a new patch set ({ps}) that was not "
                            "tested; it will be tested again")
        tip = self.source.branch_tip(project, branch)
        if tip != state["pre"] and not self._same_as_tested_base(project, tip, state):
            raise UserError(f"{project} {branch} is at {str(tip)[:12]} now, not at "
                            f"{state['pre'][:12]} where this change was tested; it will be "
                            "tested again")
        if votes:
            try:
                self.rest.set_review(ident, str(current),
                                     review_input(None, labels=dict(votes)))
            except GerritRestError as exc:
                raise UserError(f"Gerrit refused the votes {_votes(votes)} on change "
                                f"{number} before its submit: {exc}") from None
        try:
            self.rest.submit(ident)
        except GerritSubmitError as exc:
            if not self._merged_already(ident, exc):
                raise UserError(f"Gerrit refused to submit change {number}: {exc.reason}"
                                ) from None
        finally:
            self.source.invalidate(number)
        return self._check_merged(number, project, branch, state)

    def _merged_already(self, ident: str, exc: GerritSubmitError) -> bool:
        """A retried submit Gerrit answers "change is merged": it was, by our first try."""
        if "merged" not in exc.reason.lower():
            return False
        info = self.rest.get_change(ident, ())
        return info.get("status") == "MERGED"

    def _rebuild(self, project: str, state: dict[str, Any], commits: list[str]) -> str:
        """The merger's state of ``commits`` on the tested ``base``, rebuilt in the
        driver's clone (fetched first); MergeError where it cannot be."""
        path = self.repos.fetch(project)
        rebuilt = apply_commits(path, state.get("base", state["pre"]), commits,
                                mode=state.get("merge_mode", DEFAULT_MODE),
                                links=state.get("links"))
        if not rebuilt.ok:
            raise MergeError(rebuilt.message or "the tested commits do not merge any more")
        return str(rebuilt.commit)

    def _same_as_tested_base(self, project: str, tip: str | None,
                             state: dict[str, Any]) -> bool:
        """Whether the branch, moved on by Gerrit's merges of the changes ahead in the
        queue (its merge commits are not the merger's), holds the tree tested under
        this change."""
        if tip is None:
            return False
        try:
            pre = self._rebuild(project, state, list(state.get("ahead_changes") or ()))
        except (MergeError, ValueError) as exc:
            log.info("gerrit %s: cannot rebuild the tested base of %s: %s", self.name,
                     project, exc)
            return False
        tested = self.repos.tree(project, pre)
        return tested is not None and self.repos.tree(project, tip) == tested

    def _check_merged(self, number: int, project: str, branch: str,
                      state: dict[str, Any]) -> str:
        """The merged tip, after checking that its tree is the tested one."""
        commits = [*(state.get("ahead_changes") or ()), *state["changes"]]
        try:
            tested = self._rebuild(project, state, commits)
            tip = rev_parse(self.repos.cache.path(project), f"refs/heads/{branch}")
        except (MergeError, ValueError) as exc:
            raise UserError(f"Gerrit merged change {number}, but what it merged cannot be "
                            f"checked against what was tested: {exc}") from None
        if tip is None:
            raise UserError(f"Gerrit merged change {number}, but {project} has no branch "
                            f"{branch} to check")
        if tested != state.get("commit"):
            log.warning("gerrit %s: the tested state %s of %s rebuilt as %s", self.name,
                        state.get("commit"), project, tested)
        merged_tree = self.repos.tree(project, tip)
        tested_tree = self.repos.tree(project, tested)
        if merged_tree is None or merged_tree != tested_tree:
            log.error("gerrit %s: change %s was merged into %s %s as %s, whose tree %s is not "
                      "the tested tree %s (tested state %s)", self.name, number, project,
                      branch, tip, merged_tree, tested_tree, state.get("commit"))
            raise UserError(f"Gerrit merged change {number} as {tip[:12]}, which is not what "
                            f"was tested ({str(state.get('commit'))[:12]}): the branch "
                            f"{branch} of {project} now holds untested content")
        return tip


def _votes(votes: Mapping[str, int]) -> str:
    return " ".join(f"{label}{value:+d}" for label, value in votes.items())
