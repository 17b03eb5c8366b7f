"""``GET /metrics`` on the web application: the exposition over real HTTP, and who
may read it when the web's access is narrower than "reads open to all"."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.web_server import served
from zuulish.drivers.registry import trigger_parsers
from zuulish.metrics import ProcessMetrics, RegistryFamilies, Scrape, layout_pipelines
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import Store
from zuulish.web.access import ALLOWED, Action, Decision
from zuulish.web.app import create_app

pytestmark = pytest.mark.not_store


class TenantReaders:
    """A narrower access: ``Bearer all`` reads every tenant, ``Bearer a`` tenant a."""

    def decide(self, authorization: str | None, tenant: str | None,
               action: Action) -> Decision:
        if authorization is None:
            return Decision(False, 401, "log in", "no token",
                            headers={"WWW-Authenticate": 'Bearer realm="zuulish"'})
        if action == "read" and authorization in ("Bearer all", f"Bearer {tenant}"):
            return ALLOWED
        return Decision(False, 403, "not yours", f"{authorization} on {tenant}")

    def readable(self, authorization: str | None, tenants: list[str]) -> list[str]:
        return [t for t in tenants if self.decide(authorization, t, "read").allowed]


@pytest.fixture
def layouts(tmp_path: Path) -> TenantLayouts:
    (tmp_path / "main.yaml").write_text("- tenant:\n    name: a\n- tenant:\n    name: b\n")
    layouts = TenantLayouts(tmp_path / "main.yaml", {}, {}, trigger_parsers())
    layouts.load_all()
    return layouts


def get(url: str, token: str | None = None) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_metrics_serve_the_store_and_the_process_in_prometheus_text(
        store: Store, layouts: TenantLayouts, tmp_path: Path) -> None:
    process = ProcessMetrics()
    process.item_ended("a", "gate", "merged", 0.0, 90.0)
    scrape = Scrape(store, RegistryFamilies(process.registry),
                    pipelines=layout_pipelines(layouts))
    with served(lambda url: create_app(store, layouts, tmp_path, url,
                                       metrics_scrape=scrape)) as base:
        status, content_type, text = get(f"{base}/metrics")
        assert status == 200 and content_type.startswith("text/plain; version=")
        names = {f.name for f in text_string_to_metric_families(text)}
        assert {"zuulish_store_up", "zuulish_time_to_merge_seconds",
                "zuulish_components_alive"} <= names
        assert get(f"{base}/metrics?name[]=x")[0] == 400  # the registry takes no query


def test_metrics_are_read_only_by_whoever_may_read_every_tenant(
        store: Store, layouts: TenantLayouts, tmp_path: Path) -> None:
    with served(lambda url: create_app(store, layouts, tmp_path, url,
                                       access=TenantReaders())) as base:
        assert get(f"{base}/metrics")[0] == 401
        assert get(f"{base}/metrics", "a")[0] == 403  # tenant b's names are not a's to see
        status, _, text = get(f"{base}/metrics", "all")
        assert status == 200 and "zuulish_store_up 1.0" in text
