"""YAML loading that remembers where every mapping came from (file:line)."""

from __future__ import annotations

from typing import Any

import yaml

from zuulish.errors import ConfigError


class LineDict(dict):
    """A mapping that knows the file and line it was written on."""

    file: str = ""
    line: int = 0


class LineList(list):
    file: str = ""
    line: int = 0


class EncryptedValue:
    """An ``!encrypted/pkcs1-oaep`` scalar or list, kept opaque until a job runs."""

    def __init__(self, ciphertext: list[str]):
        self.ciphertext = ciphertext

    def __repr__(self) -> str:
        return "EncryptedValue(<hidden>)"


# libyaml's parser (when PyYAML has it, as its wheels do) with our constructors:
# several times faster than the pure-Python scanner on large tenants.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    filename = ""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.file = loader.filename
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        # A repeated key keeps its last value, as Zuul (PyYAML) reads it: real
        # configurations rely on that, so it is not an error.
        result[key] = loader.construct_object(value_node, deep=True)
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.file = loader.filename
    result.line = node.start_mark.line + 1
    return result


def _construct_encrypted(loader: _Loader, node: yaml.Node) -> EncryptedValue:
    if isinstance(node, yaml.ScalarNode):
        return EncryptedValue([loader.construct_scalar(node)])
    return EncryptedValue([loader.construct_scalar(n) for n in node.value])


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor("!encrypted/pkcs1-oaep", _construct_encrypted)


def load_yaml(text: str, filename: str) -> Any:
    """Parse ``text``; a syntax error becomes a ConfigError with file and line."""
    loader = _Loader(text)
    loader.filename = filename
    try:
        return loader.get_single_data()
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
