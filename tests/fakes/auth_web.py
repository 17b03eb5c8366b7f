"""The web app with authenticators and rules, served on 127.0.0.1 for the web auth
tests: a real zuulish.yaml (an OpenID Connect authenticator whose issuer is served
too, an HS256 operator one), a real tenant file with rules (tenant ``t`` has
access-rules, ``pub`` is open), and the seeded builds of tenant ``t``."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.oidc_issuer import Issuer, serve_issuer
from tests.fakes.web_server import served
from zuulish.config.layout import Layout
from zuulish.config.tenant import load_tenants
from zuulish.model import Pipeline, PipelineManager
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.server_config import load_server_config
from zuulish.store import Store
from zuulish.web.app import create_app

SECRET = "an-operator-secret-of-at-least-32-chars"
TENANTS = """\
- authorization-rule:
    name: readers
    conditions:
      - groups: '{tenant.name}-readers'
- authorization-rule:
    name: admins
    conditions:
      - realm_access.roles: ci-admin
- tenant:
    name: t
    access-rules: [readers]
    admin-rules: [admins]
- tenant:
    name: pub
    admin-rules: [admins]
"""


def server_config(issuer_url: str) -> str:
    return f"""\
tenant_file: main.yaml
auth:
  sso:
    driver: OpenIDConnect
    realm: example
    issuer_id: {issuer_url}
    client_id: dashboard
    default: true
  ops:
    driver: HS256
    realm: example
    issuer_id: zuulish_operator
    client_id: zuulish
    secret: {SECRET}
    allow_authz_override: true
"""


@dataclass
class Api:
    url: str
    issuer: Issuer
    config: Path
    store: Store
    layouts: TenantLayouts  # the web's running layouts (a test may swap a tenant's)

    def call(self, method: str, path: str, token: str | None = None,
             body: Any = None) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, path, json.dumps(body) if body is not None else None,
                         headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode()
        finally:
            conn.close()

    def json(self, path: str, token: str | None = None) -> tuple[int, Any]:
        status, _, text = self.call("GET", path, token)
        return status, json.loads(text)

    def sso(self, **claims: Any) -> str:
        return self.issuer.token({"aud": "dashboard", "sub": "dana", **claims})


@contextmanager
def serve_auth_app(where: Path, **options: Any) -> Iterator[Api]:
    """The app over a new store in ``where`` (``options``: more of ``create_app``'s),
    until the block ends."""
    from tests.functional.test_web import seed

    store = Store(f"sqlite:///{where / 'zuulish.db'}")
    store.upgrade()
    seed(store)  # tenant t: change 3 in the gate, its builds build-0..2
    logs = where / "logs" / "build-1"
    logs.mkdir(parents=True)
    (logs / "job-output.txt").write_text("private output of tenant t\n")
    (where / "main.yaml").write_text(TENANTS)
    with serve_issuer() as issuer:
        (where / "zuulish.yaml").write_text(server_config(issuer.url))
        config = load_server_config(where / "zuulish.yaml")
        layouts = TenantLayouts(where / "main.yaml", {}, {}, {})
        pipelines = {"check": Pipeline("check", PipelineManager.INDEPENDENT),
                     "gate": Pipeline("gate", PipelineManager.DEPENDENT)}
        layouts.layouts = {tc.name: Layout(tc.name, pipelines=dict(pipelines),
                                           auth_rules=tc.auth_rules)
                           for tc in load_tenants(where / "main.yaml", set())}
        with served(lambda url: create_app(store, layouts, where, url,
                                           auth_config=config.auth, **options)) as url:
            yield Api(url, issuer, where / "zuulish.yaml", store, layouts)
    store.dispose()
