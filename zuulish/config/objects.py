"""The configuration objects that need little more than validation for now:
``project-template``, ``secret``, ``semaphore``, ``queue``, ``pragma`` and Zuul 14's
node objects (``provider``, ``section``, ``label``, ``flavor``, ``image``).

Each is checked against Zuul's documented attributes (file:line, nearest valid
name on a typo) and kept in the layout. The node objects are then refused:
zuulish's nodes come from its own ``nodepool`` configuration, not from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zuulish.config.parser import (
    PROJECT_KEYS,
    SourceContext,
    _err,
    _err_at,
    _expect,
    _name,
    check_keys,
    parse_project,
)
from zuulish.config.yaml_loader import EncryptedValue, where
from zuulish.model import ProjectConfig

SECRET_KEYS = {"name", "data"}
SEMAPHORE_KEYS = {"name", "max"}
# Zuul's queue attributes, then zuulish's own queue options (off by default).
QUEUE_OPTION_KEYS = ("independent-subqueues", "batch-size", "verify-first", "retry-failed-jobs",
                     "speculate-failures", "trust-later-passes")
QUEUE_KEYS = {"name", "per-branch", "allow-circular-dependencies", "dependencies-by-topic",
              *QUEUE_OPTION_KEYS}
PRAGMA_KEYS = {"implied-branch-matchers", "implied-branches"}
FLAVOR_KEYS = {"name", "description"}
IMAGE_KEYS = {"name", "description", "type"}
LABEL_KEYS = {"name", "description", "image", "flavor", "min-ready", "max-ready-age", "tags",
              "min-retention-time", "max-age"}
# Sections and providers carry driver-specific attributes (see each driver's
# documentation); the common ones are checked here, the rest by the driver.
SECTION_COMMON_KEYS = {"name", "parent", "abstract", "connection", "description", "labels",
                       "images", "flavors", "region", "launch-timeout", "launch-attempts",
                       "boot-timeout", "resource-limits"}


@dataclass
class ConfigObject:
    """A named object with its (validated) attributes and where it was defined."""

    kind: str
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)
    source_project: str = ""
    source_file: str | None = None
    source_line: int | None = None


def _object(kind: str, body: dict, ctx: SourceContext, name: str) -> ConfigObject:
    file, line = where(body, ctx.path)
    return ConfigObject(kind, name, dict(body), ctx.project, file, line)


def parse_project_template(body: Any, ctx: SourceContext, pipelines: set[str] | None
                           ) -> ProjectConfig:
    name = _name(body, ctx, "project-template")
    template = parse_project(body, ctx, pipelines, kind="project-template",
                             attributes=PROJECT_KEYS - {"templates", "default-branch",
                                                        "merge-mode"})
    template.name = name
    return template


def parse_secret(body: Any, ctx: SourceContext) -> ConfigObject:
    name = _name(body, ctx, "secret", SECRET_KEYS)
    if "data" not in body:
        raise _err(body, ctx, f"secret {name!r} needs 'data'")
    if not isinstance(body["data"], dict | EncryptedValue):
        raise _err(body, ctx, f"secret {name!r}: 'data' must be a mapping of values, "
                              "each plain or !encrypted/pkcs1-oaep")
    return _object("secret", body, ctx, name)


def parse_semaphore(body: Any, ctx: SourceContext) -> ConfigObject:
    name = _name(body, ctx, "semaphore", SEMAPHORE_KEYS)
    _expect(body, "max", int, ctx, f"semaphore {name!r}")
    if body.get("max", 1) < 1:
        raise _err(body, ctx, f"semaphore {name!r}: 'max' must be at least 1")
    return _object("semaphore", body, ctx, name)


def parse_queue(body: Any, ctx: SourceContext) -> ConfigObject:
    name = _name(body, ctx, "queue", QUEUE_KEYS)
    for key in ("per-branch", "allow-circular-dependencies", "dependencies-by-topic",
                "independent-subqueues", "verify-first", "speculate-failures",
                "trust-later-passes"):
        _expect(body, key, bool, ctx, f"queue {name!r}")
    _expect(body, "batch-size", int, ctx, f"queue {name!r}")
    if body.get("dependencies-by-topic") and not body.get("allow-circular-dependencies"):
        # Zuul's documentation: the setting requires allow-circular-dependencies
        raise _err_at(body, "dependencies-by-topic", ctx,
                      f"queue {name!r}: 'dependencies-by-topic' makes the changes of a topic "
                      "one dependency cycle, so it needs 'allow-circular-dependencies: true' "
                      "on the queue as well")
    if isinstance(body.get("batch-size"), bool) or body.get("batch-size", 1) < 1:
        raise _err(body, ctx, f"queue {name!r}: 'batch-size' must be at least 1")
    retries = body.get("retry-failed-jobs", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise _err(body, ctx, f"queue {name!r}: 'retry-failed-jobs' must be a whole number of "
                              f"retries, 0 or more, not {retries!r}")
    if (body.get("batch-size", 1) > 1 or body.get("verify-first")) \
            and body.get("independent-subqueues"):
        raise _err(body, ctx, f"queue {name!r}: 'batch-size' and 'verify-first' cannot be "
                              "combined with 'independent-subqueues' yet")
    if (body.get("batch-size", 1) > 1 or body.get("verify-first")) \
            and body.get("allow-circular-dependencies"):
        raise _err(body, ctx, f"queue {name!r}: 'batch-size' and 'verify-first' cannot be "
                              "combined with 'allow-circular-dependencies' yet")
    for key in ("speculate-failures", "trust-later-passes"):
        if not body.get(key):
            continue
        others = [k for k in ("independent-subqueues", "verify-first",
                              "allow-circular-dependencies") if body.get(k)]
        if body.get("batch-size", 1) > 1:
            others.append("batch-size")
        if others:
            # Batching already trusts a later passing state and tests suspects on
            # spare nodes; sub-queues re-base items on states of their own.
            raise _err(body, ctx, f"queue {name!r}: {key!r} works only in a plain shared "
                                  f"queue and cannot be combined with "
                                  f"{' or '.join(repr(k) for k in others)}")
    return _object("queue", body, ctx, name)


def parse_pragma(body: Any, ctx: SourceContext) -> ConfigObject:
    if not isinstance(body, dict):
        raise _err(body, ctx, "pragma must be a mapping")
    check_keys(body, PRAGMA_KEYS, "pragma", ctx)
    _expect(body, "implied-branch-matchers", bool, ctx, "pragma")
    branches = body.get("implied-branches")
    if branches is not None and not isinstance(branches, list | str):
        raise _err(body, ctx, "pragma 'implied-branches' must be a list of branch names or "
                              "regular expressions")
    return _object("pragma", body, ctx, ctx.path)


NODE_OBJECT_KEYS = {"flavor": FLAVOR_KEYS, "image": IMAGE_KEYS, "label": LABEL_KEYS}


def parse_node_object(kind: str, body: Any, ctx: SourceContext) -> ConfigObject:
    """Check a ``label``, ``flavor``, ``image`` (fixed attributes), ``section`` or
    ``provider``, then refuse it (see the module)."""
    if kind in NODE_OBJECT_KEYS:
        name = _name(body, ctx, kind, NODE_OBJECT_KEYS[kind])
    else:
        name = _name(body, ctx, kind)
        for key in ("labels", "images", "flavors"):
            value = body.get(key)
            if value is not None and not isinstance(value, list):
                raise _err(body, ctx, f"{kind} {name!r}: {key!r} must be a list")
        if kind == "provider" and "section" not in body and "connection" not in body:
            raise _err(body, ctx, f"provider {name!r} needs a 'section' (or a "
                                  "'connection') to say where its nodes come from")
    # Checked above so a typo is named first; then refused, as nothing would use it.
    raise _err(body, ctx, f"{kind} {name!r}: Zuul's {kind!r} objects are not available in "
                          "zuulish; nodes come from 'nodepool.providers' in zuulish.yaml")
