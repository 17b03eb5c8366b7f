"""GitHub's own OpenAPI description, and the checks the fake makes with it.

The description is npm's ``@octokit/openapi`` (pinned below), fetched with
``npm pack`` into a cache directory the first time it is needed
(``$XDG_CACHE_HOME/zuulish/`` or ``~/.cache/zuulish/``) — never kept in this
repository. The tarball's integrity is checked against the pinned hash.

:meth:`OpenAPIDescription.check_request` finds the operation a request is for and
says what is wrong with it: an unknown path, a method the path does not have, path
and query parameters of the wrong type, a body that is missing, not JSON, or not of
the operation's schema (required fields, types, enums). :meth:`check_response` checks
the fields an answer sets against the operation's response schema (fields it leaves
out are not asked for: the fake sets what zuulish reads, not every field GitHub has).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import validators
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"
INTEGRITY = ("sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5eZGNmwRNkBC3D7gZXbFx"
             "5AHzLUVRBXGDhg==")
MEMBER = "package/generated/api.github.com.json"
DOC_URI = "https://api.github.com/openapi.json"
REQUIRED_ENV = "ZUULISH_GITHUB_OPENAPI"


class OpenAPIUnavailable(Exception):
    """GitHub's description could not be fetched (no npm, no registry)."""


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "zuulish" / f"octokit-openapi-{VERSION}"


def description_path() -> Path:
    """The description's file, fetched into the cache when it is not there yet."""
    target = cache_dir() / "api.github.com.json"
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise OpenAPIUnavailable("npm is not installed")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        try:
            proc = subprocess.run(
                [npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", tmp, "--silent"],
                cwd=tmp, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            raise OpenAPIUnavailable("npm pack timed out") from None
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or len(tarballs) != 1:
            raise OpenAPIUnavailable(f"npm pack {PACKAGE}@{VERSION} failed: "
                                     f"{(proc.stderr or proc.stdout).strip()[-500:]}")
        data = tarballs[0].read_bytes()
        digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        if digest != INTEGRITY:
            raise AssertionError(f"{PACKAGE}@{VERSION} tarball has integrity {digest}, "
                                 f"expected {INTEGRITY}")
        with tarfile.open(tarballs[0]) as tar:
            member = tar.extractfile(MEMBER)
            if member is None:
                raise AssertionError(f"{MEMBER} missing from {PACKAGE}@{VERSION}")
            partial = Path(tmp) / "api.github.com.json"
            partial.write_bytes(member.read())
        os.replace(partial, target)  # atomic: parallel test workers see all or nothing
    return target


@dataclass(frozen=True)
class Operation:
    method: str  # lower case, as in the description
    template: str  # "/repos/{owner}/{repo}/pulls/{pull_number}"
    params: dict[str, str]  # path parameters, as sent
    spec: dict[str, Any]


_PARAM = re.compile(r"\{([^}/]+)\}")


def _ignore_required(validator: Any, required: Any, instance: Any, schema: Any) -> Any:
    return iter(())


def _nullable_enum(base: Any) -> Any:
    """GitHub's description marks fields ``nullable`` with an ``enum`` that lacks null
    (a check run's ``conclusion``); GitHub sends null there, so null is taken."""
    check = base.VALIDATORS["enum"]

    def enum(validator: Any, enums: Any, instance: Any, schema: Any) -> Any:
        if instance is None and schema.get("nullable"):
            return iter(())
        return check(validator, enums, instance, schema)
    return enum


_WriteValidator = validators.extend(
    OAS30WriteValidator, {"enum": _nullable_enum(OAS30WriteValidator)})
# Answers are checked for the fields they set: "required" is not asked of them.
_PartialReadValidator = validators.extend(
    OAS30ReadValidator, {"required": _ignore_required,
                         "enum": _nullable_enum(OAS30ReadValidator)})


class OpenAPIDescription:
    """GitHub's REST API description, ready to check requests and answers."""

    def __init__(self, doc: dict[str, Any]):
        self.doc = doc
        self.version = doc.get("info", {}).get("version", "?")
        if not str(doc.get("openapi", "")).startswith("3.0"):
            raise AssertionError(f"expected an OpenAPI 3.0 description, got {doc.get('openapi')}")
        self._registry = Registry().with_resource(DOC_URI, Resource(doc, specification=DRAFT4))
        self._routes: list[tuple[int, re.Pattern[str], list[str], str]] = []
        for template in doc["paths"]:
            pieces = _PARAM.split(template)  # literal, name, literal, name, ..., literal
            names = pieces[1::2]
            pattern = "".join(re.escape(p) if i % 2 == 0 else "([^/]+)"
                              for i, p in enumerate(pieces))
            literal = sum(len(p) for p in pieces[0::2])
            self._routes.append((-literal, re.compile(f"^{pattern}$"), names, template))
        self._routes.sort(key=lambda r: r[0])  # literal segments before parameters

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise AssertionError(f"unexpected reference {ref}")
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def find(self, method: str, path: str) -> Operation | str:
        """The operation of ``method path``, or why there is none."""
        for _, pattern, names, template in self._routes:
            m = pattern.match(path)
            if not m:
                continue
            item = self.doc["paths"][template]
            op = item.get(method.lower())
            if op is None:
                allowed = sorted(k.upper() for k in item if k != "parameters")
                return (f"{method} {path}: GitHub's API has no {method} on {template} "
                        f"(it has {', '.join(allowed)})")
            params = dict(zip(names, m.groups(), strict=True))
            return Operation(method.lower(), template, params, op)
        return f"{method} {path}: no such path in GitHub's API"

    def check_request(self, method: str, path: str, query: dict[str, list[str]],
                      body: bytes, content_type: str) -> tuple[Operation | None, list[str]]:
        """The operation and what is wrong with the request (empty when nothing)."""
        found = self.find(method, path)
        if isinstance(found, str):
            return None, [found]
        op = found
        where = f"{method} {op.template}"
        problems: list[str] = []
        for param in [self.resolve(p) for p in op.spec.get("parameters", [])]:
            name, place = param["name"], param["in"]
            if place == "path":
                problems += self._check_value(where, f"path parameter {name}",
                                              op.params.get(name), param.get("schema", {}))
            elif place == "query":
                if name not in query:
                    if param.get("required"):
                        problems.append(f"{where}: query parameter {name} is required")
                    continue
                for value in query[name]:
                    problems += self._check_value(where, f"query parameter {name}", value,
                                                  param.get("schema", {}))
        problems += self._check_body(where, op, body, content_type)
        return op, problems

    def _check_value(self, where: str, what: str, raw: str | None,
                     schema: dict[str, Any]) -> list[str]:
        if raw is None:
            return [f"{where}: {what} is missing"]
        schema = self.resolve(schema)
        value: Any = raw
        if schema.get("type") == "integer":
            if not re.fullmatch(r"-?\d+", raw):
                return [f"{where}: {what} must be an integer, not {raw!r}"]
            value = int(raw)
        elif schema.get("type") == "boolean":
            if raw not in ("true", "false"):
                return [f"{where}: {what} must be true or false, not {raw!r}"]
            value = raw == "true"
        validator = _WriteValidator(schema, registry=self._registry)
        return [f"{where}: {what}: {e.message}" for e in validator.iter_errors(value)]

    def _check_body(self, where: str, op: Operation, body: bytes,
                    content_type: str) -> list[str]:
        request_body = self.resolve(op.spec.get("requestBody"))
        if not request_body:
            if body.strip():
                return [f"{where}: GitHub's API takes no request body here"]
            return []
        if not body.strip():
            if request_body.get("required"):
                return [f"{where}: a JSON request body is required"]
            return []
        if "json" not in content_type:
            return [f"{where}: the body must be application/json, not {content_type!r}"]
        try:
            data = json.loads(body)
        except ValueError as exc:
            return [f"{where}: the body is not JSON: {exc}"]
        raw = op.spec["requestBody"]
        pointer = (DOC_URI + raw["$ref"] + "/content/application~1json/schema" if "$ref" in raw
                   else self._pointer(op, "requestBody", "content", "application/json",
                                      "schema"))
        validator = _WriteValidator({"$ref": pointer}, registry=self._registry)
        return [f"{where}: body{_at(e.absolute_path)}: {e.message}"
                for e in validator.iter_errors(data)]

    def check_response(self, op: Operation, status: int, data: Any) -> list[str]:
        """What is wrong with an answer's JSON for ``op`` (the fields it sets)."""
        where = f"{op.method.upper()} {op.template} answer {status}"
        responses = op.spec.get("responses", {})
        if str(status) not in responses:
            if status >= 400 or "default" in responses:
                return []  # error answers: GitHub's basic-error, not always described
            return [f"{where}: GitHub's API does not answer {status} here "
                    f"(it answers {', '.join(responses)})"]
        response = self.resolve(responses[str(status)])
        content = response.get("content", {})
        if "application/json" not in content:
            if data is not None:
                return [f"{where}: GitHub's API sends no body here"]
            return []
        if status >= 400:
            return []
        pointer = self._pointer(op, "responses", str(status), "content", "application/json",
                                "schema")
        if "$ref" in responses[str(status)]:
            ref = responses[str(status)]["$ref"]
            pointer = DOC_URI + ref + "/content/application~1json/schema"
        validator = _PartialReadValidator({"$ref": pointer}, registry=self._registry)
        return [f"{where}: {_at(e.absolute_path) or 'body'}: {e.message}"
                for e in validator.iter_errors(data)]

    def _pointer(self, op: Operation, *parts: str) -> str:
        segs = ["paths", op.template, op.method, *parts]
        return DOC_URI + "#/" + "/".join(s.replace("~", "~0").replace("/", "~1") for s in segs)


def _at(path: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


@lru_cache(maxsize=1)
def load_description() -> OpenAPIDescription:
    """GitHub's description, fetched once into the cache and loaded once per process."""
    return OpenAPIDescription(json.loads(description_path().read_text()))
