"""The real web application serving the built-in forge over HTTP on 127.0.0.1,
with its server configuration, store and one project, for tests that clone and
push with a real ``git``."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from tests.fakes.web_server import served
from zuulish.drivers.git.connection import GitForge
from zuulish.drivers.registry import Connections, make_connections
from zuulish.runner import free_port
from zuulish.server_config import load_server_config
from zuulish.store import Store
from zuulish.web.app import create_app

#: git with no user or system configuration, no prompts, no credential helpers
GIT_ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "",
           "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.org",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.org"}


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["git", "-c", "credential.helper=", *args], cwd=cwd, env=GIT_ENV,
                          capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {args}: {proc.stderr}")
    return proc


@dataclass
class ForgeServer:
    url: str  # the web server's base URL
    store: Store
    forge: GitForge
    connections: Connections
    config: Path

    def repo_url(self, project: str, user: str | None = None, token: str | None = None) -> str:
        """``<url>/git/<project>.git``, with ``user:token@`` when given."""
        host = self.url.removeprefix("http://")
        auth = f"{user}:{token}@" if user is not None else ""
        return f"http://{auth}{host}/git/{project}.git"


@contextlib.contextmanager
def forge_server(tmp_path: Path, database_url: str, options: str = "") -> Iterator[ForgeServer]:
    """zuulish's web application on a free port of 127.0.0.1 with the forge
    connection ``forge`` (``options``: more of its settings, as YAML flow entries,
    where ``{url}`` is the server's base URL) and the project ``org/app``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = tmp_path / "zuulish.yaml"
    extra = ", " + options.replace("{url}", url) if options else ""
    config.write_text(f"state_dir: state\ndatabase: '{database_url}'\ntenant_file: main.yaml\n"
                      f"web: {{listen: '127.0.0.1:{port}', url: '{url}'}}\n"
                      f"connections: {{forge: {{driver: git{extra}}}}}\n")
    store = Store(database_url)
    store.upgrade()
    conns = make_connections(load_server_config(config), store)
    forge = conns.forges["forge"]
    forge.create_project("org/app", {"README": "hello\n"})
    layouts = SimpleNamespace(layouts={}, tenants={})

    def app(_url: str):
        return create_app(store, layouts, tmp_path / "state", url,  # type: ignore[arg-type]
                          extra_routes=conns.routes)

    with served(app, port):
        try:
            yield ForgeServer(url, store, forge, conns, config)
        finally:
            store.dispose()
