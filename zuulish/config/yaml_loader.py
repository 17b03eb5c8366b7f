"""YAML loading that remembers where every mapping came from (file:line)."""

from __future__ import annotations

from typing import Any

import yaml

from zuulish.errors import ConfigError


class LineDict(dict):
    """A mapping that knows the file and line it was written on, and the line of
    each of its keys (``key_lines``)."""

    file: str = ""
    line: int = 0
    key_lines: dict[Any, int] | None = None


class LineList(list):
    """A list that knows the file and line it was written on, and each item's line
    (``item_lines``)."""

    file: str = ""
    line: int = 0
    item_lines: list[int] | None = None


class EncryptedValue:
    """An ``!encrypted/pkcs1-oaep`` scalar or list, kept opaque until a job runs."""

    def __init__(self, ciphertext: list[str]):
        self.ciphertext = ciphertext

    def __repr__(self) -> str:
        return "EncryptedValue(<hidden>)"


# libyaml's parser (when PyYAML has it, as its wheels do) with our constructors:
# several times faster than the pure-Python scanner on large tenants.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


STR_TAG = "tag:yaml.org,2002:str"
INT_TAG = "tag:yaml.org,2002:int"
BOOL_TAG = "tag:yaml.org,2002:bool"
NULL_TAG = "tag:yaml.org,2002:null"
MERGE_TAG = "tag:yaml.org,2002:merge"
ENCRYPTED_TAG = "!encrypted/pkcs1-oaep"
# Implicit tags of plain scalars seen before: configuration repeats the same
# words (true, 3600, names) thousands of times, and resolving each by regex
# was a fifth of a large tenant's load time.
_RESOLVED: dict[str, str] = {}
_RESOLVED_MAX = 200_000


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    filename = ""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0] and not self.yaml_path_resolvers:
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_RESOLVED) < _RESOLVED_MAX:
                    _RESOLVED[value] = tag
            return tag
        return super().resolve(kind, value, implicit)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.file = loader.filename
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, str):
            result.key_lines[key] = key_node.start_mark.line + 1
        # A repeated key keeps its last value, as Zuul (PyYAML) reads it: real
        # configurations rely on that, so it is not an error.
        result[key] = loader.construct_object(value_node, deep=True)
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.file = loader.filename
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


def _construct_encrypted(loader: _Loader, node: yaml.Node) -> EncryptedValue:
    if isinstance(node, yaml.ScalarNode):
        return EncryptedValue([loader.construct_scalar(node)])
    return EncryptedValue([loader.construct_scalar(n) for n in node.value])


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor(ENCRYPTED_TAG, _construct_encrypted)


class _Builder:
    """Python objects from a composed node tree, with file and line on containers.

    The common tags (str, int, bool, null, mappings, sequences) are built here
    directly; everything else (floats, merge keys, our ``!encrypted`` tag,
    unknown tags) goes through PyYAML's own constructors, so the result equals
    what ``_Loader.get_single_data`` gives, several times faster.
    """

    def __init__(self, loader: _Loader):
        self.loader = loader
        self.filename = loader.filename
        self.built: dict[int, Any] = {}  # aliases share one object, as in PyYAML

    def build(self, node: yaml.Node) -> Any:
        if type(node) is yaml.ScalarNode:
            tag = node.tag
            if tag == STR_TAG:
                return node.value
            if tag == NULL_TAG:
                return None
            if tag == BOOL_TAG:
                return self.loader.construct_yaml_bool(node)
            if tag == INT_TAG:
                value = node.value
                if value.isdigit() and (value[0] != "0" or value == "0"):  # 017 is octal
                    return int(value)
                return self.loader.construct_yaml_int(node)
            return self.loader.construct_object(node, deep=True)
        done = self.built.get(id(node))
        if done is not None:
            return done
        if type(node) is yaml.MappingNode and node.tag == yaml.resolver.BaseResolver.\
                DEFAULT_MAPPING_TAG:
            return self._mapping(node)
        if type(node) is yaml.SequenceNode and node.tag == yaml.resolver.BaseResolver.\
                DEFAULT_SEQUENCE_TAG:
            result = LineList()
            result.file, result.line = self.filename, node.start_mark.line + 1
            result.item_lines = [child.start_mark.line + 1 for child in node.value]
            self.built[id(node)] = result
            result.extend(self.build(child) for child in node.value)
            return result
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode) -> LineDict:
        if any(key.tag == MERGE_TAG for key, _ in node.value):
            self.loader.flatten_mapping(node)
        result = LineDict()
        result.file, result.line = self.filename, node.start_mark.line + 1
        lines: dict[Any, int] = {}
        result.key_lines = lines
        self.built[id(node)] = result
        for key_node, value_node in node.value:
            key = self.build(key_node)
            if type(key) is str:
                lines[key] = key_node.start_mark.line + 1
            try:
                # A repeated key keeps its last value, as Zuul (PyYAML) reads it.
                result[key] = self.build(value_node)
            except TypeError as exc:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found unhashable key ({exc})", key_node.start_mark) from exc
        return result


def load_yaml(text: str, filename: str) -> Any:
    """Parse ``text``; a syntax error becomes a ConfigError with file and line."""
    loader = _Loader(text)
    loader.filename = filename
    try:
        node = loader.get_single_node()
        return None if node is None else _Builder(loader).build(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        context = f" ({exc.context})" if exc.context else ""
        raise ConfigError(f"YAML syntax error: {problem}{context}", file=filename,
                          line=mark.line + 1 if mark else None) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", file=filename) from exc
    finally:
        loader.dispose()


def where(obj: Any, fallback_file: str = "", fallback_line: int = 0) -> tuple[str, int]:
    """The (file, line) an object was written at, if known."""
    return getattr(obj, "file", fallback_file), getattr(obj, "line", fallback_line)


def key_line(mapping: Any, key: Any) -> int:
    """The line ``key`` of ``mapping`` was written on (the mapping's own line, or 0,
    when unknown)."""
    lines = getattr(mapping, "key_lines", None)
    if lines and key in lines:
        return int(lines[key])
    return int(getattr(mapping, "line", 0))
