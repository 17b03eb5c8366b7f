"""The dashboard names a change as people know it and links to where they read it: a
GitHub pull request as ``org/repo#12`` on GitHub (its ``change`` number is the
connection's, which nobody else knows), other changes by their number as before."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.web_server import served
from zuulish.config.layout import Layout
from zuulish.model import Pipeline, PipelineManager
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import (
    BuildRow,
    BuildSetRow,
    ChangeQueueRow,
    ChangeRow,
    GithubPullRow,
    QueueItemRow,
    Store,
)
from zuulish.web.app import create_app
from zuulish.web.status import item_url

PULL_URL = "https://github.example/acme/app/pull/12"
GERRIT = "https://review.example"


def item(connection: str, number: int, project: str, sequence: int,
         patchset: int = 1) -> QueueItemRow:
    return QueueItemRow(tenant="t", pipeline="gate", queue_name="shared",
                        connection=connection, change_number=number, patchset=patchset,
                        commit_sha=f"{sequence:040x}", project=project, branch="main",
                        sequence=sequence, enqueued_at=sequence, state="queued")


def seed(store: Store) -> None:
    """In the gate: pull request acme/app#12 (change 3 of connection ``github``, with
    a finished build), change 3 of the built-in forge, change 42 of Gerrit, and pull
    request acme/lib#5 whose webhooks have not said where it is yet."""
    with store.session() as s:
        s.add(ChangeQueueRow(tenant="t", pipeline="gate", name="shared", window=20))
        s.add_all([
            GithubPullRow(id=3, connection="github", repo="acme/app", number=12,
                          title="Teach the app <b>manners</b>", data={"html_url": PULL_URL}),
            GithubPullRow(id=4, connection="github", repo="acme/lib", number=5,
                          title="A library change", data={}),
            ChangeRow(connection="forge", number=3, project="org/tools", branch="main",
                      status="NEW", patchset=1, commit_sha="a" * 40, subject="Forge change",
                      message="", created_at=0, updated_at=0)])
        pull = item("github", 3, "acme/app", 1, patchset=2)
        s.add_all([pull, item("forge", 3, "org/tools", 2), item("gerrit", 42, "org/core", 3),
                   item("github", 4, "acme/lib", 4)])
        s.flush()
        bs = BuildSetRow(uuid="bs1", item_id=pull.id, ahead=[], merge_state="merged",
                         job_graph={"jobs": {"unit": {"name": "unit", "voting": True}}},
                         created_at=0)
        s.add(bs)
        s.flush()
        s.add(BuildRow(id="build-1", buildset_id=bs.id, job="unit", state="completed",
                       result="SUCCESS", created_at=1, started_at=1, finished_at=2))


@dataclass
class Dashboard:
    url: str

    def text(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return response.read().decode()

    def json(self, path: str) -> Any:
        return json.loads(self.text(path))


@pytest.fixture
def dashboard(store: Store, tmp_path: Path) -> Iterator[Dashboard]:
    seed(store)
    layouts = TenantLayouts(tmp_path / "main.yaml", {}, {}, {})
    layouts.layouts = {"t": Layout("t", pipelines={
        "gate": Pipeline("gate", PipelineManager.DEPENDENT)})}
    # the connections' change pages, as their sources give them (Gerrit's here)
    links = {"gerrit": lambda project, number: f"{GERRIT}/c/{project}/+/{number}"}
    with served(lambda url: create_app(store, layouts, tmp_path, url,
                                       change_links=links)) as url:
        yield Dashboard(url)


def gate_changes(dashboard: Dashboard) -> list[dict[str, Any]]:
    [gate] = dashboard.json("/api/tenant/t/status")["pipelines"]
    [queue] = gate["queues"]
    return [i["change"] for i in queue["items"]]


def test_the_status_api_names_each_change_as_its_forge_does(dashboard: Dashboard) -> None:
    pull, forge, gerrit, unlinked = gate_changes(dashboard)
    # the pull request: GitHub's name and page; the old fields stay as they were
    assert pull["display"] == "acme/app#12" and pull["url"] == PULL_URL
    assert (pull["number"], pull["patchset"], pull["label"]) == (3, 2, "3,2")
    assert pull["subject"] == "Teach the app <b>manners</b>"
    # change 3 of the built-in forge is not the pull request numbered 3 on github
    assert forge["display"] == "3,1" and forge["subject"] == "Forge change"
    assert forge["url"] == f"{dashboard.url}/c/org/tools/+/3"
    # a Gerrit change: its number, linked to Gerrit's page (not the built-in forge's)
    assert gerrit["display"] == "42,1" and gerrit["number"] == 42
    assert gerrit["url"] == f"{GERRIT}/c/org/core/+/42"
    # a pull request whose page is not known yet: named, not linked somewhere wrong
    assert unlinked["display"] == "acme/lib#5" and unlinked["url"] is None


def test_the_status_page_shows_and_links_the_pull_request_by_its_name(
        dashboard: Dashboard) -> None:
    body = dashboard.text("/t/t/status")
    assert f'<a class="change" href="{PULL_URL}">acme/app#12</a>' in body
    assert "Teach the app &lt;b&gt;manners&lt;/b&gt;" in body
    assert f'<a class="change" href="{dashboard.url}/c/org/tools/+/3">3,1</a>' in body
    assert '<span class="change">acme/lib#5</span>' in body
    assert f'<a class="change" href="{GERRIT}/c/org/core/+/42">42,1</a>' in body
    # the live script (status.js) renders the same name from the API
    assert "/static/status.js" in body
    assert "esc(c.display)" in dashboard.text("/static/status.js")


def test_builds_name_the_pull_request_they_tested(dashboard: Dashboard) -> None:
    [build] = dashboard.json("/api/tenant/t/builds")
    assert (build["display"], build["change_url"], build["change"], build["label"]) == \
        ("acme/app#12", PULL_URL, 3, "3,2")
    assert f'<a href="{PULL_URL}">acme/app#12</a>' in dashboard.text("/t/t/builds")
    info = dashboard.json("/api/build/build-1")
    assert (info["display"], info["change_url"]) == ("acme/app#12", PULL_URL)
    assert info["subject"] == "Teach the app <b>manners</b>"
    page = dashboard.text("/build/build-1")
    assert f'<dt>Change</dt><dd><a href="{PULL_URL}">acme/app#12</a>' in page


def test_the_api_description_names_the_display_field(dashboard: Dashboard) -> None:
    schemas = dashboard.json("/api/openapi.json")["components"]["schemas"]
    assert "display" in schemas["Change"]["required"]
    assert "display" in schemas["Change"]["properties"]


def test_a_pull_request_whose_page_is_not_known_is_linked_by_its_source() -> None:
    pull_item = item("github", 4, "acme/lib", 4)
    pull = GithubPullRow(id=4, connection="github", repo="acme/lib", number=5, data={})
    links = {"github": lambda project, number: f"https://github.example/{project}/pull/5"}
    assert item_url("http://zuulish", pull_item, pull, links) == \
        "https://github.example/acme/lib/pull/5"
    # never the built-in forge's page, which has no such change
    assert item_url("http://zuulish", pull_item, pull) is None
    forge_item = item("forge", 3, "org/tools", 2)
    assert item_url("http://zuulish", forge_item) == "http://zuulish/c/org/tools/+/3"
