"""The configuration objects that need little more than validation when read:
``project-template``, ``secret``, ``semaphore``, ``queue``, ``pragma`` and Zuul 14's
node objects (``provider``, ``section``, ``label``, ``flavor``, ``image``).

Each is checked against Zuul's documented attributes (file:line, nearest valid
name on a typo) and kept in the layout. The node objects' driver-specific
attributes are checked once the whole tenant is read, when
``config.node_providers`` resolves each provider down its sections.
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
# Attributes every section and provider accepts, whatever its driver (each
# driver's CloudDriver.provider_keys adds its own); ``connection``, ``parent``,
# ``abstract`` and ``flavors`` are for sections only, ``section`` for providers.
PROVIDER_COMMON_KEYS = {"name", "description", "labels", "images", "region", "launch-timeout",
                        "launch-attempts", "boot-timeout", "resource-limits",
                        "host-key-checking", "max-servers", "label-defaults",
                        "image-defaults", "flavor-defaults"}
SECTION_ONLY_KEYS = {"parent", "abstract", "connection", "flavors"}
SECTION_COMMON_KEYS = PROVIDER_COMMON_KEYS | SECTION_ONLY_KEYS
PROVIDER_KEYS = PROVIDER_COMMON_KEYS | {"section"}
# Attributes of an entry of a section's or provider's ``labels``, ``images`` and
# ``flavors`` lists (and of the matching ``*-defaults``), beyond the driver's.
LABEL_ENTRY_KEYS = {"name", "description", "final", "min-ready", "max-ready-age", "max-age",
                    "min-retention-time", "tags"}
IMAGE_ENTRY_KEYS = {"name", "description", "final", "type"}
FLAVOR_ENTRY_KEYS = {"name", "description", "final"}
# Zuul's ``resource-limits`` keys zuulish counts (see nodepool.resources).
RESOURCE_LIMIT_KEYS = {"instances", "cores", "ram", "gpus"}


@dataclass
class ConfigObject:
    """A named object with its (validated) attributes and where it was defined."""

    kind: str
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)
    source_project: str = ""
    source_file: str | None = None
    source_line: int | None = None


def _object(kind: str, body: dict, ctx: SourceContext, name: str,
            keep_lines: bool = False) -> ConfigObject:
    """``keep_lines``: keep the body itself (read only), whose keys know their lines."""
    file, line = where(body, ctx.path)
    return ConfigObject(kind, name, body if keep_lines else dict(body), ctx.project, file,
                        line)


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
ENTRY_LISTS = ("labels", "images", "flavors")


def _count(body: dict, key: str, ctx: SourceContext, what: str) -> None:
    value = body.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                              or value < 0):
        raise _err_at(body, key, ctx, f"{what}: {key!r} must be a whole number, 0 or more, "
                                      f"not {value!r}")


def _check_label(body: dict, ctx: SourceContext, name: str) -> None:
    what = f"label {name!r}"
    for key in ("image", "flavor"):
        if key not in body:
            raise _err(body, ctx, f"{what} needs an {key!r}" if key == "image"
                       else f"{what} needs a {key!r}")
        _expect(body, key, str, ctx, what)
    for key in ("min-ready", "max-ready-age", "max-age", "min-retention-time"):
        _count(body, key, ctx, what)
    _expect(body, "tags", dict, ctx, what)


def _check_entries(kind: str, name: str, body: dict, ctx: SourceContext) -> None:
    """A section's or provider's ``labels``/``images``/``flavors``: lists of names
    or of mappings with a ``name``; ``*-defaults``: mappings."""
    for key in ENTRY_LISTS:
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise _err_at(body, key, ctx, f"{kind} {name!r}: {key!r} must be a list")
        for entry in value:
            if isinstance(entry, str) or isinstance(entry, dict) \
                    and isinstance(entry.get("name"), str):
                continue
            raise _err_at(body, key, ctx, f"{kind} {name!r}: each of its {key!r} must be a "
                                          f"name or a mapping with a 'name', not {entry!r}")
    for key in ("label-defaults", "image-defaults", "flavor-defaults", "resource-limits"):
        _expect(body, key, dict, ctx, f"{kind} {name!r}")


def parse_node_object(kind: str, body: Any, ctx: SourceContext) -> ConfigObject:
    """Check a ``label``, ``flavor``, ``image`` (fixed attributes), ``section`` or
    ``provider`` (their shape; their driver's attributes are checked when the
    tenant's providers are resolved, see ``config.node_providers``).

    Sections and providers are read from config projects only: they spend the
    credentials and the quota of a cloud that ``zuulish.yaml`` names. Labels,
    flavors and images may come from any project that the tenant lets define them.
    """
    if kind in NODE_OBJECT_KEYS:
        name = _name(body, ctx, kind, NODE_OBJECT_KEYS[kind])
        if kind == "label":
            _check_label(body, ctx, name)
        return _object(kind, body, ctx, name, keep_lines=True)
    name = _name(body, ctx, kind)
    if not ctx.trusted:
        raise _err(body, ctx, f"{kind} {name!r}: {kind}s may only be defined in config "
                              f"projects (this is untrusted project {ctx.project!r})")
    if kind == "provider":
        for key in [k for k in body if k in SECTION_ONLY_KEYS]:
            raise _err_at(body, key, ctx, f"provider {name!r}: {key!r} is an attribute of "
                                          "sections only (a provider has it from its "
                                          "'section')")
    elif "section" in body:
        raise _err_at(body, "section", ctx, f"section {name!r}: 'section' is an attribute "
                                            "of providers only; a section names its 'parent'")
    if kind == "provider" and "section" not in body:
        raise _err(body, ctx, f"provider {name!r} needs a 'section' (the section, with its "
                              "connection, that says where its nodes come from)")
    for key in ("section", "parent", "connection", "description", "region"):
        _expect(body, key, str, ctx, f"{kind} {name!r}")
    _expect(body, "abstract", bool, ctx, f"{kind} {name!r}")
    _check_entries(kind, name, body, ctx)
    return _object(kind, body, ctx, name, keep_lines=True)
