"""Attacks 5, 7, 8 and 11 (returned data): links and oversized files an untrusted
change leaves where the executor reads. Nothing the executor (or the web
server) reads from a work or log directory follows a link or leaves it."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.fakes.rows import item_with_buildset
from tests.fakes.tenant import GateTenant
from tests.fakes.web_server import served
from zuulish.executor.returned import DEFAULT_MAX_RETURNED_BYTES
from zuulish.executor.sandbox import unavailable
from zuulish.store import BuildRow, Store
from zuulish.web.app import create_app
from zuulish.web.history import build_info

# Links in work and log directories are the subject, not the rows that name them.
pytestmark = pytest.mark.not_store

MISSING = unavailable()
needs_sandbox = pytest.mark.skipif(MISSING is not None,
                                   reason=f"{MISSING} (.ci/run installs it for CI)")

PLANTED = "planted-state-secret-3b9d"
# From a checkout (<state>/builds/<id>/work/src/<host>/org/app) up to <state>.
TO_STATE = "../../../../../../.."
NOOP = "- hosts: all\n  gather_facts: false\n  tasks: []\n"


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    # The project runs a check job already: a change's own .zuul.yaml replaces it.
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": _jobs("noop"), "playbooks/noop.yaml": NOOP}})
    state = t.config.state_dir.absolute()
    state.mkdir(parents=True, exist_ok=True)
    (state / "planted.txt").write_text(PLANTED + "\n")
    (state / "planted.json").write_text(json.dumps({"stolen": PLANTED}))
    t.start()
    yield t
    t.stop()


def _jobs(*names: str, child: bool = False) -> str:
    text = "".join(f"- job:\n    name: {n}\n    run: playbooks/{n}.yaml\n" for n in names)
    jobs = list(names)
    if child:
        text += (f"- job:\n    name: child\n    dependencies: [{names[0]}]\n"
                 "    run: playbooks/child.yaml\n")
        jobs.append("child")
    return text + f"- project:\n    check:\n      jobs: [{', '.join(jobs)}]\n"


CHILD = """- hosts: all
  gather_facts: false
  tasks:
    - debug:
        msg: "child got {{ stolen | default('nothing') }} {{ big | default('nothing') | length }}"
"""


def _builds(tenant: GateTenant) -> dict[str, BuildRow]:
    with tenant.aio.store.read() as s:
        return {b.job: b for b in s.scalars(select(BuildRow))}


def _log(build: BuildRow) -> str:
    return (Path(build.log_path or "") / "job-output.txt").read_text()


def _everything_shown(tenant: GateTenant, number: int) -> str:
    """What the attacker can read: logs, the API's builds, the reports."""
    builds = _builds(tenant)
    shown = [_log(b) + (Path(b.log_path or "") / "job-output.json").read_text()
             for b in builds.values() if b.log_path]
    shown += [json.dumps(build_info(tenant.aio.store, b.id, "http://zuulish.test"))
              for b in builds.values()]
    shown += [r.message or "" for r in tenant.reports(number)]
    return "\n".join(shown)


# ------------------------------------------------------------------ attack 5

USES_ROLE = """- hosts: all
  gather_facts: false
  tasks:
    - shell: cat {{ playbook_dir }}/../roles/planted.txt {{ playbook_dir }}/../roles/shadow
"""


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("target", [TO_STATE, "/etc"])
def test_a_committed_roles_link_is_an_error(tenant: GateTenant, target: str) -> None:
    number = tenant.push("org/app", {".zuul.yaml": _jobs("steal"),
                                     "playbooks/steal.yaml": USES_ROLE},
                         links={"roles": target})
    tenant.wait_reported(number, "check", timeout=180)
    build = _builds(tenant)["steal"]
    assert build.result == "ERROR", build.message
    assert "roles in org/app is a symbolic link: refused" in (build.message or "")
    assert "roles in org/app is a symbolic link: refused" in _log(build)
    shown = _everything_shown(tenant, number)
    assert PLANTED not in shown and "root:" not in shown


# ------------------------------------------------------------------ attack 7

# The task finds its own console file and plants the next one as a link to a
# file of the executor's state dir (which the sandbox does not see, but the
# executor's follower would).
CONSOLE = """- hosts: all
  gather_facts: false
  tasks:
    - shell: |
        cd {{ zuulish_console_dir }}
        for f in *-1.log; do
          ln -s {{ zuulish_console_dir }}/../../../../planted.txt "${f%-1.log}-2.log"
        done
        ls -l
        sleep 2
"""


@pytest.mark.slow
@needs_sandbox
def test_links_planted_in_the_console_dir_are_not_followed(tenant: GateTenant) -> None:
    number = tenant.push("org/app", {".zuul.yaml": _jobs("console"),
                                     "playbooks/console.yaml": CONSOLE})
    tenant.wait_reported(number, "check", timeout=180)
    build = _builds(tenant)["console"]
    text = _log(build)
    # the link was planted, and refused: the follower takes file 1 as complete once
    # file 2 exists, so what the task prints after planting it (its `ls -l`) may or
    # may not be in the log, depending on when the follower looked; the refusal is
    assert "-2.log is not a regular file: not followed]" in text, text
    assert PLANTED not in _everything_shown(tenant, number)


# ------------------------------------------------------------------ attack 8 / 11

LINK_RESULTS = """- hosts: all
  gather_facts: false
  tasks:
    - shell: >-
        ln -s {{ zuul.executor.work_root }}/../../../planted.json
        {{ zuul.executor.result_data_file }}
"""
BIG_RESULTS = """- hosts: all
  gather_facts: false
  tasks:
    - shell: >-
        python3 -c 'import json, sys; json.dump({"big": "x" * 2000000}, open(sys.argv[1], "w"))'
        {{ zuul.executor.result_data_file }}
"""


@pytest.mark.slow
@needs_sandbox
def test_a_results_json_link_is_not_returned(tenant: GateTenant) -> None:
    number = tenant.push("org/app", {".zuul.yaml": _jobs("returns", child=True),
                                     "playbooks/returns.yaml": LINK_RESULTS,
                                     "playbooks/child.yaml": CHILD})
    tenant.wait_reported(number, "check", timeout=180)
    builds = _builds(tenant)
    build = builds["returns"]
    assert build.result_data is None
    rule = "results.json is a symbolic link: refused"
    assert build.message == f"the returned data was ignored: {rule}"
    assert f"zuul_return: {rule}; the returned data is ignored" in _log(build)
    assert "child got nothing" in _log(builds["child"])
    assert PLANTED not in _everything_shown(tenant, number)


@pytest.mark.slow
@needs_sandbox
def test_a_results_json_over_the_limit_is_ignored(tenant: GateTenant) -> None:
    number = tenant.push("org/app", {".zuul.yaml": _jobs("returns", child=True),
                                     "playbooks/returns.yaml": BIG_RESULTS,
                                     "playbooks/child.yaml": CHILD})
    tenant.wait_reported(number, "check", timeout=180)
    builds = _builds(tenant)
    build = builds["returns"]
    assert build.result_data is None
    rule = (f"results.json is larger than the limit of {DEFAULT_MAX_RETURNED_BYTES} bytes "
            "(executor.max_returned_bytes)")
    assert build.message == f"the returned data was ignored: {rule}"
    assert f"zuul_return: {rule}; the returned data is ignored" in _log(build)
    assert "child got nothing 7" in _log(builds["child"])  # len("nothing")


# ------------------------------------------------------------------ legitimate

LEGIT = """- hosts: all
  gather_facts: false
  roles: [greet]
  tasks:
    - zuul_return:
        data: {greeting: hello-from-the-role}
"""
GREET = """- debug:
    msg: "role greet ran"
"""


@pytest.mark.slow
@needs_sandbox
def test_a_normal_roles_dir_and_results_still_work(tenant: GateTenant) -> None:
    number = tenant.push("org/app", {".zuul.yaml": _jobs("legit"),
                                     "playbooks/legit.yaml": LEGIT,
                                     "roles/greet/tasks/main.yaml": GREET})
    report = tenant.wait_reported(number, "check", timeout=180)
    build = _builds(tenant)["legit"]
    assert report.result == "SUCCESS", (build.message, _log(build))
    assert "role greet ran" in _log(build)
    assert build.result_data == {"greeting": "hello-from-the-role"}
    assert build.message is None


# ------------------------------------------------------------------ web server


def _get(url: str, path: str, method: str = "GET") -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        body = response.read()
        if method == "HEAD":  # the connection is still usable: no body was sent
            conn.request("GET", path)
            conn.getresponse().read()
        return response.status, body
    finally:
        conn.close()


@pytest.fixture
def web(store: Store, tmp_path: Path) -> Iterator[str]:
    with store.session() as s:
        s.add(BuildRow(id="b1", buildset_id=item_with_buildset(s, pipeline="check"),
                       job="unit", state="completed", result="SUCCESS", created_at=0,
                       started_at=0, finished_at=1))
    (tmp_path / "secrets.key").write_text(PLANTED)
    logs = tmp_path / "logs" / "b1"
    (logs / "artifacts").mkdir(parents=True)
    (logs / "job-output.txt").write_text("hello\n")
    (logs / "artifacts" / "report.html").write_text("<p>report</p>")
    # what a post-run playbook's copy of a job's files may leave in the log dir
    (logs / "artifacts" / "key.txt").symlink_to(tmp_path / "secrets.key")
    (logs / "artifacts" / "same-dir.txt").symlink_to("report.html")
    (logs / "state").symlink_to(tmp_path)
    os.mkfifo(logs / "artifacts" / "pipe.txt")
    (tmp_path / "logs" / "b2").symlink_to(logs)
    with served(lambda url: create_app(store, SimpleNamespace(layouts={}, tenants={}),
                                       tmp_path, url)) as url:
        yield url


@pytest.mark.parametrize("path", [
    "/logs/b1/artifacts/key.txt", "/logs/b1/artifacts/same-dir.txt",
    "/logs/b1/state/secrets.key", "/logs/b1/artifacts/pipe.txt",
    "/logs/b2/job-output.txt", "/logs/b1/artifacts"])
def test_the_web_server_never_serves_through_a_link(web: str, path: str) -> None:
    status, body = _get(web, path)
    assert status == 404 and PLANTED.encode() not in body and b"report" not in body


def test_the_web_server_serves_regular_log_files(web: str) -> None:
    assert _get(web, "/logs/b1/artifacts/report.html") == (200, b"<p>report</p>")
    assert _get(web, "/logs/b1/job-output.txt") == (200, b"hello\n")
    assert _get(web, "/logs/b1/job-output.txt", "HEAD") == (200, b"")
