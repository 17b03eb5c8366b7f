"""The scheduler's view of a Gerrit connection: changes (from REST) and repositories.

A change is read with one REST call (its current revision, commit, files and every
vote) and kept in memory until an event about it, or about a change it was built
from (its git parent's change, a Change-Id it depends on), is stored: the
listener calls :meth:`GerritSource.invalidate` before it stores the event, so the
scheduler, woken by that event, reads the change anew; it does not ask Gerrit
on every pass. A read that was under way when an event came is not cached.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from zuulish.drivers.depends_on import ChangeUrls
from zuulish.drivers.gerrit.catchup import parse_timestamp
from zuulish.drivers.gerrit.repos import GerritRepos
from zuulish.drivers.gerrit.rest import GerritRest, GerritRestError
from zuulish.drivers.git.footers import change_id
from zuulish.errors import ForgeUnavailable, UserError
from zuulish.merger.gitcli import MergeError
from zuulish.model import Change, ChangeKey, ChangeStatus
from zuulish.model.change import Vote

log = logging.getLogger(__name__)

#: What one change read asks Gerrit for.
CHANGE_OPTIONS = ("CURRENT_REVISION", "CURRENT_COMMIT", "CURRENT_FILES", "DETAILED_LABELS",
                  "DETAILED_ACCOUNTS")
_DEPENDS_ON = re.compile(r"^Depends-On:[ \t]*(\S+)[ \t]*$", re.IGNORECASE | re.MULTILINE)
#: Gerrit's submit types -> the merge mode that builds the same tree
SUBMIT_TYPES = {"MERGE_IF_NECESSARY": "merge-resolve", "FAST_FORWARD_ONLY": "merge-resolve",
                "MERGE_ALWAYS": "merge", "REBASE_IF_NECESSARY": "rebase",
                "REBASE_ALWAYS": "rebase", "CHERRY_PICK": "cherry-pick"}
DEFAULT_MERGE_MODE = "merge-resolve"
_CHANGE_ID = re.compile(r"^I[0-9a-f]{40}$")
#: the path of a change page after the base URL: /c/<project>/+/<n>, /c/<n>, /#/c/<n>, /<n>
_CHANGE_PATH = re.compile(r"^/(?:c/(?:.+/\+/)?)?(\d+)(?:/.*)?$")


@dataclass
class _Cached:
    change: Change
    #: the other changes it was built from: an event about one drops it too
    depends: frozenset[int]


def depends_on_footers(message: str) -> list[str]:
    """The values of the ``Depends-On:`` footers of a commit message, in order."""
    out: list[str] = []
    for value in _DEPENDS_ON.findall(message or ""):
        if value not in out:
            out.append(value)
    return out


def effective_approvals(labels: dict[str, Any]) -> dict[str, int]:
    """{label: value} as Gerrit shows a label: its lowest vote when any is negative
    (a veto shows), else its highest; labels with only zero votes are left out."""
    out: dict[str, int] = {}
    for label, info in (labels or {}).items():
        values = [v["value"] for v in (info or {}).get("all") or ()
                  if isinstance(v, dict) and isinstance(v.get("value"), int) and v["value"]]
        if values:
            out[label] = min(values) if min(values) < 0 else max(values)
    return out


def votes_of(labels: dict[str, Any]) -> tuple[Vote, ...]:
    """Every non-zero vote on the current patch set, with who cast it and when."""
    votes = []
    for label, info in (labels or {}).items():
        for entry in (info or {}).get("all") or ():
            if not isinstance(entry, dict) or not isinstance(entry.get("value"), int) \
                    or not entry["value"]:
                continue
            date = entry.get("date")
            votes.append(Vote(label=label, value=entry["value"],
                              username=str(entry.get("username") or ""),
                              email=str(entry.get("email") or ""),
                              granted_on=parse_timestamp(date) if isinstance(date, str)
                              else None))
    return tuple(votes)


class GerritSource:
    """Changes and repositories of one Gerrit connection."""

    def __init__(self, name: str, rest: GerritRest, *, baseurl: str, repos: GerritRepos,
                 authenticated: bool, hostnames: tuple[str, ...] = (),
                 change_urls: ChangeUrls | None = None):
        self.name = name
        self.rest = rest
        self.baseurl = baseurl.rstrip("/")
        self.repos = repos
        self.authenticated = authenticated
        self.change_urls = change_urls
        self._prefixes = [self.baseurl, *(f"https://{h}" for h in hostnames if h)]
        self._cache: dict[int, _Cached] = {}
        #: topic -> the numbers of its open changes, as last asked (dropped, all of
        #: them, by any invalidation: an event about any change may move it in or out)
        self._topics: dict[str, tuple[int, ...]] = {}
        self._merge_modes: dict[str, str] = {}
        self._generation = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------ the cache
    def invalidate(self, number: int | None = None) -> None:
        """Forget change ``number`` and every change built from it (None: all)."""
        with self._lock:
            self._generation += 1
            self._topics.clear()
            if number is None:
                self._cache.clear()
                return
            for key in [k for k, c in self._cache.items() if k == number or number in c.depends]:
                del self._cache[key]

    def cached(self, number: int) -> Change | None:
        """The change as last read, if it is still valid; never asks Gerrit."""
        with self._lock:
            entry = self._cache.get(number)
        return entry.change if entry is not None else None

    def get_change(self, number: int) -> Change | None:
        """The change's current patch set, with what it needs (see module docstring)."""
        with self._lock:
            cached = self._cache.get(number)
            generation = self._generation
        if cached is not None:
            return cached.change
        try:
            info = self.rest.get_change(str(number), CHANGE_OPTIONS)
        except GerritRestError as exc:
            if exc.status == 404:
                return None
            raise (unavailable(exc, f"Gerrit {self.name}: cannot read change {number}")
                   or exc) from exc
        change, depends = self._build(info)
        with self._lock:
            if self._generation == generation:
                self._cache[number] = _Cached(change, frozenset(depends))
        return change

    def topic_changes(self, topic: str) -> list[Change]:
        """Every open change whose topic is ``topic`` (one query, its pages followed;
        kept until the next event, as changes are). An empty topic has none."""
        if not topic:
            return []
        with self._lock:
            known = self._topics.get(topic)
            generation = self._generation
        if known is not None:
            changes = [self.get_change(n) for n in known]
            return [c for c in changes if c is not None and c.is_open and c.topic == topic]
        try:
            found = self.rest.query_changes(f"status:open {topic_query(topic)}",
                                            options=CHANGE_OPTIONS)
        except GerritRestError as exc:
            raise (unavailable(exc, f"Gerrit {self.name}: cannot list the changes of "
                                    f"topic {topic!r}") or exc) from exc
        out: list[Change] = []
        built: dict[int, _Cached] = {}
        for info in found:
            # Gerrit's topic: is exact; a change whose topic differs is not one of it
            if not isinstance(info, dict) or info.get("topic") != topic \
                    or info.get("status", "NEW") != "NEW":
                continue
            change, depends = self._build(info)
            built[change.key.number] = _Cached(change, frozenset(depends))
            out.append(change)
        with self._lock:
            if self._generation == generation:
                self._topics[topic] = tuple(c.key.number for c in out)
                for number, entry in built.items():
                    self._cache.setdefault(number, entry)
        return out

    # ------------------------------------------------------------ building
    def _build(self, info: dict[str, Any]) -> tuple[Change, set[int]]:
        try:
            number = int(info["_number"])
            project, branch = str(info["project"]), str(info["branch"])
            current = str(info["current_revision"])
            revision = info["revisions"][current]
            commit = revision["commit"]
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"Gerrit {self.name}: a change without {exc} in its ChangeInfo "
                            "(was it asked for with CURRENT_REVISION and CURRENT_COMMIT?)"
                            ) from None
        message = str(commit.get("message") or "")
        needs: list[ChangeKey] = []
        unresolved: list[str] = []
        depends: set[int] = set()
        for value in depends_on_footers(message):
            self._footer_need(number, value, needs, unresolved, depends)
        parents = [p.get("commit") for p in commit.get("parents") or () if isinstance(p, dict)]
        if len(parents) == 1 and isinstance(parents[0], str):
            self._parent_need(number, project, branch, parents[0], needs, unresolved, depends)
        files = tuple(sorted(f for f in (revision.get("files") or {}) if not f.startswith("/")))
        labels = info.get("labels") or {}
        change = Change(
            key=ChangeKey(self.name, number), project=project, branch=branch,
            patchset=int(revision.get("_number") or info.get("current_revision_number") or 0),
            commit=current, subject=str(info.get("subject") or commit.get("subject") or ""),
            message=message, status=ChangeStatus(str(info.get("status") or "NEW")),
            approvals=effective_approvals(labels), needs=tuple(needs),
            unresolved_depends_on=tuple(unresolved), files=files,
            url=self.change_url(project, number), votes=votes_of(labels),
            wip=info.get("work_in_progress") is True,
            hashtags=tuple(str(h) for h in info.get("hashtags") or ()),
            topic=info["topic"] if isinstance(info.get("topic"), str) else "")
        return change, depends

    def changes_depending_on(self, change: Change) -> list[int]:
        """The open changes that may need ``change``: those whose commit message names
        it (its URL; its Change-Id, for a change of this Gerrit) and, for a change of
        this Gerrit, the changes of its git stack (Gerrit's related changes; those
        below it are dropped by the scheduler, as they do not need it)."""
        queries = [f"status:open {quoted('message', change.url)}"] if change.url else []
        mine = change.key.connection == self.name
        if mine:
            own_id = change_id(change.message)
            queries += [f"status:open message:{own_id}"] if own_id else []
        numbers: list[int] = []
        try:
            for query in queries:
                numbers += [int(c["_number"]) for c in self.rest.query_changes(query, options=())
                            if isinstance(c, dict) and "_number" in c]
            if mine:
                numbers += [int(c["_change_number"])
                            for c in self.rest.related_changes(change.key.number)
                            if isinstance(c, dict) and "_change_number" in c
                            and c.get("status", "NEW") == "NEW"]
        except GerritRestError as exc:
            raise (unavailable(exc, f"Gerrit {self.name}: cannot ask which changes depend on "
                                    f"{change.key}") or exc) from exc
        own = change.key.number if mine else None
        return sorted({n for n in numbers if n != own})

    def _footer_need(self, number: int, value: str, needs: list[ChangeKey],
                     unresolved: list[str], depends: set[int]) -> None:
        if _CHANGE_ID.match(value):
            found = self.rest.query_changes(f"change:{value} status:open", options=())
            numbers = [int(c["_number"]) for c in found
                       if isinstance(c, dict) and c.get("_number") != number]
            if not numbers:
                unresolved.append(f"Depends-On {value} matches no open change of this Gerrit")
            for other in numbers:
                depends.add(other)
                _add(needs, ChangeKey(self.name, other))
            return
        own = self.resolve_change_url(value)
        if own is not None and own != number:
            _add(needs, ChangeKey(self.name, own))
            return
        other = self.change_urls.resolve(value) if self.change_urls and own is None else None
        if other is not None and other.connection != self.name:
            _add(needs, other)  # whether it is open is the enqueue planner's question
            return
        unresolved.append(f"Depends-On {value} points at no change of this Gerrit or of any "
                          "other connection")

    def _parent_need(self, number: int, project: str, branch: str, parent: str,
                     needs: list[ChangeKey], unresolved: list[str], depends: set[int]) -> None:
        """The open change whose current patch set is the parent commit (a stack)."""
        found = self.rest.query_changes(
            f"commit:{parent} project:{project} branch:{branch} status:open",
            options=("ALL_REVISIONS",))
        for other in found:
            if not isinstance(other, dict) or other.get("_number") == number:
                continue
            other_number = int(other["_number"])
            depends.add(other_number)
            if other.get("current_revision") == parent:
                _add(needs, ChangeKey(self.name, other_number))
                continue
            revisions = other.get("revisions") or {}
            old = (revisions.get(parent) or {}).get("_number", "?")
            current = (revisions.get(other.get("current_revision")) or {}).get("_number", "?")
            unresolved.append(f"parent commit {parent[:12]} is patch set {old} of change "
                              f"{other_number}, whose current patch set is {current}; "
                              "rebase this change on it")

    # ------------------------------------------------------------ URLs
    def resolve_change_url(self, url: str) -> int | None:
        """The number of the change a URL of this Gerrit names; None for any other URL."""
        for prefix in self._prefixes:
            if not url.startswith(prefix + "/"):
                continue
            parts = urlsplit(url[len(prefix):])
            path = parts.path
            if parts.fragment and path in ("", "/"):
                path = "/" + parts.fragment.lstrip("/")  # the old UI's /#/c/123/
            match = _CHANGE_PATH.match(unquote(path))
            if match is not None:
                return int(match.group(1))
        return None

    def change_url(self, project: str, number: int) -> str:
        return f"{self.baseurl}/c/{project}/+/{number}"

    def project_url(self, project: str) -> str:
        """Where git fetches ``project``: ``/a/`` (authenticated) with a password."""
        return f"{self.baseurl}/a/{project}" if self.authenticated \
            else f"{self.baseurl}/{project}"

    # ------------------------------------------------------------ repositories
    def _project(self, project: str) -> str:
        return quote(project, safe="")

    def exists(self, project: str) -> bool:
        try:
            self.rest.get(f"projects/{self._project(project)}")
        except GerritRestError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def default_branch(self, project: str) -> str:
        head = self.rest.get(f"projects/{self._project(project)}/HEAD")
        if not isinstance(head, str) or not head.startswith("refs/heads/"):
            raise UserError(f"Gerrit {self.name}: {project}'s HEAD is {head!r}, not a branch")
        return head.removeprefix("refs/heads/")

    def _branch_infos(self, project: str) -> list[dict[str, Any]]:
        answer = self.rest.get(f"projects/{self._project(project)}/branches/")
        return [b for b in answer or () if isinstance(b, dict)
                and str(b.get("ref", "")).startswith("refs/heads/")]

    def branches(self, project: str) -> list[str]:
        return sorted(str(b["ref"]).removeprefix("refs/heads/")
                      for b in self._branch_infos(project))

    def branch_tip(self, project: str, branch: str) -> str | None:
        try:
            answer = self.rest.get(f"projects/{self._project(project)}/branches/"
                                   f"{quote(branch, safe='')}")
        except GerritRestError as exc:
            if exc.status == 404:
                return None
            raise (unavailable(exc, f"Gerrit {self.name}: cannot read {project} {branch}")
                   or exc) from exc
        revision = answer.get("revision") if isinstance(answer, dict) else None
        return revision if isinstance(revision, str) else None

    def config_files(self, project: str, branch: str) -> dict[str, str]:
        """The Zuul configuration on the tip of ``branch``, read from a fresh fetch."""
        tip = self.branch_tip(project, branch)
        if tip is None:
            return {}
        try:
            return self.repos.files(project, tip)
        except MergeError as exc:
            raise UserError(f"Gerrit {self.name}: cannot read {project} {branch}: {exc}"
                            ) from None

    def default_merge_mode(self, project: str) -> str:
        """The merge mode matching the project's submit type (read once per project
        and run; see :data:`SUBMIT_TYPES`). When Gerrit cannot be asked now, Gerrit's
        default ("merge if necessary": merge-resolve) is used this once, said in the
        log; a submit still checks that Gerrit merged the tested tree."""
        with self._lock:
            known = self._merge_modes.get(project)
        if known is not None:
            return known
        try:
            config = self.rest.get(f"projects/{self._project(project)}/config")
        except GerritRestError as exc:
            log.warning("gerrit %s: cannot read the submit type of %s (%s); testing with "
                        "merge-resolve", self.name, project, exc)
            return DEFAULT_MERGE_MODE
        submit = (config or {}).get("default_submit_type") if isinstance(config, dict) else None
        kind = submit.get("value") if isinstance(submit, dict) else None
        kind = kind or (config.get("submit_type") if isinstance(config, dict) else None)
        mode = SUBMIT_TYPES.get(str(kind))
        if mode is None:
            log.warning("gerrit %s: %s has the submit type %r, which zuulish has no merge "
                        "mode for; testing with merge-resolve", self.name, project, kind)
            mode = DEFAULT_MERGE_MODE
        with self._lock:
            self._merge_modes[project] = mode
        return mode


def quoted(operator: str, value: str) -> str:
    """Gerrit's ``operator:"..."`` for ``value``: quoted, with the quote and the
    backslash escaped, so spaces and operators in it stay text."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{operator}:"{escaped}"'


def topic_query(topic: str) -> str:
    """Gerrit's ``topic:"..."`` operator for exactly ``topic``."""
    return quoted("topic", topic)


def _add(needs: list[ChangeKey], key: ChangeKey) -> None:
    if key not in needs:
        needs.append(key)


def unavailable(exc: GerritRestError, what: str) -> ForgeUnavailable | None:
    """``exc`` as "Gerrit cannot answer now" (no answer, a 5xx, a page that is not its
    API: a proxy's error, a login page), for the caller to try again later; None when
    Gerrit did answer (a 404, a 403...)."""
    if exc.status is None or exc.status >= 500 or (exc.status == 200):
        return ForgeUnavailable(f"{what}: {exc}")
    return None
