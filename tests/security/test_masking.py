"""Attack 10: a job that may use a secret prints it encoded, re-cased or split
over lines. Masking (``zuulish.executor.masking``) covers the common forms; it
is a safety net, not a boundary (see the module for what it does not cover)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.tenant import PIPELINES, GateTenant, git
from zuulish.executor.ansible_run import JobLog
from zuulish.executor.masking import MASK, Masker
from zuulish.executor.sandbox import unavailable
from zuulish.secrets import ProjectKeys, encrypt

SECRET = "Tr0ub4dor&3-horse/battery?staple"
MULTILINE = ("-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n"
             "-----END KEY-----")

FORMS = {
    "plain": SECRET,
    "json": json.dumps(SECRET)[1:-1],
    "lower": SECRET.lower(),
    "upper": SECRET.upper(),
    "base64": base64.b64encode(SECRET.encode()).decode(),
    "base64 unpadded": base64.b64encode(SECRET.encode()).decode().rstrip("="),
    "base64 url-safe": base64.urlsafe_b64encode(SECRET.encode()).decode(),
    "hex": SECRET.encode().hex(),
    "HEX": SECRET.encode().hex().upper(),
    "quote": urllib.parse.quote(SECRET, safe=""),
    "quote with /": urllib.parse.quote(SECRET),
    "quote_plus": urllib.parse.quote_plus(SECRET),
}


def _masked(text: str, *secrets: str) -> str:
    return Masker(secrets or (SECRET,)).mask(text)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_form_of_the_secret_is_masked(form: str) -> None:
    shown = _masked(f"before {FORMS[form]} after")
    assert shown == f"before {MASK} after"


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy", b"user:"])
def test_the_secret_inside_a_longer_base64_stream_is_masked(prefix: bytes) -> None:
    stream = base64.b64encode(prefix + SECRET.encode() + b"\n").decode()
    shown = _masked(f"auth {stream}")
    assert MASK in shown
    # what is left shows at most the groups shared with the text around it
    assert len(shown.replace(MASK, "")) <= len("auth ") + 8 + 8


def test_base64_wrapped_by_the_base64_tool_is_masked() -> None:
    long = SECRET * 4
    encoded = base64.b64encode(long.encode()).decode()
    wrapped = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    for line in Masker([long]).mask(wrapped).splitlines():
        assert line == MASK


def test_each_line_of_a_multi_line_secret_is_masked() -> None:
    shown = _masked("    " + MULTILINE.replace("\n", "\n    "), MULTILINE)
    assert "MIIEvQIBADANBgkqhkiG9w0B" not in shown and "AQEFAASCBKcwggSjAgEAAoIB" not in shown


@pytest.mark.parametrize("joint", ["\n", "\n    ", "\nnode | "])
def test_a_secret_split_over_two_lines_is_masked(joint: str) -> None:
    for cut in (3, len(SECRET) // 2, len(SECRET) - 2):
        text = f"x {SECRET[:cut]}{joint}{SECRET[cut:]} y"
        shown = _masked(text)
        assert SECRET[:cut] + joint not in shown and joint + SECRET[cut:] not in shown, shown
        assert shown.count("\n") == 1  # the lines stay lines


def test_short_forms_are_not_masked_but_the_value_is() -> None:
    masker = Masker(["abc"])
    assert masker.mask("abc ABC 616263") == f"{MASK} ABC 616263"
    assert all(len(v) >= 4 for v in Masker([SECRET]).variants)


def test_the_job_log_masks_every_form(tmp_path: Path) -> None:
    log = JobLog(tmp_path, secrets=[SECRET])
    for form in FORMS.values():
        log.write(f"node | {form}")
    log.record_task({"stdout": "\n".join(FORMS.values())})
    log.close()
    text = (tmp_path / "job-output.txt").read_text()
    records = (tmp_path / "job-output.json").read_text()
    for form in FORMS.values():
        assert form not in text and json.dumps(form)[1:-1] not in records


# ------------------------------------------------------------------ end to end

MISSING = unavailable()
SECRET_TEXT = "s3cret-Value-for-masking-4421"
MULTI_TEXT = "line-one-aaaa1111\nline-two-bbbb2222"
PRINTS = """- hosts: all
  gather_facts: false
  tasks:
    - shell: |
        printf '%s' "$S" | base64
        printf '%s' "$S" | base64 -w0 | tr '+/' '-_'; echo
        printf '%s' "$S" | od -An -tx1 | tr -d ' \\n'; echo
        printf '%s' "$S" | od -An -tx1 | tr -d ' \\n' | tr a-f A-F; echo
        python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$S/x"
        printf '%s' "$S" | tr a-z A-Z; echo
        printf '%s' "$S" | tr A-Z a-z; echo
        printf '%s\\n%s\\n' "$(printf '%s' "$S" | cut -c1-12)" "$(printf '%s' "$S" | cut -c13-)"
        printf '%s\\n' "$M"
      environment:
        S: "{{ the_secret.value }}"
        M: "{{ the_secret.multi }}"
    - debug:
        msg: "{{ the_secret.value | b64encode }} {{ the_secret.value | upper }}"
"""


JOBS = """
- job:
    name: prints
    run: playbooks/prints.yaml
    secrets: [{name: the_secret, secret: the-secret}]
- project:
    reviewed: {jobs: [prints]}
"""
# A job with a secret runs for reviewed code only (post-review, as in Zuul).
REVIEWED = """
- pipeline:
    name: reviewed
    manager: independent
    post-review: true
    trigger:
      forge:
        - event: patchset-created
    success:
      forge: {}
    failure:
      forge: {}
"""


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/app": {"README": "app\n"}},
                   pipelines=PIPELINES + REVIEWED)
    keys = ProjectKeys(t.aio.store, t.config.state_dir, bits=2048)
    public = keys.public_key("forge", "org/app")
    block = ["- secret:", "    name: the-secret", "    data:"]
    for field, value in (("value", SECRET_TEXT), ("multi", MULTI_TEXT)):
        block.append(f"      {field}: !encrypted/pkcs1-oaep")
        block += [f"        - {chunk}" for chunk in encrypt(public, value)]
    # The project's merged configuration has the job (an admin push).
    work = tmp_path / "admin"
    git(tmp_path, "clone", "-q", str(t.forge.repo_path("org/app")), str(work))
    (work / ".zuul.yaml").write_text("\n".join(block) + "\n" + JOBS)
    (work / "playbooks").mkdir()
    (work / "playbooks" / "prints.yaml").write_text(PRINTS)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "A job that prints its secret")
    subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work, check=True,
                   env={**os.environ, "ZUULISH_FORGE_ADMIN": "1"})
    t.start()
    yield t
    t.stop()


@pytest.mark.slow
@pytest.mark.skipif(MISSING is not None, reason=f"{MISSING}")
def test_a_secret_printed_in_common_encodings_stays_masked(tenant: GateTenant) -> None:
    number = tenant.push("org/app", {"x.txt": "x\n"}, "Unrelated change")
    report = tenant.wait_reported(number, "reviewed", timeout=180)
    logs = list((tenant.config.state_dir / "logs").glob("*/job-output.txt"))
    assert report.result == "SUCCESS", (report.message, [p.read_text() for p in logs])
    text = "".join(p.read_text() for p in logs)
    records = "".join(p.with_suffix(".json").read_text() for p in logs)
    assert text.count(MASK) >= 10, text
    data = SECRET_TEXT.encode()
    forms = [SECRET_TEXT, SECRET_TEXT.upper(), SECRET_TEXT.lower(),
             base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode(),
             data.hex(), data.hex().upper(), urllib.parse.quote(SECRET_TEXT, safe=""),
             SECRET_TEXT[:12], SECRET_TEXT[12:], *MULTI_TEXT.splitlines()]
    for form in forms:
        assert form not in text, (form, text)
        assert form not in records, (form, records)
