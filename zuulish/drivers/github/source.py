"""The scheduler's view of a GitHub connection: pull requests as changes.

A pull request's description comes from the store (the intake worker records each
webhook's copy of it, see :mod:`zuulish.drivers.github.pulls`); GitHub is asked only
for what webhooks do not carry — its files, reviews, commit statuses and check
runs — once per head and description, and again when an event refreshed it. A pull
request zuulish has never heard of (a Depends-On naming it) is fetched once and
recorded like a webhook's.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from zuulish.clock import Clock
from zuulish.drivers.depends_on import ChangeUrls
from zuulish.drivers.git.footers import depends_on as depends_on_footers
from zuulish.drivers.github import pulls
from zuulish.drivers.github.client import GitHubClient
from zuulish.drivers.github.errors import GitHubApiError, unavailable
from zuulish.drivers.github.settings import GithubSettings
from zuulish.errors import UserError
from zuulish.merger.repo_cache import RepoCache
from zuulish.merger.speculative import MergeError, branch_names, read_files, rev_parse
from zuulish.model import Change, ChangeKey, ChangeStatus
from zuulish.model.change import Review
from zuulish.store import Store

log = logging.getLogger(__name__)

#: what ``merge-mode: default`` means on GitHub (its default merge button)
DEFAULT_MERGE_MODE = "merge"
#: how long a pull request GitHub said does not exist (a Depends-On naming nothing) is
#: not asked for again: each scheduler pass reads the change, and would ask otherwise
ABSENT_FOR = 600.0


def split_repo(project: str) -> tuple[str, str]:
    owner, _, repo = project.partition("/")
    if not owner or not repo or "/" in repo:
        raise UserError(f"{project!r} is not a GitHub repository name (owner/repo)")
    return owner, repo


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class GithubSource:
    def __init__(self, settings: GithubSettings, client: GitHubClient, store: Store,
                 clock: Clock, repos: RepoCache, change_urls: ChangeUrls | None = None):
        self.settings = settings
        #: clones of the repositories, for their configuration and branches (one
        #: fetch answers every file of every branch; GitHub's contents API would take a
        #: call per file)
        self.repos = repos
        self._clone_urls: dict[str, str] = {}
        self.name = settings.name
        self.client = client
        self.store = store
        self.clock = clock
        self.change_urls = change_urls
        self._lock = threading.Lock()
        # (pull id, head sha, refreshed_at) -> what webhooks do not carry
        self._extras: dict[tuple[int, str, float], dict[str, Any]] = {}
        # (repo, number) -> when GitHub answered 404 for it
        self._absent: dict[tuple[str, int], float] = {}
        self._url = re.compile(re.escape(settings.web_url) +
                               r"/([^/\s]+/[^/\s]+)/pull/(\d+)/?(?:[#?].*)?")

    # ------------------------------------------------------------- changes
    def resolve_change_url(self, url: str) -> int | None:
        """This connection's number of the pull request ``url`` names (recording it,
        from GitHub, when zuulish has not heard of it yet)."""
        match = self._url.fullmatch(url.strip())
        if match is None:
            return None
        repo, number = match.group(1), int(match.group(2))
        known = pulls.find(self.store, self.name, repo, number)
        if known is not None and known.head_sha:
            return known.id
        with self._lock:
            absent_since = self._absent.get((repo, number))
        if absent_since is not None and self.clock.now() - absent_since < ABSENT_FOR:
            return None
        try:
            return self._fetch(repo, number).id
        except GitHubApiError as exc:
            if exc.status == 404:
                with self._lock:
                    self._absent[(repo, number)] = self.clock.now()
            log.warning("%s: cannot read %s#%d named by a Depends-On: %s", self.name, repo,
                        number, exc)
            return None

    def changes_depending_on(self, change: Change) -> list[int]:
        """The open pull requests whose description names ``change`` by URL (as the
        webhooks last delivered it: no API call); the scheduler keeps those whose
        ``Depends-On`` really points at it."""
        texts = {change.url} if change.url else set()
        mine = change.key.connection == self.name
        if mine:
            pull = pulls.get(self.store, self.name, change.key.number)
            if pull is not None:
                texts.add(f"{self.settings.web_url}/{pull.repo}/pull/{pull.number}")
        found = {n for text in texts for n in pulls.open_mentioning(self.store, self.name, text)}
        found.discard(change.key.number if mine else -1)
        return sorted(found)

    def _fetch(self, repo: str, number: int) -> pulls.PullRequest:
        owner, name = split_repo(repo)
        body = self.client.get_pull(owner, name, number)
        with self.store.session() as s:
            return pulls.record(self.store, s, self.name, repo, body, self.clock.now()).pull

    def get_change(self, number: int) -> Change | None:
        pull = pulls.get(self.store, self.name, number)
        if pull is None:
            return None
        if not pull.head_sha or pull.base_branch is None:
            try:  # known only by number so far (a comment came first)
                pull = self._fetch(pull.repo, pull.number)
            except GitHubApiError as exc:
                raise unavailable(exc, f"cannot read {pull.display} from GitHub") or \
                    UserError(f"cannot read {pull.display} from GitHub: {exc}") from exc
        assert pull.head_sha is not None and pull.base_branch is not None
        extras = self._extras_of(pull)
        needs, unresolved = self._needs(pull)
        status = ChangeStatus.MERGED if pull.merged else (
            ChangeStatus.NEW if pull.is_open else ChangeStatus.ABANDONED)
        return Change(
            key=ChangeKey(self.name, pull.id), project=pull.repo, branch=pull.base_branch,
            patchset=pull.patchset or 1, commit=pull.head_sha, subject=pull.title,
            message=f"{pull.title}\n\n{pull.body}".strip() + "\n", status=status,
            needs=tuple(needs), unresolved_depends_on=tuple(unresolved),
            files=tuple(extras["files"]), url=pull.url or self.change_url(pull.repo,
                                                                           pull.number),
            display=pull.display, labels=pull.labels, reviews=tuple(extras["reviews"]),
            statuses=tuple(extras["statuses"]), check_runs=tuple(extras["checks"]),
            draft=pull.draft)

    def _extras_of(self, pull: pulls.PullRequest) -> dict[str, Any]:
        # every event about the pull request (a review, a status, a push) moves its
        # refreshed_at (see pulls.touch): what was kept of it is read again then
        key = (pull.id, pull.head_sha or "", float(pull.data.get("refreshed_at") or 0.0))
        with self._lock:
            cached = self._extras.get(key)
        if cached is not None:
            return cached
        owner, name = split_repo(pull.repo)
        sha = pull.head_sha or ""
        try:
            files = [f["filename"] for f in self.client.list_pull_files(owner, name,
                                                                         pull.number)]
            reviews = self._reviews(owner, name, pull.number)
            combined = self.client.combined_status(owner, name, sha)
            statuses = [f"{(s.get('creator') or {}).get('login', '')}:{s.get('context')}:"
                        f"{s.get('state')}" for s in combined.get("statuses") or ()]
            checks = [f"{(c.get('app') or {}).get('slug', '')}:{c.get('name')}:"
                      f"{c.get('conclusion') or c.get('status')}"
                      for c in self.client.list_check_runs(owner, name, sha)]
        except GitHubApiError as exc:
            raise unavailable(exc, f"cannot read {pull.display} from GitHub") or \
                UserError(f"cannot read {pull.display} from GitHub: {exc}") from exc
        extras = {"files": files, "reviews": reviews, "statuses": statuses, "checks": checks}
        with self._lock:
            self._extras = {k: v for k, v in self._extras.items() if k[0] != pull.id}
            self._extras[key] = extras
        return extras

    def _reviews(self, owner: str, repo: str, number: int) -> list[Review]:
        permissions: dict[str, str] = {}
        out = []
        for review in self.client.list_pull_reviews(owner, repo, number):
            user = (review.get("user") or {}).get("login") or ""
            if user and user not in permissions:
                permissions[user] = self.client.collaborator_permission(owner, repo, user)
            out.append(Review(user=user, state=str(review.get("state") or "").lower(),
                              submitted_at=_epoch(review.get("submitted_at")),
                              permission=permissions.get(user, "none")))
        return out

    def _needs(self, pull: pulls.PullRequest) -> tuple[list[ChangeKey], list[str]]:
        needs: list[ChangeKey] = []
        unresolved: list[str] = []
        for url in depends_on_footers(pull.body or ""):
            number = self.resolve_change_url(url)
            key = ChangeKey(self.name, number) if number is not None else (
                self.change_urls.resolve(url) if self.change_urls else None)
            if key is None:
                unresolved.append(f"Depends-On {url} points at no pull request of this "
                                  "connection or change of any other connection")
            elif key == ChangeKey(self.name, pull.id):
                unresolved.append(f"Depends-On {url} points at this pull request itself")
            elif key not in needs:
                needs.append(key)
        return needs, unresolved

    # ---------------------------------------------------------- repositories
    def _clone(self, project: str) -> Path:
        """The repository, fetched now (each configuration read sees the branch tips)."""
        try:
            return self.repos.fetch(project, self.project_url(project))
        except MergeError as exc:
            raise UserError(f"cannot fetch {project} from GitHub: {exc}") from exc

    def config_files(self, project: str, branch: str) -> dict[str, str]:
        path = self._clone(project)
        tip = rev_parse(path, f"refs/heads/{branch}")
        return {} if tip is None else read_files(path, tip)

    def exists(self, project: str) -> bool:
        try:
            self.client.get_repository(*split_repo(project))
        except GitHubApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def default_branch(self, project: str) -> str:
        return str(self._repository(project)["default_branch"])

    def branches(self, project: str) -> list[str]:
        return branch_names(self._clone(project))

    def branch_tip(self, project: str, branch: str) -> str | None:
        try:
            body = self.client.get_branch(*split_repo(project), branch)
        except GitHubApiError as exc:
            if exc.status == 404:
                return None
            raise
        return str(body["commit"]["sha"])

    def default_merge_mode(self, project: str) -> str:
        return DEFAULT_MERGE_MODE

    def _repository(self, project: str) -> dict[str, Any]:
        try:
            return self.client.get_repository(*split_repo(project))
        except GitHubApiError as exc:
            raise unavailable(exc, f"cannot read repository {project} from GitHub") or \
                UserError(f"cannot read repository {project} from GitHub: {exc}") from exc

    def project_url(self, project: str) -> str:
        """The repository's ``clone_url`` as GitHub gives it (credentials are added at
        each fetch, never to the URL: see zuulish.merger.credentials)."""
        url = self._clone_urls.get(project)
        if url is None:
            url = str(self._repository(project)["clone_url"])
            self._clone_urls[project] = url
        return url

    def change_url(self, project: str, number: int) -> str:
        pull = pulls.get(self.store, self.name, number)
        shown = pull.number if pull is not None else number
        return f"{self.settings.web_url}/{project}/pull/{shown}"
