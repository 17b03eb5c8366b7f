"""Shared by the GitHub intake tests: the corpus of webhook payloads, signed
deliveries over real HTTP, and GitHub's published webhook schemas."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from tests.corpus import CORPUS_ROOT
from tests.fakes.web_server import served
from zuulish.drivers.github.webhook import Webhook, payload_path, sign
from zuulish.store import Store

GITHUB_CORPUS = CORPUS_ROOT / "github"
SECRET = "webhook-secret-for-tests"
CONNECTION = "github"
SCHEMAS_PACKAGE = "@octokit/webhooks-schemas"
SCHEMAS_VERSION = "7.6.1"  # the version of @octokit/webhooks-examples the corpus came from
SCHEMAS_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "zuulish"


def corpus_files() -> list[str]:
    """The corpus's payload files by name (empty when the corpus is not here)."""
    return sorted(p.name for p in GITHUB_CORPUS.glob("*.json"))


def corpus_body(name: str) -> bytes:
    if not GITHUB_CORPUS.is_dir():
        pytest.skip(f"the GitHub corpus is not at {GITHUB_CORPUS}")
    return (GITHUB_CORPUS / name).read_bytes()


def corpus_payload(name: str) -> dict[str, Any]:
    return json.loads(corpus_body(name))


def event_of(name: str) -> str:
    """The ``X-GitHub-Event`` of a corpus file (its name's first part)."""
    return name.split(".")[0]


def deliver(url: str, event: str, body: bytes, *, secret: str | None = SECRET,
            delivery: str | None = None, connection: str = CONNECTION,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """POST one delivery to the webhook as GitHub does; the status and JSON answer."""
    parts = urlsplit(url)
    sent = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/test",
            "X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4())}
    if secret is not None:
        sent["X-Hub-Signature-256"] = sign(secret, body)
    sent.update(headers or {})
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", payload_path(connection), body=body, headers=sent)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    return response.status, json.loads(raw) if raw else {}


@contextlib.contextmanager
def webhook_served(store: Store, max_body: int | None = None) -> Iterator[str]:
    """The webhook of connection ``github`` on 127.0.0.1; yields its base URL."""
    kwargs = {"max_body": max_body} if max_body is not None else {}
    hook = Webhook(CONNECTION, SECRET, store, **kwargs)

    def make_app(_url: str) -> web.Application:
        app = web.Application()
        app.router.add_routes(hook.routes())
        return app

    try:
        with served(make_app) as url:
            yield url
    finally:
        hook.close()


# ---------------------------------------------------------------- webhook schemas
def _download_schemas(target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", f"{SCHEMAS_PACKAGE}@{SCHEMAS_VERSION}", "--silent"],
                       cwd=tmp, check=True, capture_output=True, timeout=120)
        tarball = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tarball) as tar:
            member = tar.extractfile("package/schema.json")
            if member is None:
                raise RuntimeError(f"{tarball.name} has no package/schema.json")
            data = member.read()
    json.loads(data)  # a broken download is not cached
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)


@cache
def _schemas() -> dict[str, Any] | str:
    target = SCHEMAS_CACHE / f"octokit-webhooks-schemas-{SCHEMAS_VERSION}" / "schema.json"
    if not target.exists():
        try:
            _download_schemas(target)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            return f"{SCHEMAS_PACKAGE}@{SCHEMAS_VERSION} could not be downloaded: {exc}"
    return json.loads(target.read_text())


def webhook_schemas() -> dict[str, Any]:
    """GitHub's webhook schemas (``@octokit/webhooks-schemas``), downloaded once into
    the cache; the test skips without them, or fails when
    ``ZUULISH_GITHUB_SCHEMAS=required``."""
    schemas = _schemas()
    if isinstance(schemas, str):
        if os.environ.get("ZUULISH_GITHUB_SCHEMAS") == "required":
            pytest.fail(schemas)
        pytest.skip(schemas)
    return schemas


def schema_errors(event: str, payload: dict[str, Any]) -> list[Any]:
    """The schema's complaints about a payload of ``event`` (its action's schema)."""
    import jsonschema

    schemas = webhook_schemas()
    definitions = schemas["definitions"]
    action = payload.get("action")
    name = f"{event}${action}" if f"{event}${action}" in definitions else f"{event}$event"
    if name not in definitions:
        name = f"{event}_event"
    validator = jsonschema.Draft7Validator({"$ref": f"#/definitions/{name}",
                                           "definitions": definitions})
    return list(validator.iter_errors(payload))


def missing_properties(errors: list[Any]) -> set[str] | None:
    """The required properties the errors say are missing; None when any error is of
    another kind (a wrong type, an unknown value)."""
    missing: set[str] = set()
    for error in errors:
        if error.validator == "required":
            missing.add(error.message.split("'")[1])
        elif error.validator in ("oneOf", "anyOf") and error.context:
            branches: dict[Any, list[Any]] = {}
            for sub in error.context:
                branches.setdefault(sub.relative_schema_path[0], []).append(sub)
            found = [missing_properties(subs) for subs in branches.values()]
            usable = [f for f in found if f is not None]
            if not usable:
                return None
            missing |= min(usable, key=len)
        else:
            return None
    return missing
