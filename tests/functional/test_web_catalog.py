"""The catalog's API over real HTTP on 127.0.0.1: projects, jobs, frozen jobs, nodes,
labels, semaphores, configuration errors, autoholds and the badge.

The tenant's layout is loaded as zuulish loads it, from real git repositories on the
built-in forge (a config project and two untrusted projects, one with two branches);
the store is seeded with nodes, builds and finished items as the launcher and the
scheduler write them.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.fakes.tenant import GIT_ENV, PIPELINES
from tests.fakes.web_server import served
from zuulish.drivers.git.connection import GitForge
from zuulish.drivers.git.source import GitSource
from zuulish.drivers.registry import trigger_parsers
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import (
    AutoholdRow,
    BuildRow,
    BuildSetRow,
    NodeRequestRow,
    NodeRow,
    QueueItemRow,
    Store,
)
from zuulish.web.app import create_app

TOKEN = "a-catalog-token-for-tests"
#: zuulish.yaml's providers and their labels, as the server hands them to the web
POOL_LABELS = {"local": ("local",), "static-1": ("ubuntu", "local")}
#: when the seeded nodes were made (December 2025), so the pages show real dates
BASE = 1_765_000_000

CONFIG_JOBS = """
- nodeset:
    name: small
    nodes:
      - name: node
        label: local

- semaphore:
    name: deploy-lock
    max: 1

- semaphore:
    name: db
    max: 3

- job:
    name: base
    parent: null
    description: The root of every job.
    nodeset: small
    timeout: 1800
    pre-run: playbooks/base/pre.yaml

- job:
    name: lint
    description: Lint the code.
    run: playbooks/lint.yaml

- project-template:
    name: python-jobs
    check:
      jobs:
        - lint

- job:
    name: lib-release
    description: Loads, but cannot be frozen (its nodeset does not exist).
    nodeset: no-such-nodeset
    run: playbooks/release.yaml

- project:
    name: org/lib
    check:
      jobs:
        - lint
    gate:
      jobs:
        - lib-release
"""

APP_MAIN = """
- job:
    name: app-test
    description: The app's tests.
    run: playbooks/test.yaml
    semaphores: [db]
    vars:
      flavour: vanilla
      depth: 1

- job:
    name: app-deploy
    parent: app-test
    semaphores: [deploy-lock]
    vars:
      target: prod

- project:
    templates: [python-jobs]
    check:
      jobs:
        - app-test
    gate:
      jobs:
        - app-test
        - app-deploy
"""

APP_STABLE = """
- job:
    name: app-test
    description: The app's tests, as the stable branch runs them.
    run: playbooks/test.yaml
    vars:
      flavour: stable-flavour

- project:
    check:
      jobs:
        - app-test
"""

TENANT_FILE = """
- tenant:
    name: t
    source:
      forge:
        config-projects:
          - zuul-config
        untrusted-projects:
          - org/app
          - org/lib
- tenant:
    name: other
    source:
      forge:
        config-projects:
          - other-config
"""

BROKEN_OTHER = """
- job:
    name: broken
    parent: nowhere
    run: x.yaml
- job:
    name: fine
    nodeset: {nodes: [{name: n, label: local}]}
    run: x.yaml
    unknown-key: 1
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**GIT_ENV, "PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def two_branches(tmp: Path, main: dict[str, str], stable: dict[str, str]):
    """A ``fill`` for the forge: ``main`` and a ``stable`` branch with other files."""
    def fill(bare: Path) -> None:
        work = tmp / "fill-work"
        work.mkdir()
        git(work, "init", "-q", "-b", "main")
        for files, branch in ((main, "main"), (stable, "stable/1")):
            if branch == "stable/1":
                git(work, "checkout", "-q", "-b", "stable/1")
            for path, text in files.items():
                (work / path).parent.mkdir(parents=True, exist_ok=True)
                (work / path).write_text(text)
            git(work, "add", "-A")
            git(work, "commit", "-q", "-m", f"{branch} config")
        git(work, "push", "-q", str(bare), "main", "stable/1")
    return fill


def build_layouts(tmp: Path, store: Store) -> TenantLayouts:
    """Tenants ``t`` (good) and ``other`` (with configuration errors), loaded from the
    forge's repositories as the scheduler loads them."""
    forge = GitForge("forge", tmp / "state", store, "http://zuulish.test", None)
    forge.create_project("zuul-config", {"zuul.d/pipelines.yaml": PIPELINES,
                                         "zuul.d/jobs.yaml": CONFIG_JOBS})
    forge.create_project("org/app", fill=two_branches(
        tmp, {".zuul.yaml": APP_MAIN, "playbooks/test.yaml": "- hosts: all\n"},
        {".zuul.yaml": APP_STABLE}))
    forge.create_project("org/lib", {"README": "lib\n"})
    forge.create_project("other-config", {"zuul.yaml": BROKEN_OTHER})
    (tmp / "main.yaml").write_text(TENANT_FILE)
    layouts = TenantLayouts(tmp / "main.yaml", {"forge": "git", "timer": "timer"},
                            {"forge": GitSource(forge, store)}, trigger_parsers())
    layouts.load_all()
    assert not layouts.layouts["t"].errors, layouts.layouts["t"].errors
    return layouts


def seed(store: Store) -> dict[str, Any]:
    """Nodes in several states (one for a running build, one held), builds holding
    semaphores, and finished items of org/app in check (failed) and gate (passed)."""
    with store.session() as s:
        gate_item = QueueItemRow(tenant="t", pipeline="gate", queue_name="org/app",
                                 connection="forge", change_number=7, patchset=2,
                                 commit_sha="a" * 40, project="org/app", branch="main",
                                 sequence=1, enqueued_at=1, state="queued")
        done = [QueueItemRow(tenant="t", pipeline=pipeline, queue_name="org/app",
                             connection="forge", change_number=n, patchset=1,
                             commit_sha="b" * 40, project="org/app", branch=branch,
                             sequence=n, enqueued_at=n, state=state, result=result,
                             dequeued_at=10 + n)
                for n, pipeline, branch, state, result in (
                    (1, "check", "main", "failed", "FAILURE"),
                    (2, "gate", "main", "merged", "SUCCESS"),
                    (3, "gate", "main", "dequeued", "DEQUEUED"),
                    (4, "check", "stable/1", "merged", "SUCCESS"))]
        s.add_all([gate_item, *done])
        s.flush()
        bs = BuildSetRow(uuid="bs-cat", item_id=gate_item.id, ahead=[], created_at=1)
        s.add(bs)
        s.flush()
        s.add_all([
            BuildRow(id="build-test", buildset_id=bs.id, job="app-test", state="running",
                     created_at=2, started_at=3,
                     frozen_job={"name": "app-test", "semaphores": ["db"]}),
            BuildRow(id="build-deploy", buildset_id=bs.id, job="app-deploy",
                     state="waiting", created_at=4,
                     frozen_job={"name": "app-deploy", "semaphores": ["db", "deploy-lock"]}),
            BuildRow(id="build-old", buildset_id=bs.id, job="app-test", state="completed",
                     result="SUCCESS", created_at=1, finished_at=2,
                     frozen_job={"name": "app-test", "semaphores": ["db"]}),
        ])
        request = NodeRequestRow(build_id="build-test", labels=["local"], state="fulfilled",
                                 created_at=2, tenant="t")
        s.add(request)
        s.flush()
        hold = AutoholdRow(tenant="t", project="org/app", job="app-test", ref_filter=".*",
                           reason="flaky <b>test</b>", count=1, current_count=1,
                           created_at=5, held=[])
        s.add(hold)
        s.flush()
        nodes = [
            NodeRow(provider="local", label="local", state="in-use", hostname="10.0.0.5",
                    host_vars={"ansible_host": "10.0.0.5"}, request_id=request.id,
                    created_at=BASE + 2, tenant="t", zone="east"),
            NodeRow(provider="local", label="local", state="ready", hostname="10.0.0.6",
                    created_at=BASE + 3, tenant=None),
            NodeRow(provider="cloud", label="big", state="held", hostname="192.0.2.9",
                    host_vars={"ansible_host": "192.0.2.9", "ansible_user": "zuul"},
                    created_at=BASE + 4, tenant="t", hold_id=hold.id),
            NodeRow(provider="cloud", label="big", state="deleted", hostname="gone",
                    created_at=BASE + 1, tenant="t"),
            NodeRow(provider="local", label="local", state="in-use", hostname="10.9.9.9",
                    created_at=BASE + 5, tenant="other"),
        ]
        s.add_all(nodes)
        s.flush()
        return {"in_use": nodes[0].id, "ready": nodes[1].id, "held": nodes[2].id,
                "deleted": nodes[3].id, "other": nodes[4].id, "hold": hold.id}


@dataclass
class Api:
    url: str
    ids: dict[str, Any]

    def request(self, path: str, token: str | None = None
                ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def json(self, path: str, token: str | None = None) -> tuple[int, Any]:
        status, headers, body = self.request(path, token)
        assert headers["Content-Type"].startswith("application/json"), body[:300]
        return status, json.loads(body)

    def html(self, path: str, token: str | None = None) -> tuple[int, str]:
        status, _headers, body = self.request(path, token)
        return status, body.decode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Store,
                                                                     TenantLayouts, dict]]:
    """One store and one set of layouts for the module (the tests only read them)."""
    tmp = tmp_path_factory.mktemp("catalog")
    store = Store(f"sqlite:///{tmp / 'zuulish.db'}")
    store.upgrade()
    layouts = build_layouts(tmp, store)
    ids = seed(store)
    yield tmp, store, layouts, ids
    store.dispose()


@pytest.fixture(scope="module")
def api(world: tuple[Path, Store, TenantLayouts, dict]) -> Iterator[Api]:
    tmp, store, layouts, ids = world
    with served(lambda url: create_app(store, layouts, tmp, url, admin_token=TOKEN,
                                       pool_labels=POOL_LABELS)) as url:
        yield Api(url, ids)


# ------------------------------------------------------------------ projects


def test_projects_lists_config_projects_first_with_their_pipelines(api: Api) -> None:
    status, projects = api.json("/api/tenant/t/projects")
    assert status == 200
    assert [(p["name"], p["type"]) for p in projects] == [
        ("zuul-config", "config"), ("org/app", "untrusted"), ("org/lib", "untrusted")]
    app = projects[1]
    assert app["branches"] == ["main", "stable/1"] and app["connection"] == "forge"
    assert app["pipelines"] == ["check", "gate"]
    assert projects[2]["pipelines"] == ["check", "gate"]


def test_projects_filter_by_name_and_type_and_page(api: Api) -> None:
    assert [p["name"] for p in api.json("/api/tenant/t/projects?name=ORG/")[1]] == \
        ["org/app", "org/lib"]
    assert [p["name"] for p in api.json("/api/tenant/t/projects?type=config")[1]] == \
        ["zuul-config"]
    assert [p["name"] for p in api.json("/api/tenant/t/projects?limit=1&skip=1")[1]] == \
        ["org/app"]
    assert api.json("/api/tenant/t/projects?skip=9")[1] == []


@pytest.mark.parametrize(("query", "field"), [
    ("type=trusted", "type"), ("limit=0", "limit"), ("limit=501", "limit"),
    ("skip=-1", "skip"), ("limit=many", "limit"), ("colour=red", "colour")])
def test_malformed_project_filters_are_refused_naming_the_field(api: Api, query: str,
                                                                field: str) -> None:
    status, body = api.json(f"/api/tenant/t/projects?{query}")
    assert status == 400 and repr(field) in body["error"], body


def test_a_project_shows_each_branch_s_jobs_templates_and_where_defined(api: Api) -> None:
    status, project = api.json("/api/tenant/t/project/org/app")
    assert status == 200 and project["type"] == "untrusted"
    by_branch = {b["branch"]: {p["name"]: [(j["name"], j["stanza"], j["template"])
                                           for j in p["jobs"]] for p in b["pipelines"]}
                 for b in project["branch_pipelines"]}
    assert by_branch["main"] == {
        "check": [("lint", "python-jobs", True), ("app-test", "org/app", False)],
        "gate": [("app-test", "org/app", False), ("app-deploy", "org/app", False)]}
    # the stable branch's own stanza (implied branch matcher): only its jobs
    assert by_branch["stable/1"] == {"check": [("app-test", "org/app", False)]}
    stanzas = {(s["name"], s["source_branch"]): s for s in project["stanzas"]}
    template = stanzas[("python-jobs", "main")]
    assert template["template"] and template["source_project"] == "zuul-config"
    assert template["file"] == "zuul-config/zuul.d/jobs.yaml" and template["line"] > 1
    stable = stanzas[("org/app", "stable/1")]
    assert stable["file"] == "org/app@stable/1/.zuul.yaml"
    assert stable["branches"] == ["stable/1"]
    assert stanzas[("org/app", "main")]["templates"] == ["python-jobs"]


def test_unknown_project_and_tenant_are_404_naming_them(api: Api) -> None:
    status, body = api.json("/api/tenant/t/project/org/nope")
    assert status == 404
    assert body["error"] == ("no project 'org/nope' in tenant t; there are: org/app, "
                             "org/lib, zuul-config")
    status, body = api.json("/api/tenant/nope/projects")
    assert status == 404 and "'nope'" in body["error"] and "other, t" in body["error"]


# ---------------------------------------------------------------------- jobs


def test_jobs_list_names_descriptions_and_variant_counts(api: Api) -> None:
    status, jobs = api.json("/api/tenant/t/jobs")
    assert status == 200
    assert [(j["name"], j["variants"]) for j in jobs] == [
        ("app-deploy", 1), ("app-test", 2), ("base", 1), ("lib-release", 1), ("lint", 1)]
    assert jobs[1]["description"] == "The app's tests."
    assert [j["name"] for j in api.json("/api/tenant/t/jobs?name=APP")[1]] == \
        ["app-deploy", "app-test"]
    assert [j["name"] for j in api.json("/api/tenant/t/jobs?name=app&skip=1&limit=5")[1]] \
        == ["app-test"]


def test_a_job_lists_every_variant_with_file_line_parent_branches_and_vars(api: Api) -> None:
    status, job = api.json("/api/tenant/t/job/app-test")
    assert status == 200
    main, stable = job["variants"]
    assert (main["file"], main["line"]) == ("org/app/.zuul.yaml", 3)
    assert main["branches"] == ["main"] and main["semaphores"] == ["db"]
    assert main["vars"] == {"flavour": "vanilla", "depth": 1}
    assert main["run"] == [{"project": "org/app", "path": "playbooks/test.yaml",
                            "trusted": False, "branch": "main"}]
    assert (stable["file"], stable["line"]) == ("org/app@stable/1/.zuul.yaml", 3)
    assert stable["branches"] == ["stable/1"] and stable["source_branch"] == "stable/1"
    assert stable["vars"] == {"flavour": "stable-flavour"}
    assert job["used_by"] == [{"project": "org/app", "branches": ["main", "stable/1"],
                               "pipelines": ["check", "gate"],
                               "by_branch": {"main": ["check", "gate"],
                                             "stable/1": ["check"]}}]
    _, deploy = api.json("/api/tenant/t/job/app-deploy")
    assert deploy["variants"][0]["parent"] == "app-test"
    assert (main["parent"], main["default_parent"]) == (None, True)
    _, base = api.json("/api/tenant/t/job/base")
    assert (base["variants"][0]["parent"], base["variants"][0]["default_parent"]) == \
        (None, False)
    assert deploy["used_by"] == [{"project": "org/app", "branches": ["main", "stable/1"],
                                  "pipelines": ["gate"], "by_branch": {"main": ["gate"]}}]


def test_unknown_job_is_404_naming_the_jobs(api: Api) -> None:
    status, body = api.json("/api/tenant/t/job/nope")
    assert status == 404 and body["error"] == \
        "no job 'nope' in tenant t; there are: app-deploy, app-test, base, lib-release, lint"


def freeze_path(project: str, branch: str, pipeline: str, job: str) -> str:
    return (f"/api/tenant/t/project/{project}/branch/{quote(branch, safe='')}"
            f"/freeze-job/{pipeline}/{job}")


def test_the_frozen_job_applies_inheritance_and_the_branch_s_variant(api: Api) -> None:
    status, frozen = api.json(freeze_path("org/app", "main", "gate", "app-deploy"))
    assert status == 200, frozen
    job = frozen["job"]
    assert job["inheritance_path"] == ["base", "app-test", "app-deploy"]
    assert job["vars"] == {"flavour": "vanilla", "depth": 1, "target": "prod"}
    assert job["semaphores"] == ["db", "deploy-lock"]
    assert job["nodeset"]["nodes"] == [{"name": "node", "label": "local"}]
    assert [p["path"] for p in job["pre_run"]] == ["playbooks/base/pre.yaml"]
    assert job["timeout"] == 1800
    _, stable = api.json(freeze_path("org/app", "stable/1", "check", "app-test"))
    assert stable["job"]["vars"] == {"flavour": "stable-flavour"}
    assert stable["job"]["semaphores"] == []


def test_a_job_that_does_not_freeze_is_400_with_its_file_and_line(api: Api) -> None:
    status, body = api.json(freeze_path("org/lib", "main", "gate", "lib-release"))
    assert status == 400 and body["error"] == (
        "job 'lib-release' cannot be frozen for org/lib in gate on main: "
        "zuul-config/zuul.d/jobs.yaml:36: job 'lib-release' uses unknown nodeset "
        "'no-such-nodeset'")
    status, html = api.html("/t/t/job/lib-release?project=org/lib&branch=main"
                            "&pipeline=gate")
    assert status == 200 and 'role="alert"' in html
    assert "uses unknown nodeset &#39;no-such-nodeset&#39;" in html


def test_the_frozen_job_is_also_at_zuul_s_path(api: Api) -> None:
    ours = api.json(freeze_path("org/app", "stable/1", "check", "app-test"))
    zuuls = api.json("/api/tenant/t/pipeline/check/project/org/app/branch/stable%2F1"
                     "/freeze-job/app-test")
    assert ours == zuuls and ours[0] == 200


def test_a_branch_with_a_slash_freezes_encoded_or_not(api: Api) -> None:
    for branch in ("stable%2F1", "stable/1"):
        status, frozen = api.json(f"/api/tenant/t/project/org/app/branch/{branch}"
                                  "/freeze-job/check/app-test")
        assert status == 200, frozen
        assert frozen["branch"] == "stable/1"
        assert frozen["job"]["vars"] == {"flavour": "stable-flavour"}


def test_freezing_on_a_branch_the_project_has_no_configuration_for_is_404(api: Api
                                                                          ) -> None:
    status, body = api.json(freeze_path("org/app", "feature/x", "check", "app-test"))
    assert status == 404 and body["error"] == (
        "no branch 'feature/x' in org/app's configuration; there are: main, stable/1")
    status, body = api.json(freeze_path("org/app", "b" * 5000, "check", "app-test"))
    assert status == 404 and body["error"].startswith("no branch 'bbbb")
    assert len(body["error"]) < 300


@pytest.mark.parametrize(("path", "named"), [
    (freeze_path("org/nope", "main", "check", "lint"), "no project 'org/nope'"),
    (freeze_path("org/app", "main", "post-merge", "lint"), "no pipeline 'post-merge'"),
    (freeze_path("org/app", "main", "check", "nope"), "no job 'nope'"),
    (freeze_path("org/app", "main", "check", "app-deploy"),
     "no job 'app-deploy' in what org/app runs in check on branch main; there are: "
     "app-test, lint"),
])
def test_freezing_what_does_not_exist_is_404_naming_it(api: Api, path: str,
                                                       named: str) -> None:
    status, body = api.json(path)
    assert status == 404 and body["error"].startswith(named), body


# --------------------------------------------------------------------- nodes


def test_nodes_show_label_provider_state_zone_build_and_hold_not_addresses(api: Api) -> None:
    status, nodes = api.json("/api/tenant/t/nodes")
    assert status == 200
    ids = api.ids
    assert [n["id"] for n in nodes] == [ids["in_use"], ids["ready"], ids["held"]]
    in_use, _ready, held = nodes
    assert (in_use["label"], in_use["provider"], in_use["state"], in_use["zone"],
            in_use["build"], in_use["job"]) == ("local", "local", "in-use", "east",
                                                "build-test", "app-test")
    assert held["hold"] == ids["hold"] and held["state"] == "held"
    text = json.dumps(nodes)
    assert "10.0.0.5" not in text and "192.0.2.9" not in text and "10.9.9.9" not in text


def test_nodes_filter_by_label_state_and_provider(api: Api) -> None:
    ids = api.ids
    assert [n["id"] for n in api.json("/api/tenant/t/nodes?label=big")[1]] == [ids["held"]]
    assert [n["id"] for n in api.json("/api/tenant/t/nodes?state=deleted")[1]] == \
        [ids["deleted"]]
    assert [n["id"] for n in api.json("/api/tenant/t/nodes?provider=local&limit=1&skip=1")
            [1]] == [ids["ready"]]
    status, body = api.json("/api/tenant/t/nodes?state=sleeping")
    assert status == 400 and "'state'" in body["error"]


def test_a_node_by_id_and_unknown_or_other_tenant_s_nodes_are_404(api: Api) -> None:
    status, node = api.json(f"/api/tenant/t/node/{api.ids['held']}")
    assert status == 200 and node["label"] == "big"
    for node_id in (api.ids["other"], 99999):
        status, body = api.json(f"/api/tenant/t/node/{node_id}")
        assert status == 404 and body["error"] == f"no node '{node_id}' in tenant t; " \
                                                  "there are none"
    status, body = api.json("/api/tenant/t/node/x1")
    assert status == 400 and "'id'" in body["error"]


def test_labels_show_providers_nodesets_and_counts_by_state(api: Api) -> None:
    status, labels = api.json("/api/tenant/t/labels")
    assert status == 200
    by_name = {label["name"]: label for label in labels}
    assert by_name["local"]["nodesets"] == ["small"]
    assert by_name["local"]["providers"] == ["local", "static-1"]
    assert by_name["ubuntu"] == {"name": "ubuntu", "description": "",
                                 "providers": ["static-1"], "nodesets": [], "nodes": {}}
    assert by_name["local"]["nodes"] == {"in-use": 1, "ready": 1}
    assert by_name["big"] == {"name": "big", "description": "", "providers": ["cloud"],
                              "nodesets": [], "nodes": {"held": 1}}
    assert [label["name"] for label in api.json("/api/tenant/t/labels?name=bi")[1]] == \
        ["big"]


# ---------------------------------------------------------------- semaphores


def test_semaphores_show_max_and_the_builds_holding_them(api: Api) -> None:
    status, semaphores = api.json("/api/tenant/t/semaphores")
    assert status == 200
    assert [(s["name"], s["max"], [h["build"] for h in s["holders"]])
            for s in semaphores] == [("db", 3, ["build-test", "build-deploy"]),
                                     ("deploy-lock", 1, ["build-deploy"])]
    holder = semaphores[0]["holders"][0]
    assert (holder["job"], holder["pipeline"], holder["change"], holder["state"]) == \
        ("app-test", "gate", 7, "running")
    assert holder["url"] == f"{api.url}/build/build-test"
    assert semaphores[1]["file"] == "zuul-config/zuul.d/jobs.yaml"
    assert [s["name"] for s in api.json("/api/tenant/t/semaphores?name=LOCK")[1]] == \
        ["deploy-lock"]
    assert api.json("/api/tenant/t/semaphores?limit=1&skip=1")[1][0]["name"] == \
        "deploy-lock"


# --------------------------------------------------------------------- badge


def test_the_badge_says_passing_failing_or_unknown_with_cache_headers(api: Api) -> None:
    for query, word in (("pipeline=gate", "passing"), ("pipeline=check&branch=main", "failing"),
                        ("pipeline=check&branch=stable%2F1", "passing"),
                        ("pipeline=check", "passing"),  # the latest of any branch
                        ("pipeline=post", "unknown"), ("pipeline=gate&branch=v2", "unknown")):
        status, headers, body = api.request(f"/api/tenant/t/badge?project=org/app&{query}")
        assert status == 200, body
        assert headers["Content-Type"].startswith("image/svg+xml")
        assert "max-age=" in headers["Cache-Control"]
        svg = body.decode()
        assert svg.startswith("<svg") and f">{word}</text>" in svg, (query, svg)


def test_badge_of_unknown_project_or_pipeline_is_404_and_missing_fields_400(api: Api
                                                                            ) -> None:
    status, body = api.json("/api/tenant/t/badge?project=org/nope&pipeline=gate")
    assert status == 404 and "no project 'org/nope'" in body["error"]
    status, body = api.json("/api/tenant/t/badge?project=org/app&pipeline=nope")
    assert status == 404 and "no pipeline 'nope'" in body["error"] and "gate" in body["error"]
    status, body = api.json("/api/tenant/t/badge?pipeline=gate")
    assert status == 400 and "'project'" in body["error"]


# ------------------------------------------------------------------- pages


@pytest.mark.parametrize("path", ["/t/t/projects", "/t/t/project/org/app", "/t/t/jobs",
                                  "/t/t/job/app-test", "/t/t/nodes", "/t/t/labels",
                                  "/t/t/semaphores", "/t/t/config-errors"])
def test_every_catalog_page_renders_in_the_shared_layout(api: Api, path: str) -> None:
    status, html = api.html(path)
    assert status == 200, html[:500]
    assert '<a class="skip-link" href="#main">' in html and '<main id="main"' in html
    assert html.count('aria-current="page"') == 1
    assert re.search(r'href="/t/t/config-errors"[^>]*>Config errors <span class="count">0</span>',
                     html)


def test_pages_for_unknown_things_are_404_naming_them(api: Api) -> None:
    status, html = api.html("/t/t/job/nope")
    assert status == 404 and "no job 'nope' in tenant t" in html
    status, html = api.html("/t/t/project/org/nope")
    assert status == 404 and "org/nope" in html


def test_job_page_shows_the_frozen_job_picked(api: Api) -> None:
    status, html = api.html("/t/t/job/app-test?project=org/app&branch=stable%2F1"
                            "&pipeline=check")
    assert status == 200
    assert "app-test for org/app in check on stable/1" in html
    assert "stable-flavour" in html
    status, html = api.html("/t/t/job/app-test?project=org/app&branch=main&pipeline=gate")
    assert status == 200 and "no job &#39;app-test&#39;" not in html
    status, html = api.html("/t/t/job/lint?project=org/app&branch=main&pipeline=gate")
    assert status == 200 and 'role="alert"' in html


def test_config_errors_page_shows_file_and_line(api: Api) -> None:
    status, html = api.html("/t/other/config-errors")
    assert status == 200
    assert "other-config/zuul.yaml" in html and "unknown-key" in html
    assert re.search(r'Config errors <span class="count nonzero">[1-9]', html)


def test_the_cross_tenant_config_errors_page_lists_each_tenant(api: Api) -> None:
    status, html = api.html("/config-errors")
    assert status == 200
    assert '<a href="/t/other/config-errors">other</a> <small>1</small>' in html
    assert '<a href="/t/t/config-errors">t</a> <small>0</small>' in html
    assert "unknown attribute &#39;unknown-key&#39; in job" in html


def test_autoholds_page_is_for_admins_and_escapes_the_reason(api: Api) -> None:
    status, _html = api.html("/t/t/autoholds")
    assert status in (401, 403)
    status, html = api.html("/t/t/autoholds", token=TOKEN)
    assert status == 200, html[:300]
    assert "flaky &lt;b&gt;test&lt;/b&gt;" in html and "Request" in html
