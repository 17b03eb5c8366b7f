"""Refused before issue 15, kept so nothing reopens: an untrusted change puts
HTML and script into what the dashboard shows: its subject, a ``zuul_return``
warning, artifact names and URLs (``javascript:``, ``data:``, hidden behind
case, blanks and tabs) and file comments (the message, and a file name that is
itself markup).

The pages the web app serves (status, build, builds, change, changes) show each
as escaped text, no link leads to a ``javascript:`` or ``data:`` URL, and a log
file is served as text with a sandboxing content security policy.
"""

from __future__ import annotations

import html
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import markupsafe
import pytest
from sqlalchemy import select

from tests.fakes.web_server import served
from tests.security.attacks import PLANTED, Attack, AttackTenant, zuul_yaml
from zuulish.executor.sandbox import unavailable
from zuulish.store import BuildRow
from zuulish.web.app import create_app

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

SUBJECT = "<script>alert('subject')</script> & \"quoted\""
WARNING = "<script>alert('warning')</script>"
ARTIFACT = "<script>alert('artifact')</script>"
COMMENT = "<script>alert('comment')</script>"
MARKUP_FILE = "<img src=x onerror=alert(1)>.txt"
BAD_URLS = ["javascript:alert(1)", "JavaScript:alert(2)", " javascript:alert(3)",
            "java\tscript:alert(4)", "\x01javascript:alert(5)",
            "data:text/html,<script>alert(6)</script>"]
RETURN = ("- hosts: all\n  gather_facts: false\n  tasks:\n"
          "    - zuul_return:\n        data:\n          zuul:\n"
          f"            warnings: [{WARNING!r}]\n"
          "            artifacts:\n"
          f"              - {{name: {ARTIFACT!r}, url: report.html}}\n"
          + "".join(f"              - {{name: bad{n}, url: {url!r}}}\n"
                    .replace("'", '"').replace("\t", "\\t").replace("\x01", "\\x01")
                    for n, url in enumerate(BAD_URLS))
          + "            file_comments:\n"
          f"              README: [{{line: 1, message: {COMMENT!r}}}]\n"
          f"              {MARKUP_FILE!r}: [{{line: 1, message: on the markup file}}]\n")
SLOW = "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: sleep 20\n"


@dataclass
class Pages:
    """The HTML of each page, by name, and the returning build."""

    html: dict[str, str]
    build: BuildRow
    log_headers: dict[str, str]


def _get(url: str) -> tuple[str, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (127.0.0.1)
        assert answer.status == 200, url
        return answer.read().decode(), dict(answer.headers)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    attacks = AttackTenant(tmp_path_factory.mktemp("web"))
    tenant = attacks.tenant
    try:
        with served(lambda url: create_app(tenant.aio.store, tenant.aio.layouts,
                                           tenant.config.state_dir, url)) as url:
            jobs = [Attack("returns", {}), Attack("slow", {})]
            number = tenant.push("org/app", {
                ".zuul.yaml": zuul_yaml(jobs), "playbooks/returns.yaml": RETURN,
                "playbooks/slow.yaml": SLOW, "README": "changed\n",
                MARKUP_FILE: "x\n"}, SUBJECT)

            def returned() -> BuildRow | None:
                with tenant.aio.store.read() as s:
                    return s.scalars(select(BuildRow).where(BuildRow.job == "returns")
                                     .where(BuildRow.result.is_not(None))).first()

            build = tenant.wait_for(returned, 240, "the returning build")
            assert build.result == "SUCCESS", build.message
            shown = {"status": _get(f"{url}/t/t/status")[0]}  # the slow job still runs
            tenant.wait_reported(number, "check", timeout=240)
            shown["build"] = _get(f"{url}/build/{build.id}")[0]
            shown["builds"] = _get(f"{url}/t/t/builds")[0]
            shown["change"] = _get(f"{url}/c/org/app/+/{number}")[0]
            shown["changes"] = _get(f"{url}/changes")[0]
            log_headers = _get(f"{url}/logs/{build.id}/job-output.txt")[1]
            yield Pages(shown, build, log_headers)
    finally:
        attacks.stop()


def _escaped(text: str) -> str:
    """``text`` as the pages' templates escape it."""
    return str(markupsafe.escape(text))


def _hrefs(page: str) -> list[str]:
    """Each link target as a browser reads it (entities decoded, blanks dropped)."""
    return [re.sub(r"[\x00-\x20]", "", html.unescape(found)).lower()
            for found in re.findall(r"""(?:href|src|action)\s*=\s*["']?([^"'>]*)""", page)]


@pytest.mark.parametrize("name", ["status", "build", "builds", "change", "changes"])
def test_pages_show_markup_as_text(pages: Pages, name: str) -> None:
    page = pages.html[name]
    for raw in ("<script>alert", "<img src=x", "onerror=alert(1)>"):
        assert raw not in page, (name, raw)
    if name != "builds":  # (the build history shows no subjects)
        assert _escaped(SUBJECT) in page, name
    for href in _hrefs(page):
        assert not href.startswith(("javascript:", "data:", "vbscript:")), (name, href)
    assert PLANTED not in page


def test_the_build_page_shows_returned_markup_as_text(pages: Pages) -> None:
    page = pages.html["build"]
    for text in (WARNING, ARTIFACT, COMMENT, MARKUP_FILE):
        assert _escaped(text) in page, text
    assert "report.html" in page  # the well-formed artifact is linked
    for n in range(len(BAD_URLS)):
        assert f">bad{n}<" not in page  # left out, with a message in the log


def test_a_log_file_is_served_as_sandboxed_text(pages: Pages) -> None:
    headers = {k.lower(): v for k, v in pages.log_headers.items()}
    assert headers["content-type"].startswith("text/plain")
    assert headers["content-security-policy"] == "sandbox"
    assert headers["x-content-type-options"] == "nosniff"
