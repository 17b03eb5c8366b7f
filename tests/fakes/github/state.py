"""What the fake GitHub holds: Apps, installations, tokens, repositories, pull requests,
and the JSON GitHub shows of them (the fields zuulish reads, typed as GitHub's
description says)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.github.gitops import BareRepo

LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}
ALL_PERMISSIONS = {"contents": "write", "pull_requests": "write", "checks": "write",
                   "statuses": "write", "issues": "write", "metadata": "read",
                   "administration": "read"}


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class App:
    id: int
    slug: str
    private_key_pem: str  # what the App's owner downloads from GitHub
    public_key: rsa.RSAPublicKey

    @classmethod
    def generate(cls, app_id: int, slug: str) -> App:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
        return cls(app_id, slug, pem, key.public_key())


@dataclass
class Installation:
    id: int
    app: App
    account: str
    repositories: set[str] | None  # "owner/name" (lower case); None: all of the account's
    permissions: dict[str, str]

    def covers(self, full_name: str) -> bool:
        owner = full_name.split("/", 1)[0]
        if self.repositories is None:
            return owner.lower() == self.account.lower()
        return full_name.lower() in self.repositories


@dataclass
class Token:
    value: str
    expires: float | None  # epoch seconds; None: a personal token that does not expire
    installation: Installation | None = None
    user: str | None = None

    @staticmethod
    def new_value(prefix: str) -> str:
        return prefix + secrets.token_hex(18)


@dataclass
class Protection:
    contexts: list[str] = field(default_factory=list)
    strict: bool = False
    required_approvals: int = 0


@dataclass
class Pull:
    number: int
    title: str
    body: str
    user: str
    head_branch: str
    base_branch: str
    head_sha: str
    created_at: float
    state: str = "open"
    draft: bool = False
    merged: bool = False
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    bare: BareRepo
    default_branch: str = "main"
    private: bool = False
    allow_merge_commit: bool = True
    allow_squash_merge: bool = True
    allow_rebase_merge: bool = True
    collaborators: dict[str, str] = field(default_factory=dict)  # user: permission
    protections: dict[str, Protection] = field(default_factory=dict)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # sha: newest last
    check_runs: list[dict[str, Any]] = field(default_factory=list)
    pulls: dict[int, Pull] = field(default_factory=dict)
    labels: set[str] = field(default_factory=set)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def permission(self, user: str) -> str:
        if user.lower() == self.owner.lower():
            return "admin"
        return self.collaborators.get(user.lower(), "read" if not self.private else "none")


def user_json(base: str, login: str, user_id: int, kind: str = "User") -> dict[str, Any]:
    return {"login": login, "id": user_id, "node_id": f"U_{user_id}", "type": kind,
            "site_admin": False, "url": f"{base}/users/{login}",
            "html_url": f"{base}/{login}"}


def repo_json(base: str, repo: Repo, owner_id: int) -> dict[str, Any]:
    return {
        "id": repo.id, "node_id": f"R_{repo.id}", "name": repo.name,
        "full_name": repo.full_name, "private": repo.private,
        "owner": user_json(base, repo.owner, owner_id, "Organization"),
        "html_url": f"{base}/{repo.full_name}", "url": f"{base}/repos/{repo.full_name}",
        "clone_url": str(repo.bare.path), "default_branch": repo.default_branch,
        "allow_merge_commit": repo.allow_merge_commit,
        "allow_squash_merge": repo.allow_squash_merge,
        "allow_rebase_merge": repo.allow_rebase_merge,
        "archived": False, "disabled": False, "fork": False, "visibility":
            "private" if repo.private else "public",
    }
