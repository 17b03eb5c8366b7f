"""A tenant's Zuul 14 node objects resolved into the providers it offers.

A ``provider`` hangs from one ``section``; sections inherit from their
``parent``; one section of the chain names the ``connection`` of
``zuulish.yaml`` (a cloud driver's: openstack, aws, podman), which no section
below it may set again. Down the chain (root first, the provider last) plain
attributes are overridden, ``*-defaults`` mappings are updated key by key, and
the ``labels``, ``images`` and ``flavors`` lists are merged by name: an entry
naming one already listed updates it key by key, unless that one is ``final:
true``. Then each entry not marked ``final`` (``true`` or ``allow-override``)
gets the chain's ``label-defaults``/``image-defaults``/``flavor-defaults``
below its own values.

A provider's label is the standalone ``label`` object (its ``image``,
``flavor``, ``min-ready``, ``tags``...) with the provider's entry for it on top;
its image and flavor are the standalone objects as the provider's chain lists
them (``LabelSpec.image``/``flavor``, each with its ``name``). A section marked
``abstract`` is for other sections to inherit from; a provider may not hang
from it directly.

Every problem is a ConfigError at the offending object's file and line (the
key's line where there is one). Without ``NodeContext`` (an offline
``zuulish validate``) the connection and each driver's keys are not checked and
no provider is built.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zuulish.config.objects import (
    FLAVOR_ENTRY_KEYS,
    IMAGE_ENTRY_KEYS,
    LABEL_ENTRY_KEYS,
    PROVIDER_KEYS,
    RESOURCE_LIMIT_KEYS,
    SECTION_COMMON_KEYS,
    ConfigObject,
)
from zuulish.config.yaml_loader import key_line, where
from zuulish.errors import ConfigError
from zuulish.nodepool import drivers
from zuulish.nodepool.cloud import LabelSpec, ProviderSpec

# attributes that shape the chain rather than describe the provider
STRUCTURE_KEYS = {"name", "description", "parent", "abstract", "connection", "section"}
ENTRY_KINDS = {"labels": "label", "images": "image", "flavors": "flavor"}
DEFAULTS = {"labels": "label-defaults", "images": "image-defaults",
            "flavors": "flavor-defaults"}
COMMON_ENTRY_KEYS = {"labels": LABEL_ENTRY_KEYS, "images": IMAGE_ENTRY_KEYS,
                     "flavors": FLAVOR_ENTRY_KEYS}
FINAL_VALUES = (True, False, "allow-override")


@dataclass(frozen=True)
class CloudConnection:
    """A connection of ``zuulish.yaml`` whose driver boots nodes."""

    name: str
    driver: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeContext:
    """What ``zuulish.yaml`` tells the loader about nodes: its cloud connections,
    and the labels its own ``nodepool.providers`` (local, static) offer."""

    connections: Mapping[str, CloudConnection] = field(default_factory=dict)
    static_labels: frozenset[str] = frozenset()


@dataclass
class Resolved:
    """The tenant's providers, the errors found, what they broke, and every label
    some provider lists (a broken one's too, so that a nodeset using it is not
    reported again)."""

    providers: list[ProviderSpec] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)
    broken: set[tuple[str, str]] = field(default_factory=set)
    listed_labels: set[str] = field(default_factory=set)


class _Broken(Exception):
    """Raised once an object's errors are recorded: it resolves to nothing."""


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _plain(value: Any) -> Any:
    """YAML's line-carrying mappings and lists as plain ones (pickled to the web)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _entry_line(body: Any, key: str, index: int, entry: Any) -> int:
    """The line of entry ``index`` of the list ``body[key]``."""
    _, line = where(entry)
    if line:
        return int(line)
    lines = getattr(body.get(key) if isinstance(body, dict) else None, "item_lines", None)
    if lines and index < len(lines):
        return int(lines[index])
    return key_line(body, key)


def _entry_problem(entry: Mapping[str, Any]) -> str | None:
    """What is wrong with the values of an entry's (or defaults') common keys."""
    what = f"{entry['name']!r}: " if "name" in entry else ""
    final = entry.get("final", False)
    if final not in FINAL_VALUES:
        return f"{what}'final' must be true, false or allow-override, not {final!r}"
    for key in ("min-ready", "max-ready-age", "max-age", "min-retention-time"):
        value = entry.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"{what}{key!r} must be a whole number, 0 or more, not {value!r}"
    if not isinstance(entry.get("tags", {}), dict):
        return f"{what}'tags' must be a mapping"
    return None


class _Resolver:
    def __init__(self, objects: Mapping[str, Mapping[str, ConfigObject]],
                 nodes: NodeContext | None, broken: set[tuple[str, str]]):
        self.sections = objects.get("section", {})
        self.providers = objects.get("provider", {})
        self.standalone = {kind: objects.get(kind, {}) for kind in ("label", "image", "flavor")}
        self.nodes = nodes
        self.out = Resolved()
        # (kind, name) of objects defined but kept out by their own errors: what
        # names them is left out too, without a second error
        self.known_broken = broken
        self._seen: set[tuple[str | None, int | None, str]] = set()
        self._chains: dict[str, list[ConfigObject] | None] = {}
        self._checked: set[str] = set()

    # ------------------------------------------------------------ errors
    def error(self, obj: ConfigObject, key: str | None, message: str,
              line: int | None = None) -> None:
        if line is None:
            line = key_line(obj.attributes, key) if key else obj.source_line
        error = ConfigError(f"{obj.kind} {obj.name!r}: {message}", file=obj.source_file,
                            line=line or obj.source_line)
        ident = (error.file, error.line, error.message)
        if ident not in self._seen:
            self._seen.add(ident)
            self.out.errors.append(error)
        self.out.broken.add((obj.kind, obj.name))

    # ------------------------------------------------------------- labels
    def check_standalone_labels(self) -> None:
        """Each label names an image and a flavor that are defined."""
        for label in self.standalone["label"].values():
            for key in ("image", "flavor"):
                wanted = str(label.attributes.get(key))
                if (key, wanted) in self.known_broken:
                    self.out.broken.add(("label", label.name))
                elif wanted not in self.standalone[key]:
                    self.error(label, key, f"{key} {wanted!r} is not defined (no {key} "
                                           f"object of that name in this tenant)"
                                           f"{_hint(wanted, self.standalone[key])}")

    # ------------------------------------------------------------- chains
    def chain(self, section: ConfigObject) -> list[ConfigObject] | None:
        """``section`` and its ancestors, the root first; None (errors recorded)
        for an unknown parent or a cycle."""
        if section.name in self._chains:
            return self._chains[section.name]
        path: list[ConfigObject] = []
        current: ConfigObject | None = section
        result: list[ConfigObject] | None = None
        while current is not None:
            seen = [s.name for s in path]
            if current.name in seen:
                names = " -> ".join(repr(n) for n in seen[seen.index(current.name):])
                self.error(current, "parent", f"sections inherit from each other in a cycle "
                                              f"({names} -> {current.name!r})")
                break
            path.append(current)
            parent = current.attributes.get("parent")
            if parent is None:
                result = list(reversed(path))
                break
            found = self.sections.get(str(parent))
            if found is None and ("section", str(parent)) in self.known_broken:
                break
            if found is None:
                self.error(current, "parent", f"parent section {parent!r} is not defined"
                                              f"{_hint(str(parent), self.sections)}")
                break
            if found.name in self._chains and self._chains[found.name] is None:
                self.out.broken.add(("section", current.name))
                break
            current = found
        for i, member in enumerate(path):  # each member's chain is part of this one
            if result is None:
                self.out.broken.add(("section", member.name))
                self._chains.setdefault(member.name, None)
            else:
                self._chains[member.name] = result[:len(result) - i]
        return self._chains[section.name]

    def connection(self, chain: list[ConfigObject]) -> tuple[ConfigObject, str] | None:
        """The section that names the chain's connection, and its name; an error at a
        section below it that names one again."""
        owner: ConfigObject | None = None
        for section in chain:
            if "connection" not in section.attributes:
                continue
            if owner is not None:
                self.error(section, "connection", f"'connection' is set by section "
                                                  f"{owner.name!r} above it and may not be "
                                                  "set again down a chain of sections")
                raise _Broken
            owner = section
        if owner is None:
            return None
        return owner, str(owner.attributes["connection"])

    def driver(self, owner: ConfigObject, name: str) -> drivers.CloudDriver | None:
        """The driver of connection ``name`` (None when zuulish.yaml is unknown)."""
        if self.nodes is None:
            return None
        conn = self.nodes.connections.get(name)
        if conn is None:
            known = ", ".join(sorted(self.nodes.connections)) or "none"
            self.error(owner, "connection", f"connection {name!r} is not a node provider "
                                            f"connection of zuulish.yaml (a connection whose "
                                            f"driver is one of "
                                            f"{', '.join(sorted(drivers.MODULES))}; defined: "
                                            f"{known}){_hint(name, self.nodes.connections)}")
            raise _Broken
        try:
            return drivers.driver(conn.driver)
        except (drivers.UnknownDriver, ImportError) as exc:
            self.error(owner, "connection", f"the {conn.driver} driver of connection "
                                            f"{name!r} is not available: {exc}")
            raise _Broken from None

    # --------------------------------------------------------- attributes
    def check_keys(self, obj: ConfigObject, driver: drivers.CloudDriver | None) -> None:
        """The object's own attributes, its entries' and its defaults' keys."""
        if obj.name in self._checked and obj.kind == "section":
            return
        if obj.kind == "section":
            self._checked.add(obj.name)
        attrs = obj.attributes
        failed = False
        if driver is not None:
            allowed = (SECTION_COMMON_KEYS if obj.kind == "section" else PROVIDER_KEYS) \
                | driver.provider_keys
            for key in attrs:
                if key not in allowed:
                    self.error(obj, str(key), f"unknown attribute {key!r} for the "
                                              f"{driver.name} driver{_hint(str(key), allowed)}")
                    failed = True
            for list_key in ENTRY_KINDS:
                entry_allowed = COMMON_ENTRY_KEYS[list_key] | self._driver_entry_keys(
                    driver, list_key)
                for i, entry in enumerate(attrs.get(list_key) or ()):
                    if not isinstance(entry, dict):
                        continue
                    for key in entry:
                        if key not in entry_allowed:
                            failed = True
                            self.error(obj, None, f"unknown attribute {key!r} in "
                                                  f"{ENTRY_KINDS[list_key]} "
                                                  f"{entry.get('name')!r} of {list_key!r} for "
                                                  f"the {driver.name} driver"
                                                  f"{_hint(str(key), entry_allowed)}",
                                       line=key_line(entry, key)
                                       or _entry_line(attrs, list_key, i, entry))
                defaults = attrs.get(DEFAULTS[list_key]) or {}
                for key in defaults:
                    if key not in entry_allowed - {"name", "description"}:
                        failed = True
                        self.error(obj, None, f"unknown attribute {key!r} in "
                                              f"{DEFAULTS[list_key]!r} for the {driver.name} "
                                              f"driver{_hint(str(key), entry_allowed)}",
                                   line=key_line(defaults, key))
        failed = self._check_common(obj) or failed
        for list_key in ENTRY_KINDS:
            values = [(entry, _entry_line(attrs, list_key, i, entry))
                      for i, entry in enumerate(attrs.get(list_key) or ())
                      if isinstance(entry, dict)]
            if attrs.get(DEFAULTS[list_key]):
                values.append((attrs[DEFAULTS[list_key]], key_line(attrs, DEFAULTS[list_key])))
            for entry, line in values:
                problem = _entry_problem(entry)
                if problem:
                    failed = True
                    self.error(obj, None, problem, line=line)
        if failed:
            raise _Broken

    @staticmethod
    def _driver_entry_keys(driver: drivers.CloudDriver, list_key: str) -> frozenset[str]:
        return {"labels": driver.label_keys, "images": driver.image_keys,
                "flavors": driver.flavor_keys}[list_key]

    def _check_common(self, obj: ConfigObject) -> bool:
        """The attributes every driver shares: their types and ranges."""
        attrs = obj.attributes
        failed = False

        def bad(key: str, message: str) -> None:
            nonlocal failed
            failed = True
            self.error(obj, key, message)

        for key in ("launch-timeout", "boot-timeout"):
            value = attrs.get(key)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, int | float) or value <= 0):
                bad(key, f"{key!r} must be a positive number of seconds, not {value!r}")
        for key, least in (("launch-attempts", 1), ("max-servers", 0)):
            value = attrs.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < least):
                bad(key, f"{key!r} must be a whole number, {least} or more, not {value!r}")
        if not isinstance(attrs.get("host-key-checking", True), bool):
            bad("host-key-checking", "'host-key-checking' must be true or false")
        limits = attrs.get("resource-limits") or {}
        for key, value in limits.items():
            if key not in RESOURCE_LIMIT_KEYS:
                failed = True
                self.error(obj, None, f"unknown resource limit {key!r} (zuulish counts "
                                      f"{', '.join(sorted(RESOURCE_LIMIT_KEYS))})"
                                      f"{_hint(str(key), RESOURCE_LIMIT_KEYS)}",
                           line=key_line(limits, key))
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                failed = True
                self.error(obj, None, f"resource limit {key!r} must be a whole number, 0 or "
                                      f"more, not {value!r}", line=key_line(limits, key))
        return failed

    # ------------------------------------------------------------- merging
    def merge(self, chain: list[ConfigObject]
              ) -> tuple[dict[str, Any], dict[str, dict[str, dict]], dict[str, dict]]:
        """The chain's attributes, its entries by list and name, and its defaults by
        list (``labels``: the ``label-defaults``...)."""
        attrs: dict[str, Any] = {}
        defaults: dict[str, dict[str, Any]] = {key: {} for key in ENTRY_KINDS}
        entries: dict[str, dict[str, dict[str, Any]]] = {key: {} for key in ENTRY_KINDS}
        owners: dict[tuple[str, str], ConfigObject] = {}
        by_defaults = {v: k for k, v in DEFAULTS.items()}
        for level in chain:
            for key, value in level.attributes.items():
                if key in STRUCTURE_KEYS:
                    continue
                if key in by_defaults:
                    defaults[by_defaults[key]].update(value)
                elif key in entries:
                    self._merge_entries(level, key, value, entries[key], owners)
                else:
                    attrs[key] = value
        return attrs, entries, defaults

    @staticmethod
    def _with_defaults(defaults: dict[str, Any], standalone: Mapping[str, Any],
                       entry: dict[str, Any]) -> dict[str, Any]:
        """An entry over its standalone object's attributes over the defaults (which
        a ``final`` entry, ``true`` or ``allow-override``, does not take)."""
        final = entry.get("final", False)
        out = {**({} if final is not False else defaults), **standalone, **entry}
        out.pop("final", None)
        return _plain(out)

    def _merge_entries(self, level: ConfigObject, key: str, value: list,
                       merged: dict[str, dict[str, Any]],
                       owners: dict[tuple[str, str], ConfigObject]) -> None:
        kind = ENTRY_KINDS[key]
        for i, raw in enumerate(value):
            entry = {"name": raw} if isinstance(raw, str) else dict(raw)
            name = str(entry["name"])
            if name not in self.standalone[kind] and (kind, name) in self.known_broken:
                raise _Broken
            if name not in self.standalone[kind]:
                self.error(level, None, f"{kind} {name!r} of its {key!r} is not defined (no "
                                        f"{kind} object of that name in this tenant)"
                                        f"{_hint(name, self.standalone[kind])}",
                           line=_entry_line(level.attributes, key, i, raw))
                raise _Broken
            before = merged.get(name)
            if before is not None and before.get("final") is True:
                above = owners[(key, name)]
                self.error(level, None, f"{kind} {name!r} is final in {above.kind} "
                                        f"{above.name!r} and may not be redefined below it",
                           line=_entry_line(level.attributes, key, i, raw))
                raise _Broken
            merged[name] = {**(before or {}), **entry}
            owners[(key, name)] = level

    # ------------------------------------------------------------ provider
    def provider(self, prov: ConfigObject) -> ProviderSpec | None:
        for entry in prov.attributes.get("labels") or ():
            self.out.listed_labels.add(entry if isinstance(entry, str) else str(entry["name"]))
        section_name = str(prov.attributes["section"])
        section = self.sections.get(section_name)
        if section is None:
            if ("section", section_name) not in self.known_broken:
                self.error(prov, "section", f"section {section_name!r} is not defined"
                                            f"{_hint(section_name, self.sections)}")
            self.out.broken.add(("provider", prov.name))
            return None
        if section.attributes.get("abstract") is True:
            self.error(prov, "section", f"section {section_name!r} is abstract (for other "
                                        "sections to inherit from); attach the provider to a "
                                        "section that inherits from it")
            return None
        chain = self.chain(section)
        if chain is None or any(("section", s.name) in self.out.broken for s in chain):
            self.out.broken.add(("provider", prov.name))
            return None
        for level in chain:
            for entry in level.attributes.get("labels") or ():
                self.out.listed_labels.add(entry if isinstance(entry, str)
                                           else str(entry["name"]))
        try:
            found = self.connection(chain)
            if found is None:
                names = " -> ".join(repr(s.name) for s in chain)
                self.error(prov, "section", f"none of its sections ({names}) names a "
                                            "'connection'")
                return None
            owner, conn_name = found
            driver = self.driver(owner, conn_name)
            for level in [*chain, prov]:
                self.check_keys(level, driver)
            attrs, entries, defaults = self.merge([*chain, prov])
            labels = self.labels(prov, chain, entries, defaults)
        except _Broken:
            self.out.broken.add(("provider", prov.name))
            return None
        if self.nodes is None or driver is None:
            return None
        conn = self.nodes.connections[conn_name]
        return ProviderSpec(prov.name, driver.name, _plain(dict(conn.options)), _plain(attrs),
                            labels, prov.source_file, prov.source_line)

    def labels(self, prov: ConfigObject, chain: list[ConfigObject],
               entries: dict[str, dict[str, dict]],
               defaults: dict[str, dict]) -> dict[str, LabelSpec]:
        out: dict[str, LabelSpec] = {}
        failed = False
        names = " -> ".join(repr(s.name) for s in [*chain, prov])
        for name, entry in entries["labels"].items():
            label = self.standalone["label"][name]
            if ("label", name) in self.out.broken:
                failed = True  # its own error is reported at the label
                continue
            parts = {}
            for kind, list_key in (("image", "images"), ("flavor", "flavors")):
                wanted = str(label.attributes[kind])
                if wanted not in entries[list_key]:
                    failed = True
                    self.error(prov, "labels", f"label {name!r} uses {kind} {wanted!r}, which "
                                               f"its sections and it ({names}) do not list "
                                               f"under {list_key!r}")
                    continue
                standalone = {k: v for k, v in self.standalone[kind][wanted].attributes.items()
                              if k != "description"}
                parts[kind] = self._with_defaults(defaults[list_key], standalone,
                                                  entries[list_key][wanted])
            if len(parts) < 2:
                continue
            base = {k: v for k, v in label.attributes.items()
                    if k not in ("name", "image", "flavor")}
            attributes = self._with_defaults(defaults["labels"], base, entry)
            attributes.pop("name", None)
            out[name] = LabelSpec(name, attributes, parts["image"], parts["flavor"],
                                  int(attributes.get("min-ready", 0) or 0))
        if failed:
            raise _Broken
        return out

    def run(self) -> Resolved:
        self.check_standalone_labels()
        for section in self.sections.values():  # report broken chains even if unused
            chain = self.chain(section)
            if chain is None:
                continue
            try:
                found = self.connection(chain)
                if found is not None:
                    driver = self.driver(*found)
                    self.check_keys(section, driver)
            except _Broken:
                self.out.broken.add(("section", section.name))
        for prov in self.providers.values():
            spec = self.provider(prov)
            if spec is not None:
                self.out.providers.append(spec)
        return self.out


def resolve(objects: Mapping[str, Mapping[str, ConfigObject]], nodes: NodeContext | None,
            broken: set[tuple[str, str]] | None = None) -> Resolved:
    """The providers that a tenant's ``provider``/``section``/``label``/``image``/
    ``flavor`` objects (``Layout.objects``) define, with the errors found.
    ``broken``: objects their own errors kept out (``Layout.broken``), which those
    naming them do not report again."""
    return _Resolver(objects, nodes, broken or set()).run()
