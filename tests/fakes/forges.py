"""One zuulish beside fake forges, for the end-to-end tests of the forge drivers.

The GitHub, Gerrit and cross-forge end-to-end tests each run a whole zuulish
(all-in-one, with its web server where webhooks must reach it) against the fake
GitHub and/or the fake Gerrit. What they share is here:

- :func:`github_repo` sets up a repository of the fake GitHub as the tests gate it
  (an installed app, a maintainer with write permission, the gate's check required
  on the branch); :func:`github_connection` is zuulish's connection to it;
- :func:`gerrit_site` starts the fake Gerrit (git over HTTP, REST, SSH
  stream-events); :func:`gerrit_connection` is zuulish's connection to it;
- :func:`running_zuulish` writes the tenant and server configuration, creates
  the built-in forge's config projects and starts zuulish (and its web server);
- :func:`wait_until` polls for what a test waits for.
"""

from __future__ import annotations

import socket
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.gerrit.ssh import FakeGerritSSH
from tests.fakes.gerrit.world import GitBackedGerrit
from tests.fakes.github.server import FakeGitHub
from tests.fakes.github.state import App, Repo
from tests.fakes.tenant import ROOT, read_dir
from zuulish.app import AllInOne
from zuulish.runner import WebThread
from zuulish.server_config import load_server_config

with warnings.catch_warnings():  # asyncssh still imports DSA, which cryptography deprecates
    warnings.filterwarnings("ignore", message=".*DSA.*")
    import asyncssh

#: the webhook secret of the GitHub connection
WEBHOOK_SECRET = "webhook-secret"
#: who approves pull requests (write permission on the gated repository)
MAINTAINER = "maintainer"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for zuulish's web server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, predicate: Callable[[], Any], timeout: float = 120,
               explain: Callable[[], str] | None = None) -> Any:
    """``predicate()``'s first true value, polled every 0.1 s; a failure naming
    ``what`` (and ``explain()``, the state that helps read it) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    detail = f"; {explain()}" if explain is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")


# ------------------------------------------------------------------ GitHub


def github_repo(fake: FakeGitHub, tmp_path: Path, name: str, files: dict[str, str],
                branch: str = "main") -> tuple[Repo, App]:
    """Repository ``name`` of the fake GitHub, gated as the tests gate it: an app
    installed on its owner (its key in ``tmp_path/app.pem``), :data:`MAINTAINER`
    with write permission, and the ``t/gate`` check required on ``branch``."""
    repo = fake.add_repo(name, default_branch=branch, files=files)
    app = fake.add_app()
    fake.add_installation(app, name.split("/")[0])
    fake.add_collaborator(name, MAINTAINER, "write")
    fake.protect_branch(name, branch, contexts=["t/gate"])
    (tmp_path / "app.pem").write_text(app.private_key_pem)
    return repo, app


def github_connection(fake: FakeGitHub, app: App) -> str:
    """Settings of a GitHub connection to ``fake`` as ``app`` (a YAML flow mapping)."""
    return (f"{{driver: github, app_id: {app.id}, app_key: app.pem, "
            f"webhook_token: {WEBHOOK_SECRET}, api_url: '{fake.url}'}}")


def deliver_webhooks(fake: FakeGitHub, zuulish: AllInOne, connection: str) -> None:
    """Have ``fake`` deliver its webhooks to zuulish's connection ``connection``."""
    config = zuulish.config
    fake.add_webhook(f"http://{config.listen_host}:{config.listen_port}"
                     f"/api/connection/{connection}/payload", WEBHOOK_SECRET)


# ------------------------------------------------------------------ Gerrit


@dataclass
class GerritSite:
    """The fake Gerrit: its repositories, REST and git over HTTP (``gerrit``) and
    its SSH stream-events (``ssh``), for user ``zuul`` with key ``id_zuul``."""

    gerrit: GitBackedGerrit
    ssh: FakeGerritSSH


@contextmanager
def gerrit_site(tmp_path: Path, projects: dict[str, tuple[dict[str, str], str]]
                ) -> Iterator[GerritSite]:
    """A started fake Gerrit holding ``projects`` (name: (files, branch)); as
    OpenDev's, it submits a change only with Verified +2 (the gate's). zuulish's
    key and known hosts are written to ``tmp_path``."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    (tmp_path / "id_zuul").write_bytes(key.export_private_key())
    ssh = FakeGerritSSH()
    ssh.add_user("zuul", key)
    ssh.start()
    try:
        ssh.known_hosts(tmp_path / "known_hosts")
        gerrit = GitBackedGerrit(tmp_path / "gerrit", emit=ssh.send)
        try:
            gerrit.submit_requires = {"Verified": 2}
            for name, (files, branch) in projects.items():
                gerrit.create_project(name, files, branch=branch)
            yield GerritSite(gerrit, ssh)
        finally:
            gerrit.close()
    finally:
        ssh.stop()


def gerrit_connection(site: GerritSite) -> str:
    """Settings of a Gerrit connection to ``site`` (a YAML flow mapping)."""
    return (f"{{driver: gerrit, server: 127.0.0.1, port: {site.ssh.port}, user: zuul, "
            f"sshkey: id_zuul, known_hosts: known_hosts, password: secret, "
            f"baseurl: '{site.gerrit.url}'}}")


# ------------------------------------------------------------------ zuulish


@contextmanager
def running_zuulish(tmp_path: Path, pipelines: str, untrusted: dict[str, list[str]],
                    connections: dict[str, str], web: bool = True,
                    database_url: str | None = None,
                    web_url: str | None = None) -> Iterator[AllInOne]:
    """A started zuulish (all-in-one) with tenant ``t``: the built-in forge's
    ``zuul-config`` (``pipelines``) and ``zuulish-jobs`` as config projects, and
    ``untrusted`` projects (connection: projects) on ``connections`` (name:
    settings). ``web``: its web server runs too (webhooks reach it there);
    ``web_url``: the URL its links use (default: where it listens)."""
    sources = "".join(f"      {conn}:\n        untrusted-projects:\n"
                      + "".join(f"          - {p}\n" for p in projects)
                      for conn, projects in untrusted.items())
    (tmp_path / "main.yaml").write_text(
        "- tenant:\n    name: t\n    source:\n      forge:\n        config-projects:\n"
        "          - zuul-config\n          - zuulish-jobs\n" + sources)
    port = free_port()
    url = web_url or f"http://127.0.0.1:{port}"
    (tmp_path / "zuulish.yaml").write_text(
        "state_dir: state\ntenant_file: main.yaml\n"
        + (f"database: {database_url}\n" if database_url else "")
        + f"web: {{listen: '127.0.0.1:{port}', url: '{url}'}}\n"
        "connections:\n  forge: {driver: git}\n"
        + "".join(f"  {name}: {settings}\n" for name, settings in connections.items())
        + "scheduler: {poll_interval: 0.05}\n")
    aio = AllInOne(load_server_config(tmp_path / "zuulish.yaml"))
    forge = aio.connections.forges["forge"]
    forge.create_project("zuul-config", {"zuul.d/pipelines.yaml": pipelines})
    forge.create_project("zuulish-jobs", read_dir(ROOT / "jobs"))
    aio.start()
    try:
        server = WebThread(aio) if web else None
        if server is not None:
            server.start()
        try:
            yield aio
        finally:
            if server is not None:
                server.stop()
    finally:
        aio.stop()
